//! The contract between the artifactd server and its format providers.
//!
//! This crate exists to break the dependency cycle between the server and the
//! formats: every provider crate depends on it alone, the server depends on it
//! and on the providers, and only the server's registry names concrete types.
//! It does no I/O beyond reading the upload files it is handed, and knows
//! nothing of HTTP, SQL or object storage: providers receive plain values
//! (uploaded temp files, package rows) and return plain values (parsed
//! metadata, rendered index files, path resolutions).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod channel;
pub mod limits;
mod metadata;
mod paths;
mod signer;
pub mod time;
mod weighted;

pub use channel::{ChannelFile, ChannelInput};
pub use metadata::Metadata;
pub use paths::{is_safe_segment, validate_relative_path};
pub use signer::{SignError, Signer};
pub use weighted::weighted;

/// SplitMix64's finaliser: a cheap, well-spread hash of an integer, for
/// the fingerprints and content-defined part boundaries renders use.
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A format plugged into the server (`apt`, `pypi`, `rpm`, `tar`, ...).
///
/// A provider is stateless from the server's point of view: every method gets
/// everything it needs as arguments, so any instance of the server can call
/// any method for any repository. A provider may cache work between calls
/// (apt keeps compressed index chunks), but its output never depends on
/// what is cached.
pub trait Provider: Send + Sync + 'static {
    /// The name in URLs and in `/addpkg?provider=`; lowercase ASCII.
    fn name(&self) -> &'static str;

    /// Validates one upload request (one or more files that belong together,
    /// e.g. a `.dsc` with its tarballs) and extracts what will be stored.
    ///
    /// Runs on a blocking thread: reading the files is fine. Every returned
    /// [`NewFile::upload`] must index into `files`; files not referenced by
    /// any package are an error the server reports.
    fn ingest(
        &self,
        ctx: &UploadContext<'_>,
        files: &[UploadedFile],
    ) -> Result<Vec<NewPackage>, ProviderError>;

    /// The stored form of a user-supplied package name (PEP 503
    /// normalisation for pypi). Used to check `/addpkg?name=` and to find
    /// the package an API call names.
    fn canonical_name(&self, given: &str) -> String {
        given.to_owned()
    }

    /// Whether a user-supplied version denotes the stored `canonical` one
    /// (PEP 440 equality for pypi: `1.0` is `1.0.0`).
    fn same_version(&self, given: &str, canonical: &str) -> bool {
        given == canonical
    }

    /// Whether packages of this format can be yanked (PEP 592): kept and
    /// installable when pinned, skipped by resolvers otherwise.
    fn yankable(&self) -> bool {
        false
    }

    /// Whether a `POST` to this path (relative to `/repo/<provider>/<repo>/`)
    /// is an upload in the format's own protocol, such as twine's legacy
    /// upload API for pypi. The body is multipart like `/addpkg`'s; its text
    /// fields reach [`Provider::ingest`] as parameters.
    fn accepts_upload_at(&self, path: &str) -> bool {
        let _ = path;
        false
    }

    /// Whether this format's indices are signed; the server then keeps an
    /// OpenPGP key per repository and passes a [`Signer`] to [`Provider::render`].
    fn signed(&self) -> bool {
        false
    }

    /// Renders every index file of a repository from its current packages.
    ///
    /// The server calls this while it holds the repository's publish lease,
    /// stores the result immutably and switches readers to it atomically.
    /// Paths are relative to `/repo/<provider>/<repo>/`.
    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<IndexFile>, ProviderError>;

    /// Renders only what `changes` touch: the files that differ from, or
    /// are missing in, what [`Provider::render`] gave for the repository's
    /// packages at `changes.since`, and the paths of those files that are
    /// gone. `Ok(None)` when the provider does not hold what that earlier
    /// render needs (it renders incrementally only from its own last
    /// render of the repository at exactly that `seq`); the server then
    /// renders in full. Applied to the files of the render at `since`, the
    /// answer must give exactly what [`Provider::render`] gives for `input`.
    ///
    /// The server calls this only when its current index set was rendered
    /// from the packages at `since`. The default renders nothing
    /// incrementally.
    fn render_changes(
        &self,
        input: &RenderInput<'_>,
        changes: &RenderChanges<'_>,
    ) -> Result<Option<RenderDelta>, ProviderError> {
        let _ = (input, changes);
        Ok(None)
    }

    /// Maps a requested path (relative to `/repo/<provider>/<repo>/`) to the
    /// published index file or package file that answers it.
    ///
    /// Called on the hot path: it must be cheap and must not do I/O. The
    /// default serves the path as it is.
    fn resolve(&self, path: &str, req: &ReadRequest<'_>) -> Resolution {
        let _ = req;
        Resolution::Serve(path.to_owned())
    }

    /// For a path a channel must not serve as its snapshot has it (a file
    /// that dates or signs the whole repository, such as apt's `Release`),
    /// the snapshot path the channel's body is made from; `None` (the
    /// default) serves the snapshot's bytes. Cheap, no I/O.
    fn channel_source(&self, path: &str) -> Option<String> {
        let _ = path;
        None
    }

    /// The body a channel serves at `input.path`, made from the snapshot's
    /// body at [`Provider::channel_source`]: dated `input.moved_at`, so a
    /// channel moved back to an older snapshot reaches clients that refuse
    /// an index older than the one they hold. Called once per path per move
    /// on each instance; the same input must give the same text.
    fn channel_file(&self, input: &ChannelInput<'_>) -> Result<ChannelFile, ProviderError> {
        Err(ProviderError::Render(format!(
            "{} makes no channel file for {}",
            self.name(),
            input.path
        )))
    }

    /// Orders two stored versions of one package the way the format's
    /// clients do (dpkg, PEP 440, rpmvercmp), so the web UI calls the same
    /// version "newest" as `apt-get`, pip or dnf would. The default reads
    /// runs of digits as numbers (`1.10` after `1.9`).
    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        natural_cmp(a, b)
    }

    /// One line about a package for listings (a summary or the first line
    /// of a description); empty if the format has none.
    fn summary(&self, package: &PackageRecord) -> String {
        let _ = package;
        String::new()
    }

    /// What the web UI shows about one package beyond name and version.
    fn describe(&self, package: &PackageRecord) -> Vec<Field> {
        let _ = package;
        Vec::new()
    }

    /// Where a package file lives once its package is copied from section
    /// `from` to section `to` (of this or another repository of this
    /// format), or why the package cannot go there. The default allows
    /// copies within one section only, for formats without sections.
    fn relocate(&self, path: &str, from: &str, to: &str) -> Result<String, ProviderError> {
        if from == to {
            Ok(path.to_owned())
        } else {
            Err(ProviderError::invalid(
                "invalid_section",
                format!(
                    "{} packages have no sections; {to:?} is not one",
                    self.name()
                ),
            ))
        }
    }

    /// Ready-to-copy client instructions for a repository, or for one
    /// package of it when `ctx.package` is set.
    fn install_snippets(&self, ctx: &SnippetContext<'_>) -> Vec<Snippet>;
}

/// What [`Provider::install_snippets`] may use.
#[derive(Debug)]
pub struct SnippetContext<'a> {
    pub repo: &'a RepoInfo,
    /// Scheme, host and port clients reach the server at; no trailing slash.
    pub base_url: &'a str,
    /// The distinct [`NewPackage::section`]s the repository holds, sorted
    /// (apt `dist/component`, rpm dists), so snippets name real ones.
    pub sections: &'a [String],
    /// The package a package page is about (its newest version).
    pub package: Option<&'a PackageRecord>,
}

/// Compares strings piecewise, runs of ASCII digits by numeric value and
/// everything else by bytes: `a2 < a10`, `1.9 < 1.10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (n, m) = (run(x), run(y));
                let trim = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
                let (dx, dy) = (&x[trim(&x[..n])..n], &y[trim(&y[..m])..m]);
                let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                if ord != Ordering::Equal {
                    return ord;
                }
                (x, y) = (&x[n..], &y[m..]);
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
}

/// Query parameters and identity of one `/addpkg` call.
#[derive(Debug)]
pub struct UploadContext<'a> {
    pub repo: &'a RepoInfo,
    /// Expected package name, if the client said one.
    pub name: Option<&'a str>,
    /// Expected version, if the client said one.
    pub version: Option<&'a str>,
    /// Provider-specific parameters (`dist`, `component`, ...), minus the
    /// ones the server itself consumes.
    pub params: &'a BTreeMap<String, String>,
}

impl UploadContext<'_> {
    /// A provider parameter, if present and non-empty.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// One uploaded file, already streamed to a local temporary file and hashed.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// The client's file name, already checked to be one safe path segment.
    pub filename: String,
    /// Local temporary file holding the bytes; read-only for the provider.
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// A package version to create (or to add files to, if it already exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPackage {
    pub name: String,
    pub version: String,
    /// Where in the repository the package lives, provider-defined: `""` for
    /// flat formats, `"bookworm/main"` for apt, `"el9"` for rpm.
    pub section: String,
    /// Distinguishes builds of one name/version in one section (apt's
    /// architecture, rpm's arch); `""` where the format has none.
    pub variant: String,
    /// Format-specific metadata kept with the package row.
    pub metadata: Value,
    pub files: Vec<NewFile>,
    /// Files the provider made from the upload (pypi's `.metadata` files),
    /// stored and served like uploaded ones.
    #[serde(default)]
    pub derived: Vec<DerivedFile>,
}

/// A file of a [`NewPackage`] that the provider produced rather than the
/// client uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DerivedFile {
    pub filename: String,
    /// Relative to the repository root, like [`NewFile::path`].
    pub path: String,
    pub content_type: String,
    pub metadata: Value,
    pub bytes: Vec<u8>,
}

/// A file of a [`NewPackage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFile {
    /// Index into the `files` slice given to [`Provider::ingest`].
    pub upload: usize,
    pub filename: String,
    /// Where clients download it, relative to the repository root. The same
    /// path always means the same bytes within a repository.
    pub path: String,
    pub content_type: String,
    /// Format-specific per-file metadata (control stanza, wheel tags, ...).
    pub metadata: Value,
}

/// A repository as providers see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoInfo {
    pub id: i64,
    pub provider: String,
    pub name: String,
    /// Per-repository settings (e.g. apt Origin/Label), provider-defined.
    pub settings: Value,
}

/// A stored package with its files, as read back from the metadata store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageRecord {
    pub id: i64,
    /// Changes whenever the package or its files change (the repository's
    /// change counter at that moment): `(id, seq)` identifies a package's
    /// content, for providers that cache rendered pieces.
    #[serde(default)]
    pub seq: i64,
    pub name: String,
    pub version: String,
    pub section: String,
    pub variant: String,
    pub metadata: Metadata,
    /// Milliseconds since the Unix epoch.
    pub uploaded_at: i64,
    pub uploader: String,
    /// Why the package was yanked (possibly empty), if it was: resolvers
    /// skip it unless pinned to it. Only for providers that [`Provider::yankable`].
    #[serde(default)]
    pub yanked: Option<String>,
    pub files: Vec<FileRecord>,
}

/// A stored file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    pub filename: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub metadata: Metadata,
    /// Milliseconds since the Unix epoch.
    pub uploaded_at: i64,
}

/// Everything [`Provider::render`] may look at.
pub struct RenderInput<'a> {
    pub repo: &'a RepoInfo,
    /// Every live package of the repository, in no particular order.
    pub packages: &'a [PackageRecord],
    /// Every [`NewPackage::section`] the repository has published, sorted,
    /// including those no package is left in: a provider renders each of
    /// them (empty, but valid and signed), so clients see a deletion
    /// rather than keep the last index that listed the package.
    pub sections: &'a [String],
    /// Signs index files with the repository key, for formats that sign.
    pub signer: Option<&'a dyn Signer>,
    /// Milliseconds since the Unix epoch, the same for every file of one
    /// publish (for `Date:` fields and the like).
    pub now: i64,
    /// The repository's change counter the packages are at: two renders of
    /// one repository with the same `seq` see the same packages. What
    /// [`RenderChanges::since`] refers to.
    pub seq: i64,
}

/// How the packages of a render differ from those of an earlier one.
#[derive(Debug)]
pub struct RenderChanges<'a> {
    /// The [`RenderInput::seq`] of the earlier render.
    pub since: i64,
    /// Every package added, changed or removed since then, each once.
    pub packages: &'a [PackageChange<'a>],
}

/// One package as it was and as it is: `before` absent for a new package,
/// `after` absent for a removed one.
#[derive(Debug, Clone, Copy)]
pub struct PackageChange<'a> {
    pub before: Option<&'a PackageRecord>,
    pub after: Option<&'a PackageRecord>,
}

/// What [`Provider::render_changes`] answers: the files to add or replace,
/// and the paths to drop.
#[derive(Debug, Default, PartialEq)]
pub struct RenderDelta {
    pub files: Vec<IndexFile>,
    pub removed: Vec<String>,
}

/// One rendered file of an index set.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexFile {
    /// Relative to the repository root, no leading slash.
    pub path: String,
    pub content_type: String,
    pub body: IndexBody,
}

/// What an index path answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexBody {
    Bytes(Vec<u8>),
    /// Bytes in which the server replaces every [`BASE_URL`] with the URL
    /// clients reach it at, when serving (install scripts, client configs).
    /// Not for files other index files hash.
    Template(Vec<u8>),
    /// Bytes whose SHA-256 (lowercase hex) the provider already computed, so
    /// the server need not hash large indices again.
    Hashed {
        bytes: Vec<u8>,
        sha256: String,
    },
    /// The same bytes as the index file at this other path of the same
    /// render (apt's by-hash copies), served with this file's own
    /// `content_type`: stored and hashed once.
    Alias(String),
    /// An HTTP redirect to another path of the same repository (e.g. tar's
    /// `latest`); resolved at publish time so reads stay cheap.
    Redirect(String),
    /// Bytes made of parts the server stores separately, so a large file
    /// that changed in one place costs the write of that part only. A
    /// provider keeps its parts between renders; each is hashed once.
    Parts(Vec<Part>),
}

/// A piece of an [`IndexBody::Parts`] body.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
    pub bytes: std::sync::Arc<[u8]>,
}

impl Part {
    pub fn new(bytes: Vec<u8>) -> Part {
        use sha2::Digest;
        Part {
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            bytes: bytes.into(),
        }
    }
}

/// The placeholder an [`IndexBody::Template`] uses for the server's base URL
/// (scheme, host and port, no trailing slash).
pub const BASE_URL: &str = "@BASE_URL@";

/// What the client's request says beyond its path.
#[derive(Debug, Default)]
pub struct ReadRequest<'a> {
    pub accept: Option<&'a str>,
}

/// The answer of [`Provider::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Serve the index file or package file at this path.
    Serve(String),
    /// Serve this path, which was chosen by the request's `Accept` header
    /// (the response says `Vary: Accept`).
    Negotiated(String),
    /// No representation the client accepts (406); the message says which
    /// media types exist.
    NotAcceptable(String),
    /// Redirect the client to this path (relative to the repository root).
    Redirect(String),
    NotFound,
}

/// A labelled value on a package page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// A ready-to-copy block of client instructions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    pub title: String,
    pub text: String,
}

/// Why a provider refused an upload or could not render.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The upload is not acceptable; the message is shown to the client.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Reading an upload file failed on the server side.
    #[error("reading upload: {0}")]
    Io(#[from] std::io::Error),
    /// Rendering failed; a bug or a signing failure, never the client's fault.
    #[error("rendering index: {0}")]
    Render(String),
}

impl ProviderError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ProviderError::Invalid {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use std::cmp::Ordering::*;

    #[test]
    fn natural_order_reads_numbers() {
        assert_eq!(natural_cmp("1.9", "1.10"), Less);
        assert_eq!(natural_cmp("a10", "a2"), Greater);
        assert_eq!(natural_cmp("1.0", "1.0"), Equal);
        assert_eq!(natural_cmp("1.0", "1.0.1"), Less);
        assert_eq!(natural_cmp("01", "1"), Less, "ties fall back to bytes");
        assert_eq!(natural_cmp("1.0b", "1.0a"), Greater);
    }
}
