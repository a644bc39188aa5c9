//! A persistent, content-addressed map from paths to values: the manifest
//! of a published index set.
//!
//! Why: a flat manifest per publish costs O(paths) in time, database and
//! memory for every publish and every superseded set kept for its grace
//! period. Here a set is the hash of a root node; a change copies only the
//! nodes on the way to what changed, and every other node (decoded in
//! memory, stored once) is shared with the previous version.
//!
//! Shape: a hash trie of fanout 16. A key's place is the nibbles of a
//! 64-bit hash of the key; a node holding at most [`LEAF_MAX`] keys is a leaf
//! (its entries sorted by key), otherwise a branch of 16 children by the
//! next nibble. The shape depends only on the keys, never on the order of
//! changes, so equal contents have equal root hashes: publishing the same
//! manifest again stores nothing new, and comparing two versions skips
//! every subtree whose hash is equal.
//!
//! The module knows nothing of storage: [`Tree::apply`] returns the nodes
//! it made (bytes and hash) for the caller to store, and [`Tree::load`]
//! takes a fetch function.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Keys a node holds before it splits into a branch.
pub const LEAF_MAX: usize = 32;
const FANOUT: usize = 16;
/// Past this depth (the 16 nibbles of a key's place) keys cannot be told
/// apart; a leaf there holds them all, however many.
const MAX_DEPTH: usize = 16;

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
    Branch {
        /// Keys under this branch.
        count: usize,
        children: Box<[Option<Ref<V>>; FANOUT]>,
    },
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

/// How nodes are written: leaves as `{"l": [[key, value], ...]}`, branches
/// as `{"n": count, "c": [hex or null; 16]}`.
#[derive(Serialize, Deserialize)]
enum Encoded<V> {
    #[serde(rename = "l")]
    Leaf(Vec<(String, V)>),
    #[serde(rename = "b")]
    Branch { n: usize, c: Vec<Option<String>> },
}

/// A node made by [`Tree::apply`], to be stored under its hash.
#[derive(Debug, Clone)]
pub struct NewNode {
    pub hash: NodeHash,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("tree node {0} is not a valid node: {1}")]
    Corrupt(NodeHash, String),
    #[error("tree node {0} does not match its hash")]
    HashMismatch(NodeHash),
}

/// Where a key goes at `depth`: nibble `depth` of the key's place.
fn slot(place: &KeyPlace, depth: usize) -> usize {
    ((place >> (60 - 4 * depth)) & 0xf) as usize
}

/// A key's place in the trie: a 64-bit hash, fixed forever (stored trees
/// depend on it), cheap (every lookup computes one) and well spread: FNV-1a
/// with a final mix (SplitMix64's), written out here so no library update
/// can change it.
type KeyPlace = u64;

fn key_hash(key: &str) -> KeyPlace {
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
        let root = make(Node::Leaf(Vec::new()), &mut made);
        (Tree { root }, made.pop().expect("one node"))
    }

    pub fn root(&self) -> NodeHash {
        self.root.hash
    }

    pub fn len(&self) -> usize {
        count(&self.root.node)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let h = key_hash(key);
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
                Node::Branch { children, .. } => match &children[slot(&h, depth)] {
                    Some(child) => {
                        node = &child.node;
                        depth += 1;
                    }
                    None => return None,
                },
            }
        }
    }

    /// Every entry, in no particular order.
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
                    Node::Branch { children, .. } => {
                        stack.extend(children.iter().flatten().map(|c| &*c.node))
                    }
                }
            }
        })
    }

    /// A new version with `changes` applied (`None` removes the key), and
    /// the nodes it made, to store. Unchanged
    /// subtrees are shared, not copied.
    pub fn apply(&self, changes: Vec<(String, Option<V>)>) -> (Self, Vec<NewNode>) {
        let mut changes: Vec<(KeyPlace, String, Option<V>)> = changes
            .into_iter()
            .map(|(k, v)| (key_hash(&k), k, v))
            .collect();
        // The last change of a key wins.
        changes.reverse();
        let mut seen = HashSet::new();
        changes.retain(|(_, k, _)| seen.insert(k.clone()));
        let mut made = Vec::new();
        let root = apply_at(&self.root, changes, 0, &mut made);
        // Only nodes on the paths to changes are made; one equal to a node
        // stored before is stored again harmlessly (same key, same bytes).
        let mut unique = HashSet::new();
        made.retain(|n| unique.insert(n.hash));
        (Tree { root }, made)
    }

    /// The changes that turn `self` into `other`: `(key, old, new)`,
    /// visiting only subtrees whose hashes differ.
    pub fn diff<'a>(&'a self, other: &'a Tree<V>) -> Vec<(&'a str, Option<&'a V>, Option<&'a V>)> {
        let mut out = Vec::new();
        diff_nodes(Some(&self.root), Some(&other.root), &mut out);
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
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
            if !f(r.hash, &r.node) {
                continue;
            }
            if let Node::Branch { children, .. } = &*r.node {
                stack.extend(children.iter().flatten());
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
                if NodeHash::of(&bytes) != h {
                    return Err(TreeError::HashMismatch(h).into());
                }
                let enc: Encoded<V> = serde_json::from_slice(&bytes)
                    .map_err(|e| TreeError::Corrupt(h, e.to_string()))?;
                if let Encoded::Branch { c, .. } = &enc {
                    for child in c.iter().flatten() {
                        let ch = NodeHash::parse(child)
                            .ok_or_else(|| TreeError::Corrupt(h, format!("bad child {child}")))?;
                        if cache.get(&ch).is_none() && !decoded.contains_key(&ch) {
                            wanted.push(ch);
                        }
                    }
                }
                decoded.insert(h, enc);
            }
            wanted.sort();
            wanted.dedup();
        }
        let node = build(root, &mut decoded, cache)?;
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
            if let Node::Branch { children, .. } = &*r.node {
                stack.extend(children.iter().flatten());
            }
        }
    }
}

fn build<V: DeserializeOwned>(
    h: NodeHash,
    decoded: &mut HashMap<NodeHash, Encoded<V>>,
    cache: &NodeCache<V>,
) -> Result<Arc<Node<V>>, TreeError> {
    if let Some(n) = cache.get(&h) {
        return Ok(n);
    }
    let enc = decoded
        .remove(&h)
        .ok_or_else(|| TreeError::Corrupt(h, "node used twice or missing".into()))?;
    let node = match enc {
        Encoded::Leaf(entries) => Node::Leaf(entries),
        Encoded::Branch { n, c } => {
            if c.len() != FANOUT {
                return Err(TreeError::Corrupt(h, "branch without 16 slots".into()));
            }
            let mut children: [Option<Ref<V>>; FANOUT] = Default::default();
            for (slot, child) in c.iter().enumerate() {
                if let Some(ch) = child {
                    let ch = NodeHash::parse(ch).expect("checked while fetching");
                    children[slot] = Some(Ref {
                        hash: ch,
                        node: build(ch, decoded, cache)?,
                    });
                }
            }
            Node::Branch {
                count: n,
                children: Box::new(children),
            }
        }
    };
    let node = Arc::new(node);
    cache
        .nodes
        .lock()
        .expect("lock")
        .insert(h, Arc::downgrade(&node));
    Ok(node)
}

fn count<V>(node: &Node<V>) -> usize {
    match node {
        Node::Leaf(e) => e.len(),
        Node::Branch { count, .. } => *count,
    }
}

/// Hashes and records a new node.
fn make<V: Serialize>(node: Node<V>, made: &mut Vec<NewNode>) -> Ref<V> {
    let enc: EncodedRef<'_, V> = match &node {
        Node::Leaf(entries) => EncodedRef::Leaf(entries),
        Node::Branch { count, children } => EncodedRef::Branch {
            n: *count,
            c: children
                .iter()
                .map(|c| c.as_ref().map(|c| c.hash.hex()))
                .collect(),
        },
    };
    let bytes = serde_json::to_vec(&enc).expect("nodes serialise");
    let hash = NodeHash::of(&bytes);
    made.push(NewNode { hash, bytes });
    Ref {
        hash,
        node: Arc::new(node),
    }
}

/// [`Encoded`] borrowing, for writing.
#[derive(Serialize)]
enum EncodedRef<'a, V> {
    #[serde(rename = "l")]
    Leaf(&'a Vec<(String, V)>),
    #[serde(rename = "b")]
    Branch { n: usize, c: Vec<Option<String>> },
}

type Change<V> = (KeyPlace, String, Option<V>);

fn apply_at<V>(
    at: &Ref<V>,
    changes: Vec<Change<V>>,
    depth: usize,
    made: &mut Vec<NewNode>,
) -> Ref<V>
where
    V: Clone + PartialEq + Serialize,
{
    if changes.is_empty() {
        return at.clone();
    }
    match &*at.node {
        Node::Leaf(entries) => {
            let mut map: std::collections::BTreeMap<String, V> = entries.iter().cloned().collect();
            let mut changed = false;
            for (_, k, v) in changes {
                match v {
                    Some(v) => {
                        if map.get(&k) != Some(&v) {
                            changed = true;
                            map.insert(k, v);
                        }
                    }
                    None => changed |= map.remove(&k).is_some(),
                }
            }
            if !changed {
                return at.clone();
            }
            build_fresh(map.into_iter().collect(), depth, made)
        }
        Node::Branch { children, .. } => {
            let mut groups: Vec<Vec<Change<V>>> = (0..FANOUT).map(|_| Vec::new()).collect();
            for c in changes {
                groups[slot(&c.0, depth)].push(c);
            }
            let mut next: [Option<Ref<V>>; FANOUT] = Default::default();
            let mut changed = false;
            for (i, group) in groups.into_iter().enumerate() {
                let old = &children[i];
                next[i] = if group.is_empty() {
                    old.clone()
                } else {
                    let base = old.clone().unwrap_or_else(|| empty_leaf());
                    let r = apply_at(&base, group, depth + 1, made);
                    let r = (count(&r.node) > 0).then_some(r);
                    changed |= r.as_ref().map(|r| r.hash) != old.as_ref().map(|o| o.hash);
                    r
                };
            }
            if !changed {
                return at.clone();
            }
            let total: usize = next.iter().flatten().map(|c| count(&c.node)).sum();
            if total <= LEAF_MAX {
                // Collapse: a branch never holds few enough keys for a leaf.
                let mut entries = Vec::with_capacity(total);
                for c in next.iter().flatten() {
                    collect(&c.node, &mut entries);
                }
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                return make(Node::Leaf(entries), made);
            }
            make(
                Node::Branch {
                    count: total,
                    children: Box::new(next),
                },
                made,
            )
        }
    }
}

fn empty_leaf<V>() -> Ref<V> {
    // Never stored: only a starting point for apply_at.
    Ref {
        hash: NodeHash([0; 32]),
        node: Arc::new(Node::Leaf(Vec::new())),
    }
}

fn collect<V: Clone>(node: &Node<V>, out: &mut Vec<(String, V)>) {
    match node {
        Node::Leaf(e) => out.extend(e.iter().cloned()),
        Node::Branch { children, .. } => {
            for c in children.iter().flatten() {
                collect(&c.node, out);
            }
        }
    }
}

/// The canonical subtree at `depth` for `entries` (sorted by key).
fn build_fresh<V>(entries: Vec<(String, V)>, depth: usize, made: &mut Vec<NewNode>) -> Ref<V>
where
    V: Clone + PartialEq + Serialize,
{
    if entries.len() <= LEAF_MAX || depth >= MAX_DEPTH {
        return make(Node::Leaf(entries), made);
    }
    let total = entries.len();
    let mut groups: Vec<Vec<(String, V)>> = (0..FANOUT).map(|_| Vec::new()).collect();
    for (k, v) in entries {
        let h = key_hash(&k);
        groups[slot(&h, depth)].push((k, v));
    }
    let mut children: [Option<Ref<V>>; FANOUT] = Default::default();
    for (i, g) in groups.into_iter().enumerate() {
        if !g.is_empty() {
            children[i] = Some(build_fresh(g, depth + 1, made));
        }
    }
    make(
        Node::Branch {
            count: total,
            children: Box::new(children),
        },
        made,
    )
}

fn diff_nodes<'a, V: PartialEq>(
    a: Option<&'a Ref<V>>,
    b: Option<&'a Ref<V>>,
    out: &mut Vec<(&'a str, Option<&'a V>, Option<&'a V>)>,
) {
    match (a, b) {
        (None, None) => {}
        (Some(a), Some(b)) if a.hash == b.hash => {}
        (Some(a), Some(b)) => match (&*a.node, &*b.node) {
            (Node::Branch { children: ca, .. }, Node::Branch { children: cb, .. }) => {
                for (x, y) in ca.iter().zip(cb.iter()) {
                    diff_nodes(x.as_ref(), y.as_ref(), out);
                }
            }
            _ => diff_entries(entries_of(&a.node), entries_of(&b.node), out),
        },
        (Some(a), None) => diff_entries(entries_of(&a.node), Vec::new(), out),
        (None, Some(b)) => diff_entries(Vec::new(), entries_of(&b.node), out),
    }
}

fn entries_of<V>(node: &Node<V>) -> Vec<(&str, &V)> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        match n {
            Node::Leaf(e) => out.extend(e.iter().map(|(k, v)| (k.as_str(), v))),
            Node::Branch { children, .. } => {
                stack.extend(children.iter().flatten().map(|c| &*c.node))
            }
        }
    }
    out
}

fn diff_entries<'a, V: PartialEq>(
    a: Vec<(&'a str, &'a V)>,
    b: Vec<(&'a str, &'a V)>,
    out: &mut Vec<(&'a str, Option<&'a V>, Option<&'a V>)>,
) {
    let a: HashMap<&str, &V> = a.into_iter().collect();
    let b: HashMap<&str, &V> = b.into_iter().collect();
    for (k, va) in &a {
        match b.get(k) {
            Some(vb) if vb == va => {}
            other => out.push((k, Some(va), other.copied())),
        }
    }
    for (k, vb) in &b {
        if !a.contains_key(k) {
            out.push((k, None, Some(vb)));
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
