//! How nodes are written and read: leaves as `{"l": [[key, value], ...]}`,
//! branches as `{"p": {"n": count, "c": [[last key, hex], ...]}}`, and the
//! legacy trie's branches as `{"b": {"n": count, "c": [hex or null; 16]}}`.
//!
//! A node's hash is the SHA-256 of that JSON, and what is stored is the
//! JSON compressed with zstd: leaves repeat paths, hashes' hex and field
//! names, and shrink about fourfold, which is most of what a repository's
//! live tree and the nodes its superseded sets keep cost on disk. Hashing
//! the JSON, not the compressed bytes, keeps equal contents equal roots
//! whatever the compressor's version. Nodes stored uncompressed (before)
//! read as they are.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Child, NewNode, Node, NodeCache, NodeHash, Ref, TreeError, legacy};

#[derive(Deserialize)]
pub(super) enum Encoded<V> {
    #[serde(rename = "l")]
    Leaf(Vec<(String, V)>),
    #[serde(rename = "p")]
    Branch { n: usize, c: Vec<(String, String)> },
    #[serde(rename = "b")]
    Legacy { n: usize, c: Vec<Option<String>> },
}

/// [`Encoded`] borrowing, for writing (legacy branches are never written).
#[derive(Serialize)]
enum EncodedRef<'a, V> {
    #[serde(rename = "l")]
    Leaf(&'a Vec<(String, V)>),
    #[serde(rename = "p")]
    Branch { n: usize, c: Vec<(&'a str, String)> },
}

fn parse(of: NodeHash, hex: &str) -> Result<NodeHash, TreeError> {
    NodeHash::parse(hex).ok_or_else(|| TreeError::Corrupt(of, format!("bad child {hex}")))
}

impl<V> Encoded<V> {
    /// The children a node names (checked to be hashes).
    pub(super) fn child_hashes(&self, of: NodeHash) -> Result<Vec<NodeHash>, TreeError> {
        match self {
            Encoded::Leaf(_) => Ok(Vec::new()),
            Encoded::Branch { c, .. } => c.iter().map(|(_, h)| parse(of, h)).collect(),
            Encoded::Legacy { c, .. } => c.iter().flatten().map(|h| parse(of, h)).collect(),
        }
    }
}

/// Decodes the node `h` and, recursively, its children from `decoded`
/// (nodes `cache` holds are taken from it).
pub(super) fn build<V: DeserializeOwned>(
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
    let mut child = |hex: &str| -> Result<Ref<V>, TreeError> {
        let ch = parse(h, hex)?;
        Ok(Ref {
            hash: ch,
            node: build(ch, decoded, cache)?,
        })
    };
    let node = match enc {
        Encoded::Leaf(entries) => Node::Leaf(entries),
        Encoded::Branch { n, c } => {
            if c.is_empty() {
                return Err(TreeError::Corrupt(h, "branch without children".into()));
            }
            let children = c
                .into_iter()
                .map(|(last, hex)| {
                    Ok(Child {
                        last,
                        node: child(&hex)?,
                    })
                })
                .collect::<Result<Vec<_>, TreeError>>()?;
            Node::Branch { count: n, children }
        }
        Encoded::Legacy { n, c } => {
            if c.len() != legacy::FANOUT {
                return Err(TreeError::Corrupt(h, "branch without 16 slots".into()));
            }
            let mut children: [Option<Ref<V>>; legacy::FANOUT] = Default::default();
            for (slot, hex) in c.iter().enumerate() {
                if let Some(hex) = hex {
                    children[slot] = Some(child(hex)?);
                }
            }
            Node::Legacy {
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

/// zstd's level for nodes: level 3 takes ~0.1 ms for a 20 KB leaf, and
/// higher levels gain little on such small inputs.
const LEVEL: i32 = 3;
/// The largest node a stored object may decompress to: far above any real
/// node, so a corrupt or hostile object cannot exhaust memory.
const MAX_NODE_BYTES: u64 = 64 << 20;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

thread_local! {
    /// One compression context per thread: making one allocates about a
    /// megabyte, which cost more than compressing a small node.
    static COMPRESSOR: std::cell::RefCell<zstd::bulk::Compressor<'static>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(LEVEL).expect("zstd level 3 is valid"));
}

/// The JSON of a stored node: decompressed, or as it is if it was stored
/// uncompressed.
pub(super) fn stored_json(h: NodeHash, stored: &[u8]) -> Result<Cow<'_, [u8]>, TreeError> {
    if !stored.starts_with(&ZSTD_MAGIC) {
        return Ok(Cow::Borrowed(stored));
    }
    let mut json = Vec::with_capacity(stored.len() * 4);
    zstd::stream::read::Decoder::new(stored)
        .and_then(|d| d.take(MAX_NODE_BYTES + 1).read_to_end(&mut json))
        .map_err(|e| TreeError::Corrupt(h, format!("undecompressable: {e}")))?;
    if json.len() as u64 > MAX_NODE_BYTES {
        return Err(TreeError::Corrupt(h, "decompresses past 64 MiB".into()));
    }
    Ok(Cow::Owned(json))
}

/// Hashes and records a new node.
pub(super) fn make<V: Serialize>(node: Node<V>, made: &mut Vec<NewNode>) -> Ref<V> {
    let enc: EncodedRef<'_, V> = match &node {
        Node::Leaf(entries) => EncodedRef::Leaf(entries),
        Node::Branch { count, children } => EncodedRef::Branch {
            n: *count,
            c: children
                .iter()
                .map(|c| (c.last.as_str(), c.node.hash.hex()))
                .collect(),
        },
        Node::Legacy { .. } => unreachable!("legacy branches are never made"),
    };
    let json = serde_json::to_vec(&enc).expect("nodes serialise");
    let hash = NodeHash::of(&json);
    let bytes = COMPRESSOR
        .with_borrow_mut(|c| c.compress(&json))
        .expect("zstd compresses in memory");
    made.push(NewNode { hash, bytes });
    Ref {
        hash,
        node: Arc::new(node),
    }
}
