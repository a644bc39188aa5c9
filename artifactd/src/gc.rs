//! Garbage collection of what nothing serves any more: a repository's index
//! objects (bodies, parts, tree nodes) and the package blobs every
//! repository shares.
//!
//! What keeps an object: a live package row, the current index set, a set
//! in its grace period, or a snapshot (channels point at snapshots). Both
//! collections are mark-and-sweep over those roots. Index objects of one
//! repository are written only under its publish lease, which their
//! collection holds too. Blobs are written by uploads on any instance, so
//! they are ordered by pins (`db::blobs`): an upload claims a blob before
//! it checks or stores it and releases the claim after its rows commit;
//! the collector dooms a blob (only if unclaimed), checks once more that
//! no live row names it, deletes it, and drops the pin. An upload that
//! finds its blob doomed waits and stores it again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::{Claim, Db, now_ms};
use crate::error::{Error, Result};
use crate::manifest::{ManifestEntry, ManifestTree};
use crate::state::{RepoState, Repos};
use crate::storage::{Storage, StorageKey};
use crate::tree::{Node, NodeHash};

/// What one collection of a repository's index objects removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Index sets past their grace period, deleted.
    pub sets: u64,
    /// Index objects no live set or snapshot referenced, deleted.
    pub files: usize,
    /// Database pages handed back to the file system afterwards.
    pub pages: u64,
}

/// What one sweep of package blobs did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Swept {
    /// Blobs in storage.
    pub stored: usize,
    /// Blobs something references.
    pub marked: usize,
    /// Blobs deleted.
    pub deleted: usize,
    /// Unreferenced blobs kept because an upload claimed them.
    pub claimed: usize,
}

/// How long an upload's claim on a blob lasts if it never releases it (its
/// instance died): longer than any upload takes to store its files.
pub const CLAIM_TTL: Duration = Duration::from_secs(6 * 3600);

/// A doom older than this belongs to a collector that died mid-way; the
/// next sweep finishes it.
const STALE_DOOM: Duration = Duration::from_secs(60);

/// How long an upload waits for the collector to finish deleting a blob it
/// is about to store again.
const DOOM_WAIT: Duration = Duration::from_secs(30);

/// What a publish dropped from the set before it: tree nodes, index
/// objects (bodies, parts) and package blobs that set referenced and the
/// new one does not (a superset is harmless: it keeps more for longer).
/// Stored as an index object named by the new set's row, so a collector
/// marks every set in the grace period from the current tree and these
/// lists, without reading superseded trees.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub nodes: Vec<String>,
    pub objects: Vec<String>,
    pub blobs: Vec<String>,
}

impl Dropped {
    /// What `old` references and `new` does not, visiting only the nodes
    /// and entries that differ.
    pub fn between(old: &ManifestTree, new: &ManifestTree) -> Dropped {
        let mut d = Dropped::default();
        let keep = new.node_hashes();
        old.visit_nodes(&mut |hash, _| {
            if keep.contains(&hash) {
                return false;
            }
            d.nodes.push(hash.hex());
            true
        });
        for (_, before, after) in old.diff(new) {
            match (before, after) {
                (Some(ManifestEntry::File { sha256, parts, .. }), after) => {
                    let (kept_sha, kept_parts): (Option<&str>, HashSet<&str>) = match after {
                        Some(ManifestEntry::File { sha256, parts, .. }) => (
                            Some(sha256.as_str()),
                            parts.iter().map(String::as_str).collect(),
                        ),
                        _ => (None, HashSet::new()),
                    };
                    if parts.is_empty() {
                        if kept_sha != Some(sha256.as_str()) {
                            d.objects.push(sha256.clone());
                        }
                    } else {
                        d.objects.extend(
                            parts
                                .iter()
                                .filter(|p| !kept_parts.contains(p.as_str()))
                                .cloned(),
                        );
                    }
                }
                (Some(ManifestEntry::Blob { blob, .. }), after) if !matches!(after, Some(ManifestEntry::Blob { blob: b, .. }) if b == blob) =>
                {
                    d.blobs.push(blob.clone());
                }
                _ => {}
            }
        }
        d
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.objects.is_empty() && self.blobs.is_empty()
    }
}

/// What keeps objects of one repository: index objects and package blobs.
#[derive(Debug, Default)]
struct RepoMarks {
    index: HashSet<String>,
    blobs: HashSet<String>,
}

impl RepoMarks {
    fn add(&mut self, hash: Option<NodeHash>, entry: Option<&ManifestEntry>) {
        match (hash, entry) {
            (Some(hash), _) => {
                self.index.insert(hash.hex());
            }
            // A composite's `sha256` names the whole, not an object.
            (None, Some(ManifestEntry::File { sha256, parts, .. })) if parts.is_empty() => {
                self.index.insert(sha256.clone());
            }
            (None, Some(ManifestEntry::File { parts, .. })) => {
                self.index.extend(parts.iter().cloned());
            }
            (None, Some(ManifestEntry::Blob { blob, .. })) => {
                self.blobs.insert(blob.clone());
            }
            _ => {}
        }
    }
}

pub struct Collector {
    db: Db,
    storage: Arc<dyn Storage>,
    repos: Arc<Repos>,
    owner: String,
    /// Dropped lists read so far, by (repository, object): immutable, and
    /// read again only if forgotten.
    dropped: Mutex<HashMap<(i64, String), Arc<Dropped>>>,
}

impl Collector {
    pub fn new(db: Db, storage: Arc<dyn Storage>, repos: Arc<Repos>, owner: String) -> Self {
        Collector {
            db,
            storage,
            repos,
            owner,
            dropped: Mutex::default(),
        }
    }

    /// Everything one repository's live sets and snapshots reference.
    ///
    /// Every object a set in the grace period references is in the current
    /// tree or was dropped by a later publish still in the period, so the
    /// current tree and the dropped lists of every live set but the oldest
    /// cover them all. Sets from before dropped lists existed are read
    /// whole instead, one tree at a time.
    async fn mark_repo(&self, state: &RepoState) -> Result<RepoMarks> {
        let id = state.info.id;
        let rows = self.db.live_index_sets(id, self.repos.grace(), 0).await?;
        let mut marks = RepoMarks::default();
        let mut seen = HashSet::new();
        let listed = rows.len() < 2 || rows[..rows.len() - 1].iter().all(|r| r.dropped.is_some());
        for (i, row) in rows.iter().enumerate() {
            if i == 0 || !listed {
                let tree = self.repos.tree_of(state, row).await?;
                visit_entries(&tree, &mut seen, &mut |h, e| marks.add(h, e));
            }
            let Some(list) = row.dropped.as_deref().filter(|d| !d.is_empty()) else {
                continue;
            };
            marks.index.insert(list.to_owned());
            if listed && i + 1 < rows.len() {
                let d = self.dropped_list(id, list).await?;
                marks
                    .index
                    .extend(d.nodes.iter().chain(&d.objects).cloned());
                marks.blobs.extend(d.blobs.iter().cloned());
            }
        }
        for root in self.db.snapshot_roots(id).await? {
            let tree = self.repos.load_root(state, &root).await?;
            visit_entries(&tree, &mut seen, &mut |h, e| marks.add(h, e));
        }
        // Forget lists of sets that expired.
        self.dropped
            .lock()
            .expect("lock")
            .retain(|(repo, list), _| *repo != id || marks.index.contains(list));
        Ok(marks)
    }

    async fn dropped_list(&self, repo_id: i64, list: &str) -> Result<Arc<Dropped>> {
        let key = (repo_id, list.to_owned());
        if let Some(d) = self.dropped.lock().expect("lock").get(&key) {
            return Ok(d.clone());
        }
        let bytes = crate::storage::read_all(
            self.storage.as_ref(),
            &StorageKey::Index {
                repo_id,
                sha256: list.to_owned(),
            },
        )
        .await?;
        let d: Arc<Dropped> = Arc::new(serde_json::from_slice(&bytes).map_err(|e| {
            Error::Internal(format!(
                "unreadable dropped list {list} of repository {repo_id}: {e}"
            ))
        })?);
        self.dropped.lock().expect("lock").insert(key, d.clone());
        Ok(d)
    }

    /// Removes expired index sets and the index objects (bodies, parts and
    /// tree nodes) no live set or snapshot references. The caller holds the
    /// repository's publish lease, so no publish is storing objects
    /// meanwhile. Sets share subtrees: each node is visited once.
    pub async fn collect_index(&self, state: &RepoState) -> Result<Collected> {
        let repo_id = state.info.id;
        let sets = self
            .db
            .expire_index_sets(repo_id, self.repos.grace())
            .await?;
        let referenced = self.mark_repo(state).await?.index;
        let prefix = StorageKey::index_prefix(repo_id);
        let mut removed = 0;
        for path in self.storage.list(&prefix).await? {
            let sha = &path[prefix.len()..];
            if !referenced.contains(sha) {
                self.storage
                    .delete(&StorageKey::Index {
                        repo_id,
                        sha256: sha.to_owned(),
                    })
                    .await?;
                removed += 1;
            }
        }
        let pages = if sets > 0 { self.reclaim().await } else { 0 };
        Ok(Collected {
            sets,
            files: removed,
            pages,
        })
    }

    /// The blobs something references now: live package rows, and the
    /// package files of every repository's live sets and snapshots (which
    /// keep deleted packages downloadable).
    pub async fn mark(&self) -> Result<HashSet<String>> {
        let mut marks: HashSet<String> = self.db.live_blobs().await?.into_iter().collect();
        for row in self.db.list_repos().await? {
            let state = self.repos.insert(&row);
            marks.extend(self.mark_repo(&state).await?.blobs);
        }
        Ok(marks)
    }

    /// Deletes every stored blob outside `marks` that no upload claims and
    /// no live row names by now.
    pub async fn sweep(&self, marks: &HashSet<String>) -> Result<Swept> {
        let mut swept = Swept {
            marked: marks.len(),
            ..Swept::default()
        };
        // Dooms a collector that died left behind: finish them first.
        let stale = now_ms() - STALE_DOOM.as_millis() as i64;
        for sha in self.db.stale_doomed_blobs(stale).await? {
            if !marks.contains(&sha) && !self.db.blob_is_live(&sha).await? {
                self.storage.delete(&StorageKey::blob(&sha)).await?;
                swept.deleted += 1;
            }
            self.db.forget_blob(&sha).await?;
        }
        let prefix = "blobs/sha256/";
        for path in self.storage.list(prefix).await? {
            let Some(sha) = path.rsplit('/').next().filter(|s| is_sha256(s)) else {
                continue;
            };
            swept.stored += 1;
            if marks.contains(sha) {
                continue;
            }
            if !self.db.doom_blob(sha, &self.owner).await? {
                swept.claimed += 1;
                continue;
            }
            // Committed since the mark (its claim was released already).
            if !self.db.blob_is_live(sha).await? {
                self.storage.delete(&StorageKey::blob(sha)).await?;
                swept.deleted += 1;
            }
            self.db.forget_blob(sha).await?;
        }
        self.db.prune_blob_claims().await?;
        if swept.deleted > 0 {
            self.reclaim().await;
        }
        Ok(swept)
    }

    /// Hands the database's free pages back after a collection; a failure
    /// (a busy database) only leaves them for the next one.
    async fn reclaim(&self) -> u64 {
        self.db.reclaim_free_pages().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot return free database pages");
            0
        })
    }

    /// One sweep of package blobs, if no instance swept in the last
    /// `interval` (`None` then).
    pub async fn sweep_blobs(&self, interval: Duration) -> Result<Option<Swept>> {
        if !self
            .db
            .try_sweep_lease(&self.owner, interval.as_secs().max(1))
            .await?
        {
            return Ok(None);
        }
        let marks = self.mark().await?;
        Ok(Some(self.sweep(&marks).await?))
    }
}

/// Calls `f` once per unseen node (`Some(hash)`) and once per entry of each
/// unseen leaf (`None`, entry).
fn visit_entries(
    tree: &ManifestTree,
    seen: &mut HashSet<NodeHash>,
    f: &mut impl FnMut(Option<NodeHash>, Option<&ManifestEntry>),
) {
    tree.visit_nodes(&mut |hash, node| {
        if !seen.insert(hash) {
            return false;
        }
        f(Some(hash), None);
        if let Node::Leaf(entries) = node {
            for (_, entry) in entries {
                f(None, Some(entry));
            }
        }
        true
    });
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An upload's claims on the blobs it is about to store or reuse: held
/// from before it looks at storage until its rows are committed.
pub struct Claims {
    holder: String,
    blobs: Vec<String>,
}

impl Claims {
    /// Claims every blob in `blobs`, waiting while the collector deletes
    /// one (the upload then stores it afresh).
    pub async fn take(db: &Db, blobs: Vec<String>) -> Result<Claims> {
        let holder = format!("u-{:016x}", rand::random::<u64>());
        let until = now_ms() + CLAIM_TTL.as_millis() as i64;
        for sha in &blobs {
            let started = std::time::Instant::now();
            while db.claim_blob(sha, &holder, until).await? == Claim::Doomed {
                if started.elapsed() > DOOM_WAIT {
                    return Err(Error::Unavailable(format!(
                        "blob {sha} is being garbage-collected; retry the upload"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(Claims { holder, blobs })
    }

    /// The claimed blobs and their holder, for [`Db::commit_upload`] to end
    /// the claims in the transaction that commits the rows.
    pub fn pins(&self) -> (&[String], &str) {
        (&self.blobs, &self.holder)
    }

    /// Ends the claims: the committed rows keep the blobs from now on (or
    /// the upload failed and nothing needs them).
    pub async fn release(self, db: &Db) -> Result<()> {
        db.release_blobs(&self.blobs, &self.holder).await
    }
}

#[cfg(test)]
mod tests;
