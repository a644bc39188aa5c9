//! Published state is structurally shared: a publish stores what changed
//! (bodies and tree nodes on the way to them), whatever the repository's
//! size, and publishing an unchanged repository stores nothing.

use std::path::Path;

use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, tar_with};
use reqwest::Method;

/// Index objects of repository 1 in the local store: count and bytes.
fn index_objects(data: &Path) -> (usize, u64) {
    let Ok(dir) = std::fs::read_dir(data.join("blobs/index/1")) else {
        return (0, 0);
    };
    dir.flatten().fold((0, 0), |(n, b), e| {
        (n + 1, b + e.metadata().map_or(0, |m| m.len()))
    })
}

async fn upload(server: &Server, name: &str, wait: bool) {
    let query = format!("provider=tar&reponame=big&wait={}", u8::from(wait));
    let r = server
        .upload(
            &query,
            &[(&format!("{name}-1.0.tar"), tar_with(name, name.as_bytes()))],
        )
        .await;
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    if wait {
        assert_eq!(r.json["publication"]["published"], true, "{}", r.text);
    }
}

async fn settled(server: &Server) {
    loop {
        let repo = server.get_json("/api/v1/repos/tar/big").await;
        if repo["published_seq"] == repo["change_seq"] {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Index objects (count, bytes) one more upload stores into a repository
/// of `n` packages.
async fn objects_for_one_upload(n: usize) -> (usize, u64) {
    let env = TestEnv::new(Backend::Embedded).await;
    let server = env.start(&[]).await;
    for i in 0..n {
        upload(&server, &format!("p{i:05}"), false).await;
    }
    settled(&server).await;
    let before = index_objects(env.dir.path());
    upload(&server, "one-more", true).await;
    let after = index_objects(env.dir.path());
    assert!(after.0 > before.0);

    // The same contents published again store nothing.
    let republish = server
        .call(
            Method::PATCH,
            "/api/v1/repos/tar/big",
            ADMIN_TOKEN,
            Some(serde_json::json!({ "settings": {} })),
        )
        .await;
    assert_eq!(republish.status(), 200);
    assert_eq!(
        index_objects(env.dir.path()),
        after,
        "an unchanged republish stored objects"
    );
    (after.0 - before.0, after.1 - before.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_stores_what_changed_not_the_repository() {
    let small = objects_for_one_upload(20).await;
    let large = objects_for_one_upload(2000).await;
    eprintln!("objects (count, bytes) for one upload: {small:?} at 20 packages, {large:?} at 2000");
    // The package's own index files, the root listing's changed part and
    // the tree nodes on the way to them: a few dozen kilobytes at most,
    // where a copy of the listing or of the manifest alone would be
    // hundreds.
    assert!(
        large.0 <= small.0 + 16,
        "objects grew with the repository: {small:?} -> {large:?}"
    );
    assert!(
        large.1 < 40 << 10,
        "{} bytes stored for one upload into 2,000 packages",
        large.1
    );
}
