use super::*;

type T = Tree<u32>;

fn with(entries: impl IntoIterator<Item = (String, u32)>) -> (T, Vec<NewNode>) {
    let (empty, _) = T::empty();
    empty.apply(entries.into_iter().map(|(k, v)| (k, Some(v))).collect())
}

fn keys(n: u32) -> Vec<(String, u32)> {
    (0..n).map(|i| (format!("pkg{i}/index.json"), i)).collect()
}

/// Stores nodes in a map, as storage would.
fn store(map: &mut HashMap<NodeHash, Vec<u8>>, made: &[NewNode]) {
    for n in made {
        map.insert(n.hash, n.bytes.clone());
    }
}

#[test]
fn insert_get_and_delete() {
    let (t, _) = with(keys(1000));
    assert_eq!(t.len(), 1000);
    for i in [0, 1, 499, 999] {
        assert_eq!(t.get(&format!("pkg{i}/index.json")), Some(&i));
    }
    assert_eq!(t.get("missing"), None);
    let (t2, _) = t.apply(vec![
        ("pkg7/index.json".into(), None),
        ("new".into(), Some(5)),
    ]);
    assert_eq!(t2.len(), 1000);
    assert_eq!(t2.get("pkg7/index.json"), None);
    assert_eq!(t2.get("new"), Some(&5));
    // The old version is untouched.
    assert_eq!(t.get("pkg7/index.json"), Some(&7));
    assert_eq!(t.get("new"), None);
    let mut all: Vec<u32> = t2.iter().map(|(_, v)| *v).collect();
    all.sort();
    assert_eq!(all.len(), 1000);
}

#[test]
fn the_shape_depends_only_on_the_contents() {
    let (a, _) = with(keys(500));
    let mut reversed = keys(500);
    reversed.reverse();
    let (b, _) = with(reversed);
    assert_eq!(a.root(), b.root());
    // Growing past a split and shrinking back gives the same root again.
    let (big, _) = a.apply(keys(2000).into_iter().map(|(k, v)| (k, Some(v))).collect());
    let (back, _) = big.apply(
        keys(2000)
            .into_iter()
            .skip(500)
            .map(|(k, _)| (k, None))
            .collect(),
    );
    assert_eq!(back.root(), a.root());
    let (none, _) = back.apply(keys(500).into_iter().map(|(k, _)| (k, None)).collect());
    assert_eq!(none.root(), T::empty().0.root());
}

#[test]
fn unchanged_contents_make_no_nodes() {
    let (t, _) = with(keys(300));
    let (same, made) = t.apply(keys(300).into_iter().map(|(k, v)| (k, Some(v))).collect());
    assert!(made.is_empty(), "{} nodes for no change", made.len());
    assert_eq!(same.root(), t.root());
    let (_, made) = t.apply(vec![("absent".into(), None)]);
    assert!(made.is_empty());
}

#[test]
fn a_change_makes_only_the_nodes_on_its_path() {
    for n in [100u32, 10_000, 50_000] {
        let (t, _) = with(keys(n));
        let (t2, made) = t.apply(vec![("pkg3/index.json".into(), Some(77))]);
        let depth = made.len();
        assert!(depth <= 5, "{n} keys: one change made {depth} nodes");
        // Everything else is shared with the previous version.
        let old = t.node_hashes();
        let new = t2.node_hashes();
        assert_eq!(new.difference(&old).count(), depth, "{n} keys");
        // Measured as JSON, as before nodes were stored compressed.
        let bytes: usize = made
            .iter()
            .map(|m| zstd::decode_all(&m.bytes[..]).unwrap().len())
            .sum();
        assert!(bytes < 8 << 10, "{n} keys: {bytes} bytes for one change");
    }
}

#[test]
fn diff_lists_what_changed() {
    let (a, _) = with(keys(5000));
    let (b, _) = a.apply(vec![
        ("pkg1/index.json".into(), Some(100)),
        ("pkg2/index.json".into(), None),
        ("added".into(), Some(3)),
    ]);
    let d = a.diff(&b);
    assert_eq!(
        d,
        vec![
            ("added", None, Some(&3)),
            ("pkg1/index.json", Some(&1), Some(&100)),
            ("pkg2/index.json", Some(&2), None),
        ]
    );
    assert!(a.diff(&a).is_empty());
    // Across a split (leaf against branch) too.
    let (small, _) = with(keys(3));
    let d = small.diff(&a);
    assert_eq!(d.len(), 4997);
}

#[tokio::test]
async fn loading_fetches_only_nodes_not_held() {
    let mut stored = HashMap::new();
    let (empty, e) = T::empty();
    store(&mut stored, &[e]);
    let (a, made) = empty.apply(keys(5000).into_iter().map(|(k, v)| (k, Some(v))).collect());
    store(&mut stored, &made);
    let (b, made) = a.apply(vec![("pkg9/index.json".into(), Some(1))]);
    store(&mut stored, &made);

    let cache = NodeCache::default();
    let fetched = std::sync::atomic::AtomicUsize::new(0);
    let fetch = |h: NodeHash| {
        fetched.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let bytes = stored.get(&h).cloned();
        async move { bytes.ok_or(TreeError::Corrupt(h, "missing".into())) }
    };
    let la = T::load(a.root(), &cache, fetch).await.unwrap();
    let all = fetched.swap(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(all, a.node_hashes().len());
    assert_eq!(la.get("pkg9/index.json"), Some(&9));
    let lb = T::load(b.root(), &cache, fetch).await.unwrap();
    let again = fetched.load(std::sync::atomic::Ordering::SeqCst);
    assert!(again <= 5, "fetched {again} nodes for one change");
    assert_eq!(lb.get("pkg9/index.json"), Some(&1));
    assert_eq!(lb.root(), b.root());
    // Shared nodes are the same allocation.
    let shared = la.node_hashes().intersection(&lb.node_hashes()).count();
    assert!(shared > 100);
    assert!(cache.len() > 100);
    drop((la, lb));
    cache.prune();
    assert!(cache.is_empty(), "{} nodes left", cache.len());
}

#[tokio::test]
async fn a_node_that_does_not_match_its_hash_is_refused() {
    let (t, made) = with(keys(10));
    let mut stored = HashMap::new();
    store(&mut stored, &made);
    stored.insert(t.root(), b"{\"l\":[]}".to_vec());
    let cache = NodeCache::default();
    let r = T::load(t.root(), &cache, |h| {
        let b = stored.get(&h).cloned().unwrap();
        async move { Ok::<_, TreeError>(b) }
    })
    .await;
    assert!(matches!(r, Err(TreeError::HashMismatch(_))));
}

/// Nodes are stored compressed and hashed by their JSON; nodes stored as
/// plain JSON (before compression) load the same; a compressed object that
/// decodes to something else is refused.
#[tokio::test]
async fn nodes_are_stored_compressed_and_plain_ones_still_load() {
    let (t, made) = with(keys(5000));
    let mut compressed = HashMap::new();
    store(&mut compressed, &made);
    let plain: HashMap<NodeHash, Vec<u8>> = made
        .iter()
        .map(|n| (n.hash, zstd::decode_all(&n.bytes[..]).unwrap()))
        .collect();
    for n in &made {
        assert_eq!(NodeHash::of(&plain[&n.hash]), n.hash, "hash of the JSON");
    }
    let stored: usize = made.iter().map(|n| n.bytes.len()).sum();
    let json: usize = plain.values().map(Vec::len).sum();
    assert!(
        stored * 2 < json,
        "{stored} bytes stored for {json} of JSON"
    );

    for from in [&compressed, &plain] {
        let cache = NodeCache::default();
        let loaded = T::load(t.root(), &cache, |h| {
            let b = from.get(&h).cloned().unwrap();
            async move { Ok::<_, TreeError>(b) }
        })
        .await
        .unwrap();
        assert_eq!(loaded.len(), 5000);
        assert_eq!(loaded.get("pkg4321/index.json"), Some(&4321));
    }

    let mut forged = compressed.clone();
    forged.insert(t.root(), zstd::encode_all(&b"{\"l\":[]}"[..], 3).unwrap());
    let r = T::load(t.root(), &NodeCache::default(), |h| {
        let b = forged.get(&h).cloned().unwrap();
        async move { Ok::<_, TreeError>(b) }
    })
    .await;
    assert!(matches!(r, Err(TreeError::HashMismatch(_))));
    forged.insert(t.root(), vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
    let r = T::load(t.root(), &NodeCache::default(), |h| {
        let b = forged.get(&h).cloned().unwrap();
        async move { Ok::<_, TreeError>(b) }
    })
    .await;
    assert!(matches!(r, Err(TreeError::Corrupt(..))), "{r:?}");
}

/// Random batches of inserts, updates and removals: the tree always holds
/// what a plain map holds, iterates in key order, and has the root a build
/// from scratch gives (the shape depends on the contents only).
#[test]
fn random_changes_match_a_map_and_a_fresh_build() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut model = std::collections::BTreeMap::new();
    let (mut t, _) = T::empty();
    for step in 0..300 {
        let n = if step % 50 == 0 {
            2000
        } else {
            rng.gen_range(1..40)
        };
        let mut changes = Vec::new();
        for _ in 0..n {
            let k = format!("k{:05}", rng.gen_range(0..6000u32));
            let v = rng.gen_range(0..3u32);
            // Removals grow rarer than inserts, so the tree grows then churns.
            let change = (rng.gen_range(0..3) > 0).then_some(v);
            changes.push((k, change));
        }
        for (k, v) in &changes {
            match v {
                Some(v) => model.insert(k.clone(), *v),
                None => model.remove(k),
            };
        }
        let before = t.node_hashes();
        let (next, made) = t.apply(changes);
        t = next;
        let new: HashSet<NodeHash> = t.node_hashes().difference(&before).copied().collect();
        let made_set: HashSet<NodeHash> = made.iter().map(|m| m.hash).collect();
        assert!(
            new.is_subset(&made_set),
            "step {step}: a node was not reported"
        );
        assert_eq!(t.len(), model.len(), "step {step}");
        let got: Vec<(String, u32)> = t.iter().map(|(k, v)| (k.to_owned(), *v)).collect();
        let want: Vec<(String, u32)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(got, want, "step {step}");
        if step % 10 == 0 {
            let (fresh, _) = with(model.iter().map(|(k, v)| (k.clone(), *v)));
            assert_eq!(
                fresh.root(),
                t.root(),
                "step {step}: not the canonical shape"
            );
            for (k, v) in model.iter().take(50) {
                assert_eq!(t.get(k), Some(v));
            }
            assert_eq!(t.get("k99999"), None);
        }
    }
    assert!(model.len() > 1000, "the test should reach a deep tree");
}

/// Paths that change together sit together: a publish of one dist's index
/// files (names and by-hash names under one directory) rewrites a few
/// nodes, not one per path.
#[test]
fn related_paths_share_nodes() {
    let mut entries: Vec<(String, u32)> = (0..20_000u32)
        .map(|i| (format!("pool/main/p/pkg{i:05}/pkg{i:05}_1.0_amd64.deb"), i))
        .collect();
    for f in 0..20u32 {
        entries.push((
            format!("dists/bookworm/main/by-hash/SHA256/{:064x}", f * 7919),
            f,
        ));
        entries.push((format!("dists/bookworm/main/file{f}"), f));
    }
    let (t, _) = with(entries);
    let mut changes: Vec<(String, Option<u32>)> = Vec::new();
    for f in 0..20u32 {
        changes.push((
            format!("dists/bookworm/main/by-hash/SHA256/{:064x}", f * 7919),
            None,
        ));
        changes.push((
            format!(
                "dists/bookworm/main/by-hash/SHA256/{:064x}",
                f * 104_729 + 1
            ),
            Some(f),
        ));
        changes.push((format!("dists/bookworm/main/file{f}"), Some(f + 1)));
    }
    changes.push((
        "pool/main/p/pkg20000/pkg20000_1.0_amd64.deb".into(),
        Some(1),
    ));
    let (_, made) = t.apply(changes);
    assert!(
        made.len() <= 12,
        "{} nodes for 61 related changes",
        made.len()
    );
}

#[test]
fn iteration_is_in_key_order() {
    let (t, _) = with(keys(3000));
    let got: Vec<&str> = t.iter().map(|(k, _)| k).collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted);
    assert_eq!(got.len(), 3000);
}

/// Sets stored in the old hash-trie shape stay readable, compare with new
/// ones, and turn into the new shape at their first change.
#[tokio::test]
async fn legacy_trees_stay_readable() {
    let entries = keys(400);
    let (root, nodes) = legacy::encode(&entries);
    let stored: HashMap<NodeHash, Vec<u8>> = nodes.into_iter().collect();
    let cache = NodeCache::default();
    let old = T::load(root, &cache, |h| {
        let b = stored.get(&h).cloned();
        async move { b.ok_or(TreeError::Corrupt(h, "missing".into())) }
    })
    .await
    .unwrap();
    assert_eq!(old.root(), root);
    assert_eq!(old.len(), 400);
    assert_eq!(old.get("pkg123/index.json"), Some(&123));
    assert_eq!(old.get("pkg400/index.json"), None);
    assert_eq!(old.iter().count(), 400);
    // Every stored node is visited (what garbage collection marks).
    let visited = old.node_hashes();
    assert_eq!(visited, stored.keys().copied().collect::<HashSet<_>>());
    // Against the same contents in the new shape: no difference.
    let (new, _) = with(keys(400));
    assert!(old.diff(&new).is_empty());
    assert_eq!(new.diff(&old), vec![]);
    // A change gives the new shape's tree for the new contents.
    let (changed, made) = old.apply(vec![("pkg5/index.json".into(), None)]);
    let (want, _) = with(
        keys(400)
            .into_iter()
            .filter(|(k, _)| k != "pkg5/index.json"),
    );
    assert_eq!(changed.root(), want.root());
    assert!(!made.is_empty());
    assert_eq!(
        old.diff(&changed),
        vec![("pkg5/index.json", Some(&5), None)]
    );
}
