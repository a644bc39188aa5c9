//! The apt provider against the real apt-get, with an isolated configuration
//! that trusts the repository only through `signed-by`.

use std::path::Path;

use artifactd_tests::apt::{Apt, installed, make_deb, packages_text};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex};
use reqwest::Method;

both_backends!(
    apt_update_resolve_download_source,
    apt_rejects_tampered_release_and_wrong_key,
    apt_dists_components_archs_and_pins,
    apt_bad_uploads_change_nothing,
    apt_delete_and_key_rotation,
);

fn corpus(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(corpus(rel)).unwrap()
}

/// A Packages index, read as apt does: from its compressed form.
async fn upload_debs(server: &Server, repo: &str, query: &str, files: &[(&str, Vec<u8>)]) {
    let r = server
        .upload(&format!("provider=apt&reponame={repo}&{query}"), files)
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

fn source_line(server: &Server, repo: &str, kind: &str, dist: &str, components: &str) -> String {
    format!(
        "{kind} [signed-by={{key}}] {}/repo/apt/{repo} {dist} {components}",
        server.url
    )
}

async fn pubkey(server: &Server, repo: &str) -> Vec<u8> {
    let resp = server.get(&format!("/repo/apt/{repo}/pubkey")).await;
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

async fn apt_update_resolve_download_source(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    for deb in [
        "jq_1.6-2.1+deb12u3_amd64.deb",
        "libjq1_1.6-2.1+deb12u3_amd64.deb",
        "libonig5_6.9.8-1_amd64.deb",
        "hello_2.10-3_amd64.deb",
        "python3-six_1.16.0-4_all.deb",
    ] {
        upload_debs(
            &server,
            "deb",
            "dist=bookworm",
            &[(deb, read(&format!("deb/{deb}")))],
        )
        .await;
    }
    let src: Vec<(&str, Vec<u8>)> = [
        "hello_2.10-3.dsc",
        "hello_2.10.orig.tar.gz",
        "hello_2.10-3.debian.tar.xz",
        "hello_2.10.orig.tar.gz.asc",
    ]
    .iter()
    .map(|n| (*n, read(&format!("deb-src/{n}"))))
    .collect();
    upload_debs(&server, "deb", "dist=bookworm", &src).await;

    let dir = env.dir.path().join("apt");
    let apt = Apt::new(
        &dir,
        &pubkey(&server, "deb").await,
        &[
            source_line(&server, "deb", "deb", "bookworm", "main"),
            source_line(&server, "deb", "deb-src", "bookworm", "main"),
        ],
    );
    let run = apt.update();
    assert!(run.ok, "{}", run.output);

    // apt fetched the Contents index apt-file searches.
    let contents = apt.contents();
    assert!(
        contents
            .lines()
            .any(|l| l.starts_with("usr/bin/jq ") && l.trim_end().ends_with("/jq")),
        "usr/bin/jq not in Contents:\n{}",
        &contents[..contents.len().min(2000)]
    );

    // Resolution pulls jq's dependency chain from the repository.
    apt.set_status(
        &(installed("libc6", "2.36-9+deb12u4", "")
            + &installed("python3", "3.11.2-1", "Multi-Arch: allowed\n")),
    );
    let run = apt.run(&["install", "--simulate", "jq"]);
    assert!(run.ok, "{}", run.output);
    for pkg in ["Inst jq ", "Inst libjq1 ", "Inst libonig5 "] {
        assert!(run.output.contains(pkg), "{pkg} missing:\n{}", run.output);
    }
    let run = apt.run(&["install", "--simulate", "python3-six"]);
    assert!(run.output.contains("Inst python3-six "), "{}", run.output);

    let run = apt.run(&["download", "hello"]);
    assert!(run.ok, "{}", run.output);
    let got = std::fs::read(apt.out_dir().join("hello_2.10-3_amd64.deb")).unwrap();
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&read("deb/hello_2.10-3_amd64.deb"))
    );

    let run = apt.run(&["source", "--download-only", "hello"]);
    assert!(run.ok, "{}", run.output);
    for (name, bytes) in &src {
        let got = std::fs::read(apt.out_dir().join(name))
            .unwrap_or_else(|_| panic!("{name} not downloaded"));
        assert_eq!(sha256_hex(&got), sha256_hex(bytes), "{name}");
    }

    // The install script and the Contents index.
    let script = server
        .get("/repo/apt/deb/dists/bookworm/install")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        script.contains(&format!("base='{}/repo/apt/deb'", server.url)),
        "{script}"
    );
    assert!(
        script.contains("Signed-By: /etc/apt/keyrings/deb.asc"),
        "{script}"
    );
    let contents = server
        .get("/repo/apt/deb/dists/bookworm/main/Contents-amd64.gz")
        .await;
    assert_eq!(contents.status(), 200);

    // apt-get source through the .sources file the script writes.
    let sources = script
        .split("<<SOURCES_END\n")
        .nth(1)
        .and_then(|s| s.split("SOURCES_END").next())
        .unwrap_or_else(|| panic!("no .sources in {script}"));
    assert!(sources.starts_with("Types: deb deb-src\n"), "{sources}");
    let by_script = Apt::new(
        &env.dir.path().join("apt-script"),
        &pubkey(&server, "deb").await,
        &[],
    );
    let sources = sources
        .replace("$base", &format!("{}/repo/apt/deb", server.url))
        .replace(
            "/etc/apt/keyrings/deb.asc",
            &by_script.key_path().display().to_string(),
        );
    std::fs::write(
        by_script.dir.join("etc/sources.list.d/deb.sources"),
        sources,
    )
    .unwrap();
    let run = by_script.update();
    assert!(run.ok, "{}", run.output);
    let run = by_script.run(&["source", "--download-only", "hello"]);
    assert!(run.ok, "{}", run.output);
    assert!(by_script.out_dir().join("hello_2.10-3.dsc").exists());

    // A dist without source packages lists an empty Sources all the same
    // (mirroring tools want one), and its script names deb only.
    upload_debs(
        &server,
        "deb",
        "dist=trixie",
        &[("t.deb", make_deb("trixie-only", "1.0", "amd64", ""))],
    )
    .await;
    let release = assert_release_consistent(&server, "deb", "trixie").await;
    for name in [
        "main/source/Sources",
        "main/source/Sources.xz",
        "main/source/Sources.gz",
    ] {
        assert!(
            release.contains(&format!(" {name}\n")),
            "{name} not in\n{release}"
        );
    }
    assert_eq!(
        packages_text(&server, "/repo/apt/deb/dists/trixie/main/source/Sources").await,
        ""
    );
    let script = server
        .get("/repo/apt/deb/dists/trixie/install")
        .await
        .text()
        .await
        .unwrap();
    assert!(script.contains("\nTypes: deb\n"), "{script}");
    let apt = Apt::new(
        &env.dir.path().join("apt-trixie"),
        &pubkey(&server, "deb").await,
        &[source_line(&server, "deb", "deb-src", "trixie", "main")],
    );
    let run = apt.update();
    assert!(run.ok && !run.output.contains("Skipping"), "{}", run.output);
}

async fn apt_rejects_tampered_release_and_wrong_key(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    upload_debs(
        &server,
        "deb",
        "dist=bookworm",
        &[("hello.deb", read("deb/hello_2.10-3_amd64.deb"))],
    )
    .await;
    upload_debs(
        &server,
        "other",
        "dist=bookworm",
        &[("six.deb", read("deb/python3-six_1.16.0-4_all.deb"))],
    )
    .await;
    let sources = [source_line(&server, "deb", "deb", "bookworm", "main")];

    // Trusting another repository's key: the signature does not verify.
    let wrong = Apt::new(
        &env.dir.path().join("wrong"),
        &pubkey(&server, "other").await,
        &sources,
    );
    let run = wrong.update();
    assert!(
        !run.ok,
        "update with the wrong key succeeded:\n{}",
        run.output
    );
    assert!(
        run.output.contains("NO_PUBKEY") || run.output.contains("not signed"),
        "{}",
        run.output
    );

    // Tamper with the stored InRelease and read it through a fresh instance.
    let inrelease = server
        .get("/repo/apt/deb/dists/bookworm/InRelease")
        .await
        .bytes()
        .await
        .unwrap();
    let text = String::from_utf8(inrelease.to_vec()).unwrap();
    let tampered = text.replacen("Suite: bookworm", "Suite: bookwurm", 1);
    env.tamper_index(1, &inrelease, tampered.into_bytes()).await;
    let fresh = env.start(&[]).await;
    let sources = [source_line(&fresh, "deb", "deb", "bookworm", "main")];
    let apt = Apt::new(
        &env.dir.path().join("tampered"),
        &pubkey(&fresh, "deb").await,
        &sources,
    );
    let run = apt.update();
    assert!(
        !run.ok,
        "update of a tampered InRelease succeeded:\n{}",
        run.output
    );
}

async fn apt_dists_components_archs_and_pins(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let up = |q: &'static str, name: &'static str, v: &'static str, arch: &'static str| {
        let deb = make_deb(name, v, arch, "");
        let server = &server;
        async move { upload_debs(server, "multi", q, &[(&format!("{name}.deb"), deb)]).await }
    };
    up("dist=stable", "tool", "1.0", "amd64").await;
    up("dist=stable", "tool", "2.0", "amd64").await;
    up("dist=stable", "tool", "1.0", "arm64").await;
    up("dist=stable&component=extra", "extra-tool", "1.0", "amd64").await;
    up("dist=stable", "common", "1.0", "all").await;
    up("dist=testing", "tool", "3.0", "amd64").await;

    let arm64 = packages_text(
        &server,
        "/repo/apt/multi/dists/stable/main/binary-arm64/Packages",
    )
    .await;
    assert!(
        arm64.contains("Package: tool\nVersion: 1.0\nArchitecture: arm64"),
        "{arm64}"
    );
    assert!(
        arm64.contains("Package: common\n"),
        "Architecture: all in every index:\n{arm64}"
    );
    assert!(!arm64.contains("Version: 2.0"), "{arm64}");

    let apt = Apt::new(
        &env.dir.path().join("apt"),
        &pubkey(&server, "multi").await,
        &[
            source_line(&server, "multi", "deb", "stable", "main extra"),
            source_line(&server, "multi", "deb", "testing", "main"),
        ],
    );
    let run = apt.update();
    assert!(run.ok, "{}", run.output);
    let policy = apt.policy("tool");
    assert!(policy.contains("Candidate: 3.0"), "newest wins:\n{policy}");
    for v in ["1.0", "2.0", "3.0"] {
        assert!(
            policy.contains(&format!(" {v} ")),
            "version {v} missing:\n{policy}"
        );
    }
    apt.set_preferences("Package: tool\nPin: release n=stable\nPin-Priority: 990\n");
    assert!(
        apt.policy("tool").contains("Candidate: 2.0"),
        "{}",
        apt.policy("tool")
    );
    apt.set_preferences("Package: tool\nPin: version 1.0\nPin-Priority: 1001\n");
    assert!(
        apt.policy("tool").contains("Candidate: 1.0"),
        "{}",
        apt.policy("tool")
    );
    let run = apt.run(&["install", "--simulate", "extra-tool", "common"]);
    assert!(
        run.ok && run.output.contains("Inst extra-tool ") && run.output.contains("Inst common "),
        "{}",
        run.output
    );
}

/// Case name, query, files, expected error code.
type BadUpload<'a> = (&'a str, &'a str, Vec<(String, Vec<u8>)>, &'a str);

async fn apt_bad_uploads_change_nothing(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    upload_debs(
        &server,
        "r",
        "dist=bookworm",
        &[("hello.deb", read("deb/hello_2.10-3_amd64.deb"))],
    )
    .await;
    let inrelease = || async {
        server
            .get("/repo/apt/r/dists/bookworm/InRelease")
            .await
            .bytes()
            .await
            .unwrap()
    };
    let before_release = inrelease().await;
    let before_objects = env.stored_objects().await;
    let hello = read("deb/hello_2.10-3_amd64.deb");
    let src = |skip: &str, corrupt: &str| -> Vec<(String, Vec<u8>)> {
        [
            "hello_2.10-3.dsc",
            "hello_2.10.orig.tar.gz",
            "hello_2.10-3.debian.tar.xz",
            "hello_2.10.orig.tar.gz.asc",
        ]
        .iter()
        .filter(|n| **n != skip)
        .map(|n| {
            (
                n.to_string(),
                if *n == corrupt {
                    b"corrupted".to_vec()
                } else {
                    read(&format!("deb-src/{n}"))
                },
            )
        })
        .collect()
    };
    let cases: Vec<BadUpload> = vec![
        (
            "not a deb",
            "dist=bookworm",
            vec![("x.deb".into(), b"plain text".to_vec())],
            "invalid_deb",
        ),
        (
            "truncated deb",
            "dist=bookworm",
            vec![("x.deb".into(), hello[..hello.len() / 2].to_vec())],
            "invalid_deb",
        ),
        (
            "no Version",
            "dist=bookworm",
            vec![("x.deb".into(), make_deb_without("Version"))],
            "invalid_deb",
        ),
        (
            "bad version",
            "dist=bookworm",
            vec![(
                "x.deb".into(),
                make_deb("tool", "not-a-version!", "amd64", ""),
            )],
            "invalid_version",
        ),
        (
            "traversal package",
            "dist=bookworm",
            vec![("x.deb".into(), make_deb("../evil", "1.0", "amd64", ""))],
            "invalid_package",
        ),
        (
            "traversal arch",
            "dist=bookworm",
            vec![("x.deb".into(), make_deb("tool", "1.0", "../amd64", ""))],
            "invalid_architecture",
        ),
        (
            "traversal dist",
            "dist=../x",
            vec![("x.deb".into(), make_deb("tool", "1.0", "amd64", ""))],
            "invalid_parameter",
        ),
        (
            "no dist",
            "",
            vec![("x.deb".into(), make_deb("tool", "1.0", "amd64", ""))],
            "missing_parameter",
        ),
        (
            "dsc missing a file",
            "dist=bookworm",
            src("hello_2.10-3.debian.tar.xz", ""),
            "missing_file",
        ),
        (
            "dsc file mismatch",
            "dist=bookworm",
            src("", "hello_2.10-3.debian.tar.xz"),
            "checksum_mismatch",
        ),
        (
            "version= differs from the package",
            "dist=bookworm&version=9.9",
            vec![("h.deb".into(), hello.clone())],
            "version_mismatch",
        ),
        (
            "name= differs from the package",
            "dist=bookworm&name=other",
            vec![("h.deb".into(), hello.clone())],
            "name_mismatch",
        ),
        (
            "same P/V/A, other bytes",
            "dist=bookworm",
            vec![("x.deb".into(), make_deb("hello", "2.10-3", "amd64", ""))],
            "file_exists",
        ),
    ];
    for (case, query, files, code) in cases {
        let files: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        let r = server
            .upload(&format!("provider=apt&reponame=r&{query}"), &files)
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{case}: {} {}",
            r.status,
            r.text
        );
        assert_eq!(r.error_code(), code, "{case}: {}", r.text);
        assert_eq!(
            env.stored_objects().await,
            before_objects,
            "{case}: storage changed"
        );
        assert_eq!(inrelease().await, before_release, "{case}: index changed");
    }
}

/// A .deb whose control file lacks one field.
fn make_deb_without(field: &str) -> Vec<u8> {
    // make_deb always writes Version; rebuild its control without it.
    let deb = make_deb("tool", "1.0", "amd64", "");
    let mut archive = ar::Archive::new(&deb[..]);
    let mut out = ar::Builder::new(Vec::new());
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.header().identifier().to_vec()).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if name == "control.tar.gz" {
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
            let mut control = String::new();
            for e in tar.entries().unwrap() {
                std::io::Read::read_to_string(&mut e.unwrap(), &mut control).unwrap();
            }
            let kept: String = control
                .lines()
                .filter(|l| !l.starts_with(&format!("{field}:")))
                .map(|l| format!("{l}\n"))
                .collect();
            let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            ));
            let mut h = tar::Header::new_gnu();
            h.set_size(kept.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "./control", kept.as_bytes()).unwrap();
            bytes = b.into_inner().unwrap().finish().unwrap();
        }
        out.append(
            &ar::Header::new(name.into_bytes(), bytes.len() as u64),
            &bytes[..],
        )
        .unwrap();
    }
    out.into_inner().unwrap()
}

async fn apt_delete_and_key_rotation(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env
        .start(&[("ARTIFACTD_PUBLISH_SWEEP_INTERVAL_SECS", "1")])
        .await;
    upload_debs(
        &server,
        "r",
        "dist=bookworm",
        &[("a.deb", make_deb("tool", "1.0", "amd64", ""))],
    )
    .await;
    upload_debs(
        &server,
        "r",
        "dist=bookworm",
        &[("b.deb", make_deb("tool", "2.0", "amd64", ""))],
    )
    .await;
    let old_key = pubkey(&server, "r").await;

    // Deleting a version republishes without it.
    let resp = server
        .http
        .delete(server.url("/repo/apt/r/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let del = |v: &'static str| {
        let path = format!("/api/v1/repos/apt/r/packages/tool/{v}");
        let server = &server;
        async move { server.call(Method::DELETE, &path, ADMIN_TOKEN, None).await }
    };
    let resp = del("2.0").await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["deleted"][0]["variant"], "amd64");
    assert_eq!(del("2.0").await.status(), 404);
    let packages = packages_text(
        &server,
        "/repo/apt/r/dists/bookworm/main/binary-amd64/Packages",
    )
    .await;
    assert!(
        packages.contains("Version: 1.0") && !packages.contains("Version: 2.0"),
        "{packages}"
    );

    // Origin and Label are repository settings; bad values are refused.
    let patch = |body: serde_json::Value| {
        server.call(
            Method::PATCH,
            "/api/v1/repos/apt/r",
            ADMIN_TOKEN,
            Some(body),
        )
    };
    let resp = patch(
        serde_json::json!({ "settings": { "origin": "Example Corp", "label": "Example tools" } }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let release = server
        .get("/repo/apt/r/dists/bookworm/Release")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        release.starts_with("Origin: Example Corp\nLabel: Example tools\n"),
        "{release}"
    );
    let resp = patch(serde_json::json!({ "settings": { "origin": "x\nSuite: evil" } })).await;
    assert_eq!(resp.status(), 400);

    // Rotation: both keys sign during the transition; clients trusting
    // either the old or the new key keep working.
    let resp = server
        .call(
            Method::POST,
            "/api/v1/repos/apt/r/keys",
            ADMIN_TOKEN,
            Some(serde_json::json!({ "algorithm": "ed25519", "transition_secs": 3600 })),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let both = pubkey(&server, "r").await;
    assert_eq!(
        String::from_utf8_lossy(&both)
            .matches("BEGIN PGP PUBLIC KEY BLOCK")
            .count(),
        2
    );
    let keys: serde_json::Value = server.get_json("/api/v1/repos/apt/r/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(
        !keys.to_string().contains("PRIVATE"),
        "secret keys are never served"
    );
    let new_key = {
        // The second armored block is the new key.
        let text = String::from_utf8(both.clone()).unwrap();
        let start = text.rfind("-----BEGIN PGP PUBLIC KEY BLOCK-----").unwrap();
        text.as_bytes()[start..].to_vec()
    };
    let sources = [source_line(&server, "r", "deb", "bookworm", "main")];
    for (name, key) in [("old", &old_key), ("new", &new_key)] {
        let apt = Apt::new(&env.dir.path().join(name), key, &sources);
        let run = apt.update();
        assert!(
            run.ok,
            "client trusting only the {name} key:\n{}",
            run.output
        );
        assert!(apt.policy("tool").contains("Candidate: 1.0"));
    }

    // A short transition: once it ends, the sweep republishes with the new
    // key alone, and pubkey no longer offers the retired ones.
    let resp = server
        .call(
            Method::POST,
            "/api/v1/repos/apt/r/keys",
            ADMIN_TOKEN,
            Some(serde_json::json!({ "transition_secs": 2 })),
        )
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(
        String::from_utf8_lossy(&pubkey(&server, "r").await)
            .matches("BEGIN PGP PUBLIC KEY BLOCK")
            .count(),
        3
    );
    let mut keys_left = 3;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        keys_left = String::from_utf8_lossy(&pubkey(&server, "r").await)
            .matches("BEGIN PGP PUBLIC KEY BLOCK")
            .count();
        if keys_left == 1 {
            break;
        }
    }
    assert_eq!(
        keys_left, 1,
        "retired keys still served after the transition"
    );
    let current = pubkey(&server, "r").await;
    let apt = Apt::new(&env.dir.path().join("current"), &current, &sources);
    let run = apt.update();
    assert!(run.ok, "client trusting the current key:\n{}", run.output);
    let apt = Apt::new(&env.dir.path().join("retired"), &old_key, &sources);
    let run = apt.update();
    assert!(!run.ok, "a retired key still signs:\n{}", run.output);
}

both_backends!(apt_two_instances_fifty_concurrent_debs, apt_publish_storm);

/// Checks every file a Release names: served, with that size and SHA-256.
async fn assert_release_consistent(server: &Server, repo: &str, dist: &str) -> String {
    let release = server
        .get(&format!("/repo/apt/{repo}/dists/{dist}/Release"))
        .await
        .text()
        .await
        .unwrap();
    let section = release
        .split("SHA256:\n")
        .nth(1)
        .unwrap()
        .split("SHA512:")
        .next()
        .unwrap();
    for line in section.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        // Plain indices are listed but served compressed only.
        let plain = w[2].ends_with("/Packages")
            || w[2].ends_with("/Sources")
            || (w[2].contains("/Contents-") && !w[2].ends_with(".gz"));
        let body = if plain && w[2].contains("/Contents-") {
            let gz = server
                .get(&format!("/repo/apt/{repo}/dists/{dist}/{}.gz", w[2]))
                .await
                .bytes()
                .await
                .unwrap();
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut text)
                .unwrap();
            text
        } else if plain {
            packages_text(server, &format!("/repo/apt/{repo}/dists/{dist}/{}", w[2]))
                .await
                .into_bytes()
        } else {
            let resp = server
                .get(&format!("/repo/apt/{repo}/dists/{dist}/{}", w[2]))
                .await;
            assert_eq!(resp.status(), 200, "{}", w[2]);
            resp.bytes().await.unwrap().to_vec()
        };
        assert_eq!(body.len().to_string(), w[1], "size of {}", w[2]);
        assert_eq!(sha256_hex(&body), w[0], "SHA-256 of {}", w[2]);
    }
    release
}

async fn apt_two_instances_fifty_concurrent_debs(backend: Backend) {
    let env = TestEnv::new(backend).await;
    // A memory limit below every index's size: both instances stream
    // Packages.gz/.xz part by part, from the parts the publisher holds or
    // from storage, and every byte must still match Release.
    let opts = [
        ("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "100"),
        ("ARTIFACTD_PUBLISH_MEMORY_LIMIT_BYTES", "256"),
    ];
    let a = std::sync::Arc::new(env.start(&opts).await);
    let b = std::sync::Arc::new(env.start(&opts).await);
    upload_debs(
        &a,
        "shared",
        "dist=bookworm",
        &[("seed.deb", make_deb("seed", "1.0", "amd64", ""))],
    )
    .await;
    let uploads: Vec<_> = (0..50)
        .map(|i| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let deb = make_deb(&format!("pkg{i}"), &format!("1.{i}"), "amd64", "");
                server
                    .upload(
                        "provider=apt&reponame=shared&dist=bookworm",
                        &[(&format!("pkg{i}.deb"), deb)],
                    )
                    .await
            })
        })
        .collect();
    for u in uploads {
        let r = u.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.text);
    }
    Server::converged(&[&a, &b], "/repo/apt/shared/dists/bookworm/InRelease").await;
    for server in [&a, &b] {
        let packages = packages_text(
            server,
            "/repo/apt/shared/dists/bookworm/main/binary-amd64/Packages",
        )
        .await;
        for i in 0..50 {
            assert!(
                packages.contains(&format!("Package: pkg{i}\nVersion: 1.{i}\n")),
                "pkg{i} missing"
            );
        }
        assert_release_consistent(server, "shared", "bookworm").await;
        // A range of a streamed composite is the same range of the whole.
        let path = "/repo/apt/shared/dists/bookworm/main/binary-amd64/Packages.xz";
        let whole = server.get(path).await.bytes().await.unwrap();
        assert!(whole.len() > 400, "{} bytes", whole.len());
        let part = server
            .http
            .get(server.url(path))
            .header("Range", "bytes=100-399")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap(), whole.slice(100..400));
    }
    let apt = Apt::new(
        &env.dir.path().join("apt"),
        &pubkey(&b, "shared").await,
        &[source_line(&b, "shared", "deb", "bookworm", "main")],
    );
    let run = apt.update();
    assert!(run.ok, "{}", run.output);
    assert!(apt.policy("pkg49").contains("Candidate: 1.49"));
}

/// `apt-get update` in a loop while uploads keep landing: every run must
/// succeed (a repository rewriting indices in place fails most of them).
async fn apt_publish_storm(backend: Backend) {
    let secs: u64 = std::env::var("ARTIFACTD_TEST_STORM_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let env = TestEnv::new(backend).await;
    let server = std::sync::Arc::new(env.start(&[]).await);
    upload_debs(
        &server,
        "storm",
        "dist=bookworm",
        &[("seed.deb", make_deb("seed", "1.0", "amd64", ""))],
    )
    .await;
    let apt = Apt::new(
        &env.dir.path().join("apt"),
        &pubkey(&server, "storm").await,
        &[source_line(&server, "storm", "deb", "bookworm", "main")],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let uploaders: Vec<_> = (0..2)
        .map(|u| {
            let server = server.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let deb = make_deb(&format!("storm{u}"), &format!("1.{n}"), "amd64", "");
                    let r = server
                        .upload(
                            "provider=apt&reponame=storm&dist=bookworm",
                            &[("s.deb", deb)],
                        )
                        .await;
                    assert_eq!(r.status, 201, "{}", r.text);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let updater = tokio::task::spawn_blocking(move || {
        let mut runs = 0u32;
        while std::time::Instant::now() < deadline {
            let run = apt.update();
            assert!(
                run.ok,
                "apt-get update failed during the storm (run {runs}):\n{}",
                run.output
            );
            runs += 1;
        }
        runs
    });
    let runs = updater.await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut uploads = 0;
    for u in uploaders {
        uploads += u.await.unwrap();
    }
    let status = server.get_json("/api/v1/repos/apt/storm").await;
    assert!(runs >= 10, "only {runs} apt-get runs in {secs}s");
    assert!(
        uploads >= 10 && status["generation"].as_i64().unwrap() >= 10,
        "{uploads} uploads, {status}"
    );
    assert_release_consistent(&server, "storm", "bookworm").await;
}
