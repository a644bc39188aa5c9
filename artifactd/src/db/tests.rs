//! Database maintenance against a real SQLite file.

use std::time::Duration;

use sea_orm::ConnectionTrait;

use crate::db::entities::index_set;
use crate::db::{Db, NewSet};

/// A tar repository whose first (empty) index set is published: its id,
/// the set and its root.
pub(crate) async fn repo_with_a_set(db: &Db) -> (i64, index_set::Model, String) {
    let repo = db.create_repo("tar", "t").await.unwrap().id;
    assert!(
        db.try_lease(repo, "me", Duration::from_secs(60))
            .await
            .unwrap()
    );
    let root = "00".repeat(32);
    let set = db
        .flip_index_set(
            repo,
            "me",
            0,
            NewSet {
                covers_seq: 0,
                root: root.clone(),
                packages: 0,
                dropped: String::new(),
            },
        )
        .await
        .unwrap()
        .expect("the first set flips");
    (repo, set, root)
}

/// Rows a collection deletes free pages inside the file; reclaiming hands
/// them back, so the file shrinks once the WAL is checkpointed.
#[tokio::test]
async fn reclaiming_free_pages_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    assert_eq!(db.reclaim_free_pages().await.unwrap(), 0, "nothing to free");
    let (repo, set, root) = repo_with_a_set(&db).await;
    let filler = "x".repeat(4000);
    for i in 0..300 {
        db.insert_snapshot(repo, &format!("s{i}"), &filler, &set, &root, "test")
            .await
            .unwrap();
    }
    let checkpointed_size = |db: Db| {
        let path = path.clone();
        async move {
            db.conn
                .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .unwrap();
            std::fs::metadata(&path).unwrap().len()
        }
    };
    let full = checkpointed_size(db.clone()).await;
    for i in 0..300 {
        assert!(db.delete_snapshot(repo, &format!("s{i}")).await.unwrap());
    }
    assert_eq!(
        checkpointed_size(db.clone()).await,
        full,
        "deleting alone keeps the pages"
    );

    let freed = db.reclaim_free_pages().await.unwrap();
    assert!(freed >= 250, "300 rows of 4 KB freed {freed} pages");
    let after = checkpointed_size(db.clone()).await;
    assert!(
        after + 250 * 4096 <= full,
        "the file shrank from {full} to {after} bytes only"
    );
    assert_eq!(db.reclaim_free_pages().await.unwrap(), 0, "all returned");
}

/// A burst of writes leaves a large WAL behind; reclaiming cuts it back.
#[tokio::test]
async fn reclaiming_truncates_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    let (repo, set, root) = repo_with_a_set(&db).await;
    let filler = "x".repeat(4000);
    for i in 0..100 {
        db.insert_snapshot(repo, &format!("s{i}"), &filler, &set, &root, "test")
            .await
            .unwrap();
    }
    let wal = dir.path().join("meta.db-wal");
    let before = std::fs::metadata(&wal).unwrap().len();
    assert!(
        before > 400_000,
        "100 rows of 4 KB left a WAL of {before} bytes"
    );
    db.reclaim_free_pages().await.unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "the WAL is cut");
}
