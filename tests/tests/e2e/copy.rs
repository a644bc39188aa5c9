//! Copy and move packages between apt dists and components, rpm dists and
//! repositories, and promote a snapshot into another repository; checked
//! with apt-get and pip. Conflicts are 409 and change nothing.

use artifactd_tests::apt::{Apt, make_deb, packages_text};
use artifactd_tests::pypi::{Dist, Venv};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    apt_copy_and_move_between_dists_and_components,
    pypi_copy_move_and_promote_across_repositories
);

async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = server
        .call(Method::POST, path, ADMIN_TOKEN, Some(body))
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["section"].as_str().unwrap()
            )
        })
        .collect()
}

async fn packages(server: &Server, dist: &str, component: &str) -> String {
    packages_text(
        server,
        &format!("/repo/apt/os/dists/{dist}/{component}/binary-amd64/Packages"),
    )
    .await
}

async fn apt_copy_and_move_between_dists_and_components(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let up = |dist: &'static str, version: &'static str, extra: &'static str| {
        let server = &server;
        async move {
            let r = server
                .upload(
                    &format!("provider=apt&reponame=os&dist={dist}"),
                    &[(
                        &format!("hello-world_{version}_amd64.deb"),
                        make_deb("hello-world", version, "amd64", extra),
                    )],
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    };
    up("unstable", "0.1", "").await;
    up("unstable", "0.2", "").await;

    // A dry run says what would happen and changes nothing.
    let body = json!({
        "packages": [{ "name": "hello-world", "version": "0.1" }],
        "from": { "section": "unstable/main" },
        "to": { "section": "stable/main" },
        "dry_run": true
    });
    let (status, out) = post(&server, "/api/v1/repos/apt/os/copy", body.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(names(&out["copied"]), ["hello-world 0.1 stable/main"]);
    assert_eq!(
        server
            .get("/repo/apt/os/dists/stable/InRelease")
            .await
            .status(),
        404
    );

    let mut body = body;
    body["dry_run"] = json!(false);
    let (status, out) = post(&server, "/api/v1/repos/apt/os/copy", body.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(names(&out["copied"]), ["hello-world 0.1 stable/main"]);
    assert!(
        out["publications"][0]["generation"].as_i64().is_some(),
        "{out}"
    );
    // Again: nothing new.
    let (status, out) = post(&server, "/api/v1/repos/apt/os/copy", body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(names(&out["unchanged"]), ["hello-world 0.1 stable/main"]);

    let key = server
        .get("/repo/apt/os/pubkey")
        .await
        .bytes()
        .await
        .unwrap();
    let line = |dist: &str, comps: &str| {
        format!(
            "deb [signed-by={{key}}] {}/repo/apt/os {dist} {comps}",
            server.url
        )
    };
    let apt = Apt::new(
        &env.dir.path().join("stable"),
        &key,
        &[line("stable", "main")],
    );
    let run = apt.update();
    assert!(run.ok, "{}", run.output);
    assert!(
        apt.policy("hello-world").contains("Candidate: 0.1"),
        "{}",
        apt.policy("hello-world")
    );
    let run = apt.run(&["download", "hello-world"]);
    assert!(run.ok, "{}", run.output);

    // Move it to another component: gone from main, in contrib.
    let (status, out) = post(
        &server,
        "/api/v1/repos/apt/os/move",
        json!({
            "packages": [{ "name": "hello-world", "version": "0.1" }],
            "from": { "section": "stable/main" },
            "to": { "section": "stable/contrib" }
        }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(names(&out["removed"]), ["hello-world 0.1 stable/main"]);
    assert!(
        !packages(&server, "stable", "main")
            .await
            .contains("hello-world")
    );
    let contrib = packages(&server, "stable", "contrib").await;
    assert!(contrib.contains("Version: 0.1"), "{contrib}\n{out}");
    apt.set_sources(&[line("stable", "main contrib")]);
    let run = apt.update();
    assert!(run.ok, "{}", run.output);
    assert!(apt.policy("hello-world").contains("Candidate: 0.1"));

    // Conflict: repository "other" holds other bytes as hello-world 0.2
    // (apt pool paths are per repository).
    let r = server
        .upload(
            "provider=apt&reponame=other&dist=testing",
            &[(
                "hello-world_0.2_amd64.deb",
                make_deb(
                    "hello-world",
                    "0.2",
                    "amd64",
                    "Homepage: https://example.invalid/other\n",
                ),
            )],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let other = |server: &Server| {
        let url = server.url("/repo/apt/other/dists/testing/InRelease");
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let before = other(&server).await;
    for dry_run in [true, false] {
        let (status, out) = post(
            &server,
            "/api/v1/repos/apt/os/copy",
            json!({
                "query": { "name": "hello-world", "section": "unstable/main" },
                "to": { "repo": "other", "section": "testing/main" },
                "dry_run": dry_run
            }),
        )
        .await;
        assert_eq!(
            (status, out["error"].as_str()),
            (409, Some("file_exists")),
            "dry run {dry_run}: {out}"
        );
    }
    assert_eq!(
        other(&server).await,
        before,
        "a refused copy changed the destination"
    );
    let listed = server.get_json("/api/v1/repos/apt/other/packages").await;
    assert_eq!(
        listed.to_string().matches("\"version\":\"0.1\"").count(),
        0,
        "{listed}"
    );

    // Bad requests.
    for (body, code) in [
        (
            json!({ "to": { "section": "stable/main" } }),
            "invalid_selection",
        ),
        (
            json!({ "packages": [{ "name": "nope" }], "to": { "section": "stable/main" } }),
            "no_such_package",
        ),
        (
            json!({ "packages": [{ "name": "hello-world" }], "to": { "section": "no-component" } }),
            "invalid_section",
        ),
        (
            json!({ "packages": [{ "name": "hello-world" }], "from": { "section": "unstable/main" } }),
            "same_place",
        ),
        (
            json!({ "packages": [{ "name": "hello-world" }], "to": { "repo": "a/b" } }),
            "invalid_repo_name",
        ),
    ] {
        let (status, out) = post(&server, "/api/v1/repos/apt/os/copy", body.clone()).await;
        assert!((400..500).contains(&status), "{body}: {status} {out}");
        assert_eq!(out["error"], code, "{body}: {out}");
    }
    let anon = server
        .http
        .post(server.url("/api/v1/repos/apt/os/copy"))
        .json(&json!({ "packages": [{ "name": "hello-world" }], "to": { "section": "x/main" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
}

async fn pypi_copy_move_and_promote_across_repositories(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dist = |version| Dist {
        name: "Promoted_Pkg",
        version,
        requires_python: None,
        requires_dist: &[],
        metadata_name: None,
        description: "",
    };
    for v in ["1.0", "2.0"] {
        let d = dist(v);
        let r = server
            .upload(
                "provider=pypi&reponame=dev",
                &[(&d.wheel_name(), d.wheel())],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let (status, out) = post(
        &server,
        "/api/v1/repos/pypi/dev/copy",
        json!({ "packages": [{ "name": "promoted-pkg", "version": "1.0" }], "to": { "repo": "prod" } }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let venv = Venv::new(&env.dir.path().join("prod"));
    let r = venv.pip_install(&server.url("/repo/pypi/prod/simple/"), &["promoted-pkg"]);
    assert!(r.ok, "{}", r.output);
    assert!(
        venv.installed().contains(&"promoted-pkg==1.0".to_owned()),
        "{:?}",
        venv.installed()
    );

    // A snapshot of dev promoted whole into another repository.
    let r = server
        .call(
            Method::POST,
            "/api/v1/repos/pypi/dev/snapshots",
            ADMIN_TOKEN,
            Some(json!({ "name": "rc1" })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (status, out) = post(
        &server,
        "/api/v1/repos/pypi/dev/copy",
        json!({ "from_snapshot": "rc1", "to": { "repo": "released" } }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["copied"].as_array().unwrap().len(), 2, "{out}");

    // Move 2.0 out of dev into prod: dev keeps 1.0 only.
    let (status, out) = post(
        &server,
        "/api/v1/repos/pypi/dev/move",
        json!({ "packages": [{ "name": "Promoted.Pkg", "version": "2" }], "to": { "repo": "prod" } }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let venv = Venv::new(&env.dir.path().join("prod2"));
    let r = venv.pip_install(&server.url("/repo/pypi/prod/simple/"), &["promoted-pkg"]);
    assert!(r.ok, "{}", r.output);
    assert!(venv.installed().contains(&"promoted-pkg==2.0".to_owned()));
    let dev = server
        .get("/repo/pypi/dev/simple/promoted-pkg/")
        .await
        .text()
        .await
        .unwrap();
    assert!(!dev.contains("2.0"), "{dev}");
    assert!(dev.contains("1.0"), "{dev}");
}
