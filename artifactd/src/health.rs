//! What `/healthz` reports: whether this instance can read and write its
//! database, its storage and its upload spool. Each check is a real
//! operation with a deadline (a ping does not notice a full disk), run
//! concurrently, and the report is reused for a second so a busy load
//! balancer does not turn probes into load.
//!
//! A probe's small write can still fit where an upload's does not (InnoDB
//! rewrites a row in place, but a new manifest needs new pages), so a
//! refusal for lack of space anywhere is remembered ([`refused_for_space`])
//! and reported until a real write succeeds or [`SPACE_ALARM`] passes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::storage::Storage;

/// How long one check may take before it counts as failed.
const DEADLINE: Duration = Duration::from_secs(2);
/// How long a report is reused.
const REUSE: Duration = Duration::from_secs(1);
/// How long a refusal for lack of space keeps the instance unhealthy when no
/// write succeeds after it.
pub const SPACE_ALARM: Duration = Duration::from_secs(30);

/// Milliseconds since [`epoch`] (plus one) of the last refusal for lack of
/// space not followed by a successful write; 0 when none.
static REFUSED_AT: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Notes that a write was refused for lack of space (database, storage or
/// spool).
pub fn refused_for_space() {
    let now = epoch().elapsed().as_millis() as u64 + 1;
    REFUSED_AT.store(now, Ordering::SeqCst);
}

/// Notes that an upload or a publish was written: space is back.
pub fn wrote() {
    REFUSED_AT.store(0, Ordering::SeqCst);
}

/// The check for a recent refusal.
fn space_check() -> Check {
    let at = REFUSED_AT.load(Ordering::SeqCst);
    let since = epoch()
        .elapsed()
        .saturating_sub(Duration::from_millis(at.saturating_sub(1)));
    if at == 0 || since >= SPACE_ALARM {
        return Check {
            ok: true,
            error: None,
            message: None,
        };
    }
    Check {
        ok: false,
        error: Some("insufficient_storage"),
        message: Some(format!(
            "a write was refused for lack of space {} s ago and none has succeeded since",
            since.as_secs()
        )),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: BTreeMap<&'static str, Check>,
}

pub struct HealthChecker {
    db: Db,
    storage: Arc<dyn Storage>,
    spool: PathBuf,
    instance: String,
    last: Mutex<Option<(Instant, Arc<Report>)>>,
}

impl HealthChecker {
    pub fn new(db: Db, storage: Arc<dyn Storage>, spool: PathBuf, instance: String) -> Self {
        HealthChecker {
            db,
            storage,
            spool,
            instance,
            last: Mutex::default(),
        }
    }

    /// The current report (at most [`REUSE`] old).
    pub async fn report(&self) -> Arc<Report> {
        if let Some((at, r)) = &*self.last.lock().expect("lock")
            && at.elapsed() < REUSE
        {
            return r.clone();
        }
        let (database, database_write, storage, spool) = tokio::join!(
            check(self.db.ping()),
            check(self.db.probe_write(&self.instance)),
            check(async { Ok(self.storage.check().await?) }),
            check(probe_dir(self.spool.clone())),
        );
        let checks = BTreeMap::from([
            ("database", database),
            ("database_write", database_write),
            ("storage", storage),
            ("spool", spool),
            ("space", space_check()),
        ]);
        let report = Arc::new(Report {
            ok: checks.values().all(|c| c.ok),
            checks,
        });
        if !report.ok {
            tracing::warn!(report = %serde_json::to_string(&*report).unwrap_or_default(), "unhealthy");
        }
        *self.last.lock().expect("lock") = Some((Instant::now(), report.clone()));
        report
    }
}

async fn check(work: impl std::future::Future<Output = Result<()>>) -> Check {
    let failed = |e: Error| Check {
        ok: false,
        error: Some(e.code()),
        message: Some(e.to_string()),
    };
    match tokio::time::timeout(DEADLINE, work).await {
        Ok(Ok(())) => Check {
            ok: true,
            error: None,
            message: None,
        },
        Ok(Err(e)) => failed(e),
        Err(_) => failed(Error::Unavailable(format!(
            "no answer within {} s",
            DEADLINE.as_secs()
        ))),
    }
}

async fn probe_dir(dir: PathBuf) -> Result<()> {
    Ok(tokio::task::spawn_blocking(move || crate::storage::probe_write(&dir)).await??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_for_space_is_reported_until_a_write_succeeds() {
        wrote();
        assert!(space_check().ok);
        refused_for_space();
        let c = space_check();
        assert!(!c.ok);
        assert_eq!(c.error, Some("insufficient_storage"));
        wrote();
        assert!(space_check().ok);
    }

    #[tokio::test]
    async fn probe_dir_leaves_nothing_and_fails_on_a_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        probe_dir(dir.path().to_owned()).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let c = check(probe_dir(dir.path().join("missing"))).await;
        assert!(!c.ok);
    }
}
