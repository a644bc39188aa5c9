//! Connecting to the database so that its failures stay contained: a pooled
//! connection never goes back to the pool inside a transaction, writes fail
//! within seconds when the database is down, and each failure is classified
//! (no space, unavailable, other) for the HTTP mapping.
//!
//! Why the pool hooks: when a COMMIT fails (SQLite's `database or disk is
//! full`, a dropped MariaDB connection), sqlx still counts the transaction as
//! open, and a later `begin` on that connection would only open a savepoint
//! inside it. Its "commit" would release the savepoint, the caller would be
//! told the write is durable, and it would be rolled back when the
//! connection closes. So a connection that is still inside a transaction
//! when it is released or acquired is closed instead (closing rolls back).

use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::sqlx::{self, Connection};
use sea_orm::{ConnAcquireErr, ConnectOptions, DbErr, RuntimeErr};

/// How long a request waits for a pooled connection before it is answered
/// 503: long enough for a burst of uploads to queue, short enough that a
/// database outage fails writes fast.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on another writer's lock.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options for `url`, with the hygiene hooks installed.
pub fn options(url: &str) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(16)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false)
        // Incremental auto-vacuum lets collections hand freed pages back to
        // the file system (`Db::reclaim_free_pages`). It takes effect only
        // on a database created with it; on an older file it is a no-op.
        .map_sqlx_sqlite_opts(|o| {
            o.busy_timeout(SQLITE_BUSY_TIMEOUT)
                .auto_vacuum(sqlx::sqlite::SqliteAutoVacuum::Incremental)
        })
        .map_sqlx_sqlite_pool_opts(|o| {
            // An in-process connection does not go stale: a ping before
            // each statement would only be a round trip to its thread.
            o.test_before_acquire(false)
                .after_release(|c, _| release_check(c))
                .before_acquire(|c, _| acquire_check(c))
        })
        .map_sqlx_mysql_pool_opts(|o| {
            o.after_release(|c, _| release_check(c))
                .before_acquire(|c, _| acquire_check(c))
        });
    opts
}

/// Options for the pool that writes coordination state (blob pins, publish
/// leases). On SQLite its commits skip the fsync (`synchronous=NORMAL`, still
/// atomic and ordered in the WAL, and made durable by the next ordinary
/// commit): that state only matters while its holder runs, and a power cut
/// that could lose its last writes stops every holder too. An upload takes
/// a claim and a publish takes a lease before every durable step, so this
/// saves a disk flush each. MariaDB ignores the setting (one pool serves).
pub fn quick_options(url: &str) -> ConnectOptions {
    let mut opts = options(url);
    opts.max_connections(4).map_sqlx_sqlite_opts(|o| {
        o.busy_timeout(SQLITE_BUSY_TIMEOUT)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
    });
    opts
}

/// Keeps a released connection only if it is outside any transaction.
/// Only a connection that looks inside one is pinged: the ping flushes a
/// rollback queued by a dropped transaction, so the depth read after it is
/// the real one (a depth of 0 has nothing queued, and a ping per statement
/// would be a round trip to SQLite's worker thread each time).
fn release_check<C: Connection>(c: &mut C) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if !c.is_in_transaction() {
            return Ok(true);
        }
        c.ping().await?;
        if c.is_in_transaction() {
            tracing::warn!("closing a database connection left inside a transaction");
            return Ok(false);
        }
        Ok(true)
    })
}

/// The same rule when a connection is handed out (cheap: no round trip).
fn acquire_check<C: Connection>(c: &mut C) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move { Ok(!c.is_in_transaction()) })
}

/// What a database error means for the request that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database's disk is full.
    NoSpace,
    /// The database is down, unreachable, overloaded or locked: retry later.
    Unavailable,
    /// Anything else: a bug or a constraint, not the environment.
    Other,
}

/// Classifies a database error.
pub fn classify(e: &DbErr) -> Failure {
    let sqlx_err = match e {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed) => {
            return Failure::Unavailable;
        }
        DbErr::Conn(RuntimeErr::SqlxError(s))
        | DbErr::Exec(RuntimeErr::SqlxError(s))
        | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        DbErr::Conn(_) => return Failure::Unavailable,
        _ => return Failure::Other,
    };
    match &**sqlx_err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Unavailable,
        sqlx::Error::Database(db) => {
            if let Some(m) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return mysql_failure(m.number(), m.message());
            }
            // SQLite: the primary result code is the low byte of the extended one.
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0) & 0xff;
            match code {
                13 => Failure::NoSpace,        // SQLITE_FULL
                5 | 6 => Failure::Unavailable, // SQLITE_BUSY, SQLITE_LOCKED
                _ => Failure::Other,
            }
        }
        _ => Failure::Other,
    }
}

fn mysql_failure(number: u16, message: &str) -> Failure {
    match number {
        // ER_DISK_FULL, ER_RECORD_FILE_FULL
        1021 | 1114 => Failure::NoSpace,
        // EE_WRITE, ER_GET_ERRNO, ER_ERROR_ON_WRITE with errno 28 (ENOSPC)
        3 | 1030 | 1026 if message.contains("28") => Failure::NoSpace,
        // lock wait timeout, deadlock, too many connections, server shutting
        // down, read-only (a Galera node out of the primary component), gone away
        1205 | 1213 | 1040 | 1053 | 1290 | 1047 | 2006 | 2013 => Failure::Unavailable,
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_failures_are_unavailable() {
        assert_eq!(
            classify(&DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
            Failure::Unavailable
        );
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            classify(&DbErr::Conn(RuntimeErr::SqlxError(io.into()))),
            Failure::Unavailable
        );
        assert_eq!(classify(&DbErr::RecordNotFound("x".into())), Failure::Other);
    }

    #[test]
    fn mysql_numbers() {
        assert_eq!(
            mysql_failure(1114, "The table 'x' is full"),
            Failure::NoSpace
        );
        assert_eq!(
            mysql_failure(
                1030,
                "Got error 28 \"No space left on device\" from storage engine"
            ),
            Failure::NoSpace
        );
        assert_eq!(
            mysql_failure(1030, "Got error 11 from storage engine"),
            Failure::Other
        );
        assert_eq!(
            mysql_failure(1205, "Lock wait timeout"),
            Failure::Unavailable
        );
        assert_eq!(mysql_failure(1062, "Duplicate entry"), Failure::Other);
    }

    /// A real SQLite connection in a real transaction is refused by both
    /// hooks, and kept once the transaction ended.
    #[tokio::test]
    async fn connections_inside_a_transaction_are_not_reused() {
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        assert!(release_check(&mut c).await.unwrap());
        let mut tx = c.begin().await.unwrap();
        assert!(!release_check(&mut *tx).await.unwrap());
        assert!(!acquire_check(&mut *tx).await.unwrap());
        tx.rollback().await.unwrap();
        assert!(release_check(&mut c).await.unwrap());
        assert!(acquire_check(&mut c).await.unwrap());
    }

    /// The SQLite code a full disk gives is read as no space.
    #[tokio::test]
    async fn sqlite_full_is_no_space() {
        use sqlx::Executor;
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        // max_page_count makes SQLite answer SQLITE_FULL without a full disk.
        c.execute("PRAGMA max_page_count = 2").await.unwrap();
        c.execute("CREATE TABLE t (x BLOB)").await.unwrap();
        let err = c
            .execute("INSERT INTO t VALUES (zeroblob(100000))")
            .await
            .unwrap_err();
        assert_eq!(
            classify(&DbErr::Exec(RuntimeErr::SqlxError(err.into()))),
            Failure::NoSpace
        );
    }
}
