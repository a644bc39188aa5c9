//! Changing an ordered tree, and comparing two.
//!
//! A change rebuilds level by level. At the leaves, each leaf a change
//! falls in is merged with its changes and cut again where keys end
//! leaves; a leaf whose last key no longer ends one runs on into the next.
//! Every other leaf is kept. Each level above then does the same with the
//! nodes below it: a parent whose children all stayed, in one run, is kept;
//! the others are cut again. The result is the tree a build from scratch
//! would give (the shape depends on the keys only), made in time
//! proportional to the nodes of the old tree plus what changed.

use serde::Serialize;

use super::codec::make;
use super::{Child, NewNode, Node, NodeHash, Ref, ends_node, legacy};

/// A node of the old tree, in its level.
struct Old<'a, V> {
    r: &'a Ref<V>,
    /// `None` only for the empty tree's leaf.
    last: Option<&'a str>,
    /// Where its children start in the level below, and how many.
    first: usize,
    children: usize,
}

/// A node of the level being built: kept from the old level, or new.
enum Item<V> {
    Old(usize),
    New(Ref<V>, String),
}

/// The old tree's nodes by height (0: leaves), each level in key order.
fn levels<V>(root: &Ref<V>) -> Vec<Vec<Old<'_, V>>> {
    let mut top = vec![Old {
        r: root,
        last: root.node.last_key(),
        first: 0,
        children: 0,
    }];
    let mut out = Vec::new();
    loop {
        let mut below = Vec::new();
        for o in &mut top {
            if let Node::Branch { children, .. } = &*o.r.node {
                o.first = below.len();
                o.children = children.len();
                below.extend(children.iter().map(|c| Old {
                    r: &c.node,
                    last: Some(c.last.as_str()),
                    first: 0,
                    children: 0,
                }));
            }
        }
        out.push(top);
        if below.is_empty() {
            out.reverse();
            return out;
        }
        top = below;
    }
}

fn branch<V: Serialize>(children: Vec<Child<V>>, made: &mut Vec<NewNode>) -> Ref<V> {
    let count = children.iter().map(|c| c.node.node.count()).sum();
    make(Node::Branch { count, children }, made)
}

/// Merges sorted `changes` into sorted `entries`, appending to `out`.
fn merge<V: Clone>(
    out: &mut Vec<(String, V)>,
    entries: &[(String, V)],
    changes: &[(String, Option<V>)],
) {
    let (mut e, mut c) = (0, 0);
    while e < entries.len() || c < changes.len() {
        let order = match (entries.get(e), changes.get(c)) {
            (Some((ek, _)), Some((ck, _))) => ek.cmp(ck),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        if order == std::cmp::Ordering::Less {
            out.push(entries[e].clone());
            e += 1;
            continue;
        }
        // The change replaces (or removes) an equal key.
        if order == std::cmp::Ordering::Equal {
            e += 1;
        }
        if let (k, Some(v)) = &changes[c] {
            out.push((k.clone(), v.clone()));
        }
        c += 1;
    }
}

/// `root` with sorted, effective `changes` applied.
pub(super) fn apply<V>(
    root: &Ref<V>,
    changes: Vec<(String, Option<V>)>,
    made: &mut Vec<NewNode>,
) -> Ref<V>
where
    V: Clone + PartialEq + Serialize,
{
    let old = levels(root);
    let leaves = &old[0];
    // The changes of each leaf: keys up to its last, after the one before's.
    let mut ranges = vec![(0usize, 0usize); leaves.len()];
    let mut at = 0;
    for (i, range) in ranges.iter_mut().enumerate() {
        let start = at;
        if i + 1 == leaves.len() {
            at = changes.len();
        } else if let Some(last) = leaves[i].last {
            while at < changes.len() && changes[at].0.as_str() <= last {
                at += 1;
            }
        }
        *range = (start, at);
    }

    let mut cur: Vec<Item<V>> = Vec::new();
    let mut pending: Vec<(String, V)> = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let (s, e) = ranges[i];
        if pending.is_empty() && s == e {
            cur.push(Item::Old(i));
            continue;
        }
        let Node::Leaf(entries) = &*leaf.r.node else {
            unreachable!("level 0 holds leaves")
        };
        merge(&mut pending, entries, &changes[s..e]);
        // Cut where keys end leaves; what follows the last cut runs on.
        let mut from = 0;
        for j in 0..pending.len() {
            if ends_node(&pending[j].0, 0) {
                let chunk: Vec<(String, V)> = pending[from..=j].to_vec();
                let last = chunk[chunk.len() - 1].0.clone();
                cur.push(Item::New(make(Node::Leaf(chunk), made), last));
                from = j + 1;
            }
        }
        pending.drain(..from);
    }
    if !pending.is_empty() {
        let last = pending[pending.len() - 1].0.clone();
        cur.push(Item::New(make(Node::Leaf(pending), made), last));
    }

    let mut height = 1;
    loop {
        let below = &old[(height - 1).min(old.len() - 1)];
        let resolve = |item: &Item<V>| -> (Ref<V>, String) {
            match item {
                Item::Old(i) => (
                    below[*i].r.clone(),
                    below[*i].last.unwrap_or_default().to_owned(),
                ),
                Item::New(r, last) => (r.clone(), last.clone()),
            }
        };
        match cur.len() {
            0 => return make(Node::Leaf(Vec::new()), made),
            1 => return resolve(&cur[0]).0,
            _ => {}
        }
        // Old parents at this height, by the first child they hold.
        let parents: &[Old<'_, V>] = old.get(height).map_or(&[], |l| l.as_slice());
        let mut starts = vec![None; below.len()];
        for (j, p) in parents.iter().enumerate() {
            if p.children > 0 {
                starts[p.first] = Some(j);
            }
        }
        let mut next: Vec<Item<V>> = Vec::new();
        let mut pending: Vec<Child<V>> = Vec::new();
        let mut pos = 0;
        while pos < cur.len() {
            if pending.is_empty()
                && let Item::Old(i) = cur[pos]
                && let Some(j) = starts[i]
            {
                let p = &parents[j];
                let n = p.children;
                let intact = pos + n <= cur.len()
                    && (0..n).all(|t| matches!(cur[pos + t], Item::Old(x) if x == i + t))
                    && (pos + n == cur.len()
                        || p.last.is_some_and(|l| ends_node(l, height as u32)));
                if intact {
                    next.push(Item::Old(j));
                    pos += n;
                    continue;
                }
            }
            let (node, last) = resolve(&cur[pos]);
            pos += 1;
            let ends = ends_node(&last, height as u32);
            pending.push(Child { last, node });
            if ends {
                let last = pending[pending.len() - 1].last.clone();
                next.push(Item::New(branch(std::mem::take(&mut pending), made), last));
            }
        }
        if !pending.is_empty() {
            let last = pending[pending.len() - 1].last.clone();
            next.push(Item::New(branch(pending, made), last));
        }
        cur = next;
        height += 1;
    }
}

/// The tree of sorted `entries`, from scratch.
pub(super) fn build_fresh<V>(entries: Vec<(String, V)>, made: &mut Vec<NewNode>) -> Ref<V>
where
    V: Clone + PartialEq + Serialize,
{
    let empty = make(Node::Leaf(Vec::new()), &mut Vec::new());
    apply(
        &empty,
        entries.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        made,
    )
}

/// A run of entries in key order: one leaf, or (for a legacy tree, whose
/// leaves are not ordered among themselves) all of its entries, sorted.
enum Segment<'a, V> {
    Leaf(&'a Ref<V>),
    Sorted(Vec<(&'a str, &'a V)>),
}

impl<'a, V> Segment<'a, V> {
    fn hash(&self) -> Option<NodeHash> {
        match self {
            Segment::Leaf(r) => Some(r.hash),
            Segment::Sorted(_) => None,
        }
    }

    fn entry(&self, i: usize) -> Option<(&'a str, &'a V)> {
        match self {
            Segment::Leaf(r) => match &*r.node {
                Node::Leaf(e) => e.get(i).map(|(k, v)| (k.as_str(), v)),
                _ => None,
            },
            Segment::Sorted(e) => e.get(i).copied(),
        }
    }
}

fn segments<V>(root: &Ref<V>) -> Vec<Segment<'_, V>> {
    if legacy::is_legacy(&root.node) {
        let mut all = Vec::new();
        let mut stack = vec![&*root.node];
        while let Some(n) = stack.pop() {
            match n {
                Node::Leaf(e) => all.extend(e.iter().map(|(k, v)| (k.as_str(), v))),
                n => stack.extend(n.children().map(|c| &*c.node)),
            }
        }
        all.sort_by(|a, b| a.0.cmp(b.0));
        return vec![Segment::Sorted(all)];
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(r) = stack.pop() {
        match &*r.node {
            Node::Leaf(_) => out.push(Segment::Leaf(r)),
            n => {
                let children: Vec<&Ref<V>> = n.children().collect();
                stack.extend(children.into_iter().rev());
            }
        }
    }
    out
}

/// `(key, in a, in b)` for every key whose value differs, in key order.
pub(super) fn diff<'a, V: PartialEq>(
    a: &'a Ref<V>,
    b: &'a Ref<V>,
) -> Vec<(&'a str, Option<&'a V>, Option<&'a V>)> {
    let mut out = Vec::new();
    if a.hash == b.hash {
        return out;
    }
    let (sa, sb) = (segments(a), segments(b));
    let (mut ia, mut ea, mut ib, mut eb) = (0, 0, 0, 0);
    loop {
        while ia < sa.len() && sa[ia].entry(ea).is_none() {
            ia += 1;
            ea = 0;
        }
        while ib < sb.len() && sb[ib].entry(eb).is_none() {
            ib += 1;
            eb = 0;
        }
        // Equal leaves at the same place hold equal entries: skip both.
        if ea == 0
            && eb == 0
            && ia < sa.len()
            && ib < sb.len()
            && sa[ia].hash().is_some()
            && sa[ia].hash() == sb[ib].hash()
        {
            ia += 1;
            ib += 1;
            continue;
        }
        let x = sa.get(ia).and_then(|s| s.entry(ea));
        let y = sb.get(ib).and_then(|s| s.entry(eb));
        match (x, y) {
            (None, None) => return out,
            (Some((k, v)), None) => {
                out.push((k, Some(v), None));
                ea += 1;
            }
            (None, Some((k, v))) => {
                out.push((k, None, Some(v)));
                eb += 1;
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => {
                    out.push((ka, Some(va), None));
                    ea += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push((kb, None, Some(vb)));
                    eb += 1;
                }
                std::cmp::Ordering::Equal => {
                    if va != vb {
                        out.push((ka, Some(va), Some(vb)));
                    }
                    ea += 1;
                    eb += 1;
                }
            },
        }
    }
}
