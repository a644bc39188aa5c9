//! Each instance's in-memory copy of what repositories publish, so the read
//! path answers from memory: the current index set, the index files that
//! left it within the grace period (not the superseded sets themselves:
//! only what they served that the current one does not), the path → file
//! map of package files, and the package snapshot the publisher renders
//! from.
//!
//! The copy is refreshed from the database at most once per `cache_ttl`, and
//! incrementally: only package rows whose `seq` moved are read again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use artifactd_provider_api::{PackageRecord, RepoInfo};
use bytes::Bytes;
use serde::Serialize;

pub use crate::manifest::{
    Manifest, ManifestEntry, ManifestTree, PackageRef, SECTIONS_KEY, load_tree, package_entries,
    store_nodes,
};

use crate::db::Db;
use crate::db::entities::{index_set, repo};
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::tree::{NodeCache, NodeHash};

/// A published index set, ready to serve. Its tree shares every unchanged
/// node with the sets before and after it.
#[derive(Debug)]
pub struct IndexSetView {
    pub generation: i64,
    pub tree: ManifestTree,
    /// Bodies held in memory, by `sha256` of the entry; shared with the
    /// sets before and after this one, since most bodies stay.
    bodies: Arc<Mutex<Bodies>>,
}

/// The bodies a line of successive sets holds, kept for the newest.
#[derive(Debug, Default)]
struct Bodies {
    /// The newest set's: an older one reading adds nothing.
    generation: i64,
    map: HashMap<String, Arc<Body>>,
}

/// What this instance holds of one index file's bytes.
#[derive(Debug, Default)]
pub struct Body {
    /// A composite file's parts as this instance published them, until the
    /// first read joins them into `cached`.
    pub fresh_parts: OnceLock<Vec<Bytes>>,
    /// The bytes, once read (files up to `publish.memory_limit_bytes`).
    pub cached: OnceLock<Bytes>,
    /// Their gzip encoding, made on the first request that accepts it.
    pub gzip: OnceLock<Bytes>,
}

impl IndexSetView {
    pub fn new(generation: i64, tree: ManifestTree) -> Self {
        IndexSetView {
            generation,
            tree,
            bodies: Arc::new(Mutex::new(Bodies {
                generation,
                map: HashMap::new(),
            })),
        }
    }

    /// Makes this set, which supersedes `previous`, hold what `previous`
    /// held of the bodies it still serves, besides its own; the bodies of
    /// replaced entries go. Costs what differs between the two trees.
    pub fn inherit(&mut self, previous: &IndexSetView) {
        let mut shared = previous.bodies.lock().expect("lock");
        for (_, before, after) in previous.tree.diff(&self.tree) {
            if let Some(ManifestEntry::File { sha256: old, .. }) = before {
                let stays =
                    matches!(after, Some(ManifestEntry::File { sha256, .. }) if sha256 == old);
                if !stays {
                    shared.map.remove(old);
                }
            }
        }
        let own = std::mem::take(&mut self.bodies.lock().expect("lock").map);
        shared.map.extend(own);
        shared.generation = self.generation;
        drop(shared);
        self.bodies = previous.bodies.clone();
    }

    pub fn entry(&self, path: &str) -> Option<&ManifestEntry> {
        self.tree.get(path)
    }

    /// What is held of the body with this `sha256`, if anything.
    pub fn body(&self, sha256: &str) -> Option<Arc<Body>> {
        self.bodies.lock().expect("lock").map.get(sha256).cloned()
    }

    /// The holder for the body with this `sha256`, made if missing. Only
    /// for the current set.
    pub fn body_or_insert(&self, sha256: &str) -> Arc<Body> {
        let mut bodies = self.bodies.lock().expect("lock");
        if bodies.generation != self.generation {
            // Superseded since the caller looked: hold nothing for it.
            return bodies.map.get(sha256).cloned().unwrap_or_default();
        }
        bodies.map.entry(sha256.to_owned()).or_default().clone()
    }

    /// What `path` answers with in this set alone, package files included:
    /// how a snapshot is read.
    pub fn lookup_frozen(self: &Arc<Self>, path: &str) -> Lookup {
        match self.entry(path) {
            Some(ManifestEntry::File { .. }) => Lookup::Index {
                set: self.clone(),
                path: path.to_owned(),
            },
            Some(ManifestEntry::Redirect { redirect }) => Lookup::Redirect(redirect.clone()),
            Some(ManifestEntry::Blob {
                blob,
                size,
                content_type,
            }) => Lookup::File(FileEntry {
                sha256: blob.clone(),
                size: *size,
                content_type: content_type.clone(),
                gone_at: None,
            }),
            Some(ManifestEntry::Package { .. } | ManifestEntry::Sections { .. }) | None => {
                Lookup::Missing
            }
        }
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
    /// An index file that left the current set within the grace period.
    Departed(Arc<ManifestEntry>),
    File(FileEntry),
    Redirect(String),
    Missing,
}

#[derive(Debug, Default)]
struct ServeView {
    checked_at: Option<Instant>,
    generation: i64,
    published_seq: i64,
    current: Option<Arc<IndexSetView>>,
    /// Index files and redirects that superseded sets served and the
    /// current one does not, each as the newest set that left had it.
    departed: HashMap<String, Departed>,
    files: HashMap<String, FileEntry>,
}

/// An entry a superseded set served, kept for the grace period after the
/// publish that dropped it (`at`, ms since the epoch). A composite's part
/// list is held as binary digests (32 bytes a part instead of a ~90-byte
/// hex `String`): every set in the grace period leaves one per changed
/// composite, about a hundred parts each for an apt dist's Packages.
#[derive(Debug)]
struct Departed {
    /// The entry, without its parts when `parts` holds them.
    entry: Arc<ManifestEntry>,
    parts: Box<[[u8; 32]]>,
    at: i64,
}

impl Departed {
    fn new(entry: Arc<ManifestEntry>, at: i64) -> Departed {
        let packed = match &*entry {
            ManifestEntry::File { parts, .. } if !parts.is_empty() => parts
                .iter()
                .map(|p| {
                    let mut d = [0u8; 32];
                    hex::decode_to_slice(p, &mut d).ok().map(|()| d)
                })
                .collect::<Option<Vec<[u8; 32]>>>(),
            _ => None,
        };
        match packed {
            Some(parts) => {
                let mut bare = (*entry).clone();
                if let ManifestEntry::File { parts, .. } = &mut bare {
                    *parts = Vec::new();
                }
                Departed {
                    entry: Arc::new(bare),
                    parts: parts.into_boxed_slice(),
                    at,
                }
            }
            // Not a composite, or parts that are not digests: kept as is.
            None => Departed {
                entry,
                parts: Box::default(),
                at,
            },
        }
    }

    /// The entry as the superseded set had it.
    fn entry(&self) -> Arc<ManifestEntry> {
        if self.parts.is_empty() {
            return self.entry.clone();
        }
        let mut whole = (*self.entry).clone();
        if let ManifestEntry::File { parts, .. } = &mut whole {
            *parts = self.parts.iter().map(hex::encode).collect();
        }
        Arc::new(whole)
    }
}

/// What `old` served that `new` does not (`Some`), and what `new` serves
/// again (`None`), visiting only differing subtrees.
fn departures(old: &ManifestTree, new: &ManifestTree) -> Vec<(String, Option<Arc<ManifestEntry>>)> {
    let served = |e: Option<&ManifestEntry>| {
        matches!(
            e,
            Some(ManifestEntry::File { .. } | ManifestEntry::Redirect { .. })
        )
    };
    let mut out = Vec::new();
    for (path, before, after) in old.diff(new) {
        if served(after) {
            out.push((path.to_owned(), None));
        } else if let Some(entry) = before.filter(|e| served(Some(e))) {
            out.push((path.to_owned(), Some(Arc::new(entry.clone()))));
        }
    }
    out
}

impl ServeView {
    /// Applies [`departures`] of the publish at `at` (ms since the epoch).
    fn depart(&mut self, changes: Vec<(String, Option<Arc<ManifestEntry>>)>, at: i64) {
        for (path, entry) in changes {
            match entry {
                Some(entry) => {
                    self.departed.insert(path, Departed::new(entry, at));
                }
                None => {
                    self.departed.remove(&path);
                }
            }
        }
    }

    fn prune_departed(&mut self, grace: Duration) {
        let cutoff = crate::db::now_ms() - grace.as_millis() as i64;
        self.departed.retain(|_, d| d.at > cutoff);
    }
}

/// One package as a change to the snapshot left it: `before` absent for a
/// new package, `after` absent for a deleted one.
#[derive(Debug)]
pub struct PackageDelta {
    pub before: Option<PackageRecord>,
    pub after: Option<PackageRecord>,
}

/// Live packages, indexed by id, for the publisher.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub seq: i64,
    pub packages: Vec<PackageRecord>,
    index: HashMap<i64, usize>,
    /// How many live packages hold each file path (copies within a
    /// repository can share one, as apt's pool does).
    paths: HashMap<String, usize>,
    /// How many live packages each section holds.
    sections: std::collections::BTreeMap<String, usize>,
}

impl Snapshot {
    fn upsert(&mut self, p: PackageRecord) -> Option<PackageRecord> {
        self.count(&p, true);
        let old = match self.index.get(&p.id) {
            Some(&i) => Some(std::mem::replace(&mut self.packages[i], p)),
            None => {
                self.index.insert(p.id, self.packages.len());
                self.packages.push(p);
                None
            }
        };
        if let Some(old) = &old {
            self.count(old, false);
        }
        old
    }

    fn remove(&mut self, id: i64) -> Option<PackageRecord> {
        let i = self.index.remove(&id)?;
        let removed = self.packages.swap_remove(i);
        if let Some(moved) = self.packages.get(i) {
            self.index.insert(moved.id, i);
        }
        self.count(&removed, false);
        Some(removed)
    }

    fn count(&mut self, p: &PackageRecord, add: bool) {
        match add {
            true => *self.sections.entry(p.section.clone()).or_default() += 1,
            false => {
                if let Some(n) = self.sections.get_mut(&p.section) {
                    *n -= 1;
                    if *n == 0 {
                        self.sections.remove(&p.section);
                    }
                }
            }
        }
        for f in &p.files {
            match add {
                true => *self.paths.entry(f.path.clone()).or_default() += 1,
                false => {
                    if let Some(n) = self.paths.get_mut(&f.path) {
                        *n -= 1;
                        if *n == 0 {
                            self.paths.remove(&f.path);
                        }
                    }
                }
            }
        }
    }

    /// The sections live packages are in, sorted.
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }

    /// Whether a live package holds `path`.
    pub fn holds(&self, path: &str) -> bool {
        self.paths.contains_key(path)
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
    /// Decoded manifest-tree nodes, shared by every set loaded here.
    pub nodes: NodeCache<ManifestEntry>,
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
            nodes: NodeCache::default(),
        }
    }

    pub fn generation(&self) -> i64 {
        self.serve.read().expect("lock").generation
    }

    /// Finds what answers `path`: the current index set, else an index file
    /// a superseded set in its grace period served, else the package files.
    pub fn lookup(&self, path: &str, grace: Duration) -> Lookup {
        let view = self.serve.read().expect("lock");
        if let Some(set) = &view.current {
            match set.entry(path) {
                Some(ManifestEntry::Redirect { redirect }) => {
                    return Lookup::Redirect(redirect.clone());
                }
                Some(ManifestEntry::File { .. }) => {
                    return Lookup::Index {
                        set: set.clone(),
                        path: path.to_owned(),
                    };
                }
                // Package files answer from the file map, which knows
                // when they left.
                _ => {}
            }
        }
        let cutoff = crate::db::now_ms() - grace.as_millis() as i64;
        if let Some(d) = view.departed.get(path).filter(|d| d.at > cutoff) {
            return match &*d.entry {
                ManifestEntry::Redirect { redirect } => Lookup::Redirect(redirect.clone()),
                _ => Lookup::Departed(d.entry()),
            };
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
    /// and the file map, and returns them (before, after) with the seq the
    /// snapshot was at; with `deltas_wanted` false, none (a first load would
    /// otherwise hold every package twice). Caller holds `refresh_lock`.
    pub async fn apply_changes(
        &self,
        db: &Db,
        upto: i64,
        deltas_wanted: bool,
    ) -> Result<(i64, Vec<PackageDelta>)> {
        let after = self.snapshot.lock().expect("lock").seq;
        if upto <= after {
            return Ok((after, Vec::new()));
        }
        let mut deltas = Vec::new();
        let changes = db.package_changes(self.info.id, after, upto).await?;
        let mut snap = self.snapshot.lock().expect("lock");
        let mut view = self.serve.write().expect("lock");
        let now = Instant::now();
        for (record, deleted) in changes {
            // The paths a replaced package keeps (none when it is new: there
            // is nothing to mark, and a first load has every package new).
            let kept: Vec<String> = match !deleted && snap.index.contains_key(&record.id) {
                true => record.files.iter().map(|f| f.path.clone()).collect(),
                false => Vec::new(),
            };
            let (old, after) = if deleted {
                (snap.remove(record.id), None)
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
                match deltas_wanted {
                    true => (snap.upsert(record.clone()), Some(record)),
                    false => (snap.upsert(record), None),
                }
            };
            for f in old.iter().flat_map(|o| &o.files) {
                if !kept.contains(&f.path)
                    && !snap.holds(&f.path)
                    && let Some(entry) = view.files.get_mut(&f.path)
                {
                    entry.gone_at = Some(now);
                }
            }
            if deltas_wanted {
                deltas.push(PackageDelta { before: old, after });
            }
        }
        snap.seq = upto;
        Ok((after, deltas))
    }

    /// Installs a set this instance just published; what the set before
    /// it served and it does not stays served for the grace period.
    pub fn install_published(&self, mut set: IndexSetView, published_seq: i64, grace: Duration) {
        let mut view = self.serve.write().expect("lock");
        if set.generation <= view.generation {
            return;
        }
        if let Some(previous) = view.current.take() {
            view.depart(departures(&previous.tree, &set.tree), crate::db::now_ms());
            set.inherit(&previous);
        }
        view.generation = set.generation;
        view.published_seq = published_seq;
        view.current = Some(Arc::new(set));
        view.prune_departed(grace);
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
        let indices = view.current.iter().flat_map(|set| {
            set.tree.iter().filter_map(move |(path, e)| match e {
                ManifestEntry::File { size, .. } => Some((path, entry(EntryKind::Index, *size))),
                ManifestEntry::Redirect { .. } => Some((path, entry(EntryKind::Redirect, 0))),
                ManifestEntry::Blob { .. }
                | ManifestEntry::Package { .. }
                | ManifestEntry::Sections { .. } => None,
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
        self.serve.read().expect("lock").current.clone()
    }

    /// How many departed index files this instance serves.
    pub fn departed_count(&self) -> usize {
        self.serve.read().expect("lock").departed.len()
    }

    /// Forgets file entries and departed index files gone for longer than
    /// the grace period.
    pub fn purge_gone(&self, grace: Duration) {
        let mut view = self.serve.write().expect("lock");
        view.files
            .retain(|_, f| f.gone_at.is_none_or(|t| t.elapsed() < grace));
        view.prune_departed(grace);
    }
}

mod repos;
pub use repos::{READ_WAIT, Repos};

#[cfg(test)]
mod tests;
