//! Several instances sharing one database and one storage area: concurrent
//! uploads into one repository must all land, and readers must only ever see
//! complete index sets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use artifactd_tests::{Backend, Server, TestEnv, both_backends, sha256_hex, tar_with};

both_backends!(two_instances_fifty_concurrent_uploads);

async fn two_instances_fifty_concurrent_uploads(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let opts = [("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "100")];
    let a = Arc::new(env.start(&opts).await);
    let b = Arc::new(env.start(&opts).await);
    // Create the repository first so every upload races on the same one.
    let seed = a
        .upload(
            "provider=tar&reponame=shared",
            &[("seed-0.1.tar", tar_with("s", b"seed"))],
        )
        .await;
    assert_eq!(seed.status, 201, "{}", seed.text);

    // Readers poll the index on both instances while uploads land: every
    // answer must be a complete listing that never goes backwards.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for server in [a.clone(), b.clone()] {
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut last = 0usize;
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let resp = server.get("/repo/tar/shared/").await;
                assert_eq!(resp.status(), 200);
                let body: serde_json::Value =
                    resp.json().await.expect("index is always complete JSON");
                let n = body["packages"].as_object().map_or(0, |p| p.len());
                assert!(n >= last, "index went backwards: {last} -> {n}");
                last = n;
                reads += 1;
            }
            reads
        }));
    }

    let uploads: Vec<_> = (0..50)
        .map(|i| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let archive = tar_with("f", format!("package {i}").as_bytes());
                let r = server
                    .upload(
                        "provider=tar&reponame=shared",
                        &[(&format!("pkg{i}-1.{i}.tar"), archive.clone())],
                    )
                    .await;
                (i, r, archive)
            })
        })
        .collect();
    let mut archives = Vec::new();
    for u in uploads {
        let (i, r, archive) = u.await.unwrap();
        assert_eq!(r.status, 201, "upload {i}: {}", r.text);
        assert_eq!(
            r.json["publication"]["published"], true,
            "upload {i}: {}",
            r.text
        );
        archives.push((i, archive));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }

    // Read-your-writes on each instance, and the other catches up within its TTL.
    Server::converged(&[&a, &b], "/repo/tar/shared/").await;
    for server in [&a, &b] {
        let listing = server.get_json("/repo/tar/shared/").await;
        let packages = listing["packages"].as_object().unwrap();
        assert_eq!(packages.len(), 51, "{listing}");
        for (i, archive) in &archives {
            assert_eq!(packages[&format!("pkg{i}")]["latest"], format!("1.{i}"));
            let (sha, _) = server
                .download_digest(&format!("/repo/tar/shared/pkg{i}/1.{i}/pkg{i}-1.{i}.tar"))
                .await;
            assert_eq!(sha, sha256_hex(archive));
        }
        let api = server.get_json("/api/v1/repos/tar/shared/packages").await;
        assert_eq!(api["packages"].as_array().unwrap().len(), 51);
    }
    // Coalescing: fewer publishes than uploads.
    let status = a.get_json("/api/v1/repos/tar/shared").await;
    assert_eq!(status["published_seq"], status["change_seq"]);
    assert!(status["generation"].as_i64().unwrap() <= 51, "{status}");
}
