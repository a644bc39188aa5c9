//! Each instance's in-memory copy of what repositories publish, so the read
//! path answers from memory: the current index set (and the superseded ones
//! still in their grace period), the path → file map of package files, and
//! the package snapshot the publisher renders from.
//!
//! The copy is refreshed from the database at most once per `cache_ttl`, and
//! incrementally: only package rows whose `seq` moved are read again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use artifactd_provider_api::{PackageRecord, RepoInfo};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::db::entities::{index_set, repo};
use crate::error::Result;

/// One path of a published index set, as stored in `index_sets.manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ManifestEntry {
    File {
        sha256: String,
        size: u64,
        content_type: String,
        /// The body holds `@BASE_URL@` placeholders to fill in when serving.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        template: bool,
        /// When not empty, the body is these index objects in order, and
        /// `sha256` only identifies the whole (it is the ETag, not a key).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parts: Vec<String>,
    },
    Redirect {
        redirect: String,
    },
}

pub type Manifest = std::collections::BTreeMap<String, ManifestEntry>;

/// A published index set, ready to serve.
#[derive(Debug)]
pub struct IndexSetView {
    pub generation: i64,
    /// When a newer set replaced this one (ms since the epoch); it answers
    /// for the grace period after that.
    pub superseded_at: Option<i64>,
    pub entries: HashMap<String, IndexEntry>,
}

#[derive(Debug)]
pub enum IndexEntry {
    File {
        sha256: String,
        size: u64,
        content_type: String,
        template: bool,
        parts: Vec<String>,
        /// A composite file's parts as this instance published them, until
        /// the first read joins them into `cached`.
        fresh_parts: OnceLock<Vec<Bytes>>,
        /// The bytes, once read (small files and composite ones).
        cached: OnceLock<Bytes>,
        /// Their gzip encoding, made on the first request that accepts it.
        gzip: OnceLock<Bytes>,
    },
    Redirect(String),
}

/// Index files up to this size are kept in memory once read.
pub const CACHE_LIMIT: u64 = 4 << 20;

impl From<ManifestEntry> for IndexEntry {
    /// An entry with nothing cached yet.
    fn from(e: ManifestEntry) -> Self {
        match e {
            ManifestEntry::File {
                sha256,
                size,
                content_type,
                template,
                parts,
            } => IndexEntry::File {
                sha256,
                size,
                content_type,
                template,
                parts,
                fresh_parts: OnceLock::new(),
                cached: OnceLock::new(),
                gzip: OnceLock::new(),
            },
            ManifestEntry::Redirect { redirect } => IndexEntry::Redirect(redirect),
        }
    }
}

impl IndexEntry {
    fn to_manifest(&self) -> ManifestEntry {
        match self {
            IndexEntry::File {
                sha256,
                size,
                content_type,
                template,
                parts,
                ..
            } => ManifestEntry::File {
                sha256: sha256.clone(),
                size: *size,
                content_type: content_type.clone(),
                template: *template,
                parts: parts.clone(),
            },
            IndexEntry::Redirect(t) => ManifestEntry::Redirect {
                redirect: t.clone(),
            },
        }
    }

    fn holds_bytes(&self) -> bool {
        matches!(self, IndexEntry::File { cached, fresh_parts, .. }
            if cached.get().is_some() || fresh_parts.get().is_some())
    }
}

impl IndexSetView {
    pub fn from_manifest(generation: i64, manifest: Manifest) -> Self {
        IndexSetView {
            generation,
            superseded_at: None,
            entries: manifest
                .into_iter()
                .map(|(path, e)| (path, e.into()))
                .collect(),
        }
    }

    /// The same set, superseded at `at` (unless it already was), without
    /// cached bytes: superseded sets are read rarely, and their bytes would
    /// pile up over the grace period.
    fn superseded(self: &Arc<Self>, at: i64) -> Arc<Self> {
        if self.superseded_at.is_some() && !self.entries.values().any(IndexEntry::holds_bytes) {
            return self.clone();
        }
        Arc::new(IndexSetView {
            generation: self.generation,
            superseded_at: self.superseded_at.or(Some(at)),
            entries: self
                .entries
                .iter()
                .map(|(path, e)| (path.clone(), e.to_manifest().into()))
                .collect(),
        })
    }

    fn from_row(row: &index_set::Model) -> Self {
        let manifest: Manifest = serde_json::from_str(&row.manifest).unwrap_or_else(|e| {
            tracing::error!(set = row.id, error = %e, "unreadable index manifest");
            Manifest::new()
        });
        IndexSetView {
            superseded_at: row.superseded_at,
            ..Self::from_manifest(row.generation, manifest)
        }
    }

    /// Whether the set still answers: current, or superseded within `grace`.
    fn live(&self, now: i64, grace: Duration) -> bool {
        self.superseded_at
            .is_none_or(|t| now - t < grace.as_millis() as i64)
    }
}

/// A package file as the read path needs it.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    /// When the file left the repository; it stays downloadable for the grace
    /// period so clients holding an older index can still fetch it.
    pub gone_at: Option<Instant>,
}

/// One name in a directory of the published tree ([`RepoState::list_dir`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryKind,
    /// Bytes, for files; 0 for directories and redirects.
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Dir,
    /// An index file of the current set.
    Index,
    /// A redirect of the current set (tar's `latest`).
    Redirect,
    /// A package file.
    Package,
}

/// What a path of a repository answers with.
#[derive(Debug, Clone)]
pub enum Lookup {
    Index {
        set: Arc<IndexSetView>,
        path: String,
    },
    File(FileEntry),
    Redirect(String),
    Missing,
}

#[derive(Debug, Default)]
struct ServeView {
    checked_at: Option<Instant>,
    generation: i64,
    published_seq: i64,
    /// Newest first: the current set, then those within the grace period.
    sets: Vec<Arc<IndexSetView>>,
    files: HashMap<String, FileEntry>,
}

/// Live packages, indexed by id, for the publisher.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub seq: i64,
    pub packages: Vec<PackageRecord>,
    index: HashMap<i64, usize>,
}

impl Snapshot {
    fn upsert(&mut self, p: PackageRecord) -> Option<PackageRecord> {
        match self.index.get(&p.id) {
            Some(&i) => Some(std::mem::replace(&mut self.packages[i], p)),
            None => {
                self.index.insert(p.id, self.packages.len());
                self.packages.push(p);
                None
            }
        }
    }

    fn remove(&mut self, id: i64) -> Option<PackageRecord> {
        let i = self.index.remove(&id)?;
        let removed = self.packages.swap_remove(i);
        if let Some(moved) = self.packages.get(i) {
            self.index.insert(moved.id, i);
        }
        Some(removed)
    }
}

/// One repository's in-memory state on this instance.
pub struct RepoState {
    pub info: RepoInfo,
    serve: RwLock<ServeView>,
    pub snapshot: Mutex<Snapshot>,
    /// What the web UI lists, built from `snapshot` at its `seq` (`catalog::of`).
    pub catalog: Mutex<Option<Arc<crate::catalog::Catalog>>>,
    /// Serialises refreshes and publishes on this instance.
    pub refresh_lock: tokio::sync::Mutex<()>,
}

impl RepoState {
    fn new(row: &repo::Model) -> Self {
        RepoState {
            info: RepoInfo {
                id: row.id,
                provider: row.provider.clone(),
                name: row.name.clone(),
                settings: serde_json::from_str(&row.settings).unwrap_or_default(),
            },
            serve: RwLock::default(),
            snapshot: Mutex::default(),
            catalog: Mutex::default(),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn generation(&self) -> i64 {
        self.serve.read().expect("lock").generation
    }

    /// Finds what answers `path`: the newest index set that has it, then the
    /// package files.
    pub fn lookup(&self, path: &str, grace: Duration) -> Lookup {
        let view = self.serve.read().expect("lock");
        let now = crate::db::now_ms();
        for set in &view.sets {
            if !set.live(now, grace) {
                break;
            }
            match set.entries.get(path) {
                Some(IndexEntry::Redirect(target)) => return Lookup::Redirect(target.clone()),
                Some(IndexEntry::File { .. }) => {
                    return Lookup::Index {
                        set: set.clone(),
                        path: path.to_owned(),
                    };
                }
                None => {}
            }
        }
        match view.files.get(path) {
            Some(f) if f.gone_at.is_none_or(|t| t.elapsed() < grace) => Lookup::File(f.clone()),
            _ => Lookup::Missing,
        }
    }

    /// Whether a generation was ever loaded here (then it can be served).
    fn is_loaded(&self) -> bool {
        self.serve.read().expect("lock").checked_at.is_some()
    }

    fn is_fresh(&self, ttl: Duration) -> bool {
        self.serve
            .read()
            .expect("lock")
            .checked_at
            .is_some_and(|t| t.elapsed() < ttl)
    }

    /// Applies package rows changed in `(snapshot.seq, upto]` to the snapshot
    /// and the file map. Caller holds `refresh_lock`.
    pub async fn apply_changes(&self, db: &Db, upto: i64) -> Result<()> {
        let after = self.snapshot.lock().expect("lock").seq;
        if upto <= after {
            return Ok(());
        }
        let changes = db.package_changes(self.info.id, after, upto).await?;
        let mut snap = self.snapshot.lock().expect("lock");
        let mut view = self.serve.write().expect("lock");
        let now = Instant::now();
        for (record, deleted) in changes {
            let old = if deleted {
                snap.remove(record.id)
            } else {
                for f in &record.files {
                    view.files.insert(
                        f.path.clone(),
                        FileEntry {
                            sha256: f.sha256.clone(),
                            size: f.size,
                            content_type: f.content_type.clone(),
                            gone_at: None,
                        },
                    );
                }
                snap.upsert(record.clone())
            };
            let kept: Vec<&str> = if deleted {
                Vec::new()
            } else {
                record.files.iter().map(|f| f.path.as_str()).collect()
            };
            for f in old.iter().flat_map(|o| &o.files) {
                if !kept.contains(&f.path.as_str())
                    && let Some(entry) = view.files.get_mut(&f.path)
                {
                    entry.gone_at = Some(now);
                }
            }
        }
        snap.seq = upto;
        Ok(())
    }

    /// Replaces the served index sets with `sets` (newest first).
    fn set_published(&self, generation: i64, published_seq: i64, mut sets: Vec<Arc<IndexSetView>>) {
        let now = crate::db::now_ms();
        for old in sets.iter_mut().skip(1) {
            *old = old.superseded(now);
        }
        let mut view = self.serve.write().expect("lock");
        view.generation = generation;
        view.published_seq = published_seq;
        view.sets = sets;
        view.checked_at = Some(Instant::now());
    }

    /// Installs a set this instance just published, keeping older ones that
    /// are still within the grace period.
    pub fn install_published(&self, set: Arc<IndexSetView>, published_seq: i64, grace: Duration) {
        let mut view = self.serve.write().expect("lock");
        if set.generation <= view.generation {
            return;
        }
        let now = crate::db::now_ms();
        view.generation = set.generation;
        view.published_seq = published_seq;
        if let Some(previous) = view.sets.first_mut() {
            *previous = previous.superseded(now);
        }
        view.sets.insert(0, set);
        view.sets.retain(|s| s.live(now, grace));
        view.checked_at = Some(Instant::now());
    }

    /// What the published tree holds directly under the directory `dir`
    /// (`""` for the root, else ending in `/`): index files of the current
    /// set and live package files, subdirectories first, each by name.
    pub fn list_dir(&self, dir: &str) -> Vec<DirEntry> {
        use std::collections::BTreeMap;
        let view = self.serve.read().expect("lock");
        let entry = |kind, size| DirEntry {
            name: String::new(),
            kind,
            size,
        };
        let indices = view.sets.first().into_iter().flat_map(|set| {
            set.entries.iter().map(move |(path, e)| match e {
                IndexEntry::File { size, .. } => (path.as_str(), entry(EntryKind::Index, *size)),
                IndexEntry::Redirect(_) => (path.as_str(), entry(EntryKind::Redirect, 0)),
            })
        });
        let packages = view
            .files
            .iter()
            .filter(|(_, f)| f.gone_at.is_none())
            .map(|(path, f)| (path.as_str(), entry(EntryKind::Package, f.size)));
        let mut dirs: BTreeMap<&str, ()> = BTreeMap::new();
        let mut files: BTreeMap<&str, DirEntry> = BTreeMap::new();
        for (path, e) in indices.chain(packages) {
            let Some(rest) = path.strip_prefix(dir) else {
                continue;
            };
            match rest.split_once('/') {
                Some((sub, _)) if !sub.is_empty() => {
                    dirs.insert(sub, ());
                }
                None if !rest.is_empty() => {
                    files.insert(rest, e);
                }
                _ => {}
            }
        }
        let mut out: Vec<DirEntry> = dirs
            .into_keys()
            .map(|name| DirEntry {
                name: name.to_owned(),
                kind: EntryKind::Dir,
                size: 0,
            })
            .collect();
        out.extend(files.into_iter().map(|(name, e)| DirEntry {
            name: name.to_owned(),
            ..e
        }));
        out
    }

    /// The current index set, if anything was published.
    pub fn current_set(&self) -> Option<Arc<IndexSetView>> {
        self.serve.read().expect("lock").sets.first().cloned()
    }

    /// Forgets file entries gone for longer than the grace period.
    pub fn purge_gone(&self, grace: Duration) {
        let mut view = self.serve.write().expect("lock");
        view.files
            .retain(|_, f| f.gone_at.is_none_or(|t| t.elapsed() < grace));
    }
}

/// How long a read of a loaded repository waits for its refresh before it
/// is answered from the generation in memory.
pub const READ_WAIT: Duration = Duration::from_millis(50);

/// All repositories this instance has seen, by id and by (provider, name).
pub struct Repos {
    db: Db,
    ttl: Duration,
    grace: Duration,
    by_name: RwLock<HashMap<(String, String), Arc<RepoState>>>,
}

impl Repos {
    pub fn new(db: Db, ttl: Duration, grace: Duration) -> Self {
        Repos {
            db,
            ttl,
            grace,
            by_name: RwLock::default(),
        }
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The state of an existing repository, refreshed if older than the TTL.
    /// Once a repository is loaded, a read never waits on the database for
    /// longer than [`READ_WAIT`]: a slow or failing refresh goes on in the
    /// background while the last complete generation is served.
    pub async fn get(
        self: &Arc<Self>,
        provider: &str,
        name: &str,
    ) -> Result<Option<Arc<RepoState>>> {
        let cached = self
            .by_name
            .read()
            .expect("lock")
            .get(&(provider.to_owned(), name.to_owned()))
            .cloned();
        let state = match cached {
            Some(s) => s,
            None => match self.db.find_repo(provider, name).await? {
                Some(row) => self.insert(&row),
                None => return Ok(None),
            },
        };
        if !state.is_fresh(self.ttl) {
            if !state.is_loaded() {
                self.refresh(&state).await?;
            } else {
                let (this, bg) = (self.clone(), state.clone());
                let refresh = tokio::spawn(async move {
                    if let Err(e) = this.refresh(&bg).await {
                        tracing::warn!(repo = bg.info.id, error = %e, "refresh failed; serving the last generation");
                        // Try again after a TTL, not on every read: a
                        // database that is down is not asked once per request.
                        bg.serve.write().expect("lock").checked_at = Some(Instant::now());
                    }
                });
                let _ = tokio::time::timeout(READ_WAIT, refresh).await;
            }
        }
        Ok(Some(state))
    }

    /// The state for a repository row (e.g. one just created).
    pub fn insert(&self, row: &repo::Model) -> Arc<RepoState> {
        self.by_name
            .write()
            .expect("lock")
            .entry((row.provider.clone(), row.name.clone()))
            .or_insert_with(|| Arc::new(RepoState::new(row)))
            .clone()
    }

    /// Every repository state this instance holds.
    pub fn all(&self) -> Vec<Arc<RepoState>> {
        self.by_name
            .read()
            .expect("lock")
            .values()
            .cloned()
            .collect()
    }

    /// Re-reads the repository's generation; on change, loads the live index
    /// sets and the package changes they cover.
    pub async fn refresh(&self, state: &RepoState) -> Result<()> {
        // Once something was loaded, a reader never waits behind a refresh or
        // a publish on this instance: it serves the set it has, which is
        // complete, and whoever holds the lock brings it up to date.
        let _guard = if state.is_loaded() {
            match state.refresh_lock.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(()),
            }
        } else {
            state.refresh_lock.lock().await
        };
        if state.is_fresh(self.ttl) {
            return Ok(());
        }
        let row = self.db.repo_by_id(state.info.id).await?;
        self.reload(state, &row).await
    }

    /// Makes `state` serve `generation` or a newer one, which the database
    /// already holds (an upload's publication, maybe by another instance).
    /// Waits for a refresh or publish running here rather than skipping it.
    pub async fn catch_up(&self, state: &RepoState, generation: i64) -> Result<()> {
        if state.generation() >= generation {
            return Ok(());
        }
        let _guard = state.refresh_lock.lock().await;
        if state.generation() >= generation {
            return Ok(());
        }
        let row = self.db.repo_by_id(state.info.id).await?;
        self.reload(state, &row).await
    }

    /// Brings `state` up to the published generation in `row`. The caller
    /// holds `state.refresh_lock`.
    pub async fn reload(&self, state: &RepoState, row: &repo::Model) -> Result<()> {
        if state.generation() != row.generation {
            state.apply_changes(&self.db, row.published_seq).await?;
            // Keep the sets already loaded that are still live; read only the
            // manifests of newer ones.
            let live = self.db.live_generations(state.info.id, self.grace).await?;
            let old: Vec<Arc<IndexSetView>> = state.serve.read().expect("lock").sets.clone();
            let newest_held = old.first().map_or(0, |s| s.generation);
            let mut sets: Vec<Arc<IndexSetView>> = self
                .db
                .live_index_sets(state.info.id, self.grace, newest_held)
                .await?
                .iter()
                .filter(|r| r.generation <= row.generation)
                .map(|r| Arc::new(IndexSetView::from_row(r)))
                .collect();
            sets.extend(old.into_iter().filter(|s| live.contains(&s.generation)));
            state.set_published(row.generation, row.published_seq, sets);
        } else {
            state.serve.write().expect("lock").checked_at = Some(Instant::now());
        }
        state.purge_gone(self.grace);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(sha: &str) -> ManifestEntry {
        ManifestEntry::File {
            sha256: sha.into(),
            size: 1,
            content_type: "text/plain".into(),
            template: false,
            parts: Vec::new(),
        }
    }

    fn state() -> RepoState {
        RepoState::new(&repo::Model {
            id: 1,
            provider: "tar".into(),
            name: "r".into(),
            settings: "{}".into(),
            created_at: 0,
            change_seq: 0,
            published_seq: 0,
            generation: 0,
            current_set: None,
            lease_owner: None,
            lease_until: 0,
        })
    }

    #[test]
    fn newest_set_wins_and_older_sets_answer_what_it_dropped() {
        let s = state();
        let old = Manifest::from([("a".to_owned(), file("1")), ("b".to_owned(), file("2"))]);
        let new = Manifest::from([
            ("a".to_owned(), file("3")),
            (
                "c".to_owned(),
                ManifestEntry::Redirect {
                    redirect: "a".into(),
                },
            ),
        ]);
        let grace = Duration::from_secs(60);
        s.install_published(Arc::new(IndexSetView::from_manifest(1, old)), 1, grace);
        s.install_published(Arc::new(IndexSetView::from_manifest(2, new)), 2, grace);
        let sha_of = |path: &str| match s.lookup(path, grace) {
            Lookup::Index { set, path } => match &set.entries[&path] {
                IndexEntry::File { sha256, .. } => sha256.clone(),
                IndexEntry::Redirect(_) => unreachable!(),
            },
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(sha_of("a"), "3");
        assert_eq!(
            sha_of("b"),
            "2",
            "a path the new set dropped is served from the old one"
        );
        assert!(matches!(s.lookup("c", grace), Lookup::Redirect(t) if t == "a"));
        assert!(matches!(s.lookup("zzz", grace), Lookup::Missing));
        // An older generation never replaces a newer one, and sets older
        // than the grace period stop answering.
        s.install_published(
            Arc::new(IndexSetView::from_manifest(1, Manifest::new())),
            1,
            grace,
        );
        assert_eq!(s.generation(), 2);
        assert!(matches!(s.lookup("b", Duration::ZERO), Lookup::Missing));
        s.install_published(
            Arc::new(IndexSetView::from_manifest(3, Manifest::new())),
            3,
            Duration::ZERO,
        );
        assert!(matches!(s.lookup("b", grace), Lookup::Missing));
    }

    #[test]
    fn only_the_current_set_keeps_bytes_in_memory() {
        let s = state();
        let set = Arc::new(IndexSetView::from_manifest(
            1,
            Manifest::from([("a".to_owned(), file("1"))]),
        ));
        let IndexEntry::File { cached, .. } = &set.entries["a"] else {
            unreachable!()
        };
        cached.set(Bytes::from_static(b"x")).unwrap();
        let grace = Duration::from_secs(60);
        s.install_published(set, 1, grace);
        s.install_published(
            Arc::new(IndexSetView::from_manifest(2, Manifest::new())),
            2,
            grace,
        );
        let Lookup::Index { set, path } = s.lookup("a", Duration::from_secs(60)) else {
            panic!()
        };
        assert_eq!(set.generation, 1);
        let IndexEntry::File { cached, .. } = &set.entries[&path] else {
            unreachable!()
        };
        assert!(
            cached.get().is_none(),
            "a superseded set still holds its bytes"
        );
    }

    #[test]
    fn directories_list_the_current_set_and_live_files() {
        let s = state();
        let grace = Duration::from_secs(60);
        s.install_published(
            Arc::new(IndexSetView::from_manifest(
                1,
                Manifest::from([("dists/old/Release".to_owned(), file("0"))]),
            )),
            1,
            grace,
        );
        s.install_published(
            Arc::new(IndexSetView::from_manifest(
                2,
                Manifest::from([
                    ("dists/a/Release".to_owned(), file("1")),
                    (
                        "dists/a/main/binary-amd64/Packages.gz".to_owned(),
                        file("2"),
                    ),
                    ("pubkey".to_owned(), file("3")),
                    (
                        "x/latest".to_owned(),
                        ManifestEntry::Redirect {
                            redirect: "x/1/x.tar".into(),
                        },
                    ),
                ]),
            )),
            2,
            grace,
        );
        for (path, gone) in [
            ("pool/main/h/hello.deb", false),
            ("pool/main/h/old.deb", true),
        ] {
            s.serve.write().unwrap().files.insert(
                path.into(),
                FileEntry {
                    sha256: "9".into(),
                    size: 7,
                    content_type: "t".into(),
                    gone_at: gone.then(Instant::now),
                },
            );
        }
        let names = |dir: &str| {
            s.list_dir(dir)
                .into_iter()
                .map(|e| (e.name, e.kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(""),
            [
                ("dists".into(), EntryKind::Dir),
                ("pool".into(), EntryKind::Dir),
                ("x".into(), EntryKind::Dir),
                ("pubkey".into(), EntryKind::Index),
            ]
        );
        assert_eq!(
            names("dists/a/"),
            [
                ("main".into(), EntryKind::Dir),
                ("Release".into(), EntryKind::Index),
            ],
            "only the current set; superseded dists are not listed"
        );
        assert_eq!(names("dists/"), [("a".into(), EntryKind::Dir)]);
        assert_eq!(
            names("pool/main/h/"),
            [("hello.deb".into(), EntryKind::Package)]
        );
        assert_eq!(names("x/"), [("latest".into(), EntryKind::Redirect)]);
        assert!(names("nothing/").is_empty());
    }

    #[test]
    fn removed_files_stay_readable_for_the_grace_period() {
        let s = state();
        s.serve.write().unwrap().files.insert(
            "x".into(),
            FileEntry {
                sha256: "1".into(),
                size: 1,
                content_type: "t".into(),
                gone_at: Some(Instant::now()),
            },
        );
        assert!(matches!(
            s.lookup("x", Duration::from_secs(60)),
            Lookup::File(_)
        ));
        assert!(matches!(s.lookup("x", Duration::ZERO), Lookup::Missing));
        s.purge_gone(Duration::ZERO);
        assert!(s.serve.read().unwrap().files.is_empty());
    }
}
