//! The rpm provider against the real `dnf` (isolated, `repo_gpgcheck=1`,
//! trusting only the repository key) and against `createrepo_c`'s metadata
//! for the same `rpmbuild`-built packages.

use std::path::{Path, PathBuf};

use artifactd_tests::rpm::{Dnf, Spec, rpmbuild, with_name};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex};

both_backends!(
    dnf_resolves_downloads_and_matches_createrepo_c,
    dnf_rejects_tampered_repomd_and_wrong_key,
    rpm_bad_uploads_change_nothing,
    two_instances_concurrent_rpm_uploads,
    dnf_trusts_either_key_during_rotation,
);

fn file(path: &Path) -> (String, Vec<u8>) {
    (
        path.file_name().unwrap().to_string_lossy().into_owned(),
        std::fs::read(path).unwrap(),
    )
}

async fn upload(server: &Server, repo: &str, dist: &str, paths: &[&PathBuf]) {
    let files: Vec<(String, Vec<u8>)> = paths.iter().map(|p| file(p)).collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let r = server
        .upload(&format!("provider=rpm&reponame={repo}&dist={dist}"), &refs)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn text(server: &Server, path: &str) -> String {
    let r = server.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// Changelog entries enough to pass createrepo_c's default limit (10).
const CHANGES: &[(&str, &str, &str)] = &[
    (
        "Wed Nov 12 2025",
        "Dev <dev@example.invalid> - 2.0-1",
        "Twelfth",
    ),
    (
        "Tue Nov 11 2025",
        "Dev <dev@example.invalid> - 1.11-1",
        "Eleventh",
    ),
    (
        "Mon Nov 10 2025",
        "Dev <dev@example.invalid> - 1.10-1",
        "Tenth",
    ),
    (
        "Sun Nov 09 2025",
        "Dev <dev@example.invalid> - 1.9-1",
        "Ninth",
    ),
    (
        "Sat Nov 08 2025",
        "Dev <dev@example.invalid> - 1.8-1",
        "Eighth",
    ),
    (
        "Fri Nov 07 2025",
        "Dev <dev@example.invalid> - 1.7-1",
        "Seventh",
    ),
    (
        "Thu Nov 06 2025",
        "Dev <dev@example.invalid> - 1.6-1",
        "Sixth",
    ),
    (
        "Wed Nov 05 2025",
        "Dev <dev@example.invalid> - 1.5-1",
        "Fifth",
    ),
    (
        "Tue Nov 04 2025",
        "Dev <dev@example.invalid> - 1.4-1",
        "Fourth",
    ),
    (
        "Mon Nov 03 2025",
        "Dev <dev@example.invalid> - 1.3-1",
        "Third",
    ),
    (
        "Sun Nov 02 2025",
        "Dev <dev@example.invalid> - 1.2-1",
        "Second",
    ),
    (
        "Sat Nov 01 2025",
        "Dev <dev@example.invalid> - 1.1-1",
        "First & <early>",
    ),
];

/// libfoo 1.0 and 1.1, app 2.0 (x86_64, requires libfoo >= 1.1) and tool
/// with an epoch and its source rpm.
fn build_set(dir: &Path) -> Vec<PathBuf> {
    let lib = |version| Spec {
        files: &[("/usr/lib/libfoo/libfoo.txt", "libfoo")],
        preamble: &["Provides: foo-api = 1"],
        ..Spec::new("libfoo", version)
    };
    let mut built = rpmbuild(dir, &lib("1.0"), false);
    built.extend(rpmbuild(dir, &lib("1.1"), false));
    built.extend(rpmbuild(
        dir,
        &Spec {
            arch: "x86_64",
            preamble: &[
                "Requires: libfoo >= 1.1",
                "Requires(pre): foo-api",
                "Provides: application = 2.0",
                "Conflicts: oldapp < 1.0",
                "Obsoletes: app-legacy <= 1.5",
                "Recommends: app-docs",
            ],
            files: &[("/usr/bin/app", "app"), ("/etc/app/app.conf", "x=1")],
            description: "Uses <b>libfoo</b> & friends.",
            changelog: CHANGES,
            ..Spec::new("app", "2.0")
        },
        false,
    ));
    built.extend(rpmbuild(
        dir,
        &Spec {
            epoch: Some(3),
            release: "7.el9",
            files: &[("/usr/share/tool/data", "tool")],
            ..Spec::new("tool", "0.5")
        },
        true,
    ));
    built
}

const NEVRA: &str = "%{name}-%{epoch}:%{version}-%{release}.%{arch}";
const FIELDS: &str = "%{name}|%{epoch}|%{version}|%{release}|%{arch}|%{summary}|%{license}|%{url}|%{sourcerpm}|%{size}|%{installsize}|%{buildtime}|%{packager}|%{vendor}|%{group}|%{hdr_end}|%{downloadsize}|%{description}";

/// What dnf tells about a repository, query by query.
fn describe(dnf: &Dnf, repo: &str) -> Vec<(String, Vec<String>)> {
    let format = format!("--queryformat={FIELDS}");
    [
        format.as_str(),
        "--requires",
        "--requires-pre",
        "--provides",
        "--conflicts",
        "--obsoletes",
        "--recommends",
        "--list",
        "--changelog",
    ]
    .iter()
    .map(|q| (q.to_string(), dnf.lines(&["repoquery", "--repo", repo, q])))
    .collect()
}

async fn dnf_resolves_downloads_and_matches_createrepo_c(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dir = env.dir.path();
    let built = build_set(&dir.join("build"));
    // libfoo 1.0 alone; libfoo 1.1 and app in one request; tool and its source.
    upload(&server, "yum", "el9", &[&built[0]]).await;
    upload(&server, "yum", "el9", &[&built[1], &built[2]]).await;
    upload(&server, "yum", "el9", &[&built[3], &built[4]]).await;

    let repo_file = text(&server, "/repo/rpm/yum/el9/yum.repo").await;
    assert!(repo_file.contains("repo_gpgcheck=1"), "{repo_file}");
    assert!(
        repo_file.contains(&format!("gpgkey={}/repo/rpm/yum/pubkey", server.url)),
        "{repo_file}"
    );
    assert_eq!(
        text(&server, "/repo/rpm/yum/el9/config.repo").await,
        repo_file
    );

    let dnf = Dnf::new(&dir.join("dnf"), &[("yum.repo", &repo_file)]);
    dnf.ok(&["makecache"]);
    assert_eq!(
        dnf.lines(&["repoquery", "--queryformat", NEVRA]),
        [
            "app-0:2.0-1.x86_64",
            "libfoo-0:1.0-1.noarch",
            "libfoo-0:1.1-1.noarch",
            "tool-3:0.5-7.el9.noarch",
            "tool-3:0.5-7.el9.src",
        ]
    );
    assert_eq!(
        dnf.lines(&["repoquery", "--requires", "app"]),
        ["foo-api", "libfoo >= 1.1"]
    );
    assert_eq!(
        dnf.lines(&["repoquery", "--provides", "app"]),
        ["app = 2.0-1", "app(x86-64) = 2.0-1", "application = 2.0",]
    );
    assert_eq!(
        dnf.lines(&[
            "repoquery",
            "--whatprovides",
            "foo-api",
            "--queryformat",
            NEVRA
        ]),
        ["libfoo-0:1.0-1.noarch", "libfoo-0:1.1-1.noarch"]
    );

    // dnf download: byte-identical files.
    let dl = dir.join("dl");
    dnf.ok(&["download", "--destdir", dl.to_str().unwrap(), "app", "tool"]);
    for (got, want) in [
        ("app-2.0-1.x86_64.rpm", &built[2]),
        ("tool-0.5-7.el9.noarch.rpm", &built[3]),
    ] {
        assert_eq!(
            sha256_hex(&std::fs::read(dl.join(got)).unwrap()),
            sha256_hex(&std::fs::read(want).unwrap()),
            "{got}"
        );
    }
    // Resolution pulls the Requires from the same repository, newest that fits.
    let deps = dir.join("deps");
    dnf.ok(&[
        "install",
        "--downloadonly",
        "--destdir",
        deps.to_str().unwrap(),
        "app",
    ]);
    let mut got: Vec<String> = std::fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, ["app-2.0-1.x86_64.rpm", "libfoo-1.1-1.noarch.rpm"]);
    assert_eq!(
        std::fs::read(deps.join("libfoo-1.1-1.noarch.rpm")).unwrap(),
        std::fs::read(&built[1]).unwrap()
    );

    // The same packages through createrepo_c: dnf answers the same.
    let reference = dir.join("createrepo");
    std::fs::create_dir_all(&reference).unwrap();
    for p in &built {
        std::fs::copy(p, reference.join(p.file_name().unwrap())).unwrap();
    }
    let o = std::process::Command::new("createrepo_c")
        .arg("--quiet")
        .arg(&reference)
        .output()
        .expect("createrepo_c runs (package createrepo-c; tests/run installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let both = Dnf::new(
        &dir.join("dnf-both"),
        &[
            ("yum.repo", &repo_file),
            (
                "ref.repo",
                &format!(
                    "[ref]\nname=ref\nbaseurl=file://{}\nrepo_gpgcheck=0\ngpgcheck=0\n",
                    reference.display()
                ),
            ),
        ],
    );
    both.ok(&["makecache"]);
    let ours = describe(&both, "yum-el9");
    let theirs = describe(&both, "ref");
    for ((query, a), (_, b)) in ours.iter().zip(&theirs) {
        assert!(!b.is_empty(), "{query}: createrepo_c's answer is empty");
        assert_eq!(a, b, "{query}");
    }
    let changelog = &ours.iter().find(|(q, _)| q == "--changelog").unwrap().1;
    assert!(changelog.iter().any(|l| l.contains("Twelfth")));
    assert!(changelog.iter().any(|l| l.contains("- Third")));
    assert!(
        !changelog.iter().any(|l| l.contains("- Second")),
        "ten newest entries"
    );

    // Removing a package republishes without it; app is no longer installable.
    let r = server
        .call(
            reqwest::Method::DELETE,
            "/api/v1/repos/rpm/yum/packages/libfoo/1.1-1",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        dnf.lines(&["repoquery", "--refresh", "--queryformat", NEVRA, "libfoo"]),
        ["libfoo-0:1.0-1.noarch"]
    );
    let run = dnf.run(&["install", "--assumeno", "app"]);
    assert!(
        !run.ok && run.output.contains("libfoo >= 1.1"),
        "{}",
        run.output
    );
    // The removed file stays readable for clients holding the older repomd.
    let old = server
        .get("/repo/rpm/yum/el9/Packages/l/libfoo-1.1-1.noarch.rpm")
        .await;
    assert_eq!(old.status(), 200);
}

async fn dnf_rejects_tampered_repomd_and_wrong_key(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dir = env.dir.path();
    let built = rpmbuild(&dir.join("build"), &Spec::new("solo", "1.0"), false);
    upload(&server, "good", "el9", &[&built[0]]).await;
    upload(&server, "other", "el9", &[&built[0]]).await;
    let repo_file = text(&server, "/repo/rpm/good/el9/good.repo").await;

    let trusted = Dnf::new(&dir.join("trusted"), &[("good.repo", &repo_file)]);
    trusted.ok(&["makecache"]);

    // Trusting another repository's key: the signature does not verify.
    let wrong_key = repo_file.replace("/repo/rpm/good/pubkey", "/repo/rpm/other/pubkey");
    assert_ne!(wrong_key, repo_file);
    let wrong = Dnf::new(&dir.join("wrong"), &[("good.repo", &wrong_key)]);
    let run = wrong.run(&["makecache"]);
    assert!(
        !run.ok,
        "makecache with the wrong key succeeded:\n{}",
        run.output
    );
    assert!(
        run.output.contains("GPG") || run.output.contains("signature"),
        "{}",
        run.output
    );

    // Tamper with the stored repomd.xml and read it through a fresh instance.
    let repomd = server
        .get("/repo/rpm/good/el9/repodata/repomd.xml")
        .await
        .bytes()
        .await
        .unwrap();
    let original = String::from_utf8(repomd.to_vec()).unwrap();
    let tampered = original.replacen("<revision>", "<revision>1", 1);
    env.tamper_index(1, &repomd, tampered.into_bytes()).await;
    let fresh = env.start(&[]).await;
    let fresh_repo = text(&fresh, "/repo/rpm/good/el9/good.repo").await;
    let dnf = Dnf::new(&dir.join("tampered"), &[("good.repo", &fresh_repo)]);
    let run = dnf.run(&["makecache"]);
    assert!(
        !run.ok,
        "makecache of a tampered repomd.xml succeeded:\n{}",
        run.output
    );
}

/// Name, query, file name, bytes, expected status and error code.
type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, u16, &'a str);

async fn rpm_bad_uploads_change_nothing(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dir = env.dir.path();
    let good =
        std::fs::read(&rpmbuild(&dir.join("a"), &Spec::new("probe", "1.0"), false)[0]).unwrap();
    // The same NEVRA built again: other bytes (build time).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let rebuilt =
        std::fs::read(&rpmbuild(&dir.join("b"), &Spec::new("probe", "1.0"), false)[0]).unwrap();
    assert_ne!(good, rebuilt);

    let mut impossible = good.clone();
    impossible[96 + 8..96 + 12].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let cases: Vec<Case> = vec![
        (
            "not an rpm",
            "dist=el9",
            "x.rpm",
            b"hello, world".repeat(20),
            400,
            "invalid_rpm",
        ),
        (
            "truncated",
            "dist=el9",
            "x.rpm",
            good[..good.len() - 64].to_vec(),
            400,
            "invalid_rpm",
        ),
        (
            "impossible header size",
            "dist=el9",
            "x.rpm",
            impossible,
            400,
            "invalid_rpm",
        ),
        (
            "traversal in the name",
            "dist=el9",
            "x.rpm",
            with_name(&good, "../.."),
            400,
            "invalid_field",
        ),
        (
            "traversal in the dist",
            "dist=../el9",
            "x.rpm",
            good.clone(),
            400,
            "invalid_field",
        ),
        (
            "no dist",
            "",
            "x.rpm",
            good.clone(),
            400,
            "missing_parameter",
        ),
        (
            "not .rpm",
            "dist=el9",
            "x.deb",
            good.clone(),
            400,
            "unsupported_file_type",
        ),
    ];
    for (case, query, name, bytes, status, code) in cases {
        let before = env.stored_objects().await;
        let r = server
            .upload(
                &format!("provider=rpm&reponame=r&{query}"),
                &[(name, bytes)],
            )
            .await;
        assert_eq!(
            (r.status, r.error_code()),
            (status, code),
            "{case}: {}",
            r.text
        );
        assert_eq!(
            env.stored_objects().await,
            before,
            "{case}: storage changed"
        );
        let repos = server.get_json("/api/v1/repos").await;
        assert!(
            !repos["repos"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "r"),
            "{case}: repository created"
        );
    }

    // The same NEVRA with other bytes: 409, and nothing changes.
    let ok = server
        .upload(
            "provider=rpm&reponame=r&dist=el9",
            &[("p.rpm", good.clone())],
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let again = server
        .upload(
            "provider=rpm&reponame=r&dist=el9",
            &[("p.rpm", good.clone())],
        )
        .await;
    assert_eq!(again.status, 200, "identical re-upload: {}", again.text);
    let before = env.stored_objects().await;
    let repomd = text(&server, "/repo/rpm/r/el9/repodata/repomd.xml").await;
    let r = server
        .upload("provider=rpm&reponame=r&dist=el9", &[("p.rpm", rebuilt)])
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(env.stored_objects().await, before);
    assert_eq!(
        text(&server, "/repo/rpm/r/el9/repodata/repomd.xml").await,
        repomd
    );
    // name= and version= are checked against the package.
    let r = server
        .upload(
            "provider=rpm&reponame=r&dist=el9&name=probe&version=2.0-1",
            &[("p.rpm", good)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

/// Fetches repomd.xml and every file it names, checks their checksums and
/// sizes (compressed and open), and returns how many packages primary lists.
async fn check_repodata(server: &Server, repo: &str, dist: &str) -> usize {
    let base = format!("/repo/rpm/{repo}/{dist}");
    let repomd = text(server, &format!("{base}/repodata/repomd.xml")).await;
    let mut packages = None;
    for data in repomd.split("<data type=\"").skip(1) {
        let field = |start: &str, end: &str| {
            let s = &data[data.find(start).unwrap() + start.len()..];
            s[..s.find(end).unwrap()].to_owned()
        };
        let kind = field("", "\"");
        let href = field("<location href=\"", "\"");
        let gz = server.get(&format!("{base}/{href}")).await;
        assert_eq!(gz.status(), 200, "{href} named by repomd.xml");
        let gz = gz.bytes().await.unwrap();
        assert_eq!(
            sha256_hex(&gz),
            field("<checksum type=\"sha256\">", "<"),
            "{kind}"
        );
        assert_eq!(gz.len().to_string(), field("<size>", "<"), "{kind}");
        let mut xml = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut xml)
            .unwrap();
        assert_eq!(
            sha256_hex(&xml),
            field("<open-checksum type=\"sha256\">", "<"),
            "{kind}"
        );
        assert_eq!(xml.len().to_string(), field("<open-size>", "<"), "{kind}");
        let xml = String::from_utf8(xml).unwrap();
        let count = xml.matches("<package ").count();
        if let Some(n) = packages {
            assert_eq!(n, count, "{kind} lists another number of packages");
        }
        packages = Some(count);
    }
    packages.expect("repomd.xml names metadata")
}

async fn two_instances_concurrent_rpm_uploads(backend: Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let env = TestEnv::new(backend).await;
    let opts = [("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "100")];
    let a = Arc::new(env.start(&opts).await);
    let b = Arc::new(env.start(&opts).await);
    let dir = env.dir.path().join("build");
    let names: Vec<String> = (0..24).map(|i| format!("pkg{i:02}")).collect();
    let built: Vec<PathBuf> = names
        .iter()
        .map(|n| rpmbuild(&dir, &Spec::new(n, "1.0"), false).remove(0))
        .collect();
    upload(&a, "shared", "el9", &[&built[0]]).await;

    // Readers on both instances: every repomd.xml they get names files that
    // exist and match, and the package count never goes backwards.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|server| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut last, mut reads) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let n = check_repodata(&server, "shared", "el9").await;
                    assert!(n >= last, "repodata went backwards: {last} -> {n}");
                    (last, reads) = (n, reads + 1);
                }
                reads
            })
        })
        .collect();
    let uploads: Vec<_> = built[1..]
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let path = path.clone();
            tokio::spawn(async move { upload(&server, "shared", "el9", &[&path]).await })
        })
        .collect();
    for u in uploads {
        u.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    Server::converged(&[&a, &b], "/repo/rpm/shared/el9/repodata/repomd.xml").await;
    for server in [&a, &b] {
        assert_eq!(check_repodata(server, "shared", "el9").await, names.len());
    }
    // And dnf, through the second instance, sees every package.
    let repo_file = text(&b, "/repo/rpm/shared/el9/shared.repo").await;
    let dnf = Dnf::new(&env.dir.path().join("dnf"), &[("shared.repo", &repo_file)]);
    assert_eq!(dnf.lines(&["repoquery", "--queryformat", "%{name}"]), names);
}

async fn dnf_trusts_either_key_during_rotation(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dir = env.dir.path();
    let built = rpmbuild(&dir.join("build"), &Spec::new("rotated", "1.0"), false);
    upload(&server, "r", "el9", &[&built[0]]).await;
    let old_key = text(&server, "/repo/rpm/r/pubkey").await;
    let resp = server
        .call(
            reqwest::Method::POST,
            "/api/v1/repos/rpm/r/keys",
            ADMIN_TOKEN,
            Some(serde_json::json!({ "algorithm": "ed25519", "transition_secs": 3600 })),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let both = text(&server, "/repo/rpm/r/pubkey").await;
    assert_eq!(both.matches("BEGIN PGP PUBLIC KEY BLOCK").count(), 2);
    assert_eq!(
        text(&server, "/repo/rpm/r/el9/repodata/repomd.xml.key").await,
        both
    );
    let new_key = both[both.rfind("-----BEGIN PGP PUBLIC KEY BLOCK-----").unwrap()..].to_owned();
    let repo_file = text(&server, "/repo/rpm/r/el9/r.repo").await;
    for (name, key) in [("old", &old_key), ("new", &new_key)] {
        let key_path = dir.join(format!("{name}.asc"));
        std::fs::write(&key_path, key).unwrap();
        let own = repo_file
            .lines()
            .map(|l| {
                if l.starts_with("gpgkey=") {
                    format!("gpgkey=file://{}", key_path.display())
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let dnf = Dnf::new(&dir.join(name), &[("r.repo", &own)]);
        assert_eq!(
            dnf.lines(&["repoquery", "--queryformat", "%{name}"]),
            ["rotated"],
            "a client trusting only the {name} key"
        );
    }
}
