//! The blob collector against a real SQLite database and a real local
//! store, one interleaving of upload and sweep per test.

use std::sync::Arc;
use std::time::Duration;

use artifactd_provider_api::{NewFile, NewPackage, UploadedFile};
use sea_orm::EntityTrait;
use sha2::{Digest, Sha256};

use super::*;
use crate::storage::LocalStorage;

struct Fixture {
    dir: tempfile::TempDir,
    db: Db,
    storage: Arc<dyn Storage>,
    collector: Collector,
    repo_id: i64,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("meta.db").display()
    ))
    .await
    .unwrap();
    let storage: Arc<dyn Storage> =
        Arc::new(LocalStorage::open(dir.path().join("store")).await.unwrap());
    let repos = Arc::new(Repos::new(
        db.clone(),
        storage.clone(),
        Duration::from_secs(1),
        Duration::from_secs(3600),
    ));
    let repo_id = db.create_repo("tar", "t").await.unwrap().id;
    let collector = Collector::new(db.clone(), storage.clone(), repos, "gc-test".into());
    Fixture {
        dir,
        db,
        storage,
        collector,
        repo_id,
    }
}

impl Fixture {
    /// Stores `content` as a blob, as an upload's put does; returns its sha.
    async fn put(&self, content: &str) -> String {
        let sha = hex::encode(Sha256::digest(content.as_bytes()));
        self.storage
            .put_bytes(
                &StorageKey::blob(&sha),
                content.as_bytes().to_vec().into(),
                "application/octet-stream",
            )
            .await
            .unwrap();
        sha
    }

    async fn stored(&self, sha: &str) -> bool {
        self.storage
            .head(&StorageKey::blob(sha))
            .await
            .unwrap()
            .is_some()
    }

    /// Commits a package whose one file is `content`, as an upload does.
    async fn commit(&self, name: &str, content: &str) {
        self.commit_claimed(name, content, None).await;
    }

    /// [`Fixture::commit`], ending `claims` in the same transaction.
    async fn commit_claimed(
        &self,
        name: &str,
        content: &str,
        claims: Option<&Claims>,
    ) -> crate::db::Committed {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let file = UploadedFile {
            filename: format!("{name}.tar"),
            path,
            size: content.len() as u64,
            sha256: hex::encode(Sha256::digest(content.as_bytes())),
        };
        let package = NewPackage {
            name: name.into(),
            version: "1".into(),
            section: String::new(),
            variant: String::new(),
            metadata: serde_json::json!({}),
            files: vec![NewFile {
                upload: 0,
                filename: file.filename.clone(),
                path: format!("{name}/1/{name}.tar"),
                content_type: "application/x-tar".into(),
                metadata: serde_json::json!({}),
            }],
            derived: Vec::new(),
        };
        self.db
            .commit_upload(
                self.repo_id,
                "test",
                &[package],
                &[file],
                claims.map(Claims::pins),
            )
            .await
            .unwrap()
    }
}

/// The upload's transaction ends its claims when it commits rows; when it
/// commits nothing (an identical re-upload) the claims stand until released.
#[tokio::test]
async fn the_commit_ends_the_claims_it_commits_rows_for() {
    let f = fixture().await;
    let sha = f.put("once").await;
    let claims = Claims::take(&f.db, vec![sha.clone()]).await.unwrap();
    assert!(
        f.commit_claimed("once", "once", Some(&claims))
            .await
            .released
    );
    f.db.delete_packages(f.repo_id, "once", &|_| true)
        .await
        .unwrap()
        .unwrap();
    let swept = f.collector.sweep(&f.collector.mark().await.unwrap()).await;
    assert_eq!(swept.unwrap().deleted, 1, "the claim outlived its commit");
    assert!(!f.stored(&sha).await);

    let sha = f.put("twice").await;
    f.commit("twice", "twice").await;
    let claims = Claims::take(&f.db, vec![sha.clone()]).await.unwrap();
    let again = f.commit_claimed("twice", "twice", Some(&claims)).await;
    assert!(!again.released, "nothing was committed, so nothing ended");
    f.db.delete_packages(f.repo_id, "twice", &|_| true)
        .await
        .unwrap()
        .unwrap();
    let swept = f.collector.sweep(&f.collector.mark().await.unwrap()).await;
    assert_eq!(swept.unwrap().claimed, 1);
    assert!(f.stored(&sha).await);
    claims.release(&f.db).await.unwrap();
}

#[tokio::test]
async fn unreferenced_and_deleted_blobs_go_live_ones_stay() {
    let f = fixture().await;
    let live = f.put("live").await;
    f.commit("live", "live").await;
    let deleted = f.put("deleted").await;
    f.commit("deleted", "deleted").await;
    f.db.delete_packages(f.repo_id, "deleted", &|_| true)
        .await
        .unwrap()
        .unwrap();
    let orphan = f.put("orphan").await;

    let swept = f.collector.sweep(&f.collector.mark().await.unwrap()).await;
    let swept = swept.unwrap();
    assert_eq!((swept.stored, swept.deleted), (3, 2), "{swept:?}");
    assert!(f.stored(&live).await);
    assert!(!f.stored(&deleted).await);
    assert!(!f.stored(&orphan).await);
}

/// The mark misses a blob whose upload commits after it: the sweep's
/// second look at the rows keeps it.
#[tokio::test]
async fn a_blob_committed_after_the_mark_survives() {
    let f = fixture().await;
    let sha = f.put("late").await;
    let marks = f.collector.mark().await.unwrap();
    assert!(!marks.contains(&sha));

    // The upload finds the blob stored, reuses it and commits.
    let claims = Claims::take(&f.db, vec![sha.clone()]).await.unwrap();
    f.commit("late", "late").await;
    claims.release(&f.db).await.unwrap();

    let swept = f.collector.sweep(&marks).await.unwrap();
    assert_eq!(swept.deleted, 0);
    assert!(f.stored(&sha).await, "a committed package lost its blob");
}

/// An upload between storing its blob and committing its rows holds a
/// claim: the sweep leaves the blob, and takes it once the claim ends
/// without a commit.
#[tokio::test]
async fn a_claimed_blob_survives_until_released() {
    let f = fixture().await;
    let sha = f.put("inflight").await;
    let claims = Claims::take(&f.db, vec![sha.clone()]).await.unwrap();
    let swept = f
        .collector
        .sweep(&f.collector.mark().await.unwrap())
        .await
        .unwrap();
    assert_eq!((swept.deleted, swept.claimed), (0, 1));
    assert!(f.stored(&sha).await);

    claims.release(&f.db).await.unwrap();
    let swept = f
        .collector
        .sweep(&f.collector.mark().await.unwrap())
        .await
        .unwrap();
    assert_eq!(swept.deleted, 1);
    assert!(!f.stored(&sha).await);
}

/// An upload that comes while the collector deletes its blob waits until
/// the delete is done, so it stores the blob again rather than reusing a
/// blob that is about to vanish.
#[tokio::test]
async fn an_upload_waits_for_a_doomed_blob() {
    let f = fixture().await;
    let sha = f.put("doomed").await;
    assert!(f.db.doom_blob(&sha, "gc-test").await.unwrap());
    assert!(
        !f.db.doom_blob(&sha, "other-gc").await.unwrap(),
        "two collectors doomed one blob"
    );

    let db = f.db.clone();
    let claimed = tokio::spawn({
        let sha = sha.clone();
        async move { Claims::take(&db, vec![sha]).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!claimed.is_finished(), "claimed a doomed blob");

    f.storage.delete(&StorageKey::blob(&sha)).await.unwrap();
    f.db.forget_blob(&sha).await.unwrap();
    let claims = tokio::time::timeout(Duration::from_secs(5), claimed)
        .await
        .expect("the claim waits past the doom")
        .unwrap();
    // Claimed again: a sweep now keeps it whatever the marks say.
    assert!(!f.db.doom_blob(&sha, "gc-test").await.unwrap());
    claims.release(&f.db).await.unwrap();
}

/// A collector that died after dooming a blob leaves it doomed; the next
/// sweep finishes the job.
#[tokio::test]
async fn a_stale_doom_is_finished() {
    let f = fixture().await;
    let sha = f.put("stale").await;
    assert!(f.db.doom_blob(&sha, "dead-gc").await.unwrap());
    // Old enough to be stale.
    crate::db::entities::blob_pin::Entity::update_many()
        .col_expr(
            crate::db::entities::blob_pin::Column::Until,
            sea_orm::sea_query::Expr::value(1i64),
        )
        .exec(f.db.conn())
        .await
        .unwrap();
    let swept = f.collector.sweep(&HashSet::new()).await.unwrap();
    assert_eq!(swept.deleted, 1);
    assert!(!f.stored(&sha).await);
    assert_eq!(
        f.db.claim_blob(&sha, "u", now_ms() + 1000).await.unwrap(),
        Claim::Held,
        "the doom stayed after the sweep"
    );
}

#[tokio::test]
async fn one_sweep_per_interval_across_instances() {
    let f = fixture().await;
    assert!(f.db.try_sweep_lease("a", 60).await.unwrap());
    assert!(!f.db.try_sweep_lease("b", 60).await.unwrap());
}

fn file(sha: &str, parts: &[&str]) -> ManifestEntry {
    ManifestEntry::File {
        sha256: sha.into(),
        size: 1,
        content_type: "text/plain".into(),
        template: false,
        parts: parts.iter().map(|p| p.to_string()).collect(),
    }
}

fn blob(sha: &str) -> ManifestEntry {
    ManifestEntry::Blob {
        blob: sha.into(),
        size: 1,
        content_type: "application/x-tar".into(),
    }
}

/// Every object a tree references, read whole.
fn refs(tree: &ManifestTree) -> HashSet<String> {
    let mut marks = RepoMarks::default();
    visit_entries(tree, &mut HashSet::new(), &mut |h, e| marks.add(h, e));
    marks.index.into_iter().chain(marks.blobs).collect()
}

#[test]
fn dropped_lists_what_the_next_set_no_longer_references() {
    let (empty, _) = ManifestTree::empty();
    let (old, _) = empty.apply(vec![
        ("index.json".into(), Some(file("c1", &["p1", "p2", "p3"]))),
        ("a/1/a.tar".into(), Some(blob("b1"))),
        ("Release".into(), Some(file("r1", &[]))),
        ("same".into(), Some(file("s", &[]))),
    ]);
    let (new, _) = old.apply(vec![
        ("index.json".into(), Some(file("c2", &["p1", "p4", "p3"]))),
        ("a/1/a.tar".into(), None),
        ("Release".into(), Some(file("r2", &[]))),
    ]);
    let d = Dropped::between(&old, &new);
    assert_eq!(sorted(&d.objects), vec!["p2", "r1"]);
    assert_eq!(d.blobs, vec!["b1"]);
    let old_nodes = old.node_hashes();
    let new_nodes = new.node_hashes();
    let gone: HashSet<String> = old_nodes.difference(&new_nodes).map(|h| h.hex()).collect();
    assert_eq!(d.nodes.iter().cloned().collect::<HashSet<_>>(), gone);
    assert!(
        Dropped::between(&new, &new).is_empty(),
        "an unchanged set drops nothing"
    );
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The collector's shortcut is exact: over a history of random changes,
/// the current tree plus the dropped lists of every set but the oldest
/// name every object some set of the range references (and nothing else).
#[test]
fn current_tree_and_dropped_lists_cover_every_set_of_the_range() {
    let (mut tree, _) = ManifestTree::empty();
    let mut history = vec![tree.clone()];
    let mut lists = vec![Dropped::default()];
    let mut x: u64 = 7;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    for _ in 0..60 {
        let mut changes = Vec::new();
        for _ in 0..1 + next() % 6 {
            let path = format!("p{}", next() % 90);
            let entry = match next() % 4 {
                0 => None,
                1 => Some(blob(&format!("b{}", next() % 50))),
                2 => Some(file(&format!("f{}", next() % 50), &[])),
                _ => Some(file(
                    &format!("c{}", next()),
                    &[&format!("q{}", next() % 40), &format!("q{}", next() % 40)],
                )),
            };
            changes.push((path, entry));
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        changes.dedup_by(|a, b| a.0 == b.0);
        let (t, _) = tree.apply(changes);
        lists.push(Dropped::between(&tree, &t));
        history.push(t.clone());
        tree = t;
    }
    for oldest in [0, 10, 45, 59] {
        let whole: HashSet<String> = history[oldest..].iter().flat_map(refs).collect();
        let mut marked = refs(history.last().unwrap());
        for d in &lists[oldest + 1..] {
            marked.extend(d.nodes.iter().chain(&d.objects).chain(&d.blobs).cloned());
        }
        assert!(
            whole.is_subset(&marked),
            "sets from {oldest}: the lists miss objects"
        );
        assert_eq!(
            whole, marked,
            "sets from {oldest}: the lists name extra objects"
        );
    }
}
