//! Publishing: turning committed package rows into the index files clients
//! read, across any number of server instances.
//!
//! Per repository, at most one instance publishes at a time: it must hold the
//! lease in the repository row. It renders every index file from the package
//! snapshot, stores each one immutably under its SHA-256, records the set in
//! `index_sets`, and makes it current with a compare-and-swap on
//! `repos.generation`. Readers therefore switch from one complete set to the
//! next; superseded sets stay readable for the grace period.
//!
//! Requests to publish are coalesced: uploads landing within the debounce
//! window, or while a publish runs, are covered by the next single publish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use artifactd_provider_api::{PackageChange, RenderChanges, RenderInput};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::{PublishSettings, SigningSettings};
use crate::db::{Db, now_ms};
use crate::error::{Error, Result};
use crate::gc::{Collected, Collector};
use crate::registry::Registry;
use crate::signing::{KeyAlgorithm, RepoSigner};
use crate::state::{IndexSetView, ManifestEntry, RepoState, Repos};
use crate::storage::{NewObject, Storage, StorageKey};

mod entries;

/// Where a repository's publishing stands, as seen by this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Published {
    pub seq: i64,
    pub generation: i64,
}

/// A publish attempt that failed, as waiting uploads are told of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublishFailure {
    /// The `change_seq` the attempt would have published.
    #[serde(skip)]
    pub upto: i64,
    pub error: &'static str,
    pub message: String,
}

/// What a waiting upload learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Published, and this instance serves a generation that has it.
    Published(Published),
    /// A publish that would have covered it failed; the upload stays
    /// committed and the sweep publishes it once the cause is gone.
    Failed(PublishFailure),
    /// Not published within `wait_timeout_secs`.
    TimedOut,
}

impl WaitOutcome {
    /// The generation that holds the change, if it was published.
    pub fn generation(&self) -> Option<i64> {
        match self {
            WaitOutcome::Published(p) => Some(p.generation),
            _ => None,
        }
    }
}

struct Worker {
    published: watch::Sender<Published>,
    /// The latest failed attempt, cleared by the next success.
    failure: watch::Sender<Option<PublishFailure>>,
    /// The highest `change_seq` anyone on this instance waits for.
    wanted: AtomicI64,
    running: AtomicBool,
    /// When this instance last collected garbage here (starts at creation:
    /// nothing is due in a repository's first interval).
    last_gc: Mutex<Option<Instant>>,
}

pub struct Publisher {
    db: Db,
    storage: Arc<dyn Storage>,
    registry: Registry,
    repos: Arc<Repos>,
    cfg: PublishSettings,
    signing: SigningSettings,
    /// This instance's name in lease rows.
    owner: String,
    collector: Collector,
    workers: Mutex<HashMap<i64, Arc<Worker>>>,
}

/// How often a waiting instance re-reads a repository another instance is publishing.
const POLL: Duration = Duration::from_millis(100);

impl Publisher {
    pub fn new(
        db: Db,
        storage: Arc<dyn Storage>,
        registry: Registry,
        repos: Arc<Repos>,
        cfg: PublishSettings,
        signing: SigningSettings,
    ) -> Arc<Self> {
        let owner = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        Arc::new(Publisher {
            collector: Collector::new(db.clone(), storage.clone(), repos.clone(), owner.clone()),
            db,
            storage,
            registry,
            repos,
            cfg,
            signing,
            owner,
            workers: Mutex::default(),
        })
    }

    /// This instance's name in lease rows.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn worker(&self, repo_id: i64) -> Arc<Worker> {
        self.workers
            .lock()
            .expect("lock")
            .entry(repo_id)
            .or_insert_with(|| {
                Arc::new(Worker {
                    published: watch::Sender::new(Published::default()),
                    failure: watch::Sender::new(None),
                    wanted: AtomicI64::new(0),
                    running: AtomicBool::new(false),
                    last_gc: Mutex::new(Some(Instant::now())),
                })
            })
            .clone()
    }

    /// Asks for `seq` to be published, without waiting.
    pub fn request(self: &Arc<Self>, state: Arc<RepoState>, seq: i64) {
        let worker = self.worker(state.info.id);
        worker.wanted.fetch_max(seq, Ordering::SeqCst);
        if !worker.running.swap(true, Ordering::SeqCst) {
            let this = self.clone();
            tokio::spawn(async move { this.run(state, worker).await });
        }
    }

    /// Asks for `seq` to be published and waits until it is and this
    /// instance serves a generation holding it (read-your-writes even when
    /// another instance published it), until a publish covering it fails,
    /// or until the configured timeout.
    pub async fn publish_and_wait(
        self: &Arc<Self>,
        state: Arc<RepoState>,
        seq: i64,
    ) -> Result<WaitOutcome> {
        let worker = self.worker(state.info.id);
        let mut published = worker.published.subscribe();
        // An earlier failure has `upto` below this upload's `seq`, so only
        // an attempt that covered it can end the wait.
        let mut failed = worker.failure.subscribe();
        self.request(state.clone(), seq);
        let wait = async {
            tokio::select! {
                p = published.wait_for(|p| p.seq >= seq) => p.map(|p| WaitOutcome::Published(*p)),
                f = failed.wait_for(|f| f.as_ref().is_some_and(|f| f.upto >= seq)) => {
                    f.map(|f| WaitOutcome::Failed(f.clone().expect("checked")))
                }
            }
        };
        let deadline = Duration::from_secs(self.cfg.wait_timeout_secs);
        let outcome = match tokio::time::timeout(deadline, wait).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => return Err(Error::Internal("publisher stopped".into())),
            Err(_) => return Ok(WaitOutcome::TimedOut),
        };
        if let WaitOutcome::Published(p) = &outcome {
            self.repos.catch_up(&state, p.generation).await?;
        }
        Ok(outcome)
    }

    /// The publish loop of one repository on this instance; runs while
    /// anyone here wants a `seq` that is not yet published.
    async fn run(self: Arc<Self>, state: Arc<RepoState>, worker: Arc<Worker>) {
        let id = state.info.id;
        let mut failures = 0u32;
        // The first publish of a loop starts at once (nothing to wait for
        // when idle); later rounds start at least the debounce window after
        // the previous one started, covering what arrived meanwhile.
        let mut idle = true;
        let mut last_start: Option<Instant> = None;
        loop {
            if !std::mem::take(&mut idle)
                && let Some(at) = last_start
            {
                tokio::time::sleep_until((at + self.cfg.debounce()).into()).await;
            }
            let repo = match self.db.repo_by_id(id).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(repo = id, error = %e, "publisher cannot read repository");
                    self.failed(&worker, &e);
                    tokio::time::sleep(POLL * 5).await;
                    continue;
                }
            };
            self.note(
                &worker,
                Published {
                    seq: repo.published_seq,
                    generation: repo.generation,
                },
            );
            if repo.published_seq >= worker.wanted.load(Ordering::SeqCst) {
                worker.running.store(false, Ordering::SeqCst);
                // A request may have slipped in between the check and the store.
                if repo.published_seq < worker.wanted.load(Ordering::SeqCst)
                    && !worker.running.swap(true, Ordering::SeqCst)
                {
                    continue;
                }
                return;
            }
            match self
                .db
                .try_lease(id, &self.owner, Duration::from_secs(self.cfg.lease_secs))
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    // Another instance is publishing; it or we will cover this.
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(repo = id, error = %e, "cannot take publish lease");
                    self.failed(&worker, &e);
                    tokio::time::sleep(POLL * 5).await;
                    continue;
                }
            }
            let started = Instant::now();
            last_start = Some(started);
            match self
                .publish_once(&state, repo.generation, repo.change_seq)
                .await
            {
                Ok(Some(p)) => {
                    failures = 0;
                    crate::health::wrote();
                    worker.failure.send_replace(None);
                    tracing::info!(
                        repo = %format!("{}/{}", state.info.provider, state.info.name),
                        generation = p.generation,
                        seq = p.seq,
                        ms = started.elapsed().as_millis() as u64,
                        "published"
                    );
                    self.note(&worker, p);
                    self.maybe_gc(&state, &worker).await;
                    // Nothing more wanted: stop at once (a sequential
                    // uploader never waits for a window). Otherwise publish
                    // again once the debounce window allows.
                    if worker.wanted.load(Ordering::SeqCst) <= p.seq {
                        worker.running.store(false, Ordering::SeqCst);
                        // A request may have slipped in before the store.
                        if worker.wanted.load(Ordering::SeqCst) > p.seq
                            && !worker.running.swap(true, Ordering::SeqCst)
                        {
                            idle = true;
                            continue;
                        }
                        return;
                    }
                    continue;
                }
                Ok(None) => tracing::info!(repo = id, "another instance published first"),
                Err(e) => {
                    failures += 1;
                    tracing::error!(repo = id, error = %e, "publish failed");
                    self.failed(&worker, &e);
                    // Short enough that uploads waiting on a failing publish hear of
                    // the next attempt soon: each waits for at most one.
                    tokio::time::sleep(POLL * 2u32.pow(failures.min(4))).await;
                }
            }
            if let Err(e) = self.db.release_lease(id, &self.owner).await {
                tracing::warn!(repo = id, error = %e, "cannot release publish lease");
            }
        }
    }

    /// Tells everyone waiting here that the attempt for their changes failed
    /// (the loop goes on retrying).
    fn failed(&self, worker: &Worker, e: &Error) {
        worker.failure.send_replace(Some(PublishFailure {
            upto: worker.wanted.load(Ordering::SeqCst),
            error: e.code(),
            message: e.to_string(),
        }));
    }

    fn note(&self, worker: &Worker, p: Published) {
        worker.published.send_if_modified(|cur| {
            if p.seq > cur.seq || p.generation > cur.generation {
                *cur = p;
                true
            } else {
                false
            }
        });
    }

    /// Renders, stores and flips one index set. `Ok(None)` if the swap lost.
    async fn publish_once(
        &self,
        state: &Arc<RepoState>,
        generation: i64,
        upto: i64,
    ) -> Result<Option<Published>> {
        let _guard = state.refresh_lock.lock().await;
        // Start from the set that is really current: a stale in-memory view
        // could name index files that garbage collection already removed.
        let row = self.db.repo_by_id(state.info.id).await?;
        if row.generation != generation {
            return Ok(None);
        }
        self.repos.reload(state, &row).await?;
        let (from_seq, deltas) = state.apply_changes(&self.db, upto, true).await?;
        // The snapshot was exactly what the current set holds: its package
        // entries change by these deltas alone (else compare them all).
        // (Sets from before package entries existed count no packages.)
        let before_count = {
            let now = state.snapshot.lock().expect("lock").packages.len() as i64;
            let added = deltas
                .iter()
                .filter(|d| d.before.is_none() && d.after.is_some());
            let removed = deltas
                .iter()
                .filter(|d| d.before.is_some() && d.after.is_none());
            now - added.count() as i64 + removed.count() as i64
        };
        let incremental = from_seq == row.published_seq
            && state.current_set().map(|s| s.generation) == Some(row.generation)
            && self
                .db
                .current_index_set(state.info.id)
                .await?
                .is_some_and(|set| {
                    set.generation == row.generation && set.packages == before_count
                });
        let deltas = incremental.then_some(deltas);
        let provider = self
            .registry
            .get(&state.info.provider)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "no provider {:?} for repository",
                    state.info.provider
                ))
            })?
            .clone();
        let signer = match provider.signed() {
            true => Some(self.signer_for(state).await?),
            false => None,
        };
        let render_state = state.clone();
        // Settings may have changed since this instance cached the repository.
        let info = artifactd_provider_api::RepoInfo {
            settings: serde_json::from_str(&row.settings).unwrap_or_default(),
            ..state.info.clone()
        };
        let now = now_ms();
        // Sections published before stay, so emptied ones render empty.
        let mut sections: std::collections::BTreeSet<String> = match state
            .current_set()
            .as_deref()
            .and_then(|s| s.entry(crate::state::SECTIONS_KEY).cloned())
        {
            Some(ManifestEntry::Sections { sections }) => sections.into_iter().collect(),
            _ => Default::default(),
        };
        use entries::Rendering;
        let phase = Instant::now();
        let (rendering, package_entries, package_count, sections) =
            tokio::task::spawn_blocking(move || {
                let snap = render_state.snapshot.lock().expect("lock");
                sections.extend(snap.sections().map(str::to_owned));
                let sections: Vec<String> = sections.into_iter().collect();
                let input = RenderInput {
                    repo: &info,
                    packages: &snap.packages,
                    sections: &sections,
                    signer: signer
                        .as_ref()
                        .map(|s| s as &dyn artifactd_provider_api::Signer),
                    now,
                    seq: upto,
                };
                let delta = match &deltas {
                    Some(deltas) => {
                        let packages: Vec<PackageChange<'_>> = deltas
                            .iter()
                            .map(|d| PackageChange {
                                before: d.before.as_ref(),
                                after: d.after.as_ref(),
                            })
                            .collect();
                        let changes = RenderChanges {
                            since: from_seq,
                            packages: &packages,
                        };
                        provider.render_changes(&input, &changes)?
                    }
                    None => None,
                };
                let rendering = match delta {
                    Some(delta) => Rendering::Delta {
                        delta,
                        // Debug builds (the tests) check the delta against
                        // a full render at every publish.
                        #[cfg(debug_assertions)]
                        full: provider.render(&input)?,
                    },
                    None => Rendering::Full(provider.render(&input)?),
                };
                let entries = match deltas {
                    Some(deltas) => entries::PackageEntries::Changed {
                        changes: entries::package_changes(deltas, &snap),
                        #[cfg(debug_assertions)]
                        all: crate::state::package_entries(&snap.packages),
                    },
                    None => {
                        entries::PackageEntries::All(crate::state::package_entries(&snap.packages))
                    }
                };
                Ok::<_, Error>((rendering, entries, snap.packages.len(), sections))
            })
            .await??;

        // Unordered: the tree orders nothing, and this is rebuilt per publish.
        #[cfg(debug_assertions)]
        let mut expected: Option<Vec<(String, ManifestEntry)>> = None;
        let (mut manifest, package_changes): (HashMap<String, ManifestEntry>, _) =
            match package_entries {
                entries::PackageEntries::All(all) => (all.into_iter().collect(), None),
                entries::PackageEntries::Changed {
                    changes,
                    #[cfg(debug_assertions)]
                    all,
                } => {
                    #[cfg(debug_assertions)]
                    {
                        expected = Some(all);
                    }
                    (HashMap::new(), Some(changes))
                }
            };
        if !sections.is_empty() {
            manifest.insert(
                crate::state::SECTIONS_KEY.to_owned(),
                ManifestEntry::Sections { sections },
            );
        }
        let repo_id = state.info.id;
        // Only what differs from the current set is new: its changed
        // entries' bodies and the tree nodes on the way to them.
        let (previous, empty_root) = match state.current_set() {
            Some(set) => (set.tree.clone(), None),
            None => {
                let (t, root) = crate::state::ManifestTree::empty();
                (t, Some(root))
            }
        };
        #[cfg(debug_assertions)]
        let mut full_render: Option<Vec<artifactd_provider_api::IndexFile>> = None;
        let (files, removed) = match rendering {
            Rendering::Full(files) => (files, None),
            Rendering::Delta {
                delta,
                #[cfg(debug_assertions)]
                full,
            } => {
                #[cfg(debug_assertions)]
                {
                    full_render = Some(full);
                }
                (delta.files, Some(delta.removed))
            }
        };
        let entries::Rendered { bodies, composite } =
            entries::add_rendered(&mut manifest, files, Some(&previous))?;
        let entries::TreeChanges { changes, known } =
            entries::tree_changes(&previous, &manifest, removed, package_changes);
        let mut wanted: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (_, entry) in &changes {
            if let Some(ManifestEntry::File { sha256, parts, .. }) = entry {
                if parts.is_empty() {
                    wanted.insert(sha256);
                }
                wanted.extend(parts.iter().map(String::as_str));
            }
        }
        // Bodies, parts, tree nodes (compressed JSON) and the dropped list
        // (JSON) are all stored in one concurrent batch before the flip: one
        // round of durable writes, however many objects.
        let mut to_store: Vec<(StorageKey, Bytes, &'static str)> = wanted
            .into_iter()
            .filter(|sha| !known.contains(*sha))
            .filter_map(|sha| bodies.get(sha).map(|b| (sha, b)))
            .map(|(sha, bytes)| {
                (
                    StorageKey::Index {
                        repo_id,
                        sha256: sha.to_owned(),
                    },
                    bytes.clone(),
                    "application/octet-stream",
                )
            })
            .collect();
        let (tree, mut nodes) = previous.apply(changes);
        #[cfg(debug_assertions)]
        if let Some(all) = expected {
            let held = tree
                .iter()
                .filter(|(_, e)| {
                    matches!(
                        e,
                        ManifestEntry::Blob { .. } | ManifestEntry::Package { .. }
                    )
                })
                .count();
            let distinct: std::collections::HashSet<&str> =
                all.iter().map(|(p, _)| p.as_str()).collect();
            let diverged =
                held != distinct.len() || all.iter().any(|(p, e)| tree.get(p) != Some(e));
            if diverged {
                return Err(Error::Internal(
                    "incremental package entries diverged from the snapshot".into(),
                ));
            }
        }
        #[cfg(debug_assertions)]
        if let Some(full) = full_render {
            entries::check_delta(&tree, full)?;
        }
        nodes.extend(empty_root);
        let stored_nodes = nodes.len();
        to_store.extend(nodes.into_iter().map(|n| {
            let key = StorageKey::Index {
                repo_id,
                sha256: n.hash.hex(),
            };
            (key, Bytes::from(n.bytes), crate::tree::NODE_CONTENT_TYPE)
        }));
        // What the set before this one loses: the collector's marks for it.
        let dropped = crate::gc::Dropped::between(&previous, &tree);
        let dropped = match dropped.is_empty() {
            true => String::new(),
            false => {
                let bytes = serde_json::to_vec(&dropped)
                    .map_err(|e| Error::Internal(format!("serialising a dropped list: {e}")))?;
                let sha = hex::encode(Sha256::digest(&bytes));
                let key = StorageKey::Index {
                    repo_id,
                    sha256: sha.clone(),
                };
                to_store.push((key, Bytes::from(bytes), "application/json"));
                sha
            }
        };
        let render_ms = phase.elapsed().as_millis() as u64;
        let phase = Instant::now();
        let objects = to_store.len();
        self.storage
            .put_many(
                to_store
                    .into_iter()
                    .map(|(key, bytes, content_type)| NewObject {
                        key,
                        bytes,
                        content_type,
                    })
                    .collect(),
            )
            .await?;

        let store_ms = phase.elapsed().as_millis() as u64;
        let phase = Instant::now();
        let Some(row) = self
            .db
            .flip_index_set(
                repo_id,
                &self.owner,
                generation,
                crate::db::NewSet {
                    covers_seq: upto,
                    root: tree.root().hex(),
                    packages: package_count,
                    dropped,
                },
            )
            .await?
        else {
            return Ok(None);
        };
        tracing::debug!(
            repo = repo_id,
            objects,
            nodes = stored_nodes,
            render_ms,
            store_ms,
            flip_ms = phase.elapsed().as_millis() as u64,
            root = %tree.root(),
            "stored index set"
        );
        tree.remember(&state.nodes);
        let view = IndexSetView::new(row.generation, tree);
        for entry in manifest.values() {
            if let ManifestEntry::File { sha256, .. } = entry {
                // Aliases share the composite's id, and get its parts too.
                if let Some(pieces) = composite.get(sha256) {
                    let _ = view.body_or_insert(sha256).fresh_parts.set(pieces.clone());
                } else if let Some(b) = bodies.get(sha256)
                    && (b.len() as u64) <= self.cfg.memory_limit_bytes
                {
                    let _ = view.body_or_insert(sha256).cached.set(b.clone());
                }
            }
        }
        state.install_published(view, upto, self.repos.grace());
        Ok(Some(Published {
            seq: upto,
            generation: row.generation,
        }))
    }

    /// The signer of a repository, creating its first key if it has none:
    /// imported from `signing.key_file`, or generated. Runs under the
    /// publish lease, so two instances cannot both create one.
    async fn signer_for(&self, state: &RepoState) -> Result<RepoSigner> {
        let id = state.info.id;
        let mut keys = self.db.active_signing_keys(id).await?;
        if keys.is_empty() {
            let key = match &self.signing.key_file {
                Some(path) => crate::signing::import(
                    &tokio::fs::read_to_string(path).await.map_err(|e| {
                        Error::Internal(format!("reading signing.key_file {}: {e}", path.display()))
                    })?,
                )?,
                None => {
                    let algorithm = KeyAlgorithm::parse(&self.signing.algorithm)?;
                    let userid = format!(
                        "artifactd {}/{} <{}@artifactd.invalid>",
                        state.info.provider, state.info.name, state.info.name
                    );
                    tokio::task::spawn_blocking(move || {
                        crate::signing::generate(&userid, algorithm)
                    })
                    .await??
                }
            };
            let row = self.db.add_signing_key(id, &key, None).await?;
            tracing::info!(repo = id, fingerprint = %row.fingerprint, "created repository signing key");
            keys.push(row);
        }
        RepoSigner::new(keys.iter().map(|k| k.secret.as_str()))
    }

    /// Drops index sets past their grace period and the index files only they
    /// used, at most once per `gc_interval_secs` per repository. Runs under the publish
    /// lease, so no publish is storing files meanwhile.
    async fn maybe_gc(&self, state: &RepoState, worker: &Worker) {
        {
            let mut last = worker.last_gc.lock().expect("lock");
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(self.cfg.gc_interval_secs)) {
                return;
            }
            *last = Some(Instant::now());
        }
        let id = state.info.id;
        match self
            .db
            .try_lease(id, &self.owner, Duration::from_secs(self.cfg.lease_secs))
            .await
        {
            Ok(true) => {
                let started = Instant::now();
                match self.collector.collect_index(state).await {
                    Ok(Collected {
                        sets: 0, files: 0, ..
                    }) => {
                        tracing::debug!(repo = id, "nothing to collect")
                    }
                    Ok(Collected { sets, files, pages }) => tracing::info!(
                        repo = %format!("{}/{}", state.info.provider, state.info.name),
                        sets_expired = sets,
                        files_removed = files,
                        db_pages_freed = pages,
                        ms = started.elapsed().as_millis() as u64,
                        "garbage collected expired index sets"
                    ),
                    Err(e) => {
                        tracing::warn!(repo = id, error = %e, "index garbage collection failed")
                    }
                }
                if let Err(e) = self.db.release_lease(id, &self.owner).await {
                    tracing::warn!(repo = id, error = %e, "cannot release publish lease");
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(repo = id, error = %e, "cannot take lease for garbage collection")
            }
        }
    }

    /// Periodically publishes repositories with unpublished changes (an
    /// instance may have died between commit and publish, or an upload used
    /// `wait=0`) or whose key rotation ended, and forgets package files whose
    /// grace period ended.
    pub async fn sweep_forever(self: Arc<Self>) {
        let every = Duration::from_secs(self.cfg.sweep_interval_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            match self.db.unpublished_repos().await {
                Ok(rows) => {
                    for row in rows {
                        if row.lease_owner.is_some() && row.lease_until > now_ms() {
                            continue;
                        }
                        let state = self.repos.insert(&row);
                        self.request(state, row.change_seq);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "sweep cannot list repositories"),
            }
            // A rotation's transition ended: republish without the old key.
            match self.db.repos_with_retired_keys().await {
                Ok(rows) => {
                    for row in rows {
                        match self.db.touch_repo(row.id).await {
                            Ok(seq) => self.request(self.repos.insert(&row), seq),
                            Err(e) => {
                                tracing::warn!(repo = row.id, error = %e, "cannot schedule republish")
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "sweep cannot list retired keys"),
            }
            for state in self.repos.all() {
                state.purge_gone(self.repos.grace());
            }
        }
    }

    /// Sweeps package blobs nothing references any more, once per
    /// `gc_interval_secs` across all instances.
    pub async fn collect_blobs_forever(self: Arc<Self>) {
        let every = Duration::from_secs(self.cfg.gc_interval_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            let started = Instant::now();
            match self.collector.sweep_blobs(every).await {
                Ok(Some(swept)) if swept.deleted > 0 => tracing::info!(
                    stored = swept.stored,
                    referenced = swept.marked,
                    deleted = swept.deleted,
                    claimed = swept.claimed,
                    ms = started.elapsed().as_millis() as u64,
                    "garbage collected package blobs"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "blob garbage collection failed"),
            }
        }
    }
}
