//! The serving view: which set answers a path, departures, directory
//! listings and the package snapshot.

use super::*;

fn file(sha: &str) -> ManifestEntry {
    ManifestEntry::File {
        sha256: sha.into(),
        size: 1,
        content_type: "text/plain".into(),
        template: false,
        parts: Vec::new(),
    }
}

fn set(generation: i64, manifest: Manifest) -> IndexSetView {
    let (empty, _) = ManifestTree::empty();
    let (tree, _) = empty.apply(manifest.into_iter().map(|(k, v)| (k, Some(v))).collect());
    IndexSetView::new(generation, tree)
}

fn state() -> RepoState {
    RepoState::new(&repo::Model {
        id: 1,
        provider: "tar".into(),
        name: "r".into(),
        settings: "{}".into(),
        created_at: 0,
        change_seq: 0,
        published_seq: 0,
        generation: 0,
        current_set: None,
        lease_owner: None,
        lease_until: 0,
    })
}

#[test]
fn newest_set_wins_and_older_sets_answer_what_it_dropped() {
    let s = state();
    let old = Manifest::from([("a".to_owned(), file("1")), ("b".to_owned(), file("2"))]);
    let new = Manifest::from([
        ("a".to_owned(), file("3")),
        (
            "c".to_owned(),
            ManifestEntry::Redirect {
                redirect: "a".into(),
            },
        ),
    ]);
    let grace = Duration::from_secs(60);
    s.install_published(set(1, old), 1, grace);
    s.install_published(set(2, new), 2, grace);
    let sha_of = |path: &str| {
        let entry = match s.lookup(path, grace) {
            Lookup::Index { set, path } => set.entry(&path).cloned(),
            Lookup::Departed(entry) => Some((*entry).clone()),
            other => panic!("{path}: {other:?}"),
        };
        match entry {
            Some(ManifestEntry::File { sha256, .. }) => sha256,
            other => panic!("{path}: {other:?}"),
        }
    };
    assert_eq!(sha_of("a"), "3");
    assert_eq!(
        sha_of("b"),
        "2",
        "a path the new set dropped is served from the old one"
    );
    assert!(matches!(s.lookup("c", grace), Lookup::Redirect(t) if t == "a"));
    assert!(matches!(s.lookup("zzz", grace), Lookup::Missing));
    // An older generation never replaces a newer one, and sets older
    // than the grace period stop answering.
    s.install_published(set(1, Manifest::new()), 1, grace);
    assert_eq!(s.generation(), 2);
    assert!(matches!(s.lookup("b", Duration::ZERO), Lookup::Missing));
    s.install_published(set(3, Manifest::new()), 3, Duration::ZERO);
    assert!(matches!(s.lookup("b", grace), Lookup::Missing));
}

#[test]
fn only_the_current_set_keeps_bytes_in_memory() {
    let s = state();
    let first = set(1, Manifest::from([("a".to_owned(), file("1"))]));
    first
        .body_or_insert("1")
        .cached
        .set(Bytes::from_static(b"x"))
        .unwrap();
    assert!(first.body("1").is_some());
    let grace = Duration::from_secs(60);
    s.install_published(first, 1, grace);
    s.install_published(set(2, Manifest::new()), 2, grace);
    // What the old set served is answered from its entry alone.
    assert!(matches!(
        s.lookup("a", Duration::from_secs(60)),
        Lookup::Departed(e) if matches!(&*e, ManifestEntry::File { sha256, .. } if sha256 == "1")
    ));
    assert!(s.current_set().unwrap().body("1").is_none());
}

/// A departed composite answers with its part list as it was, whether its
/// parts are digests (held packed) or not.
#[test]
fn departed_composites_keep_their_parts() {
    let s = state();
    let composite = |parts: Vec<String>| ManifestEntry::File {
        sha256: "whole".into(),
        size: 9,
        content_type: "application/gzip".into(),
        template: false,
        parts,
    };
    let digests: Vec<String> = (0..100u8).map(|i| hex::encode([i; 32])).collect();
    let odd = vec!["not-a-digest".to_owned(), "ab".to_owned()];
    let old = Manifest::from([
        ("d".to_owned(), composite(digests.clone())),
        ("o".to_owned(), composite(odd.clone())),
    ]);
    let grace = Duration::from_secs(60);
    s.install_published(set(1, old), 1, grace);
    s.install_published(set(2, Manifest::new()), 2, grace);
    for (path, parts) in [("d", digests), ("o", odd)] {
        match s.lookup(path, grace) {
            Lookup::Departed(e) => assert_eq!(*e, composite(parts), "{path}"),
            other => panic!("{path}: {other:?}"),
        }
    }
}

/// Copies within a repository share file paths (apt's pool): a path
/// stays held until the last package holding it goes.
#[test]
fn shared_paths_are_held_until_the_last_holder_goes() {
    let record = |id: i64, section: &str| PackageRecord {
        id,
        seq: id,
        name: "hello".into(),
        version: "1".into(),
        section: section.into(),
        variant: "amd64".into(),
        metadata: serde_json::json!({}).into(),
        uploaded_at: 0,
        uploader: "t".into(),
        yanked: None,
        files: vec![artifactd_provider_api::FileRecord {
            filename: "hello.deb".into(),
            path: "pool/main/h/hello/hello.deb".into(),
            sha256: "0".repeat(64),
            size: 1,
            content_type: "application/vnd.debian.binary-package".into(),
            metadata: serde_json::json!({}).into(),
            uploaded_at: 0,
        }],
    };
    let mut snap = Snapshot::default();
    snap.upsert(record(1, "unstable/main"));
    snap.upsert(record(2, "stable/main"));
    snap.upsert(record(2, "stable/main"));
    snap.remove(1);
    assert!(snap.holds("pool/main/h/hello/hello.deb"));
    snap.remove(2);
    assert!(!snap.holds("pool/main/h/hello/hello.deb"));
}

/// A path that leaves, comes back and leaves again is answered by the
/// newest set that had it; departures cost their entries, and no
/// superseded tree stays resident.
#[test]
fn departures_follow_the_newest_set_and_hold_no_trees() {
    let s = state();
    let grace = Duration::from_secs(60);
    s.install_published(
        set(1, Manifest::from([("p".to_owned(), file("1"))])),
        1,
        grace,
    );
    let weak = Arc::downgrade(&s.current_set().unwrap());
    s.install_published(set(2, Manifest::new()), 2, grace);
    assert!(weak.upgrade().is_none(), "a superseded set is still held");
    s.install_published(
        set(3, Manifest::from([("p".to_owned(), file("3"))])),
        3,
        grace,
    );
    assert_eq!(s.departed_count(), 0, "a path served again is not departed");
    s.install_published(set(4, Manifest::new()), 4, grace);
    assert!(matches!(
        s.lookup("p", grace),
        Lookup::Departed(e) if matches!(&*e, ManifestEntry::File { sha256, .. } if sha256 == "3")
    ));
    s.purge_gone(Duration::ZERO);
    assert_eq!(s.departed_count(), 0);
}

#[test]
fn directories_list_the_current_set_and_live_files() {
    let s = state();
    let grace = Duration::from_secs(60);
    s.install_published(
        set(
            1,
            Manifest::from([("dists/old/Release".to_owned(), file("0"))]),
        ),
        1,
        grace,
    );
    s.install_published(
        set(
            2,
            Manifest::from([
                ("dists/a/Release".to_owned(), file("1")),
                (
                    "dists/a/main/binary-amd64/Packages.gz".to_owned(),
                    file("2"),
                ),
                ("pubkey".to_owned(), file("3")),
                (
                    "x/latest".to_owned(),
                    ManifestEntry::Redirect {
                        redirect: "x/1/x.tar".into(),
                    },
                ),
            ]),
        ),
        2,
        grace,
    );
    for (path, gone) in [
        ("pool/main/h/hello.deb", false),
        ("pool/main/h/old.deb", true),
    ] {
        s.serve.write().unwrap().files.insert(
            path.into(),
            FileEntry {
                sha256: "9".into(),
                size: 7,
                content_type: "t".into(),
                gone_at: gone.then(Instant::now),
            },
        );
    }
    let names = |dir: &str| {
        s.list_dir(dir)
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(""),
        [
            ("dists".into(), EntryKind::Dir),
            ("pool".into(), EntryKind::Dir),
            ("x".into(), EntryKind::Dir),
            ("pubkey".into(), EntryKind::Index),
        ]
    );
    assert_eq!(
        names("dists/a/"),
        [
            ("main".into(), EntryKind::Dir),
            ("Release".into(), EntryKind::Index),
        ],
        "only the current set; superseded dists are not listed"
    );
    assert_eq!(names("dists/"), [("a".into(), EntryKind::Dir)]);
    assert_eq!(
        names("pool/main/h/"),
        [("hello.deb".into(), EntryKind::Package)]
    );
    assert_eq!(names("x/"), [("latest".into(), EntryKind::Redirect)]);
    assert!(names("nothing/").is_empty());
}

#[test]
fn removed_files_stay_readable_for_the_grace_period() {
    let s = state();
    s.serve.write().unwrap().files.insert(
        "x".into(),
        FileEntry {
            sha256: "1".into(),
            size: 1,
            content_type: "t".into(),
            gone_at: Some(Instant::now()),
        },
    );
    assert!(matches!(
        s.lookup("x", Duration::from_secs(60)),
        Lookup::File(_)
    ));
    assert!(matches!(s.lookup("x", Duration::ZERO), Lookup::Missing));
    s.purge_gone(Duration::ZERO);
    assert!(s.serve.read().unwrap().files.is_empty());
}

/// A set keeps the bodies its predecessor held of entries it still has,
/// drops those of replaced entries, and a superseded set adds none.
#[test]
fn bodies_stay_with_the_entries_that_stay() {
    let s = state();
    let grace = Duration::from_secs(60);
    let hold = |set: &IndexSetView, sha: &str| {
        set.body_or_insert(sha)
            .cached
            .set(Bytes::from(sha.to_owned()))
            .unwrap();
    };
    let first = set(
        1,
        Manifest::from([("a".to_owned(), file("1")), ("b".to_owned(), file("2"))]),
    );
    hold(&first, "1");
    hold(&first, "2");
    s.install_published(first, 1, grace);
    let old = s.current_set().unwrap();
    let second = set(
        2,
        Manifest::from([("a".to_owned(), file("1")), ("b".to_owned(), file("3"))]),
    );
    hold(&second, "3");
    s.install_published(second, 2, grace);
    let now = s.current_set().unwrap();
    assert!(
        now.body("1").is_some_and(|b| b.cached.get().is_some()),
        "kept"
    );
    assert!(now.body("3").is_some(), "its own");
    assert!(now.body("2").is_none(), "replaced");
    // A reader still on the old set holds nothing new for it.
    assert!(old.body_or_insert("2").cached.get().is_none());
    assert!(now.body("2").is_none());
}
