//! What `/healthz` reports: whether this instance can read and write its
//! database, its storage and its upload spool. Each check is a real
//! operation with a deadline (a ping does not notice a full disk), run
//! concurrently, and the report is reused for a second so a busy load
//! balancer does not turn probes into load.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::storage::Storage;

/// How long one check may take before it counts as failed.
const DEADLINE: Duration = Duration::from_secs(2);
/// How long a report is reused.
const REUSE: Duration = Duration::from_secs(1);

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

    #[tokio::test]
    async fn probe_dir_leaves_nothing_and_fails_on_a_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        probe_dir(dir.path().to_owned()).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let c = check(probe_dir(dir.path().join("missing"))).await;
        assert!(!c.ok);
    }
}
