//! The metadata store: repositories, packages, files, tokens and published
//! index sets, through sea-orm on SQLite or MariaDB/MySQL.
//!
//! Concurrency rests on two row-level rules, valid on both databases:
//! - every transaction that changes a repository's packages starts by bumping
//!   `repos.change_seq`, which takes the repository row's write lock, so such
//!   transactions are serialised per repository and each gets its own `seq`;
//! - the current index set is switched by a compare-and-swap on
//!   `repos.generation` by the holder of the publish lease.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, EntityTrait,
    QueryFilter,
};
use sea_orm_migration::MigratorTrait;

use crate::error::{Error, Result};

mod blobs;
mod conn;
mod copy;
pub mod entities;
mod history;
mod index_sets;
mod keys;
mod migration;
mod packages;
mod repos;
mod tokens;

pub use blobs::Claim;
pub use conn::{Failure, classify};
pub use copy::Copied;
pub use history::{Expect, Ref};
pub use index_sets::NewSet;
pub use packages::Committed;

use entities::repo;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Bumps a repository's `change_seq` inside `txn` and returns the new value.
/// Being a write, it takes the repository row's lock first thing, which is
/// what serialises package changes per repository.
async fn bump_change_seq(txn: &sea_orm::DatabaseTransaction, repo_id: i64) -> Result<i64> {
    repo::Entity::update_many()
        .col_expr(
            repo::Column::ChangeSeq,
            Expr::col(repo::Column::ChangeSeq).add(1),
        )
        .filter(repo::Column::Id.eq(repo_id))
        .exec(txn)
        .await?;
    Ok(repo::Entity::find_by_id(repo_id)
        .one(txn)
        .await?
        .ok_or_else(|| Error::not_found("repo_not_found", "repository vanished"))?
        .change_seq)
}

#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// Writes of coordination state (see [`conn::quick_options`]); the same
    /// pool as `conn` on MariaDB.
    quick: DatabaseConnection,
}

/// What one upload transaction did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    Created,
    /// The identical file was already there.
    Exists,
}

impl Db {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        let opts = conn::options(url);
        let conn = Database::connect(opts).await?;
        if conn.get_database_backend() == DatabaseBackend::Sqlite {
            // WAL lets readers proceed while one writer commits; the setting
            // is stored in the file, so once per start is enough.
            conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        // Two instances starting together may race on the migration table;
        // the loser retries once the winner is done.
        let mut attempt = 0;
        loop {
            match migration::Migrator::up(&conn, None).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, "migration failed, retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        // A second pool on an in-memory database would open another one.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let quick = match conn.get_database_backend() {
            DatabaseBackend::Sqlite if !in_memory => {
                Database::connect(conn::quick_options(url)).await?
            }
            _ => conn.clone(),
        };
        Ok(Db { conn, quick })
    }

    /// The connection itself, for tests that set up odd states.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// Returns the database file's free pages to the file system (SQLite
    /// with incremental auto-vacuum, that is, files this version created),
    /// so that what a collection deleted stops costing disk, and truncates
    /// the WAL. Answers how many pages were freed; MariaDB reuses its pages
    /// itself (0).
    pub async fn reclaim_free_pages(&self) -> Result<u64> {
        use sea_orm::Statement;
        if self.backend() != DatabaseBackend::Sqlite {
            return Ok(0);
        }
        let pragma = |name: &'static str| async move {
            let row = self
                .conn
                .query_one_raw(Statement::from_string(
                    DatabaseBackend::Sqlite,
                    format!("PRAGMA {name}"),
                ))
                .await?;
            Ok::<i64, Error>(match row {
                Some(row) => row.try_get_by_index::<i64>(0)?,
                None => 0,
            })
        };
        let free = match pragma("auto_vacuum").await? {
            2 => pragma("freelist_count").await?,
            _ => 0,
        };
        if free > 0 {
            self.conn
                .execute_unprepared("PRAGMA incremental_vacuum")
                .await?;
        }
        // The WAL keeps its largest size (a burst of uploads leaves megabytes
        // of spent frames) and the main file shrinks only once checkpointed:
        // copy the frames back and cut the WAL to nothing. Readers still in
        // it make this a partial checkpoint, which truncates nothing.
        self.conn
            .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await?;
        Ok(free as u64)
    }

    pub async fn ping(&self) -> Result<()> {
        self.conn.ping().await.map_err(Error::from)
    }

    /// A real, durable write: rewrites this instance's row in
    /// `health_probes`, which fails when the database cannot write.
    pub async fn probe_write(&self, instance: &str) -> Result<()> {
        use sea_orm::sea_query::{Alias, OnConflict, Query};
        let (instance_col, at_col) = (Alias::new("instance"), Alias::new("at"));
        let stmt = Query::insert()
            .into_table(Alias::new("health_probes"))
            .columns([instance_col.clone(), at_col.clone()])
            .values_panic([instance.into(), now_ms().into()])
            .on_conflict(
                OnConflict::column(instance_col)
                    .update_column(at_col)
                    .to_owned(),
            )
            .to_owned();
        self.conn.execute(&stmt).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
