//! Snapshots and channels: frozen states served read-only at
//! `/repo/<provider>/<repo>@<name>/`, byte for byte as they were, to real
//! apt-get, pip and uv; channels moved by compare-and-swap.

use std::time::Duration;

use artifactd_tests::apt::{Apt, make_deb};
use artifactd_tests::pypi::{Dist, Venv};
use artifactd_tests::rpm::{Dnf, Spec, rpmbuild};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex, tar_with};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    tar_snapshots_freeze_survive_gc_and_diff,
    channels_move_by_compare_and_swap,
    apt_get_reads_snapshots_and_channels,
    pip_and_uv_pinned_to_a_snapshot,
    dnf_reads_a_snapshot_with_repo_gpgcheck
);

async fn call(server: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let r = server.call(method, path, ADMIN_TOKEN, body).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn snapshot(server: &Server, provider: &str, repo: &str, name: &str) -> Value {
    let (status, body) = call(
        server,
        Method::POST,
        &format!("/api/v1/repos/{provider}/{repo}/snapshots"),
        Some(json!({ "name": name, "description": format!("{name} build") })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn move_channel(
    server: &Server,
    provider: &str,
    repo: &str,
    channel: &str,
    body: Value,
) -> (u16, Value) {
    call(
        server,
        Method::PUT,
        &format!("/api/v1/repos/{provider}/{repo}/channels/{channel}"),
        Some(body),
    )
    .await
}

async fn upload_tar(server: &Server, name: &str, version: &str) -> Vec<u8> {
    let archive = tar_with(name, format!("{name} {version}").as_bytes());
    let r = server
        .upload(
            "provider=tar&reponame=rel",
            &[(&format!("{name}-{version}.tar"), archive.clone())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    archive
}

async fn body_of(server: &Server, path: &str) -> (u16, Vec<u8>) {
    let r = server.get(path).await;
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn tar_snapshots_freeze_survive_gc_and_diff(backend: Backend) {
    let env = TestEnv::new(backend).await;
    // A short grace period, so garbage collection runs during the test.
    let opts = [
        ("ARTIFACTD_PUBLISH_GRACE_PERIOD_SECS", "1"),
        ("ARTIFACTD_PUBLISH_GC_INTERVAL_SECS", "1"),
    ];
    let server = env.start(&opts).await;
    upload_tar(&server, "a", "1.0").await;
    let b = upload_tar(&server, "b", "1.0").await;
    let s1 = snapshot(&server, "tar", "rel", "s1").await;
    assert_eq!(s1["packages"], 2, "{s1}");
    assert_eq!(s1["url"], "/repo/tar/rel@s1/");
    let (_, frozen_listing) = body_of(&server, "/repo/tar/rel@s1/index.json").await;

    // The live repository moves on: a new version, a deletion.
    upload_tar(&server, "a", "2.0").await;
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/v1/repos/tar/rel/packages/b/1.0",
        None,
    )
    .await;
    assert_eq!(status, 200);
    // Past the grace period, a publish collects what live sets dropped.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    upload_tar(&server, "c", "1.0").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    upload_tar(&server, "d", "1.0").await;

    let live = server.get_json("/repo/tar/rel/index.json").await;
    assert_eq!(live["packages"]["a"]["latest"], "2.0", "{live}");
    assert!(live["packages"].get("b").is_none(), "{live}");

    // The snapshot is as it was, byte for byte, its deleted file included.
    let (status, listing) = body_of(&server, "/repo/tar/rel@s1/index.json").await;
    assert_eq!(status, 200);
    assert_eq!(listing, frozen_listing, "the snapshot's listing changed");
    let (status, got) = body_of(&server, "/repo/tar/rel@s1/b/1.0/b-1.0.tar").await;
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&got), sha256_hex(&b));
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/repo/tar/rel@s1/a/latest"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(
        resp.headers()["location"],
        "/repo/tar/rel@s1/a/1.0/a-1.0.tar",
        "latest as of the snapshot, under the snapshot"
    );
    assert_eq!(
        server
            .get("/repo/tar/rel@s1/c/1.0/c-1.0.tar")
            .await
            .status(),
        404,
        "a file uploaded later is not in the snapshot"
    );

    // Diffs: against the live state, and between snapshots.
    snapshot(&server, "tar", "rel", "s2").await;
    for path in [
        "/api/v1/repos/tar/rel/snapshots/s1/diff",
        "/api/v1/repos/tar/rel/snapshots/s1/diff/s2",
    ] {
        let d = server.get_json(path).await;
        let names = |k: &str| -> Vec<String> {
            d[k].as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p["name"].as_str().unwrap(),
                        p["version"].as_str().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(names("added"), ["a 2.0", "c 1.0", "d 1.0"], "{path}: {d}");
        assert_eq!(names("removed"), ["b 1.0"], "{path}: {d}");
        assert!(d["changed"].as_array().unwrap().is_empty(), "{d}");
    }
    let list = server.get_json("/api/v1/repos/tar/rel/snapshots").await;
    let names: Vec<&str> = list["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["s2", "s1"]);
    let shown = server.get_json("/api/v1/repos/tar/rel/snapshots/s1").await;
    assert_eq!(shown["created_by"], "admin");
    assert_eq!(shown["description"], "s1 build");

    // Bad names and missing ones.
    for (name, code, status) in [
        ("x@y", "invalid_name", 400),
        ("../up", "invalid_name", 400),
        ("s1", "snapshot_exists", 409),
    ] {
        let (st, body) = call(
            &server,
            Method::POST,
            "/api/v1/repos/tar/rel/snapshots",
            Some(json!({ "name": name })),
        )
        .await;
        assert_eq!(
            (st, body["error"].as_str()),
            (status, Some(code)),
            "{name}: {body}"
        );
    }
    assert_eq!(
        server.get("/repo/tar/rel@nope/index.json").await.status(),
        404
    );
    let anon = server
        .http
        .post(server.url("/api/v1/repos/tar/rel/snapshots"))
        .json(&json!({ "name": "anon" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);

    // A restart reads snapshots back from the database and storage.
    server.stop().await;
    let server = env.start(&opts).await;
    let (status, listing) = body_of(&server, "/repo/tar/rel@s1/index.json").await;
    assert_eq!((status, listing), (200, frozen_listing));

    // Deleting a snapshot: it stops answering.
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/v1/repos/tar/rel/snapshots/s2",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        server.get("/repo/tar/rel@s2/index.json").await.status(),
        404
    );
}

async fn channels_move_by_compare_and_swap(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let one = env.start(&[]).await;
    let two = env.start(&[]).await;
    upload_tar(&one, "a", "1.0").await;
    snapshot(&one, "tar", "rel", "v1").await;
    upload_tar(&one, "a", "2.0").await;
    snapshot(&one, "tar", "rel", "v2").await;

    let (status, c) = move_channel(
        &one,
        "tar",
        "rel",
        "stable",
        json!({ "snapshot": "v1", "expect": null }),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["snapshot"], "v1");
    assert_eq!(c["previous"], Value::Null);
    let (status, c) = move_channel(
        &two,
        "tar",
        "rel",
        "stable",
        json!({ "snapshot": "v2", "expect": null }),
    )
    .await;
    assert_eq!(
        (status, c["error"].as_str()),
        (409, Some("channel_moved")),
        "{c}"
    );
    let latest = |s: &Server| {
        let url = s.url("/repo/tar/rel@stable/a/index.json");
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["latest"]
                .clone()
        }
    };
    assert_eq!(latest(&one).await, "1.0");

    // Two instances promote at once, expecting the same state: exactly one
    // wins, on whichever instance.
    for round in 0..4 {
        let (from, to) = if round % 2 == 0 {
            ("v1", "v2")
        } else {
            ("v2", "v1")
        };
        let body = json!({ "snapshot": to, "expect": from });
        let mut tries = Vec::new();
        for i in 0..6 {
            let server = if i % 2 == 0 { &one } else { &two };
            tries.push(move_channel(server, "tar", "rel", "stable", body.clone()));
        }
        let results = futures_util::future::join_all(tries).await;
        let won = results.iter().filter(|(s, _)| *s == 200).count();
        let lost = results
            .iter()
            .filter(|(s, b)| *s == 409 && b["error"] == "channel_moved")
            .count();
        assert_eq!((won, lost), (1, 5), "round {round}: {results:?}");
        let c = one.get_json("/api/v1/repos/tar/rel/channels/stable").await;
        assert_eq!(c["snapshot"], to);
        assert_eq!(c["previous"], from);
    }
    // After four moves it is back on v1; the moving instance serves it at
    // once, the other within its cache TTL.
    assert_eq!(latest(&one).await, "1.0");
    let (status, _) = move_channel(&one, "tar", "rel", "stable", json!({ "snapshot": "v2" })).await;
    assert_eq!(status, 200);
    assert_eq!(latest(&one).await, "2.0");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(latest(&two).await, "2.0");

    // A snapshot a channel points at cannot be deleted; names are shared.
    let (status, body) = call(
        &one,
        Method::DELETE,
        "/api/v1/repos/tar/rel/snapshots/v2",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("snapshot_in_use")),
        "{body}"
    );
    let (status, body) = move_channel(&one, "tar", "rel", "v1", json!({ "snapshot": "v2" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("name_taken")),
        "{body}"
    );
    let (status, body) =
        move_channel(&one, "tar", "rel", "beta", json!({ "snapshot": "missing" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no_such_snapshot")),
        "{body}"
    );
    let list = one.get_json("/api/v1/repos/tar/rel/channels").await;
    assert_eq!(list["channels"].as_array().unwrap().len(), 1, "{list}");
    let (status, _) = call(
        &one,
        Method::DELETE,
        "/api/v1/repos/tar/rel/channels/stable",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &one,
        Method::DELETE,
        "/api/v1/repos/tar/rel/snapshots/v2",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        one.get("/repo/tar/rel@stable/a/index.json").await.status(),
        404
    );
}

fn source(server: &Server, repo_ref: &str) -> String {
    format!(
        "deb [signed-by={{key}}] {}/repo/apt/{repo_ref} bookworm main",
        server.url
    )
}

async fn apt_get_reads_snapshots_and_channels(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env
        .start(&[("ARTIFACTD_PUBLISH_SWEEP_INTERVAL_SECS", "1")])
        .await;
    let up = |version: &'static str| {
        let server = &server;
        async move {
            let r = server
                .upload(
                    "provider=apt&reponame=os&dist=bookworm",
                    &[(
                        &format!("tool_{version}_amd64.deb"),
                        make_deb("tool", version, "amd64", ""),
                    )],
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    };
    up("1.0").await;
    snapshot(&server, "apt", "os", "2026-12-01").await;
    let (status, _) = move_channel(
        &server,
        "apt",
        "os",
        "prod",
        json!({ "snapshot": "2026-12-01" }),
    )
    .await;
    assert_eq!(status, 200);
    let old_key = server
        .get("/repo/apt/os/pubkey")
        .await
        .bytes()
        .await
        .unwrap();

    // The live dist changes, and its key is rotated away.
    up("2.0").await;
    let r = server
        .call(
            Method::POST,
            "/api/v1/repos/apt/os/keys",
            ADMIN_TOKEN,
            Some(json!({ "transition_secs": 1 })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let mut rotated = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let live = server
            .get("/repo/apt/os/pubkey")
            .await
            .bytes()
            .await
            .unwrap();
        if String::from_utf8_lossy(&live)
            .matches("BEGIN PGP PUBLIC KEY BLOCK")
            .count()
            == 1
            && live != old_key
        {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "the key rotation never ended");
    let frozen_key = server
        .get("/repo/apt/os@2026-12-01/pubkey")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        frozen_key, old_key,
        "the snapshot serves the key that signed it"
    );

    let live_key = body_of(&server, "/repo/apt/os/pubkey").await.1;
    // A channel is signed like the live repository: with its current key.
    let channel_key = body_of(&server, "/repo/apt/os@prod/pubkey").await.1;
    assert_eq!(channel_key, live_key, "a channel serves the current key");
    for (repo_ref, key) in [
        ("os@2026-12-01", &frozen_key[..]),
        ("os@prod", &channel_key[..]),
    ] {
        let apt = Apt::new(
            &env.dir.path().join(repo_ref),
            key,
            &[source(&server, repo_ref)],
        );
        let run = apt.update();
        assert!(run.ok, "{repo_ref}:\n{}", run.output);
        assert!(
            apt.policy("tool").contains("Candidate: 1.0"),
            "{repo_ref}: {}",
            apt.policy("tool")
        );
        let run = apt.run(&["download", "tool"]);
        assert!(run.ok, "{repo_ref}:\n{}", run.output);
    }
    let apt = Apt::new(
        &env.dir.path().join("live"),
        &live_key,
        &[source(&server, "os")],
    );
    let run = apt.update();
    assert!(run.ok, "{}", run.output);
    assert!(apt.policy("tool").contains("Candidate: 2.0"));

    // Promotion: the channel moves, the same client configuration follows.
    snapshot(&server, "apt", "os", "2026-12-02").await;
    let (status, _) = move_channel(
        &server,
        "apt",
        "os",
        "prod",
        json!({ "snapshot": "2026-12-02", "expect": "2026-12-01" }),
    )
    .await;
    assert_eq!(status, 200);
    let apt = Apt::new(
        &env.dir.path().join("prod2"),
        &live_key,
        &[source(&server, "os@prod")],
    );
    let run = apt.update();
    assert!(run.ok, "{}", run.output);
    assert!(
        apt.policy("tool").contains("Candidate: 2.0"),
        "{}",
        apt.policy("tool")
    );
    // A rollback reaches the client that read the newer snapshot: the
    // channel's Release is dated at the move, not when 2026-12-01 was
    // published (apt keeps lists newer than a fetched InRelease).
    let (status, _) = move_channel(
        &server,
        "apt",
        "os",
        "prod",
        json!({ "snapshot": "2026-12-01", "expect": "2026-12-02" }),
    )
    .await;
    assert_eq!(status, 200);
    let run = apt.update();
    assert!(run.ok, "{}", run.output);
    assert!(
        apt.policy("tool").contains("Candidate: 1.0"),
        "the rollback did not reach the client: {}",
        apt.policy("tool")
    );
    let (frozen, dated) = (
        body_of(&server, "/repo/apt/os@2026-12-01/dists/bookworm/Release").await,
        body_of(&server, "/repo/apt/os@prod/dists/bookworm/Release").await,
    );
    assert_eq!((frozen.0, dated.0), (200, 200));
    let without_date = |b: &[u8]| -> String {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with("Date:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_ne!(frozen.1, dated.1, "the channel's Release is re-dated");
    assert_eq!(
        without_date(&frozen.1),
        without_date(&dated.1),
        "and otherwise the snapshot's"
    );
    // Every instance makes the same text (the move time is a database
    // value), so any instance's signature verifies it.
    let other = env
        .start(&[("ARTIFACTD_PUBLISH_SWEEP_INTERVAL_SECS", "1")])
        .await;
    let there = body_of(&other, "/repo/apt/os@prod/dists/bookworm/Release").await;
    assert_eq!(there, dated, "another instance dates the channel alike");
    // The install script of a snapshot points at the snapshot.
    let setup = server
        .get("/repo/apt/os@2026-12-01/dists/bookworm/install")
        .await;
    assert_eq!(setup.status(), 200);
    let text = setup.text().await.unwrap();
    assert!(
        text.contains(&format!("{}/repo/apt/os@2026-12-01", server.url)),
        "{text}"
    );
    assert!(!text.contains("/repo/apt/os'"), "{text}");
}

async fn pip_and_uv_pinned_to_a_snapshot(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dist = |version| Dist {
        name: "Pinned_Pkg",
        version,
        requires_python: None,
        requires_dist: &[],
        metadata_name: None,
        description: "",
    };
    for version in ["1.0"] {
        let d = dist(version);
        let r = server
            .upload("provider=pypi&reponame=py", &[(&d.wheel_name(), d.wheel())])
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    snapshot(&server, "pypi", "py", "release-42").await;
    let d = dist("2.0");
    let r = server
        .upload("provider=pypi&reponame=py", &[(&d.wheel_name(), d.wheel())])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let pinned = server.url("/repo/pypi/py@release-42/simple/");
    let venv = Venv::new(&env.dir.path().join("pip"));
    let r = venv.pip_install(&pinned, &["pinned-pkg"]);
    assert!(r.ok, "pip:\n{}", r.output);
    assert!(
        venv.installed().contains(&"pinned-pkg==1.0".to_owned()),
        "{:?}",
        venv.installed()
    );
    let venv = Venv::new(&env.dir.path().join("uv"));
    let r = venv.uv_install(&pinned, &["pinned-pkg"]);
    assert!(r.ok, "uv:\n{}", r.output);
    assert!(venv.installed().contains(&"pinned-pkg==1.0".to_owned()));
    let venv = Venv::new(&env.dir.path().join("live"));
    let r = venv.pip_install(&server.url("/repo/pypi/py/simple/"), &["pinned-pkg"]);
    assert!(r.ok, "{}", r.output);
    assert!(venv.installed().contains(&"pinned-pkg==2.0".to_owned()));
}

async fn dnf_reads_a_snapshot_with_repo_gpgcheck(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dir = env.dir.path();
    for version in ["1.0", "2.0"] {
        let built = rpmbuild(
            &dir.join(format!("build-{version}")),
            &Spec::new("frozen", version),
            false,
        );
        let bytes = std::fs::read(&built[0]).unwrap();
        let name = built[0].file_name().unwrap().to_str().unwrap().to_owned();
        let r = server
            .upload("provider=rpm&reponame=r&dist=el9", &[(&name, bytes)])
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        if version == "1.0" {
            snapshot(&server, "rpm", "r", "ga").await;
        }
    }
    // The snapshot's own .repo file: baseurl and key under r@ga.
    let repo_file = server
        .get("/repo/rpm/r@ga/el9/r.repo")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        repo_file.contains(&format!("baseurl={}/repo/rpm/r@ga/el9/", server.url)),
        "{repo_file}"
    );
    assert!(repo_file.contains("repo_gpgcheck=1"), "{repo_file}");
    let dnf = Dnf::new(&dir.join("dnf"), &[("r.repo", &repo_file)]);
    assert_eq!(
        dnf.lines(&["repoquery", "--queryformat", "%{name}-%{version}"]),
        ["frozen-1.0"],
        "dnf against the snapshot sees what existed then"
    );
}
