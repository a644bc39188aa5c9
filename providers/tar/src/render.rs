//! Rendering a repository's index files, keeping between renders what did
//! not change, so that a publish after one upload costs about one package's
//! worth of work and storage however large the repository.
//!
//! The root `index.json` lists every package, so it is an
//! [`IndexBody::Parts`] body: an opening, the packages in name order cut
//! into chunks, and a closing. A chunk ends after a name whose hash is 0
//! modulo [`SPREAD`], or after [`MAX_NAMES`] names whatever the hashes say.
//! Boundaries depend on the names themselves, not on their positions, so
//! adding, removing or changing one package changes the one chunk it falls
//! in; at most the chunk after it too (when a boundary appears or goes, or
//! the first chunk's leading comma moves), and the closing when the
//! repository becomes empty or stops being so.
//!
//! The joined parts are byte for byte what `serde_json::to_vec_pretty` gives
//! for the whole listing: one JSON document, as when it was rendered whole.
//! The per-package files are rendered once per change of their package and
//! handed over with their SHA-256, so the server does not hash them again.
//!
//! A full render keys everything it reuses by the exact input it was
//! rendered from (not a hash of it), so its output never depends on what is
//! cached. An incremental render ([`render_changes`]) starts from the cache
//! of the render at the `seq` the changes are relative to, and only then:
//! it re-renders the names the changes touch and the chunks they fall in,
//! and walks the other names once, without rendering or copying them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{LazyLock, Mutex, PoisonError};

use artifactd_provider_api::{
    IndexBody, IndexFile, PackageRecord, Part, RenderChanges, RenderDelta, RenderInput,
};
use serde::Serialize;

use crate::compare_versions;

/// Names per chunk of the root listing on average.
const SPREAD: u64 = 32;
/// No chunk grows past this many names, whatever the hashes say.
const MAX_NAMES: usize = 4 * SPREAD as usize;

const OPENING: &[u8] = b"{\n  \"packages\": {";

/// What a render of one repository leaves for the next: only what that
/// render used, so the cache is bounded by the repository's current size.
#[derive(Debug, Default)]
pub(crate) struct RepoCache {
    /// The render this is of: the packages' `seq` and the repository name.
    seq: Option<i64>,
    repo_name: String,
    names: BTreeMap<String, NameState>,
    /// Chunks of the root listing by (first name, last name, leading), with
    /// the [`chunk_key`] each was rendered from.
    chunks: HashMap<ChunkId, (Vec<u8>, Part)>,
}

type ChunkId = (String, String, bool);

/// One package name: its packages, newest first, and their files.
#[derive(Debug)]
struct NameState {
    records: Vec<PackageRecord>,
    files: NameFiles,
    /// Whether a chunk of the root listing may end after this name.
    boundary: bool,
}

/// The files of one package name, with the input they were rendered from.
#[derive(Debug)]
struct NameFiles {
    /// [`name_key`] of the records: equal keys, equal files.
    key: Vec<u8>,
    files: Vec<IndexFile>,
    /// Newest first, for the root listing.
    versions: Vec<String>,
}

/// Per repository id: what its last render left. A static rather than a
/// field of [`crate::TarProvider`], so that the provider stays a plain
/// `Copy` value of public limits that callers build with a struct literal
/// (the fuzz target does). Sharing it between instances is harmless: a
/// full render validates what it reuses, and an incremental one starts
/// only from the render at the `seq` its changes are relative to.
static CACHES: LazyLock<Mutex<HashMap<i64, RepoCache>>> = LazyLock::new(Default::default);

fn caches() -> std::sync::MutexGuard<'static, HashMap<i64, RepoCache>> {
    CACHES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Renders every index file of a repository, reusing its previous render's
/// pieces where their input is unchanged.
pub(crate) fn render_cached(input: &RenderInput<'_>) -> Vec<IndexFile> {
    // Taken out rather than borrowed, so no lock is held while rendering; a
    // concurrent render of the same repository starts from scratch.
    let previous = caches().remove(&input.repo.id).unwrap_or_default();
    let (files, next) = render(&previous, input);
    drop(previous);
    caches().insert(input.repo.id, next);
    files
}

/// [`render_changes`] from the repository's cached render, if that render
/// is the one the changes are relative to.
pub(crate) fn render_changes_cached(
    input: &RenderInput<'_>,
    changes: &RenderChanges<'_>,
) -> Option<RenderDelta> {
    let cache = caches().remove(&input.repo.id)?;
    match render_changes(cache, input, changes) {
        Ok((delta, next)) => {
            caches().insert(input.repo.id, next);
            Some(delta)
        }
        Err(cache) => {
            caches().insert(input.repo.id, cache);
            None
        }
    }
}

/// Renders `input`, taking unchanged pieces from `previous`; returns the
/// files and the cache for the next render.
pub(crate) fn render(previous: &RepoCache, input: &RenderInput<'_>) -> (Vec<IndexFile>, RepoCache) {
    let mut by_name: BTreeMap<&str, Vec<&PackageRecord>> = BTreeMap::new();
    for p in input.packages {
        by_name.entry(&p.name).or_default().push(p);
    }
    let mut next = RepoCache {
        seq: Some(input.seq),
        repo_name: input.repo.name.clone(),
        ..RepoCache::default()
    };
    let mut out = Vec::new();
    let mut key = Vec::new();
    for (name, mut versions) in by_name {
        versions.sort_by(|a, b| compare_versions(&b.version, &a.version));
        key.clear();
        name_key(&versions, &mut key);
        let files = match previous.names.get(name) {
            Some(cached) if cached.files.key == key => NameFiles {
                key: key.clone(),
                files: cached.files.files.clone(),
                versions: cached.files.versions.clone(),
            },
            _ => name_files(name, &versions, key.clone()),
        };
        out.extend(files.files.iter().cloned());
        next.names.insert(
            name.to_owned(),
            NameState {
                records: versions.into_iter().cloned().collect(),
                files,
                boundary: boundary(name).is_multiple_of(SPREAD),
            },
        );
    }
    out.push(root_listing(previous, &mut next, None));
    (out, next)
}

/// Renders what `changes` touch, starting from `cache`, the render of the
/// packages at `changes.since`; gives `cache` back unchanged when it is of
/// another render.
pub(crate) fn render_changes(
    mut cache: RepoCache,
    input: &RenderInput<'_>,
    changes: &RenderChanges<'_>,
) -> Result<(RenderDelta, RepoCache), RepoCache> {
    if cache.seq != Some(changes.since) || cache.repo_name != input.repo.name {
        return Err(cache);
    }
    // Every touched name with the paths its files had.
    let mut touched: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut touch = |cache: &RepoCache, name: &str| {
        touched.entry(name.to_owned()).or_insert_with(|| {
            cache.names.get(name).map_or_else(Vec::new, |n| {
                n.files.files.iter().map(|f| f.path.clone()).collect()
            })
        });
    };
    for change in changes.packages {
        for p in change.before.iter().chain(&change.after) {
            touch(&cache, &p.name);
        }
        if let Some(before) = change.before
            && let Some(state) = cache.names.get_mut(&before.name)
        {
            state.records.retain(|r| r.id != before.id);
        }
        if let Some(after) = change.after {
            let state = cache
                .names
                .entry(after.name.clone())
                .or_insert_with(|| NameState {
                    records: Vec::new(),
                    files: NameFiles {
                        key: Vec::new(),
                        files: Vec::new(),
                        versions: Vec::new(),
                    },
                    boundary: boundary(&after.name).is_multiple_of(SPREAD),
                });
            state.records.retain(|r| r.id != after.id);
            state.records.push(after.clone());
        }
    }
    let mut delta = RenderDelta::default();
    for (name, old_paths) in &touched {
        let Some(state) = cache.names.get_mut(name) else {
            delta.removed.extend(old_paths.iter().cloned());
            continue;
        };
        if state.records.is_empty() {
            delta.removed.extend(old_paths.iter().cloned());
            cache.names.remove(name);
            continue;
        }
        state
            .records
            .sort_by(|a, b| compare_versions(&b.version, &a.version));
        let versions: Vec<&PackageRecord> = state.records.iter().collect();
        let mut key = Vec::new();
        name_key(&versions, &mut key);
        state.files = name_files(name, &versions, key);
        let now: BTreeSet<&str> = state.files.files.iter().map(|f| f.path.as_str()).collect();
        delta.removed.extend(
            old_paths
                .iter()
                .filter(|p| !now.contains(p.as_str()))
                .cloned(),
        );
        delta.files.extend(state.files.files.iter().cloned());
    }
    let previous = RepoCache {
        chunks: std::mem::take(&mut cache.chunks),
        ..RepoCache::default()
    };
    let touched: BTreeSet<String> = touched.into_keys().collect();
    delta
        .files
        .push(root_listing(&previous, &mut cache, Some(&touched)));
    cache.seq = Some(input.seq);
    Ok((delta, cache))
}

/// The root `index.json` of the names in `next`, taking from `previous`
/// the chunks whose input is unchanged: checked against their key, or,
/// with `touched` (the names an incremental render changed), taken when
/// no touched name falls in them.
fn root_listing(
    previous: &RepoCache,
    next: &mut RepoCache,
    touched: Option<&BTreeSet<String>>,
) -> IndexFile {
    let names: Vec<(&str, &NameState)> = next.names.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut parts = vec![Part::new(OPENING.to_vec())];
    let mut chunks = HashMap::new();
    let mut start = 0;
    for (i, (_, state)) in names.iter().enumerate() {
        if state.boundary || i + 1 - start >= MAX_NAMES || i + 1 == names.len() {
            let slice = &names[start..=i];
            let id: ChunkId = (
                slice[0].0.to_owned(),
                slice[slice.len() - 1].0.to_owned(),
                start == 0,
            );
            let unchanged = touched.map(|t| t.range(id.0.clone()..=id.1.clone()).next().is_none());
            let reused = match (previous.chunks.get(&id), unchanged) {
                (Some(c), Some(true)) => Some(c.clone()),
                (Some((key, part)), None) => {
                    let mut k = Vec::new();
                    chunk_key(slice, id.2, &mut k);
                    (k == *key).then(|| (k, part.clone()))
                }
                _ => None,
            };
            let (key, part) = reused.unwrap_or_else(|| {
                let mut k = Vec::new();
                chunk_key(slice, id.2, &mut k);
                let part = chunk(slice, id.2);
                (k, part)
            });
            parts.push(part.clone());
            chunks.insert(id, (key, part));
            start = i + 1;
        }
    }
    let mut closing = if names.is_empty() {
        b"},".to_vec()
    } else {
        b"\n  },".to_vec()
    };
    closing.extend_from_slice(b"\n  \"repository\": ");
    json_str(&mut closing, &next.repo_name);
    closing.extend_from_slice(b"\n}");
    parts.push(Part::new(closing));
    next.chunks = chunks;
    IndexFile {
        path: "index.json".into(),
        content_type: "application/json".into(),
        body: IndexBody::Parts(parts),
    }
}

/// Encodes everything a name's files are rendered from, `versions` newest
/// first. Lengths prefix strings, so distinct inputs give distinct keys.
fn name_key(versions: &[&PackageRecord], out: &mut Vec<u8>) {
    out.extend_from_slice(&(versions.len() as u64).to_le_bytes());
    for p in versions {
        key_str(out, &p.version);
        out.extend_from_slice(&p.uploaded_at.to_le_bytes());
        out.extend_from_slice(&(p.files.len() as u64).to_le_bytes());
        for f in &p.files {
            key_str(out, &f.filename);
            key_str(out, &f.path);
            key_str(out, &f.sha256);
            out.extend_from_slice(&f.size.to_le_bytes());
            out.extend_from_slice(&f.uploaded_at.to_le_bytes());
        }
    }
}

fn key_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

// Field order is the JSON key order: alphabetical, as the listings were
// when rendered from `serde_json::Value` maps.
#[derive(Serialize)]
struct FileEntry<'a> {
    filename: &'a str,
    path: &'a str,
    sha256: &'a str,
    size: u64,
    uploaded_at: i64,
}

#[derive(Serialize)]
struct VersionEntry<'a> {
    files: Vec<FileEntry<'a>>,
    uploaded_at: i64,
    version: &'a str,
}

#[derive(Serialize)]
struct NameIndex<'a> {
    latest: &'a str,
    name: &'a str,
    versions: &'a [VersionEntry<'a>],
}

/// Renders a name's files: one `index.json` per version, the name's
/// `index.json` and its `latest` redirect. `versions` is newest first.
fn name_files(name: &str, versions: &[&PackageRecord], key: Vec<u8>) -> NameFiles {
    let newest = versions[0];
    let entries: Vec<VersionEntry<'_>> = versions
        .iter()
        .map(|p| {
            let mut files: Vec<FileEntry<'_>> = p
                .files
                .iter()
                .map(|f| FileEntry {
                    filename: &f.filename,
                    path: &f.path,
                    sha256: &f.sha256,
                    size: f.size,
                    uploaded_at: f.uploaded_at,
                })
                .collect();
            files.sort_by(|a, b| a.filename.cmp(b.filename));
            VersionEntry {
                files,
                uploaded_at: p.uploaded_at,
                version: &p.version,
            }
        })
        .collect();
    let mut files = Vec::with_capacity(versions.len() + 2);
    for (p, entry) in versions.iter().zip(&entries) {
        files.push(json_file(format!("{name}/{}/index.json", p.version), entry));
    }
    files.push(json_file(
        format!("{name}/index.json"),
        &NameIndex {
            latest: &newest.version,
            name,
            versions: &entries,
        },
    ));
    let target = match newest.files.as_slice() {
        [only] => only.path.clone(),
        _ => format!("{name}/{}/", newest.version),
    };
    files.push(IndexFile {
        path: format!("{name}/latest"),
        content_type: "text/plain".into(),
        body: IndexBody::Redirect(target),
    });
    NameFiles {
        key,
        files,
        versions: versions.iter().map(|p| p.version.clone()).collect(),
    }
}

fn json_file(path: String, value: &impl Serialize) -> IndexFile {
    let part = Part::new(serde_json::to_vec_pretty(value).expect("JSON values serialise"));
    IndexFile {
        path,
        content_type: "application/json".into(),
        body: IndexBody::Hashed {
            bytes: part.bytes.to_vec(),
            sha256: part.sha256,
        },
    }
}

/// Encodes what a chunk of the root listing is rendered from.
fn chunk_key(names: &[(&str, &NameState)], first: bool, out: &mut Vec<u8>) {
    out.push(u8::from(first));
    for (name, state) in names {
        key_str(out, name);
        out.extend_from_slice(&(state.files.versions.len() as u64).to_le_bytes());
        for v in &state.files.versions {
            key_str(out, v);
        }
    }
}

/// The part of the root listing holding `names`, the first chunk's without
/// a leading comma.
fn chunk(names: &[(&str, &NameState)], first: bool) -> Part {
    let mut text = Vec::new();
    for (i, (name, state)) in names.iter().enumerate() {
        let versions = &state.files.versions;
        text.extend_from_slice(if first && i == 0 { b"\n" } else { b",\n" });
        text.extend_from_slice(b"    ");
        json_str(&mut text, name);
        text.extend_from_slice(b": {\n      \"latest\": ");
        json_str(&mut text, &versions[0]);
        text.extend_from_slice(b",\n      \"versions\": [");
        for (j, v) in versions.iter().enumerate() {
            text.extend_from_slice(if j == 0 { b"\n" } else { b",\n" });
            text.extend_from_slice(b"        ");
            json_str(&mut text, v);
        }
        text.extend_from_slice(b"\n      ]\n    }");
    }
    Part::new(text)
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("strings serialise");
}

/// Where chunks end: FNV-1a of the name, then SplitMix64's finaliser to
/// spread FNV's weak low bits. Fixed, so every server instance and every
/// build cuts the same chunks and stores each once.
pub(crate) fn boundary(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
impl RepoCache {
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.names.len(), self.chunks.len())
    }
}
