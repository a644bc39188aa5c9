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

/// Index objects of repository 1 by name, with their inode numbers: an
/// object written again (same name, new file) gets a new one.
fn inodes(data: &Path) -> std::collections::HashMap<std::ffi::OsString, u64> {
    use std::os::unix::fs::MetadataExt;
    let Ok(dir) = std::fs::read_dir(data.join("blobs/index/1")) else {
        return Default::default();
    };
    dir.flatten()
        .filter_map(|e| Some((e.file_name(), e.metadata().ok()?.ino())))
        .collect()
}

/// Objects written since `before`: new names and names written again.
fn written_since(
    data: &Path,
    before: &std::collections::HashMap<std::ffi::OsString, u64>,
) -> usize {
    inodes(data)
        .iter()
        .filter(|(name, ino)| before.get(*name) != Some(*ino))
        .count()
}

/// What the repository under test holds.
#[derive(Clone)]
enum Kind {
    Tar,
    /// rpm metadata files are named by their checksum: every publish
    /// renames them, and what they share with the last names stays stored.
    Rpm(Vec<u8>),
}

impl Kind {
    fn repo(&self) -> &'static str {
        match self {
            Kind::Tar => "tar/big",
            Kind::Rpm(_) => "rpm/big",
        }
    }
}

async fn upload(server: &Server, kind: &Kind, i: usize, wait: bool) {
    let w = u8::from(wait);
    let r = match kind {
        Kind::Tar => {
            let name = if i == usize::MAX {
                "one-more".to_owned()
            } else {
                format!("p{i:05}")
            };
            let query = format!("provider=tar&reponame=big&wait={w}");
            let body = tar_with(&name, name.as_bytes());
            server
                .upload(&query, &[(&format!("{name}-1.0.tar"), body)])
                .await
        }
        Kind::Rpm(probe) => {
            // Same length as "probe".
            let name = if i == usize::MAX {
                "zlast".to_owned()
            } else {
                format!("p{i:04}")
            };
            let query = format!("provider=rpm&reponame=big&dist=el9&wait={w}");
            let body = artifactd_tests::rpm::with_name(probe, &name);
            server
                .upload(&query, &[(&format!("{name}-1.0-1.noarch.rpm"), body)])
                .await
        }
    };
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    if wait {
        assert_eq!(r.json["publication"]["published"], true, "{}", r.text);
    }
}

async fn settled(server: &Server, kind: &Kind) {
    loop {
        let repo = server
            .get_json(&format!("/api/v1/repos/{}", kind.repo()))
            .await;
        if repo["published_seq"] == repo["change_seq"] {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Index objects one more upload stores into a repository of `n` packages:
/// (count, bytes); for rpm, the count is of objects written, new or not.
async fn objects_for_one_upload(kind: &Kind, n: usize) -> (usize, u64) {
    let env = TestEnv::new(Backend::Embedded).await;
    let server = env.start(&[]).await;
    for i in 0..n {
        upload(&server, kind, i, false).await;
    }
    settled(&server, kind).await;
    let before = index_objects(env.dir.path());
    let before_inodes = inodes(env.dir.path());
    upload(&server, kind, usize::MAX, true).await;
    let after = index_objects(env.dir.path());
    assert!(after.0 > before.0);
    let written = written_since(env.dir.path(), &before_inodes);
    assert!(written >= after.0 - before.0);

    // The same contents published again store nothing (rpm's repomd.xml
    // carries the publish time as its revision, so it is new each time).
    if matches!(kind, Kind::Rpm(_)) {
        return (written, after.1 - before.1);
    }
    let republish = server
        .call(
            Method::PATCH,
            &format!("/api/v1/repos/{}", kind.repo()),
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
    let small = objects_for_one_upload(&Kind::Tar, 20).await;
    let large = objects_for_one_upload(&Kind::Tar, 2000).await;
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

/// rpm renames primary/filelists/other at every publish (by checksum): the
/// chunks they share with the last names are not stored again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_publish_stores_its_changed_chunks_only() {
    let build = tempfile::tempdir().unwrap();
    let spec = artifactd_tests::rpm::Spec::new("probe", "1.0");
    let probe =
        std::fs::read(&artifactd_tests::rpm::rpmbuild(build.path(), &spec, false)[0]).unwrap();
    let kind = Kind::Rpm(probe);
    let small = objects_for_one_upload(&kind, 10).await;
    let large = objects_for_one_upload(&kind, 400).await;
    eprintln!(
        "objects (count, bytes) for one rpm upload: {small:?} at 10 packages, {large:?} at 400"
    );
    // Three metadata files, each a head, a changed chunk and a tail, at
    // most, then repomd.xml, its signature and the tree nodes.
    assert!(
        large.0 <= small.0 + 8,
        "objects grew with the repository: {small:?} -> {large:?}"
    );
}
