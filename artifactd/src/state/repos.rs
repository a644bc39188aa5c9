//! The repositories an instance has seen, and how their published state
//! is loaded: a refresh at most once per TTL, reading only the sets
//! published since the one held and only the tree nodes not held yet.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::*;

/// How long a read of a loaded repository waits for its refresh before it
/// is answered from the generation in memory.
pub const READ_WAIT: Duration = Duration::from_millis(50);

/// All repositories this instance has seen, by id and by (provider, name).
pub struct Repos {
    db: Db,
    storage: Arc<dyn Storage>,
    ttl: Duration,
    grace: Duration,
    by_name: RwLock<HashMap<(String, String), Arc<RepoState>>>,
}

impl Repos {
    pub fn new(db: Db, storage: Arc<dyn Storage>, ttl: Duration, grace: Duration) -> Self {
        Repos {
            db,
            storage,
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
    /// holds `state.refresh_lock`. Sets published since the one held are
    /// read oldest first, each compared with the one before (only differing
    /// subtrees) to learn what left, and dropped: at most two trees are
    /// resident at a time, however many sets the grace period holds.
    pub async fn reload(&self, state: &RepoState, row: &repo::Model) -> Result<()> {
        if state.generation() != row.generation {
            state
                .apply_changes(&self.db, row.published_seq, false)
                .await?;
            let held = state.current_set();
            let newest_held = held.as_ref().map_or(0, |s| s.generation);
            let mut rows = self
                .db
                .live_index_sets(state.info.id, self.grace, newest_held)
                .await?;
            rows.retain(|r| r.generation <= row.generation);
            rows.reverse();
            let mut previous = held.map(|s| s.tree.clone());
            let mut departed = Vec::new();
            let mut newest = None;
            for r in &rows {
                let tree = self.tree_of(state, r).await?;
                if let Some(p) = &previous {
                    // `r` superseded `p` when it was published.
                    departed.push((departures(p, &tree), r.created_at));
                }
                previous = Some(tree.clone());
                newest = Some((r.generation, tree));
            }
            let mut view = state.serve.write().expect("lock");
            for (changes, at) in departed {
                view.depart(changes, at);
            }
            view.prune_departed(self.grace);
            if let Some((generation, tree)) = newest {
                let mut set = IndexSetView::new(generation, tree);
                if let Some(held) = &view.current {
                    set.inherit(held);
                }
                view.current = Some(Arc::new(set));
                view.generation = generation;
                view.published_seq = row.published_seq;
            }
            view.checked_at = Some(Instant::now());
        } else {
            state.serve.write().expect("lock").checked_at = Some(Instant::now());
        }
        state.purge_gone(self.grace);
        state.nodes.prune();
        Ok(())
    }

    /// The manifest tree whose root is `root` (hex), e.g. a snapshot's.
    pub async fn load_root(&self, state: &RepoState, root: &str) -> Result<ManifestTree> {
        let root = NodeHash::parse(root)
            .ok_or_else(|| Error::Internal(format!("bad manifest root {root:?}")))?;
        load_tree(self.storage.as_ref(), state.info.id, root, &state.nodes).await
    }

    /// The manifest tree of a stored set, reading only the nodes this
    /// instance does not hold yet.
    pub async fn tree_of(&self, state: &RepoState, row: &index_set::Model) -> Result<ManifestTree> {
        let repo_id = state.info.id;
        match row.root.as_deref() {
            Some(root) => {
                let root = NodeHash::parse(root).ok_or_else(|| {
                    Error::Internal(format!("index set {} has a bad root {root:?}", row.id))
                })?;
                load_tree(self.storage.as_ref(), repo_id, root, &state.nodes).await
            }
            None => {
                // Published before manifest trees: build one and store its
                // nodes, so the sets after it can share them.
                let manifest: Manifest = if row.manifest.is_empty() {
                    Manifest::new()
                } else {
                    serde_json::from_str(&row.manifest).map_err(|e| {
                        Error::Internal(format!("unreadable manifest of set {}: {e}", row.id))
                    })?
                };
                let (empty, first) = ManifestTree::empty();
                let (tree, mut made) =
                    empty.apply(manifest.into_iter().map(|(k, v)| (k, Some(v))).collect());
                made.push(first);
                store_nodes(self.storage.as_ref(), repo_id, made).await?;
                tree.remember(&state.nodes);
                Ok(tree)
            }
        }
    }
}
