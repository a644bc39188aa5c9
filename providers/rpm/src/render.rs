//! Rendering each dist's `repodata/` from package rows.
//!
//! primary, filelists and other are gzip files made of members: a small
//! head (it carries the package count), one member per *chunk* of
//! packages, and a tail. Gzip readers (zlib's, so libsolv's and dnf's) read
//! concatenated members as one stream. A chunk ends after a package whose id
//! hashes to 0 modulo [`SPREAD`], so boundaries depend on the packages, not
//! their positions: an upload changes the last chunk, a deletion the chunk
//! that held it. Chunks are kept between renders by the identities of their
//! packages. Runs of about [`GROUP`] chunks (ending where a chunk's last
//! package hashes to 0 modulo `SPREAD * GROUP`) are each an
//! [`IndexBody::Parts`] part the server stores once, and the last chunk is
//! a part of its own, so a publish compresses and writes about one chunk per
//! file, and the part lists a set records stay short.
//! The head carries no `packages="N"` count (no reader uses it: libsolv,
//! createrepo_c's parsers), so it never changes, and a file's two SHA-256s
//! (of the gzip file, and of its text for `open-checksum`) are resumed from
//! the state they had after the longest run of parts the last render shared:
//! an upload hashes the last chunk and the tail, not the whole file.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

use artifactd_provider_api::{
    BASE_URL, IndexBody, IndexFile, PackageRecord, Part, ProviderError, RenderInput,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::header::RpmInfo;
use crate::xml::{Entry, Kind};

/// Packages per chunk on average.
const SPREAD: u64 = 32;
/// No chunk holds more packages than this, whatever the hashes say.
const MAX_CHUNK: usize = 4 * SPREAD as usize;
/// Chunks per part on average (a group ends after a chunk whose last
/// package hashes to 0 modulo `SPREAD * GROUP`), and at most: a part per
/// chunk would make the part lists a set records, rewritten at every
/// publish and held for the grace period, the larger cost.
const GROUP: u64 = 8;
const MAX_GROUP: usize = 2 * GROUP as usize;

fn err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Render(e.to_string())
}

struct Chunk {
    text: Vec<u8>,
    gz: Part,
}

/// Chunks by the SHA-256 of what they hold.
type Chunks = HashMap<[u8; 32], Arc<Chunk>>;

/// A metadata file's running checksums after a prefix of its parts.
#[derive(Clone)]
struct Hashed {
    open: Sha256,
    open_size: u64,
    gz: Sha256,
    size: u64,
}

impl Hashed {
    fn add(&mut self, texts: &[&[u8]], part: &Part) {
        for t in texts {
            self.open.update(t);
            self.open_size += t.len() as u64;
        }
        self.gz.update(&part.bytes);
        self.size += part.bytes.len() as u64;
    }
}

/// What one render keeps for the next: chunks, and checksum states by the
/// key of the parts before them.
#[derive(Default)]
struct Memo {
    chunks: Chunks,
    hashed: HashMap<[u8; 32], Hashed>,
}

/// Each repository's memo of its last render.
#[derive(Default)]
pub struct Caches {
    repos: Mutex<HashMap<i64, Arc<Memo>>>,
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// splitmix64: spreads ids evenly over the boundary test.
fn mix(id: i64) -> u64 {
    let mut z = (id as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d4_9bb1_3311_49eb);
    z ^ (z >> 31)
}

/// One package of a dist; its metadata is decoded only when a chunk
/// holding it has to be rendered.
struct Pkg<'a> {
    record: &'a PackageRecord,
    href: &'a str,
}

impl Pkg<'_> {
    fn info(&self) -> Result<RpmInfo, ProviderError> {
        self.record
            .metadata
            .parse::<RpmInfo>()
            .map_err(|e| err(format!("package {} has bad metadata: {e}", self.record.id)))
    }

    fn entry<'a>(&'a self, info: &'a RpmInfo) -> Entry<'a> {
        let file = &self.record.files[0];
        Entry {
            name: &self.record.name,
            info,
            sha256: &file.sha256,
            size: file.size,
            time_file: file.uploaded_at / 1000,
            href: self.href,
        }
    }
}

/// One metadata file's checksums as repomd.xml states them.
struct Built {
    kind: Kind,
    path: String,
    href: String,
    sha256: String,
    size: u64,
    open_sha256: String,
    open_size: u64,
    parts: Vec<Part>,
}

struct Renderer<'c> {
    previous: &'c Memo,
    used: Memo,
}

impl Renderer<'_> {
    fn chunk(
        &mut self,
        kind: Kind,
        dist: &str,
        pkgs: &[Pkg<'_>],
    ) -> Result<([u8; 32], Arc<Chunk>), ProviderError> {
        let mut key = Sha256::new();
        key.update(kind.name());
        key.update([0]);
        key.update(dist);
        key.update([0]);
        for p in pkgs {
            key.update(p.record.id.to_le_bytes());
            key.update(p.record.seq.to_le_bytes());
        }
        let key: [u8; 32] = key.finalize().into();
        if let Some(c) = self
            .used
            .chunks
            .get(&key)
            .or_else(|| self.previous.chunks.get(&key))
        {
            let c = c.clone();
            self.used.chunks.insert(key, c.clone());
            return Ok((key, c));
        }
        let mut text = String::new();
        for p in pkgs {
            kind.write(&mut text, &p.entry(&p.info()?));
        }
        let text = text.into_bytes();
        let chunk = Arc::new(Chunk {
            gz: Part::new(gzip(&text)),
            text,
        });
        self.used.chunks.insert(key, chunk.clone());
        Ok((key, chunk))
    }

    /// One part holding the gzip members of `chunks` (kept between renders
    /// by the chunks' keys).
    fn group(&mut self, chunks: &[([u8; 32], Arc<Chunk>)]) -> Part {
        if let [(_, c)] = chunks {
            return c.gz.clone();
        }
        let mut key = Sha256::new();
        key.update(b"group");
        for (k, _) in chunks {
            key.update(k);
        }
        let key: [u8; 32] = key.finalize().into();
        if let Some(c) = self
            .used
            .chunks
            .get(&key)
            .or_else(|| self.previous.chunks.get(&key))
        {
            let c = c.clone();
            self.used.chunks.insert(key, c.clone());
            return c.gz.clone();
        }
        let bytes: Vec<u8> = chunks
            .iter()
            .flat_map(|(_, c)| c.gz.bytes.iter().copied())
            .collect();
        let group = Arc::new(Chunk {
            text: Vec::new(),
            gz: Part::new(bytes),
        });
        self.used.chunks.insert(key, group.clone());
        group.gz.clone()
    }

    fn build(&mut self, kind: Kind, dist: &str, pkgs: &[Pkg<'_>]) -> Result<Built, ProviderError> {
        // Chunks, each with whether it ends a group.
        let mut chunks = Vec::new();
        let mut start = 0;
        for (i, p) in pkgs.iter().enumerate() {
            let m = mix(p.record.id);
            if m.is_multiple_of(SPREAD) || i + 1 - start >= MAX_CHUNK || i + 1 == pkgs.len() {
                let chunk = self.chunk(kind, dist, &pkgs[start..=i])?;
                chunks.push((chunk, m.is_multiple_of(SPREAD * GROUP)));
                start = i + 1;
            }
        }
        // Runs of chunks served as one part each; the last chunk, the one
        // uploads change, alone.
        let mut runs: Vec<Vec<([u8; 32], Arc<Chunk>)>> = Vec::new();
        let mut run = Vec::new();
        let count = chunks.len();
        for (i, (chunk, ends)) in chunks.into_iter().enumerate() {
            if i + 1 == count {
                if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
                runs.push(vec![chunk]);
                break;
            }
            run.push(chunk);
            if ends || run.len() >= MAX_GROUP {
                runs.push(std::mem::take(&mut run));
            }
        }
        let head = kind.head();
        let tail = kind.tail();
        let mut parts = Vec::with_capacity(runs.len() + 2);
        let head_part = Part::new(gzip(head.as_bytes()));
        let mut hashed = Hashed {
            open: Sha256::new(),
            open_size: 0,
            gz: Sha256::new(),
            size: 0,
        };
        hashed.add(&[head.as_bytes()], &head_part);
        parts.push(head_part);
        // The key of the parts so far: it names the checksum states after them.
        let mut prefix: [u8; 32] = Sha256::new()
            .chain_update(kind.name())
            .chain_update([0])
            .chain_update(dist)
            .finalize()
            .into();
        for run in &runs {
            let part = self.group(run);
            let mut key = Sha256::new().chain_update(prefix);
            for (k, _) in run {
                key.update(k);
            }
            prefix = key.finalize().into();
            match self
                .used
                .hashed
                .get(&prefix)
                .or_else(|| self.previous.hashed.get(&prefix))
            {
                Some(h) => hashed = h.clone(),
                None => {
                    let texts: Vec<&[u8]> = run.iter().map(|(_, c)| c.text.as_slice()).collect();
                    hashed.add(&texts, &part);
                }
            }
            self.used.hashed.insert(prefix, hashed.clone());
            parts.push(part);
        }
        let tail_part = Part::new(gzip(tail.as_bytes()));
        hashed.add(&[tail.as_bytes()], &tail_part);
        parts.push(tail_part);
        let Hashed {
            open,
            open_size,
            gz,
            size,
        } = hashed;
        let sha256 = hex::encode(gz.finalize());
        let href = format!("repodata/{sha256}-{}.xml.gz", kind.name());
        Ok(Built {
            kind,
            path: format!("{dist}/{href}"),
            href,
            sha256,
            size,
            open_sha256: hex::encode(open.finalize()),
            open_size,
            parts,
        })
    }
}

fn repomd(built: &[Built], now_secs: i64) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    out.push_str(&format!("  <revision>{now_secs}</revision>\n"));
    for b in built {
        out.push_str(&format!(
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    <timestamp>{now_secs}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            b.kind.name(),
            b.sha256,
            b.open_sha256,
            b.href,
            b.size,
            b.open_size
        ));
    }
    out.push_str("</repomd>\n");
    out
}

/// The dnf/yum configuration for one dist.
pub fn repo_file(repo: &str, dist: &str) -> String {
    format!(
        "[{repo}-{dist}]\n\
         name={repo} ({dist})\n\
         baseurl={BASE_URL}/repo/rpm/{repo}/{dist}/\n\
         enabled=1\n\
         # repomd.xml is signed with the repository key and pins the checksum of\n\
         # every package; the packages themselves carry their builders' signatures.\n\
         repo_gpgcheck=1\n\
         gpgcheck=0\n\
         gpgkey={BASE_URL}/repo/rpm/{repo}/pubkey\n\
         metadata_expire=300\n"
    )
}

pub fn render(caches: &Caches, input: &RenderInput<'_>) -> Result<Vec<IndexFile>, ProviderError> {
    let previous = caches
        .repos
        .lock()
        .expect("lock")
        .get(&input.repo.id)
        .cloned()
        .unwrap_or_default();
    let mut renderer = Renderer {
        previous: &previous,
        used: Memo::default(),
    };
    let mut dists: BTreeMap<&str, Vec<Pkg<'_>>> = BTreeMap::new();
    for record in input.packages {
        let Some(file) = record.files.first() else {
            continue;
        };
        let href = file
            .path
            .strip_prefix(record.section.as_str())
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(&file.path);
        dists
            .entry(record.section.as_str())
            .or_default()
            .push(Pkg { record, href });
    }
    // A dist whose last package left is published empty.
    for section in input.sections {
        dists.entry(section.as_str()).or_default();
    }
    let signer = input
        .signer
        .ok_or_else(|| err("rpm repositories are signed, but no signer was given"))?;
    let now_secs = input.now / 1000;
    let mut out = vec![IndexFile {
        path: "pubkey".into(),
        content_type: "application/pgp-keys".into(),
        body: IndexBody::Bytes(signer.public_keys_armored().map_err(err)?),
    }];
    for (dist, mut pkgs) in dists {
        pkgs.sort_by_key(|p| p.record.id);
        let built: Vec<Built> = Kind::ALL
            .iter()
            .map(|k| renderer.build(*k, dist, &pkgs))
            .collect::<Result<_, _>>()?;
        let repomd = repomd(&built, now_secs).into_bytes();
        out.push(IndexFile {
            path: format!("{dist}/repodata/repomd.xml.asc"),
            content_type: "application/pgp-signature".into(),
            body: IndexBody::Bytes(signer.detached(&repomd).map_err(err)?),
        });
        out.push(IndexFile {
            path: format!("{dist}/repodata/repomd.xml"),
            content_type: "application/xml".into(),
            body: IndexBody::Bytes(repomd),
        });
        out.push(IndexFile {
            path: format!("{dist}/repodata/repomd.xml.key"),
            content_type: "application/pgp-keys".into(),
            body: IndexBody::Alias("pubkey".into()),
        });
        for b in built {
            out.push(IndexFile {
                path: b.path,
                content_type: "application/gzip".into(),
                body: IndexBody::Parts(b.parts),
            });
        }
        let repo = &input.repo.name;
        out.push(IndexFile {
            path: format!("{dist}/{repo}.repo"),
            content_type: "text/plain; charset=utf-8".into(),
            body: IndexBody::Template(repo_file(repo, dist).into_bytes()),
        });
        if repo != "config" {
            out.push(IndexFile {
                path: format!("{dist}/config.repo"),
                content_type: "text/plain; charset=utf-8".into(),
                body: IndexBody::Alias(format!("{dist}/{repo}.repo")),
            });
        }
    }
    caches
        .repos
        .lock()
        .expect("lock")
        .insert(input.repo.id, Arc::new(renderer.used));
    Ok(out)
}
