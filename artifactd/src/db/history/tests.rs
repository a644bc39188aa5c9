//! Snapshot queries against a real SQLite file with other connections
//! writing at the same time, as publishes and sweeps do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::db::Db;

/// Deleting snapshots while another connection commits in a loop never
/// fails: SQLite refuses a transaction that read and then writes after
/// another connection committed (busy snapshot, a 503), so the delete
/// must take the write lock with its first statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_deletes_survive_concurrent_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("meta.db").display()
    ))
    .await
    .unwrap();
    let (repo, set, root) = crate::db::tests::repo_with_a_set(&db).await;
    const N: usize = 60;
    for i in 0..N {
        db.insert_snapshot(repo, &format!("s{i}"), "", &set, &root, "test")
            .await
            .unwrap();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut commits = 0u32;
            while !stop.load(Ordering::SeqCst) {
                db.touch_repo(repo).await.unwrap();
                commits += 1;
            }
            commits
        })
    };
    for i in 0..N {
        let deleted = db.delete_snapshot(repo, &format!("s{i}")).await;
        assert!(matches!(deleted, Ok(true)), "deleting s{i}: {deleted:?}");
    }
    stop.store(true, Ordering::SeqCst);
    let commits = writer.await.unwrap();
    assert!(commits > 0, "the writer committed while snapshots went");
    assert!(db.list_snapshots(repo).await.unwrap().is_empty());
}
