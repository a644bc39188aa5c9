//! Reading an uploaded `.rpm`: lead, signature header and main header, with
//! the sizes and digests the package carries checked against its bytes.
//!
//! The `rpm` crate decodes the headers. It trusts the counts and offsets it
//! reads, so [`check_layout`] first walks both headers' index entries and
//! refuses any that point outside their data store: an impossible size is a
//! 400, never an allocation of what the file claims or a panic.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use rpm::{DependencyFlags, FileFlags, IndexSignatureTag, IndexTag, PackageMetadata};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::filelist::{FileList, FileListError};

const LEAD_SIZE: u64 = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's own limits (`hdrchkTags`, `hdrchkData`).
const MAX_TAGS: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;
/// Changelog entries kept per package, newest first (createrepo_c's default).
pub const CHANGELOG_LIMIT: usize = 10;
/// Payload digest algorithm number for SHA-256 (RFC 4880 numbering).
const PGPHASHALGO_SHA256: u32 = 8;

/// What the repository metadata needs from one package, captured at upload
/// so publishing never reads the file again. Stored as the package's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RpmInfo {
    pub epoch: u32,
    pub ver: String,
    pub rel: String,
    pub arch: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub packager: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub license: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub buildhost: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sourcerpm: String,
    pub buildtime: u64,
    pub installed_size: u64,
    pub archive_size: u64,
    /// Byte range of the main header in the file (`rpm:header-range`).
    pub header_start: u64,
    pub header_end: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provides: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obsoletes: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommends: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggests: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supplements: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enhances: Vec<Dep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PkgFile>,
    /// Newest first, at most [`CHANGELOG_LIMIT`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changelog: Vec<Change>,
}

/// One dependency entry (`rpm:entry`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dep {
    pub name: String,
    /// `EQ`, `LT`, `LE`, `GT`, `GE`; absent for an unversioned entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<String>,
    /// Needed before installation scripts run (`pre="1"`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkgFile {
    pub path: String,
    /// `dir`, `ghost`, or absent for a regular file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub author: String,
    pub date: u64,
    pub text: String,
}

/// The identity of a package and everything else read from it.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub name: String,
    pub is_source: bool,
    pub info: RpmInfo,
}

type Result<T> = std::result::Result<T, String>;

/// Why an uploaded `.rpm` was refused.
#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    /// Not a whole, consistent rpm.
    #[error("{0}")]
    Invalid(String),
    /// Its file list names something rpm must not install.
    #[error(transparent)]
    Files(#[from] FileListError),
}

impl RpmError {
    /// The stable error code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            RpmError::Invalid(_) => "invalid_rpm",
            RpmError::Files(e) => e.code(),
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Walks one header structure at `offset`; returns where it ends (before
/// any padding).
fn check_header(
    f: &mut (impl Read + Seek),
    offset: u64,
    file_size: u64,
    what: &str,
) -> Result<u64> {
    let io = |e: std::io::Error| format!("reading the {what}: {e}");
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut intro = [0u8; 16];
    f.read_exact(&mut intro)
        .map_err(|_| format!("file ends inside the {what}"))?;
    if intro[..4] != HEADER_MAGIC {
        return Err(format!("the {what} has no header magic"));
    }
    let (tags, data) = (be32(&intro[8..12]), be32(&intro[12..16]));
    if tags == 0 || tags > MAX_TAGS || data > MAX_DATA {
        return Err(format!(
            "the {what} claims an impossible size ({tags} entries, {data} bytes of data)"
        ));
    }
    let end = offset + 16 + u64::from(tags) * 16 + u64::from(data);
    if end > file_size {
        return Err(format!(
            "the {what} claims {} bytes but the file has {file_size}: truncated or not an rpm",
            end - offset
        ));
    }
    let mut index = vec![0u8; tags as usize * 16];
    f.read_exact(&mut index).map_err(io)?;
    for e in index.chunks_exact(16) {
        let (kind, off, count) = (be32(&e[4..8]), be32(&e[8..12]), be32(&e[12..16]));
        // NULL, CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING
        let width: u64 = match kind {
            0 => 0,
            1 | 2 | 6..=9 => 1,
            3 => 2,
            4 => 4,
            5 => 8,
            _ => return Err(format!("the {what} has an entry of unknown type {kind}")),
        };
        let fits = u64::from(off) < u64::from(data).max(1)
            && u64::from(off) + width * u64::from(count) <= u64::from(data)
            && (kind == 0 || count > 0);
        if !fits {
            return Err(format!(
                "the {what} has an entry (tag {}) outside its data",
                be32(&e[..4])
            ));
        }
    }
    Ok(end)
}

/// Checks the lead and both headers' structure; returns where the main
/// header starts and ends.
#[doc(hidden)]
pub fn check_layout(f: &mut (impl Read + Seek), file_size: u64) -> Result<(u64, u64)> {
    let mut lead = [0u8; LEAD_SIZE as usize];
    f.read_exact(&mut lead)
        .map_err(|_| "too short to be an rpm".to_owned())?;
    if lead[..4] != LEAD_MAGIC {
        return Err("not an rpm (no lead magic)".into());
    }
    if !matches!(lead[4], 3 | 4) {
        return Err(format!("unsupported rpm format version {}", lead[4]));
    }
    let sig_end = check_header(f, LEAD_SIZE, file_size, "signature header")?;
    let header_start = sig_end.div_ceil(8) * 8;
    let header_end = check_header(f, header_start, file_size, "main header")?;
    Ok((header_start, header_end))
}

/// Feeds `len` bytes (or all to the end) from the current position to `sink`.
fn hash_range(
    r: &mut impl Read,
    len: Option<u64>,
    mut sink: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    loop {
        let want = len.map_or(buf.len() as u64, |l| (l - done).min(buf.len() as u64)) as usize;
        if want == 0 {
            return Ok(());
        }
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(());
        }
        sink(&buf[..n]);
        done += n as u64;
    }
}

/// Checks the header digests, payload digest and sizes the package states
/// about itself, so a truncated or altered file is refused.
fn verify(path: &Path, meta: &PackageMetadata, start: u64, end: u64, size: u64) -> Result<()> {
    let sig = &meta.signature;
    let io = |e: std::io::Error| format!("reading the package: {e}");
    let mut r = BufReader::new(File::open(path).map_err(io)?);
    r.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut h256 = sha2::Sha256::new();
    let mut h1 = sha1::Sha1::new();
    let mut md5 = md5::Md5::new();
    let mut p256 = sha2::Sha256::new();
    hash_range(&mut r, Some(end - start), |b| {
        h256.update(b);
        h1.update(b);
        md5.update(b);
    })
    .map_err(io)?;
    hash_range(&mut r, None, |b| {
        p256.update(b);
        md5.update(b);
    })
    .map_err(io)?;
    let stated = sig
        .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
        .ok()
        .or_else(|| {
            sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
                .ok()
                .map(u64::from)
        });
    if let Some(stated) = stated
        && stated != size - start
    {
        return Err(format!(
            "the package says header and payload are {stated} bytes but the file has {}: truncated or padded",
            size - start
        ));
    }
    let bad = |what: &str| Err(format!("{what} does not match: the file is damaged"));
    if let Ok(want) = sig.get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA256)
        && !want.eq_ignore_ascii_case(&hex::encode(h256.finalize()))
    {
        return bad("the header's SHA-256 digest");
    }
    if let Ok(want) = sig.get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA1)
        && !want.eq_ignore_ascii_case(&hex::encode(h1.finalize()))
    {
        return bad("the header's SHA-1 digest");
    }
    if let Ok(want) = sig.get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_MD5)
        && want != md5.finalize().as_slice()
    {
        return bad("the package's MD5 digest");
    }
    let algo = meta
        .header
        .get_entry_data_as_u32(IndexTag::RPMTAG_PAYLOADSHA256ALGO)
        .unwrap_or(PGPHASHALGO_SHA256);
    if algo == PGPHASHALGO_SHA256
        && let Ok(want) = meta
            .header
            .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
        && let Some(want) = want.first()
        && !want.eq_ignore_ascii_case(&hex::encode(p256.finalize()))
    {
        return bad("the payload's SHA-256 digest");
    }
    Ok(())
}

/// Reads and checks the package at `path` (`size` bytes).
pub fn read(path: &Path, size: u64) -> std::result::Result<Parsed, RpmError> {
    let mut f = File::open(path).map_err(|e| format!("reading the package: {e}"))?;
    let (start, end) = check_layout(&mut f, size)?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| format!("reading the package: {e}"))?;
    // The layout check bounds every offset the crate follows; a panic would
    // still be a bug in it, reported as a refusal rather than a 500.
    let meta = std::panic::catch_unwind(move || PackageMetadata::parse(&mut BufReader::new(f)))
        .map_err(|_| "the rpm header could not be decoded".to_owned())?
        .map_err(|e| format!("the rpm header could not be decoded: {e}"))?;
    let offsets = meta.get_package_segment_offsets();
    if offsets.header != start || offsets.payload != end {
        return Err(RpmError::Invalid(
            "the rpm header could not be decoded consistently".into(),
        ));
    }
    verify(path, &meta, start, end, size)?;
    FileList::of(&meta)?.check(meta.is_source_package())?;
    Ok(extract(&meta, start, end).map_err(|e| format!("the rpm header is incomplete: {e}"))?)
}

impl From<String> for RpmError {
    fn from(message: String) -> Self {
        RpmError::Invalid(message)
    }
}

fn opt_str(r: std::result::Result<&str, rpm::Error>) -> String {
    r.map(str::to_owned).unwrap_or_default()
}

fn deps(r: std::result::Result<Vec<rpm::Dependency>, rpm::Error>) -> Vec<Dep> {
    r.unwrap_or_default().into_iter().map(dep).collect()
}

fn dep(d: rpm::Dependency) -> Dep {
    let cmp = d.flags & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL);
    let flags = match (
        cmp.contains(DependencyFlags::LESS),
        cmp.contains(DependencyFlags::GREATER),
        cmp.contains(DependencyFlags::EQUAL),
    ) {
        (true, false, false) => Some("LT"),
        (true, false, true) => Some("LE"),
        (false, true, false) => Some("GT"),
        (false, true, true) => Some("GE"),
        (false, false, true) => Some("EQ"),
        _ => None,
    };
    let pre = d.flags.intersects(
        DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST,
    );
    let (mut epoch, mut ver, mut rel) = (None, None, None);
    if !d.version.is_empty() {
        let (e, vr) = match d.version.split_once(':') {
            Some((e, vr)) if e.chars().all(|c| c.is_ascii_digit()) => (e.to_owned(), vr),
            _ => ("0".to_owned(), d.version.as_str()),
        };
        let (v, r) = match vr.rsplit_once('-') {
            Some((v, r)) => (v, Some(r.to_owned())),
            None => (vr, None),
        };
        epoch = Some(e);
        ver = Some(v.to_owned());
        rel = r;
    }
    Dep {
        name: d.name,
        flags: flags.map(str::to_owned),
        epoch,
        ver,
        rel,
        pre,
    }
}

/// Files rpm-md lists in primary.xml as well as filelists.xml, because
/// resolvers look them up without loading filelists.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

#[doc(hidden)]
pub fn extract(
    m: &PackageMetadata,
    start: u64,
    end: u64,
) -> std::result::Result<Parsed, rpm::Error> {
    let h = &m.header;
    let is_source = m.is_source_package();
    let arch = if is_source {
        "src".to_owned()
    } else {
        m.get_arch()?.to_owned()
    };
    let modes = h
        .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
        .unwrap_or_default();
    let fflags = h
        .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)
        .unwrap_or_default();
    let mut files = Vec::new();
    for (i, (dir, base)) in m.get_file_paths_split()?.into_iter().enumerate() {
        let is_dir = modes.get(i).is_some_and(|m| m & 0o170000 == 0o040000);
        let ghost = fflags
            .get(i)
            .is_some_and(|f| FileFlags::from_bits_retain(*f).contains(FileFlags::GHOST));
        files.push(PkgFile {
            path: format!("{dir}{base}"),
            kind: if is_dir {
                Some("dir".into())
            } else if ghost {
                Some("ghost".into())
            } else {
                None
            },
        });
    }
    let provides = deps(m.get_provides());
    // Sets, not scans: a header may list hundreds of thousands of each.
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let provided: HashSet<&str> = provides.iter().map(|p| p.name.as_str()).collect();
    let mut seen: HashSet<Dep> = HashSet::new();
    let mut requires = Vec::new();
    for d in deps(m.get_requires()) {
        // As createrepo_c: rpmlib() features, the package's own primary files
        // and its own provides are not requirements a resolver must meet.
        let own_file = is_primary_file(&d.name) && own_files.contains(d.name.as_str());
        if d.name.starts_with("rpmlib(")
            || own_file
            || provided.contains(d.name.as_str())
            || !seen.insert(d.clone())
        {
            continue;
        }
        requires.push(d);
    }
    let changelog: Vec<Change> = m
        .get_changelog_entries()
        .unwrap_or_default()
        .into_iter()
        .take(CHANGELOG_LIMIT)
        .map(|c| Change {
            author: c.name.trim_end().to_owned(),
            date: c.timestamp,
            text: c.description,
        })
        .collect();
    let sig = &m.signature;
    let archive_size = sig
        .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .ok()
        .or_else(|| {
            sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                .ok()
                .map(u64::from)
        })
        .or_else(|| {
            h.get_entry_data_as_u64(IndexTag::RPMTAG_LONGARCHIVESIZE)
                .ok()
        })
        .or_else(|| {
            h.get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE)
                .ok()
                .map(u64::from)
        })
        .unwrap_or(0);
    let info = RpmInfo {
        epoch: m.get_epoch().unwrap_or(0),
        ver: m.get_version()?.to_owned(),
        rel: m.get_release()?.to_owned(),
        arch,
        summary: opt_str(m.get_summary()),
        description: opt_str(m.get_description()),
        packager: opt_str(m.get_packager()),
        url: opt_str(m.get_url()),
        license: opt_str(m.get_license()),
        vendor: opt_str(m.get_vendor()),
        group: opt_str(m.get_group()),
        buildhost: opt_str(m.get_build_host()),
        sourcerpm: if is_source {
            String::new()
        } else {
            opt_str(m.get_source_rpm())
        },
        buildtime: m.get_build_time().unwrap_or(0),
        installed_size: m.get_installed_size().unwrap_or(0),
        archive_size,
        header_start: start,
        header_end: end,
        provides,
        requires,
        conflicts: deps(m.get_conflicts()),
        obsoletes: deps(m.get_obsoletes()),
        recommends: deps(m.get_recommends()),
        suggests: deps(m.get_suggests()),
        supplements: deps(m.get_supplements()),
        enhances: deps(m.get_enhances()),
        files,
        changelog,
    };
    Ok(Parsed {
        name: m.get_name()?.to_owned(),
        is_source,
        info,
    })
}
