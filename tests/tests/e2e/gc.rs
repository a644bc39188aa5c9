//! Garbage collection of package blobs against the real server and its real
//! storage: deleted files leave storage once no set in its grace period
//! serves them, a snapshot keeps what it froze until it is deleted, and an
//! upload that reuses a blob while the collector sweeps never loses it.

use std::time::{Duration, Instant};

use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex, tar_with};
use reqwest::Method;
use serde_json::json;

both_backends!(
    deleted_files_leave_storage_snapshots_keep_theirs,
    reuploads_racing_the_collector_keep_their_blobs
);

/// Grace period and collection interval short enough to watch.
const FAST_GC: [(&str, &str); 3] = [
    ("ARTIFACTD_PUBLISH_GRACE_PERIOD_SECS", "1"),
    ("ARTIFACTD_PUBLISH_GC_INTERVAL_SECS", "1"),
    ("ARTIFACTD_PUBLISH_SWEEP_INTERVAL_SECS", "1"),
];

fn blob_key(sha: &str) -> String {
    format!("blobs/sha256/{}/{sha}", &sha[..2])
}

async fn stored(env: &TestEnv, sha: &str) -> bool {
    env.stored_objects().await.contains(&blob_key(sha))
}

async fn upload(server: &Server, name: &str, archive: &[u8]) {
    let r = server
        .upload(
            "provider=tar&reponame=keep",
            &[(&format!("{name}-1.0.tar"), archive.to_vec())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn delete(server: &Server, name: &str) {
    let r = server
        .call(
            Method::DELETE,
            &format!("/api/v1/repos/tar/keep/packages/{name}/1.0"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// Waits until `sha` is stored (`want`) or not, for at most `limit`.
async fn wait_stored(env: &TestEnv, sha: &str, want: bool, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if stored(env, sha).await == want {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn deleted_files_leave_storage_snapshots_keep_theirs(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&FAST_GC).await;
    let (live, gone, frozen) = (
        tar_with("live", b"live"),
        tar_with("gone", b"gone"),
        tar_with("frozen", b"frozen"),
    );
    upload(&server, "live", &live).await;
    upload(&server, "frozen", &frozen).await;
    let r = server
        .call(
            Method::POST,
            "/api/v1/repos/tar/keep/snapshots",
            ADMIN_TOKEN,
            Some(json!({"name": "before"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    upload(&server, "gone", &gone).await;
    delete(&server, "gone").await;
    delete(&server, "frozen").await;
    // Deleted files stay downloadable from the live URL for the grace period
    // (a client mid-update still fetches them)...
    assert!(stored(&env, &sha256_hex(&gone)).await);

    // ...and leave storage after it.
    assert!(
        wait_stored(&env, &sha256_hex(&gone), false, Duration::from_secs(30)).await,
        "a deleted package's file is still stored 30 s after a 1 s grace period"
    );
    assert_eq!(
        server
            .get("/repo/tar/keep/gone/1.0/gone-1.0.tar")
            .await
            .status(),
        404
    );
    // The collector ran past the deletion of `frozen` too: a snapshot holds it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        stored(&env, &sha256_hex(&live)).await,
        "a live file was collected"
    );
    assert!(
        stored(&env, &sha256_hex(&frozen)).await,
        "a file a snapshot serves was collected"
    );
    let got = server
        .get("/repo/tar/keep@before/frozen/1.0/frozen-1.0.tar")
        .await;
    assert_eq!(got.status(), 200);
    assert_eq!(sha256_hex(&got.bytes().await.unwrap()), sha256_hex(&frozen));
    let got = server.get("/repo/tar/keep/live/1.0/live-1.0.tar").await;
    assert_eq!(sha256_hex(&got.bytes().await.unwrap()), sha256_hex(&live));

    // Without the snapshot, nothing keeps it.
    let r = server
        .call(
            Method::DELETE,
            "/api/v1/repos/tar/keep/snapshots/before",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert!(
        wait_stored(&env, &sha256_hex(&frozen), false, Duration::from_secs(30)).await,
        "the file of a deleted snapshot is still stored"
    );
    assert!(
        stored(&env, &sha256_hex(&live)).await,
        "a live file was collected"
    );
}

/// Delete and upload the same bytes again and again while the collector
/// sweeps every second: each re-upload reuses a blob the collector may be
/// deleting at that moment. Every acknowledged upload must stay
/// downloadable, through further sweeps.
async fn reuploads_racing_the_collector_keep_their_blobs(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&FAST_GC).await;
    let archive = tar_with("phoenix", b"rises again");
    let sha = sha256_hex(&archive);
    let served = |round: u64| {
        let server = &server;
        let sha = &sha;
        async move {
            let got = server
                .get("/repo/tar/keep/phoenix/1.0/phoenix-1.0.tar")
                .await;
            assert_eq!(got.status(), 200, "round {round}: re-upload not served");
            assert_eq!(
                &sha256_hex(&got.bytes().await.unwrap()),
                sha,
                "round {round}"
            );
        }
    };
    // Once collected, the same bytes upload again and are stored anew.
    upload(&server, "phoenix", &archive).await;
    delete(&server, "phoenix").await;
    assert!(wait_stored(&env, &sha, false, Duration::from_secs(30)).await);
    upload(&server, "phoenix", &archive).await;
    assert!(
        stored(&env, &sha).await,
        "a re-upload after collection was not stored"
    );
    served(0).await;
    for round in 1..10u64 {
        delete(&server, "phoenix").await;
        // Land the re-upload at a different point of the sweep cycle each
        // round: before, during or after the blob's collection.
        tokio::time::sleep(Duration::from_millis(800 + (round * 397) % 1800)).await;
        upload(&server, "phoenix", &archive).await;
        // Past a sweep or two, with the package live again.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        served(round).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        stored(&env, &sha).await,
        "an acknowledged upload lost its blob"
    );
    let got = server
        .get("/repo/tar/keep/phoenix/1.0/phoenix-1.0.tar")
        .await;
    assert_eq!(got.status(), 200);
    assert_eq!(sha256_hex(&got.bytes().await.unwrap()), sha);
}
