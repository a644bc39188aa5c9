//! The server's parts, wired once at start-up from [`Settings`]. Only this
//! module chooses concrete storage and database backends.

use std::sync::Arc;

use artifactd_provider_api::Provider;

use crate::auth::Auth;
use crate::config::Settings;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::health::HealthChecker;
use crate::publish::Publisher;
use crate::registry::Registry;
use crate::state::Repos;
use crate::storage::{LocalStorage, S3Location, S3Storage, Storage};

pub struct App {
    pub settings: Settings,
    pub db: Db,
    pub storage: Arc<dyn Storage>,
    pub registry: Registry,
    pub repos: Arc<Repos>,
    pub publisher: Arc<Publisher>,
    pub history: crate::history::History,
    pub auth: Auth,
    pub health: HealthChecker,
}

impl App {
    /// Opens the database (applying migrations) and the storage backend.
    pub async fn build(settings: Settings) -> Result<App> {
        tokio::fs::create_dir_all(&settings.data_dir).await?;
        tokio::fs::create_dir_all(settings.tmp_dir()).await?;
        remove_stale_spools(&settings.tmp_dir()).await;
        let db = Db::connect(&settings.database_url()).await?;
        let storage = open_storage(&settings).await?;
        let registry = Registry::builtin();
        let repos = Arc::new(Repos::new(
            db.clone(),
            storage.clone(),
            settings.publish.cache_ttl(),
            settings.publish.grace(),
        ));
        let publisher = Publisher::new(
            db.clone(),
            storage.clone(),
            registry.clone(),
            repos.clone(),
            settings.publish.clone(),
            settings.signing.clone(),
        );
        let history = crate::history::History::new(
            db.clone(),
            storage.clone(),
            repos.clone(),
            publisher.clone(),
            settings.publish.cache_ttl(),
        );
        let auth = Auth::new(db.clone(), settings.admin_token.as_deref()).await?;
        let health = HealthChecker::new(
            db.clone(),
            storage.clone(),
            settings.tmp_dir(),
            publisher.owner().to_owned(),
        );
        tracing::info!(
            database = ?db.backend(),
            storage = if settings.storage.s3_url.is_some() { "s3" } else { "local" },
            providers = ?registry.names().collect::<Vec<_>>(),
            "artifactd ready"
        );
        Ok(App {
            settings,
            db,
            storage,
            registry,
            repos,
            publisher,
            history,
            auth,
            health,
        })
    }

    /// Starts the background sweeps (unpublished changes, expired index
    /// sets, unreferenced blobs).
    pub fn start_background(&self) {
        tokio::spawn(self.publisher.clone().sweep_forever());
        tokio::spawn(self.publisher.clone().collect_blobs_forever());
    }

    /// A registered provider, or 400 naming the known ones.
    pub fn provider(&self, name: &str) -> Result<&Arc<dyn Provider>> {
        self.registry.get(name).ok_or_else(|| {
            Error::bad_request(
                "unknown_provider",
                format!(
                    "unknown provider {name:?}; known: {}",
                    self.registry.names().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

/// Upload spool directories older than a day are leftovers of a crash; newer
/// ones may belong to another instance sharing this data directory.
async fn remove_stale_spools(dir: &std::path::Path) {
    const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let old = entry
            .metadata()
            .await
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE));
        if old && entry.file_name().to_string_lossy().starts_with("upload-") {
            tracing::info!(path = %entry.path().display(), "removing stale upload spool");
            let _ = tokio::fs::remove_dir_all(entry.path()).await;
        }
    }
}

async fn open_storage(settings: &Settings) -> Result<Arc<dyn Storage>> {
    Ok(match &settings.storage.s3_url {
        Some(url) => {
            let location = S3Location::parse(url)?;
            Arc::new(S3Storage::new(
                &location,
                &settings.storage.s3_region,
                &settings.storage.s3_prefix,
            )?)
        }
        None => Arc::new(LocalStorage::open(settings.storage_path()).await?),
    })
}
