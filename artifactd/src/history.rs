//! Repository history: snapshots (a name for the root of a published index
//! set, frozen), channels (a movable name for a snapshot), diffs between
//! them, and the frozen views `/repo/<provider>/<repo>@<name>/...` serves.
//!
//! A snapshot copies nothing: an index set's manifest tree already records
//! every index file, package file and package it published, so the root
//! hash is the whole state. Its objects stay as long as the snapshot does
//! (garbage collection marks snapshot roots like live sets).

mod dating;

pub use dating::Made;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::entities::{channel, snapshot};
use crate::db::{Db, Expect};
use crate::error::{Error, Result};
use crate::publish::{Publisher, WaitOutcome};
use crate::state::{
    IndexSetView, Lookup, ManifestEntry, ManifestTree, PackageRef, RepoState, Repos,
};
use crate::storage::Storage;

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub name: String,
    pub description: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub created_by: String,
    /// The manifest-tree root it freezes.
    pub root: String,
    /// The generation of the index set it froze.
    pub generation: i64,
    pub packages: i64,
    /// Where clients read it.
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelInfo {
    pub name: String,
    pub snapshot: String,
    pub previous: Option<String>,
    pub updated_at: i64,
    pub updated_by: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PackageId {
    pub name: String,
    pub version: String,
    pub section: String,
    pub variant: String,
}

impl From<&PackageRef> for PackageId {
    fn from(p: &PackageRef) -> Self {
        PackageId {
            name: p.name.clone(),
            version: p.version.clone(),
            section: p.section.clone(),
            variant: p.variant.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub from: PackageId,
    pub to: PackageId,
}

/// Packages added, removed and changed (same identity, new content)
/// between two states.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub from: String,
    /// `None`: the live repository.
    pub to: Option<String>,
    pub added: Vec<PackageId>,
    pub removed: Vec<PackageId>,
    pub changed: Vec<Changed>,
}

/// Checks a snapshot or channel name: the repository-name rule.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    if crate::upload::is_valid_name(name) {
        return Ok(());
    }
    Err(Error::bad_request(
        "invalid_name",
        format!(
            "{what} name {name:?} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ),
    ))
}

struct Cached {
    at: Instant,
    /// The roots `view` serves, the ref's own first.
    roots: Vec<String>,
    view: Arc<FrozenView>,
}

/// What `R@name` serves: the snapshot's set, and for a channel the
/// snapshots it pointed at within the grace period. A client that read a
/// channel's `InRelease` just before a promotion still finds the by-hash
/// files it names.
#[derive(Debug)]
pub struct FrozenView {
    /// The ref's own set first, then the channel's earlier ones, newest first.
    sets: Vec<Arc<IndexSetView>>,
    /// A channel's: what it serves dated at its last move.
    dating: Option<dating::Dating>,
}

impl FrozenView {
    /// When the channel it serves last moved; `None` for a snapshot.
    fn moved_at(&self) -> Option<i64> {
        self.dating.as_ref().map(|d| d.moved_at)
    }

    /// The set the ref names now.
    pub fn current(&self) -> &Arc<IndexSetView> {
        &self.sets[0]
    }

    /// What `path` answers with: from the current set, else from the
    /// earliest-left set that still has it.
    pub fn lookup(&self, path: &str) -> Lookup {
        for set in &self.sets {
            match set.lookup_frozen(path) {
                Lookup::Missing => continue,
                found => return found,
            }
        }
        Lookup::Missing
    }
}

pub struct History {
    db: Db,
    storage: Arc<dyn Storage>,
    repos: Arc<Repos>,
    publisher: Arc<Publisher>,
    /// How long a resolved `R@name` is reused before the database is asked
    /// again (channels move).
    ttl: Duration,
    views: Mutex<HashMap<(i64, String), Cached>>,
    /// Sets by (repository, root), shared by every ref that serves them
    /// (a channel moving back and forth reuses their cached bodies).
    sets: Mutex<HashMap<(i64, String), std::sync::Weak<IndexSetView>>>,
}

impl History {
    pub fn new(
        db: Db,
        storage: Arc<dyn Storage>,
        repos: Arc<Repos>,
        publisher: Arc<Publisher>,
        ttl: Duration,
    ) -> Self {
        History {
            db,
            storage,
            repos,
            publisher,
            ttl,
            views: Mutex::default(),
            sets: Mutex::default(),
        }
    }

    fn url(state: &RepoState, name: &str) -> String {
        format!("/repo/{}/{}@{name}/", state.info.provider, state.info.name)
    }

    fn snapshot_info(state: &RepoState, s: snapshot::Model) -> SnapshotInfo {
        SnapshotInfo {
            url: Self::url(state, &s.name),
            name: s.name,
            description: s.description,
            created_at: s.created_at,
            created_by: s.created_by,
            root: s.root,
            generation: s.generation,
            packages: s.packages,
        }
    }

    async fn channel_info(&self, state: &RepoState, c: channel::Model) -> Result<ChannelInfo> {
        let name_of = |id: i64| async move {
            Ok::<_, Error>(self.db.snapshot_by_id(id).await?.map(|s| s.name))
        };
        Ok(ChannelInfo {
            url: Self::url(state, &c.name),
            snapshot: name_of(c.snapshot_id).await?.unwrap_or_default(),
            previous: match c.previous_id {
                Some(id) => name_of(id).await?,
                None => None,
            },
            name: c.name,
            updated_at: c.updated_at,
            updated_by: c.updated_by,
        })
    }

    /// Freezes what the repository publishes now, after publishing what is
    /// committed: one row, whatever the repository's size.
    pub async fn create(
        &self,
        state: &Arc<RepoState>,
        name: &str,
        description: &str,
        by: &str,
    ) -> Result<SnapshotInfo> {
        validate_name("snapshot", name)?;
        if description.len() > 4096 {
            return Err(Error::bad_request(
                "invalid_description",
                "a description is at most 4096 bytes",
            ));
        }
        let row = self.db.repo_by_id(state.info.id).await?;
        if row.change_seq > row.published_seq {
            match self
                .publisher
                .publish_and_wait(state.clone(), row.change_seq)
                .await?
            {
                WaitOutcome::Published(_) => {}
                WaitOutcome::Failed(f) => {
                    return Err(Error::Unavailable(format!(
                        "the repository's pending changes could not be published: {}",
                        f.message
                    )));
                }
                WaitOutcome::TimedOut => {
                    return Err(Error::Unavailable(
                        "the repository's pending changes were not published in time".into(),
                    ));
                }
            }
        }
        let set = self
            .db
            .current_index_set(state.info.id)
            .await?
            .ok_or_else(|| {
                Error::conflict(
                    "nothing_published",
                    "the repository has published nothing to snapshot yet",
                )
            })?;
        let root = match &set.root {
            Some(r) => r.clone(),
            // A set from before manifest trees: its tree is stored now.
            None => self.repos.tree_of(state, &set).await?.root().hex(),
        };
        let snap = self
            .db
            .insert_snapshot(state.info.id, name, description, &set, &root, by)
            .await?;
        tracing::info!(repo = %format!("{}/{}", state.info.provider, state.info.name), snapshot = name, root = %root, "snapshot created");
        Ok(Self::snapshot_info(state, snap))
    }

    pub async fn list(&self, state: &RepoState) -> Result<Vec<SnapshotInfo>> {
        Ok(self
            .db
            .list_snapshots(state.info.id)
            .await?
            .into_iter()
            .map(|s| Self::snapshot_info(state, s))
            .collect())
    }

    async fn snapshot(&self, state: &RepoState, name: &str) -> Result<snapshot::Model> {
        self.db
            .snapshot_named(state.info.id, name)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "no_such_snapshot",
                    format!(
                        "{}/{} has no snapshot {name:?}",
                        state.info.provider, state.info.name
                    ),
                )
            })
    }

    pub async fn show(&self, state: &RepoState, name: &str) -> Result<SnapshotInfo> {
        Ok(Self::snapshot_info(
            state,
            self.snapshot(state, name).await?,
        ))
    }

    /// Deletes a snapshot; 409 while a channel points at it.
    pub async fn delete(&self, state: &RepoState, name: &str) -> Result<()> {
        if !self.db.delete_snapshot(state.info.id, name).await? {
            self.snapshot(state, name).await?;
        }
        self.forget(state, name);
        Ok(())
    }

    async fn tree_of_snapshot(
        &self,
        state: &RepoState,
        s: &snapshot::Model,
    ) -> Result<ManifestTree> {
        self.repos.load_root(state, &s.root).await
    }

    /// What changed from snapshot `from` to snapshot `to` (`None`: the live
    /// repository), visiting only the parts of the trees that differ.
    pub async fn diff(&self, state: &RepoState, from: &str, to: Option<&str>) -> Result<Diff> {
        let a = self
            .tree_of_snapshot(state, &self.snapshot(state, from).await?)
            .await?;
        let b = match to {
            Some(to) => {
                self.tree_of_snapshot(state, &self.snapshot(state, to).await?)
                    .await?
            }
            None => match self.db.current_index_set(state.info.id).await? {
                Some(set) => self.repos.tree_of(state, &set).await?,
                None => ManifestTree::empty().0,
            },
        };
        let mut diff = Diff {
            from: from.to_owned(),
            to: to.map(str::to_owned),
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        };
        let package = |e: Option<&ManifestEntry>| match e {
            Some(ManifestEntry::Package { package }) => Some(package.clone()),
            _ => None,
        };
        for (_, old, new) in a.diff(&b) {
            match (package(old), package(new)) {
                (None, Some(n)) => diff.added.push((&n).into()),
                (Some(o), None) => diff.removed.push((&o).into()),
                (Some(o), Some(n)) => diff.changed.push(Changed {
                    from: (&o).into(),
                    to: (&n).into(),
                }),
                (None, None) => {}
            }
        }
        diff.added.sort();
        diff.removed.sort();
        diff.changed.sort_by(|x, y| x.to.cmp(&y.to));
        Ok(diff)
    }

    /// Points channel `name` at snapshot `snapshot`, if it points where
    /// `expect` says (`None`: anywhere; `Some(None)`: nowhere yet).
    pub async fn set_channel(
        &self,
        state: &RepoState,
        name: &str,
        snapshot: &str,
        expect: Option<Option<&str>>,
        by: &str,
    ) -> Result<ChannelInfo> {
        validate_name("channel", name)?;
        let to = self.snapshot(state, snapshot).await?;
        let expect = match expect {
            None => Expect::Any,
            Some(None) => Expect::Absent,
            Some(Some(prev)) => match self.db.snapshot_named(state.info.id, prev).await? {
                Some(s) => Expect::Snapshot(s.id),
                None => {
                    return Err(Error::conflict(
                        "channel_moved",
                        format!("channel {name:?} cannot point at {prev:?}: no such snapshot"),
                    ));
                }
            },
        };
        let row = self
            .db
            .move_channel(state.info.id, name, &to, expect, by, self.repos.grace())
            .await?;
        self.forget(state, name);
        tracing::info!(repo = %format!("{}/{}", state.info.provider, state.info.name), channel = name, snapshot, "channel moved");
        self.channel_info(state, row).await
    }

    pub async fn channels(&self, state: &RepoState) -> Result<Vec<ChannelInfo>> {
        let mut out = Vec::new();
        for c in self.db.list_channels(state.info.id).await? {
            out.push(self.channel_info(state, c).await?);
        }
        Ok(out)
    }

    pub async fn channel(&self, state: &RepoState, name: &str) -> Result<ChannelInfo> {
        let c = self
            .db
            .channel_named(state.info.id, name)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "no_such_channel",
                    format!(
                        "{}/{} has no channel {name:?}",
                        state.info.provider, state.info.name
                    ),
                )
            })?;
        self.channel_info(state, c).await
    }

    pub async fn delete_channel(&self, state: &RepoState, name: &str) -> Result<()> {
        if !self.db.delete_channel(state.info.id, name).await? {
            self.channel(state, name).await?;
        }
        self.forget(state, name);
        Ok(())
    }

    fn forget(&self, state: &RepoState, name: &str) {
        self.views
            .lock()
            .expect("lock")
            .remove(&(state.info.id, name.to_owned()));
    }

    /// The frozen view `R@name` serves, reused for the cache TTL; `None` if
    /// there is no such snapshot or channel. When the database cannot be
    /// asked, the view last resolved keeps answering.
    pub async fn view(&self, state: &RepoState, name: &str) -> Result<Option<Arc<FrozenView>>> {
        let key = (state.info.id, name.to_owned());
        let stale = {
            let views = self.views.lock().expect("lock");
            match views.get(&key) {
                Some(c) if c.at.elapsed() < self.ttl => return Ok(Some(c.view.clone())),
                Some(c) => Some((c.roots.clone(), c.view.clone())),
                None => None,
            }
        };
        let resolved = match self
            .db
            .resolve_ref(state.info.id, name, self.repos.grace())
            .await
        {
            Ok(r) => r,
            Err(e) => match stale {
                Some((_, view)) => {
                    tracing::warn!(error = %e, "cannot resolve {name}; serving what it was");
                    return Ok(Some(view));
                }
                None => return Err(e),
            },
        };
        let Some(r) = resolved else {
            self.views.lock().expect("lock").remove(&key);
            return Ok(None);
        };
        let snapshots: Vec<&snapshot::Model> =
            std::iter::once(&r.snapshot).chain(&r.recent).collect();
        let roots: Vec<String> = snapshots.iter().map(|s| s.root.clone()).collect();
        let moved_at = r.channel.as_ref().map(|c| c.updated_at);
        let view = match stale {
            Some((old, view)) if old == roots && view.moved_at() == moved_at => view,
            _ => {
                let mut sets = Vec::with_capacity(snapshots.len());
                for s in snapshots {
                    sets.push(self.set_of(state, s).await?);
                }
                Arc::new(FrozenView {
                    sets,
                    dating: moved_at.map(dating::Dating::new),
                })
            }
        };
        self.views.lock().expect("lock").insert(
            key,
            Cached {
                at: Instant::now(),
                roots,
                view: view.clone(),
            },
        );
        Ok(Some(view))
    }

    /// The set of a snapshot, shared with every view serving its root.
    async fn set_of(&self, state: &RepoState, s: &snapshot::Model) -> Result<Arc<IndexSetView>> {
        let key = (state.info.id, s.root.clone());
        if let Some(set) = self
            .sets
            .lock()
            .expect("lock")
            .get(&key)
            .and_then(|w| w.upgrade())
        {
            return Ok(set);
        }
        let tree = self.tree_of_snapshot(state, s).await?;
        let set = Arc::new(IndexSetView::new(s.generation, tree));
        let mut sets = self.sets.lock().expect("lock");
        sets.retain(|_, w| w.strong_count() > 0);
        sets.insert(key, Arc::downgrade(&set));
        Ok(set)
    }
}
