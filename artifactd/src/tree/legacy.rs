//! The shape trees were stored in before the ordered tree: a hash trie of
//! fanout 16, a key's place being the nibbles of its 64-bit hash. Sets and
//! snapshots published then keep their roots, so these nodes stay readable
//! (lookups, iteration, garbage collection); they are never written.

use super::Node;

pub const FANOUT: usize = 16;

/// The child slot of a key with hash `place` at `depth`.
pub fn slot(place: u64, depth: usize) -> usize {
    ((place >> (60 - 4 * (depth % 16))) & 0xf) as usize
}

pub fn is_legacy<V>(node: &Node<V>) -> bool {
    matches!(node, Node::Legacy { .. })
}

/// Encodes `entries` as a legacy trie of one branch over leaves, as the
/// old code stored more than 32 keys (for tests of reading old sets).
#[cfg(test)]
pub fn encode<V: serde::Serialize>(
    entries: &[(String, V)],
) -> (super::NodeHash, Vec<(super::NodeHash, Vec<u8>)>) {
    use super::NodeHash;
    let mut slots: Vec<Vec<&(String, V)>> = (0..FANOUT).map(|_| Vec::new()).collect();
    for e in entries {
        slots[slot(super::key_hash(&e.0), 0)].push(e);
    }
    let mut nodes = Vec::new();
    let mut children = Vec::new();
    for mut leaf in slots {
        if leaf.is_empty() {
            children.push(serde_json::Value::Null);
            continue;
        }
        leaf.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes = serde_json::to_vec(&serde_json::json!({ "l": leaf })).unwrap();
        let h = NodeHash::of(&bytes);
        children.push(serde_json::Value::String(h.hex()));
        nodes.push((h, bytes));
    }
    let root = serde_json::to_vec(&serde_json::json!({
        "b": { "n": entries.len(), "c": children }
    }))
    .unwrap();
    let h = NodeHash::of(&root);
    nodes.push((h, root));
    (h, nodes)
}
