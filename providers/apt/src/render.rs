//! Rendering a repository's published tree from package rows.
//!
//! Per dist: `dists/<dist>/<component>/binary-<arch>/Packages{,.gz,.xz}`
//! (`Architecture: all` packages in every architecture), `source/Sources*`
//! (empty when the component has no source packages, as in Debian's archive,
//! so mirroring tools that want sources find the index), `Contents-<arch>.gz`, then `Release`
//! listing all of them with four digests, `InRelease` and `Release.gpg`
//! signed by every active key, and `by-hash/{SHA256,SHA512}/` copies of each
//! index so a client holding an older Release still finds matching files.
//! The repository root gets `pubkey`; each dist an `install` script.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use artifactd_provider_api::{
    BASE_URL, FileRecord, IndexBody, IndexFile, PackageRecord, Part, ProviderError, RenderInput,
    mix64,
};

use serde::Deserialize;

use crate::chunked::{CHUNK_IDS, ChunkSpec, ChunkedIndex};
use crate::control::Paragraph;
use crate::hashes::Digests;

/// Architectures every dist offers, whatever was uploaded, so the usual
/// clients never warn that the repository lacks their architecture.
const DEFAULT_ARCHS: &[&str] = &["amd64", "arm64"];

pub(crate) fn err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Render(e.to_string())
}

/// RFC 2822 date in UTC, as Release files want it.
pub(crate) fn rfc2822(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = artifactd_provider_api::time::Utc::from_millis(ms);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        DAYS[t.weekday as usize],
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// What a render reads of a package row's metadata.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct PackageMeta {
    pub control: Option<Paragraph>,
    pub dsc: Option<Paragraph>,
    pub dsc_file: String,
}

impl PackageMeta {
    pub(crate) fn of(p: &PackageRecord) -> PackageMeta {
        p.metadata.parse().unwrap_or_default()
    }
}

/// What a render reads of a file row's metadata.
#[derive(Default, Deserialize)]
#[serde(default)]
struct FileMeta {
    md5: String,
    sha1: String,
    sha512: String,
    contents: Vec<String>,
}

impl FileMeta {
    fn of(f: &FileRecord) -> FileMeta {
        f.metadata.parse().unwrap_or_default()
    }
}

/// A binary package's Packages stanza.
fn binary_stanza(p: &PackageRecord) -> Option<Paragraph> {
    let file = p.files.first()?;
    let mut c = PackageMeta::of(p).control.unwrap_or_default();
    let meta = FileMeta::of(file);
    for (name, value) in [
        ("Filename", file.path.clone()),
        ("Size", file.size.to_string()),
        ("MD5sum", meta.md5),
        ("SHA1", meta.sha1),
        ("SHA256", file.sha256.clone()),
        ("SHA512", meta.sha512),
    ] {
        c.insert_before("Description", name, value);
    }
    Some(c)
}

/// A source package's Sources stanza.
fn source_stanza(p: &PackageRecord) -> Option<Paragraph> {
    let meta = PackageMeta::of(p);
    let dsc = p.files.iter().find(|f| f.filename == meta.dsc_file)?;
    let mut c = meta.dsc.unwrap_or_default();
    c.rename("Source", "Package");
    let dir = dsc.path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    // The listed files, plus the .dsc itself.
    let mut md5 = String::new();
    let mut sha1 = String::new();
    let mut sha256 = String::new();
    let mut sha512 = String::new();
    for f in &p.files {
        let m = FileMeta::of(f);
        md5.push_str(&format!("\n {} {} {}", m.md5, f.size, f.filename));
        sha1.push_str(&format!("\n {} {} {}", m.sha1, f.size, f.filename));
        sha256.push_str(&format!("\n {} {} {}", f.sha256, f.size, f.filename));
        sha512.push_str(&format!("\n {} {} {}", m.sha512, f.size, f.filename));
    }
    c.set("Files", md5);
    c.set("Checksums-Sha1", sha1);
    c.set("Checksums-Sha256", sha256);
    c.set("Checksums-Sha512", sha512);
    c.set("Directory", dir);
    Some(c)
}

/// A stanza followed by the blank line that separates it from the next.
fn stanza_text(p: Paragraph) -> Vec<u8> {
    let mut text = p.to_text();
    text.push('\n');
    text.into_bytes()
}

/// `Contents-<arch>` lines for some packages: each installed path and the
/// package shipping it. Paths are not sorted across chunks; apt-file does
/// not need them sorted.
fn contents_text(packages: &[&PackageRecord]) -> Vec<u8> {
    let mut out = String::new();
    for p in packages {
        let control = PackageMeta::of(p).control.unwrap_or_default();
        let section = control.get("Section").unwrap_or("misc");
        for f in &p.files {
            for path in FileMeta::of(f).contents {
                out.push_str(&format!("{path:<60} {section}/{}\n", p.name));
            }
        }
    }
    out.into_bytes()
}

/// Packages of one index grouped into chunks of [`CHUNK_IDS`] ids, each
/// with a fingerprint of what it holds (its packages' ids and `seq`s).
fn chunk_members<'a>(members: &[&'a PackageRecord]) -> Vec<(i64, u64, Vec<&'a PackageRecord>)> {
    let mut chunks: Vec<(i64, u64, Vec<&PackageRecord>)> = Vec::new();
    for &p in members {
        let key = p.id.div_euclid(CHUNK_IDS);
        if chunks.last().is_none_or(|c| c.0 != key) {
            chunks.push((key, 0, Vec::new()));
        }
        let chunk = chunks.last_mut().expect("just pushed");
        chunk.2.push(p);
    }
    // A package's content changes its `seq`, so `(id, seq)` pins down what
    // it renders: no need to hash its files (that was most of a publish).
    for (_, fingerprint, packages) in &mut chunks {
        *fingerprint = packages.iter().fold(packages.len() as u64, |h, p| {
            mix64(h ^ mix64(p.id as u64) ^ (p.seq as u64).rotate_left(32))
        });
    }
    chunks
}

/// The `install` script of a dist; its `.sources` names `deb-src` too when
/// the dist has source packages, so `apt-get source` works after it.
fn install_script(repo: &str, dist: &str, components: &[&str], has_sources: bool) -> Vec<u8> {
    let types = if has_sources { "deb deb-src" } else { "deb" };
    format!(
        r#"#!/bin/sh
# Sets up this machine to install packages from the artifactd repository
# "{repo}" ({dist}): installs its signing key under /etc/apt/keyrings and
# writes /etc/apt/sources.list.d/{repo}.sources. Run as root.
set -eu
base='{BASE_URL}/repo/apt/{repo}'
install -d -m 0755 /etc/apt/keyrings
if command -v curl >/dev/null 2>&1; then
  curl -fsSL "$base/pubkey" -o /etc/apt/keyrings/{repo}.asc.new
else
  wget -qO /etc/apt/keyrings/{repo}.asc.new "$base/pubkey"
fi
chmod 0644 /etc/apt/keyrings/{repo}.asc.new
mv /etc/apt/keyrings/{repo}.asc.new /etc/apt/keyrings/{repo}.asc
cat > /etc/apt/sources.list.d/{repo}.sources <<SOURCES_END
Types: {types}
URIs: $base
Suites: {dist}
Components: {components}
Signed-By: /etc/apt/keyrings/{repo}.asc
SOURCES_END
echo "Added $base ({dist}). Run: apt-get update"
"#,
        components = components.join(" ")
    )
    .into_bytes()
}

/// Chunk caches of every index this provider renders, by repository and
/// index path. A cache only saves work: output never depends on it.
type SharedIndex = Arc<Mutex<ChunkedIndex>>;

#[derive(Default)]
pub struct Caches {
    indices: Mutex<HashMap<(i64, String), SharedIndex>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").finish_non_exhaustive()
    }
}

impl Caches {
    fn index(&self, repo_id: i64, path: &str) -> SharedIndex {
        self.indices
            .lock()
            .expect("lock")
            .entry((repo_id, path.to_owned()))
            .or_default()
            .clone()
    }
}

/// What Release lists about one file: size and digests.
struct Listed {
    rel: String,
    size: u64,
    digests: Digests,
}

/// Collects the index files of one dist and what Release must list.
struct DistWriter<'a> {
    caches: &'a Caches,
    repo_id: i64,
    /// `dists/<dist>`
    base: String,
    listed: Vec<Listed>,
    out: &'a mut Vec<IndexFile>,
}

impl DistWriter<'_> {
    /// Builds (incrementally) one chunked index and adds its files.
    fn index(
        &mut self,
        rel: &str,
        members: &[&PackageRecord],
        render_chunk: &dyn Fn(&[&PackageRecord]) -> Vec<u8>,
        with_xz: bool,
    ) -> Result<(), ProviderError> {
        let (base, listed, out) = (&self.base, &mut self.listed, &mut *self.out);
        let chunks = chunk_members(members);
        let specs: Vec<ChunkSpec<_>> = chunks
            .iter()
            .map(|(key, fingerprint, packages)| ChunkSpec {
                key: *key,
                fingerprint: *fingerprint,
                render: move || render_chunk(packages),
            })
            .collect();
        let index = self.caches.index(self.repo_id, &format!("{base}/{rel}"));
        let built = index
            .lock()
            .expect("lock")
            .update(specs, with_xz)
            .map_err(err)?;
        let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
        let mut serve = |name: String, parts: Vec<Part>, digests: Digests, content_type: &str| {
            listed.push(Listed {
                rel: name.clone(),
                size: parts.iter().map(|p| p.bytes.len() as u64).sum(),
                digests: digests.clone(),
            });
            let path = format!("{base}/{name}");
            for (kind, digest) in [("SHA256", &digests.sha256), ("SHA512", &digests.sha512)] {
                out.push(IndexFile {
                    path: format!("{base}/{dir}/by-hash/{kind}/{digest}"),
                    content_type: "application/octet-stream".into(),
                    body: IndexBody::Alias(path.clone()),
                });
            }
            out.push(IndexFile {
                path,
                content_type: content_type.into(),
                body: IndexBody::Parts(parts),
            });
        };
        // The plain file is listed (apt checks what it decompresses against it,
        // and skips targets whose plain name Release lacks) but not served, as
        // in Debian's archive.
        if with_xz {
            serve(
                format!("{rel}.xz"),
                built.xz,
                built.xz_digests,
                "application/x-xz",
            );
        }
        serve(
            format!("{rel}.gz"),
            built.gz,
            built.gz_digests,
            "application/gzip",
        );
        listed.push(Listed {
            rel: rel.to_owned(),
            size: built.plain_size,
            digests: built.plain,
        });
        Ok(())
    }
}

pub fn render(caches: &Caches, input: &RenderInput<'_>) -> Result<Vec<IndexFile>, ProviderError> {
    let signer = input
        .signer
        .ok_or_else(|| ProviderError::Render("apt repositories need a signing key".into()))?;
    let mut out = vec![IndexFile {
        path: "pubkey".into(),
        content_type: "application/pgp-keys".into(),
        body: IndexBody::Bytes(signer.public_keys_armored().map_err(err)?),
    }];

    // dist -> component -> packages, each list in id order.
    let mut dists: BTreeMap<&str, BTreeMap<&str, Vec<&PackageRecord>>> = BTreeMap::new();
    for p in input.packages {
        let (dist, component) = p.section.split_once('/').unwrap_or((&p.section, "main"));
        dists
            .entry(dist)
            .or_default()
            .entry(component)
            .or_default()
            .push(p);
    }
    // A dist (or component) whose last package left is published empty.
    for section in input.sections {
        let (dist, component) = section.split_once('/').unwrap_or((section, "main"));
        dists.entry(dist).or_default().entry(component).or_default();
    }
    let settings = &input.repo.settings;
    let origin = settings
        .get("origin")
        .and_then(|v| v.as_str())
        .unwrap_or(&input.repo.name);
    let label = settings
        .get("label")
        .and_then(|v| v.as_str())
        .unwrap_or(&input.repo.name);
    let repo_id = input.repo.id;
    let packages_chunk = |ps: &[&PackageRecord]| -> Vec<u8> {
        ps.iter()
            .filter_map(|p| binary_stanza(p))
            .flat_map(stanza_text)
            .collect()
    };
    let sources_chunk = |ps: &[&PackageRecord]| -> Vec<u8> {
        ps.iter()
            .filter_map(|p| source_stanza(p))
            .flat_map(stanza_text)
            .collect()
    };

    for (dist, mut components) in dists {
        let mut archs: BTreeSet<&str> = DEFAULT_ARCHS.iter().copied().collect();
        let mut has_sources = false;
        for p in components.values().flatten() {
            match p.variant.as_str() {
                "all" => {}
                "source" => has_sources = true,
                arch => {
                    archs.insert(arch);
                }
            }
        }
        let base = format!("dists/{dist}");
        let mut w = DistWriter {
            caches,
            repo_id,
            base: base.clone(),
            listed: Vec::new(),
            out: &mut out,
        };
        for (component, packages) in &mut components {
            packages.sort_by_key(|p| p.id);
            for arch in &archs {
                let members: Vec<&PackageRecord> = packages
                    .iter()
                    .copied()
                    .filter(|p| p.variant == *arch || p.variant == "all")
                    .collect();
                let rel = format!("{component}/binary-{arch}/Packages");
                w.index(&rel, &members, &packages_chunk, true)?;
                let rel = format!("{component}/Contents-{arch}");
                w.index(&rel, &members, &contents_text, false)?;
            }
            let members: Vec<&PackageRecord> = packages
                .iter()
                .copied()
                .filter(|p| p.variant == "source")
                .collect();
            let rel = format!("{component}/source/Sources");
            w.index(&rel, &members, &sources_chunk, true)?;
        }

        let mut listed = w.listed;
        let component_names: Vec<&str> = components.keys().copied().collect();
        let mut release = Paragraph::default();
        release.set("Origin", origin);
        release.set("Label", label);
        release.set("Suite", dist);
        release.set("Codename", dist);
        release.set("Date", rfc2822(input.now));
        release.set(
            "Architectures",
            archs.iter().copied().collect::<Vec<_>>().join(" "),
        );
        release.set("Components", component_names.join(" "));
        release.set("Acquire-By-Hash", "yes");
        listed.sort_by(|a, b| a.rel.cmp(&b.rel));
        for field in ["MD5Sum", "SHA1", "SHA256", "SHA512"] {
            let mut v = String::new();
            for f in &listed {
                v.push_str(&format!(
                    "\n {} {:>16} {}",
                    f.digests.named(field),
                    f.size,
                    f.rel
                ));
            }
            release.set(field, v);
        }
        let release_text = release.to_text().into_bytes();
        out.push(IndexFile {
            path: format!("{base}/InRelease"),
            content_type: "text/plain; charset=utf-8".into(),
            body: IndexBody::Bytes(signer.clearsign(&release_text).map_err(err)?),
        });
        out.push(IndexFile {
            path: format!("{base}/Release.gpg"),
            content_type: "application/pgp-signature".into(),
            body: IndexBody::Bytes(signer.detached(&release_text).map_err(err)?),
        });
        out.push(IndexFile {
            path: format!("{base}/Release"),
            content_type: "text/plain; charset=utf-8".into(),
            body: IndexBody::Bytes(release_text),
        });
        out.push(IndexFile {
            path: format!("{base}/install"),
            content_type: "text/x-shellscript; charset=utf-8".into(),
            body: IndexBody::Template(install_script(
                &input.repo.name,
                dist,
                &component_names,
                has_sources,
            )),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::rfc2822(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(
            super::rfc2822(1_795_257_922_969),
            "Sat, 21 Nov 2026 10:45:22 UTC"
        );
        assert_eq!(
            super::rfc2822(951_782_400_000),
            "Tue, 29 Feb 2000 00:00:00 UTC"
        );
    }
}
