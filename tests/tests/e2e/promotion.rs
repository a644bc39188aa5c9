//! A promotion storm: a channel moved back and forth every few tens of
//! milliseconds while real apt-get clients update from it in a loop. Each
//! update reads `InRelease` under one target and its indices (by hash)
//! perhaps under the next; every run must succeed and see one of the two
//! snapshots whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use artifactd_tests::apt::{Apt, make_deb};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(a_channel_storm_never_breaks_apt_get_update);

async fn api(server: &Server, method: Method, path: &str, body: serde_json::Value) -> u16 {
    server
        .call(method, path, ADMIN_TOKEN, Some(body))
        .await
        .status()
        .as_u16()
}

async fn a_channel_storm_never_breaks_apt_get_update(backend: Backend) {
    let env = TestEnv::new(backend).await;
    // Channel resolutions are cached for 20 ms only: every move shows.
    let server = env.start(&[("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "20")]).await;
    for (version, snap) in [("1.0", "s1"), ("2.0", "s2")] {
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
        let status = api(
            &server,
            Method::POST,
            "/api/v1/repos/apt/os/snapshots",
            json!({ "name": snap }),
        )
        .await;
        assert_eq!(status, 201);
        // Published in different seconds: their Release files carry
        // different dates, and the older one must still reach the client.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let status = api(
        &server,
        Method::PUT,
        "/api/v1/repos/apt/os/channels/stable",
        json!({ "snapshot": "s1" }),
    )
    .await;
    assert_eq!(status, 200);
    let key = server
        .get("/repo/apt/os/pubkey")
        .await
        .bytes()
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let moves = Arc::new(AtomicUsize::new(0));
    let storm = tokio::spawn({
        let (stop, moves) = (stop.clone(), moves.clone());
        let client = reqwest::Client::new();
        let url = server.url("/api/v1/repos/apt/os/channels/stable");
        async move {
            let mut at = "s1";
            while !stop.load(Ordering::SeqCst) {
                let to = if at == "s1" { "s2" } else { "s1" };
                let resp = client
                    .put(&url)
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({ "snapshot": to, "expect": at }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
                at = to;
                moves.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    });

    let source = format!(
        "deb [signed-by={{key}}] {}/repo/apt/os@stable bookworm main",
        server.url
    );
    let mut seen = std::collections::BTreeSet::new();
    // At least 25 updates, and for as long as the storm takes to make 60 moves.
    let mut run = 0;
    while run < 25 || moves.load(Ordering::SeqCst) < 60 {
        run += 1;
        assert!(run < 1000, "the storm stalled");
        // One state directory throughout, like a real host: a channel's
        // Release is dated at its last move, so apt follows it back to the
        // older snapshot too (it keeps lists newer than a fetched InRelease).
        let dir = env.dir.path().join("apt");
        let (key, source) = (key.clone(), source.clone());
        let (ok, output, policy) = tokio::task::spawn_blocking(move || {
            let apt = Apt::new(&dir, &key, &[source]);
            let r = apt.update();
            (r.ok, r.output, apt.policy("tool"))
        })
        .await
        .unwrap();
        assert!(
            ok,
            "apt-get update {run} failed during the storm:\n{output}"
        );
        let candidate = ["1.0", "2.0"]
            .into_iter()
            .find(|v| policy.contains(&format!("Candidate: {v}")))
            .unwrap_or_else(|| panic!("run {run}: neither snapshot:\n{policy}"));
        seen.insert(candidate);
    }
    stop.store(true, Ordering::SeqCst);
    storm.await.unwrap();
    let moves = moves.load(Ordering::SeqCst);
    assert!(moves >= 60, "only {moves} moves: no storm");
    assert_eq!(
        seen.len(),
        2,
        "updates saw only {seen:?}: the channel never moved under them"
    );
}
