//! A persistent, content-addressed map from paths to values: the manifest
//! of a published index set.
//!
//! Why: a flat manifest per publish costs O(paths) in time, database and
//! memory for every publish and every superseded set kept for its grace
//! period. Here a set is the hash of a root node; a change copies only the
//! nodes on the way to what changed, and every other node (decoded in
//! memory, stored once) is shared with the previous version.
//!
//! Shape: a B-tree ordered by key whose node boundaries come from the keys
//! alone (a "prolly tree"): an entry ends its leaf when the low
//! [`LEAF_BITS`] bits of its key's 64-bit hash are zero (32 entries per leaf
//! on average), and a node ends its parent when its last key's hash has
//! [`BRANCH_BITS`] more zero bits (16 children per branch). The shape
//! depends only on the keys, never on the order of changes, so equal
//! contents have equal root hashes: publishing the same manifest again
//! stores nothing new, and comparing two versions skips every leaf whose
//! hash is equal. Being ordered, paths that change together (a dist's
//! index files and their by-hash names, one project's pages) share leaves:
//! a publish writes a few nodes, not one per changed path.
//!
//! Trees stored before this shape (a hash trie, [`legacy`]) stay readable;
//! the first change to one rebuilds it in the new shape.
//!
//! The module knows nothing of storage: [`Tree::apply`] returns the nodes
//! it made (bytes and hash) for the caller to store, and [`Tree::load`]
//! takes a fetch function.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

mod apply;
mod codec;
mod legacy;

use codec::Encoded;

/// Low hash bits that must be zero for an entry to end a leaf.
pub const LEAF_BITS: u32 = 5;
/// Further zero bits for a node to end its parent, per level.
pub const BRANCH_BITS: u32 = 4;

/// The SHA-256 of a node's encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeHash(pub [u8; 32]);

impl NodeHash {
    pub fn of(bytes: &[u8]) -> Self {
        NodeHash(Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(NodeHash(out))
    }
}

impl fmt::Debug for NodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.hex()[..12])
    }
}

impl fmt::Display for NodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

#[derive(Debug)]
pub enum Node<V> {
    /// Entries sorted by key.
    Leaf(Vec<(String, V)>),
    /// Children in key order, each with the last key under it.
    Branch {
        /// Keys under this branch.
        count: usize,
        children: Vec<Child<V>>,
    },
    /// A branch of the hash trie trees were stored as before (16 slots by
    /// the nibbles of the key's hash); read only.
    Legacy {
        count: usize,
        children: Box<[Option<Ref<V>>; legacy::FANOUT]>,
    },
}

/// A child of a [`Node::Branch`].
#[derive(Debug)]
pub struct Child<V> {
    /// The greatest key under the child.
    pub last: String,
    pub node: Ref<V>,
}

impl<V> Clone for Child<V> {
    fn clone(&self) -> Self {
        Child {
            last: self.last.clone(),
            node: self.node.clone(),
        }
    }
}

impl<V> Node<V> {
    fn count(&self) -> usize {
        match self {
            Node::Leaf(e) => e.len(),
            Node::Branch { count, .. } | Node::Legacy { count, .. } => *count,
        }
    }

    /// The nodes directly below this one.
    fn children(&self) -> Box<dyn Iterator<Item = &Ref<V>> + '_> {
        match self {
            Node::Leaf(_) => Box::new(std::iter::empty()),
            Node::Branch { children, .. } => Box::new(children.iter().map(|c| &c.node)),
            Node::Legacy { children, .. } => Box::new(children.iter().flatten()),
        }
    }

    /// The greatest key in the node (None when empty or a legacy branch).
    fn last_key(&self) -> Option<&str> {
        match self {
            Node::Leaf(e) => e.last().map(|(k, _)| k.as_str()),
            Node::Branch { children, .. } => children.last().map(|c| c.last.as_str()),
            Node::Legacy { .. } => None,
        }
    }
}

/// A node and its hash.
#[derive(Debug)]
pub struct Ref<V> {
    pub hash: NodeHash,
    pub node: Arc<Node<V>>,
}

impl<V> Clone for Ref<V> {
    fn clone(&self) -> Self {
        Ref {
            hash: self.hash,
            node: self.node.clone(),
        }
    }
}

/// A node made by [`Tree::apply`], to be stored under its hash.
#[derive(Debug, Clone)]
pub struct NewNode {
    /// The SHA-256 of the node's JSON.
    pub hash: NodeHash,
    /// What to store: the JSON, zstd-compressed.
    pub bytes: Vec<u8>,
}

/// The content type stored nodes are written with.
pub const NODE_CONTENT_TYPE: &str = "application/zstd";

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("tree node {0} is not a valid node: {1}")]
    Corrupt(NodeHash, String),
    #[error("tree node {0} does not match its hash")]
    HashMismatch(NodeHash),
}

/// A key's 64-bit hash: fixed forever (stored trees depend on it), cheap
/// and well spread: FNV-1a with a final mix (SplitMix64's), written out
/// here so no library update can change it.
fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether the item whose last key is `key` ends a node of `height`
/// (0: a leaf). Every boundary of a height is one of the height below.
fn ends_node(key: &str, height: u32) -> bool {
    let bits = LEAF_BITS + BRANCH_BITS * height;
    bits < 64 && key_hash(key) & ((1u64 << bits) - 1) == 0
}

/// One immutable version of the map.
#[derive(Debug)]
pub struct Tree<V> {
    root: Ref<V>,
}

impl<V> Clone for Tree<V> {
    fn clone(&self) -> Self {
        Tree {
            root: self.root.clone(),
        }
    }
}

impl<V> Tree<V>
where
    V: Clone + PartialEq + Serialize + DeserializeOwned,
{
    /// The empty map (its root is stored like any other node).
    pub fn empty() -> (Self, NewNode) {
        let mut made = Vec::new();
        let root = codec::make(Node::Leaf(Vec::new()), &mut made);
        (Tree { root }, made.pop().expect("one node"))
    }

    pub fn root(&self) -> NodeHash {
        self.root.hash
    }

    pub fn len(&self) -> usize {
        self.root.node.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let mut node = &*self.root.node;
        let mut depth = 0;
        loop {
            match node {
                Node::Leaf(entries) => {
                    return entries
                        .binary_search_by(|(k, _)| k.as_str().cmp(key))
                        .ok()
                        .map(|i| &entries[i].1);
                }
                Node::Branch { children, .. } => {
                    let i = children.partition_point(|c| c.last.as_str() < key);
                    node = &children.get(i)?.node.node;
                }
                Node::Legacy { children, .. } => {
                    node = &children[legacy::slot(key_hash(key), depth)].as_ref()?.node;
                }
            }
            depth += 1;
        }
    }

    /// Every entry, in key order (legacy trees: in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        let mut stack = vec![&*self.root.node];
        let mut leaf: std::slice::Iter<'_, (String, V)> = [].iter();
        std::iter::from_fn(move || {
            loop {
                if let Some((k, v)) = leaf.next() {
                    return Some((k.as_str(), v));
                }
                match stack.pop()? {
                    Node::Leaf(entries) => leaf = entries.iter(),
                    // Pushed last first, so the first child is popped first.
                    n => stack.extend(
                        n.children()
                            .map(|c| &*c.node)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev(),
                    ),
                }
            }
        })
    }

    /// A new version with `changes` applied (`None` removes the key), and
    /// the nodes it made, to store. Unchanged subtrees are shared, not
    /// copied; a change that changes nothing makes no node.
    pub fn apply(&self, changes: Vec<(String, Option<V>)>) -> (Self, Vec<NewNode>) {
        // The last change of a key wins; changes to what is already there
        // are none.
        let mut seen = HashSet::new();
        let mut changes: Vec<(String, Option<V>)> = changes
            .into_iter()
            .rev()
            .filter(|(k, _)| seen.insert(k.clone()))
            .filter(|(k, v)| self.get(k) != v.as_ref())
            .collect();
        if changes.is_empty() {
            return (self.clone(), Vec::new());
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut made = Vec::new();
        let root = match legacy::is_legacy(&self.root.node) {
            true => {
                let mut all: std::collections::BTreeMap<String, V> = self
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect();
                for (k, v) in changes {
                    match v {
                        Some(v) => all.insert(k, v),
                        None => all.remove(&k),
                    };
                }
                apply::build_fresh(all.into_iter().collect(), &mut made)
            }
            false => apply::apply(&self.root, changes, &mut made),
        };
        let mut unique = HashSet::new();
        made.retain(|n| unique.insert(n.hash));
        (Tree { root }, made)
    }

    /// The changes that turn `self` into `other`: `(key, old, new)` in key
    /// order, skipping every leaf the two versions share.
    pub fn diff<'a>(&'a self, other: &'a Tree<V>) -> Vec<(&'a str, Option<&'a V>, Option<&'a V>)> {
        apply::diff(&self.root, &other.root)
    }

    /// The hash of every node of this version.
    pub fn node_hashes(&self) -> HashSet<NodeHash> {
        let mut out = HashSet::new();
        self.visit_nodes(&mut |h, _| out.insert(h));
        out
    }

    /// Calls `f` with every node, parents first; a node for which `f`
    /// returns false is not descended into (e.g. already seen in another
    /// version: versions share subtrees).
    pub fn visit_nodes(&self, f: &mut impl FnMut(NodeHash, &Node<V>) -> bool) {
        let mut stack = vec![&self.root];
        while let Some(r) = stack.pop() {
            if f(r.hash, &r.node) {
                stack.extend(r.node.children());
            }
        }
    }

    /// Reads the version whose root is `root`, fetching only the nodes
    /// `cache` does not hold (those shared with versions already loaded are
    /// reused, decoded once). Each fetched node is checked against its hash.
    pub async fn load<F, Fut, E>(root: NodeHash, cache: &NodeCache<V>, fetch: F) -> Result<Self, E>
    where
        F: Fn(NodeHash) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, E>>,
        E: From<TreeError>,
    {
        use futures_util::{StreamExt, TryStreamExt};
        if let Some(node) = cache.get(&root) {
            return Ok(Tree {
                root: Ref { hash: root, node },
            });
        }
        // Fetch level by level, then build bottom-up.
        let mut decoded: HashMap<NodeHash, Encoded<V>> = HashMap::new();
        let mut wanted = vec![root];
        while !wanted.is_empty() {
            let got: Vec<(NodeHash, Vec<u8>)> = futures_util::stream::iter(wanted)
                .map(|h| {
                    let f = fetch(h);
                    async move { f.await.map(|b| (h, b)) }
                })
                .buffer_unordered(16)
                .try_collect()
                .await?;
            wanted = Vec::new();
            for (h, bytes) in got {
                let json = codec::stored_json(h, &bytes)?;
                if NodeHash::of(&json) != h {
                    return Err(TreeError::HashMismatch(h).into());
                }
                let enc: Encoded<V> = serde_json::from_slice(&json)
                    .map_err(|e| TreeError::Corrupt(h, e.to_string()))?;
                for ch in enc.child_hashes(h)? {
                    if cache.get(&ch).is_none() && !decoded.contains_key(&ch) {
                        wanted.push(ch);
                    }
                }
                decoded.insert(h, enc);
            }
            wanted.sort();
            wanted.dedup();
        }
        let node = codec::build(root, &mut decoded, cache)?;
        Ok(Tree {
            root: Ref { hash: root, node },
        })
    }

    /// Adds this version's nodes to `cache`, so later loads share them.
    pub fn remember(&self, cache: &NodeCache<V>) {
        let mut map = cache.nodes.lock().expect("lock");
        let mut stack = vec![&self.root];
        while let Some(r) = stack.pop() {
            if map.get(&r.hash).is_some_and(|w| w.strong_count() > 0) {
                continue;
            }
            map.insert(r.hash, Arc::downgrade(&r.node));
            stack.extend(r.node.children());
        }
    }
}

/// Decoded nodes this instance holds, by hash, shared by every version
/// loaded from them. Weak: a node lives as long as some version uses it.
pub struct NodeCache<V> {
    nodes: Mutex<HashMap<NodeHash, Weak<Node<V>>>>,
    /// Entries left by the last sweep.
    after_prune: Mutex<usize>,
}

impl<V> Default for NodeCache<V> {
    fn default() -> Self {
        NodeCache {
            nodes: Mutex::default(),
            after_prune: Mutex::new(0),
        }
    }
}

impl<V> NodeCache<V> {
    pub fn get(&self, h: &NodeHash) -> Option<Arc<Node<V>>> {
        self.nodes.lock().expect("lock").get(h)?.upgrade()
    }

    /// Forgets nodes no version uses any more; amortised: it sweeps only
    /// once the map has grown by half since the last sweep.
    pub fn prune(&self) {
        let mut map = self.nodes.lock().expect("lock");
        let mut after = self.after_prune.lock().expect("lock");
        if map.len() < *after + *after / 2 + 64 {
            return;
        }
        map.retain(|_, w| w.strong_count() > 0);
        *after = map.len();
    }

    pub fn len(&self) -> usize {
        self.nodes.lock().expect("lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
