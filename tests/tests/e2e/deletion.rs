//! Deleting the last package of an apt or rpm dist publishes that dist
//! empty, valid and signed: clients see the deletion at once instead of
//! the last index that listed the package (served for the grace period).

use artifactd_tests::apt::{Apt, make_deb, packages_text};
use artifactd_tests::rpm::{Dnf, Spec, rpmbuild};
use artifactd_tests::{ADMIN_TOKEN, Backend, TestEnv, both_backends};
use reqwest::Method;

both_backends!(apt_dist_emptied_by_a_delete, rpm_dist_emptied_by_a_delete);

async fn apt_dist_emptied_by_a_delete(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let r = server
        .upload(
            "provider=apt&reponame=os&dist=trixie",
            &[("gone_1.0_amd64.deb", make_deb("gone", "1.0", "amd64", ""))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = server
        .get("/repo/apt/os/pubkey")
        .await
        .bytes()
        .await
        .unwrap();
    let sources = [format!(
        "deb [signed-by={{key}}] {}/repo/apt/os trixie main",
        server.url
    )];
    let apt = Apt::new(&env.dir.path().join("apt"), &key, &sources);
    assert!(apt.update().ok);
    assert!(apt.policy("gone").contains("Candidate: 1.0"));
    let before = server
        .get("/repo/apt/os/dists/trixie/InRelease")
        .await
        .text()
        .await
        .unwrap();

    let resp = server
        .call(
            Method::DELETE,
            "/api/v1/repos/apt/os/packages/gone/1.0",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let after = server.get("/repo/apt/os/dists/trixie/InRelease").await;
    assert_eq!(after.status(), 200, "the emptied dist is still published");
    let after = after.text().await.unwrap();
    assert_ne!(after, before, "the dist kept its old index");
    let packages = packages_text(
        &server,
        "/repo/apt/os/dists/trixie/main/binary-amd64/Packages",
    )
    .await;
    assert!(!packages.contains("Package: gone"), "{packages}");
    let run = apt.update();
    assert!(run.ok, "update of the emptied dist:\n{}", run.output);
    assert!(
        apt.policy("gone").contains("Candidate: (none)")
            || !apt.policy("gone").contains("Candidate: 1.0"),
        "{}",
        apt.policy("gone")
    );
    let run = apt.run(&["install", "--simulate", "gone"]);
    assert!(
        !run.ok,
        "a deleted package is still installable:\n{}",
        run.output
    );
}

async fn rpm_dist_emptied_by_a_delete(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dir = env.dir.path();
    let built = rpmbuild(&dir.join("build"), &Spec::new("gone", "1.0"), false);
    let name = built[0].file_name().unwrap().to_str().unwrap().to_owned();
    let r = server
        .upload(
            "provider=rpm&reponame=r&dist=el9",
            &[(&name, std::fs::read(&built[0]).unwrap())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let repo_file = server
        .get("/repo/rpm/r/el9/r.repo")
        .await
        .text()
        .await
        .unwrap();
    let dnf = Dnf::new(&dir.join("dnf"), &[("r.repo", &repo_file)]);
    assert_eq!(
        dnf.lines(&["repoquery", "--queryformat", "%{name}"]),
        ["gone"]
    );

    let resp = server
        .call(
            Method::DELETE,
            "/api/v1/repos/rpm/r/packages/gone/1.0-1",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let repomd = server.get("/repo/rpm/r/el9/repodata/repomd.xml").await;
    assert_eq!(repomd.status(), 200);
    let dnf = Dnf::new(&dir.join("dnf2"), &[("r.repo", &repo_file)]);
    assert!(
        dnf.lines(&["repoquery", "--queryformat", "%{name}"])
            .is_empty(),
        "dnf still sees the deleted package"
    );
}
