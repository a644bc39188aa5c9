//! `provider=tar`: generic archives (tarballs in every usual compression, and
//! zip) stored as `<name>/<version>/<filename>`, with a JSON listing and a
//! `latest` redirect per name.
//!
//! The root listing is rendered in parts cut by package name, kept between
//! publishes, so one upload stores one small part rather than the whole
//! listing again (see `render.rs`).
//!
//! Uploads are validated by reading the whole archive, so a truncated or
//! mislabelled file is refused before anything is stored.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufReader, Read};

use artifactd_provider_api::limits::Bounded;
use artifactd_provider_api::{
    IndexFile, NewFile, NewPackage, Provider, ProviderError, ReadRequest, RenderChanges,
    RenderDelta, RenderInput, Resolution, Snippet, SnippetContext, UploadContext, UploadedFile,
    is_safe_segment,
};
use serde_json::json;

mod render;

/// The generic archive provider.
#[derive(Debug, Clone, Copy)]
pub struct TarProvider {
    /// An archive may unpack to `max(unpack_floor, unpack_ratio × its size)`
    /// bytes; beyond that it is refused as a decompression bomb, which would
    /// otherwise cost minutes of CPU to validate.
    pub unpack_floor: u64,
    pub unpack_ratio: u64,
}

impl Default for TarProvider {
    fn default() -> Self {
        TarProvider {
            unpack_floor: 1 << 30,
            unpack_ratio: 100,
        }
    }
}

impl TarProvider {
    fn unpack_limit(&self, size: u64) -> u64 {
        self.unpack_floor
            .max(size.saturating_mul(self.unpack_ratio))
    }
}

/// Archive formats we accept, recognised by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tar,
    TarGz,
    TarXz,
    TarZst,
    TarBz2,
    Zip,
}

const SUFFIXES: &[(&str, Kind)] = &[
    (".tar.gz", Kind::TarGz),
    (".tgz", Kind::TarGz),
    (".tar.xz", Kind::TarXz),
    (".txz", Kind::TarXz),
    (".tar.zst", Kind::TarZst),
    (".tar.bz2", Kind::TarBz2),
    (".tbz2", Kind::TarBz2),
    (".tar", Kind::Tar),
    (".zip", Kind::Zip),
];

impl Kind {
    /// The archive kind and the file name without its suffix.
    fn from_filename(filename: &str) -> Option<(Kind, &str)> {
        let lower = filename.to_ascii_lowercase();
        SUFFIXES.iter().find_map(|(suffix, kind)| {
            lower
                .ends_with(suffix)
                .then(|| (*kind, &filename[..filename.len() - suffix.len()]))
        })
    }

    fn content_type(self) -> &'static str {
        match self {
            Kind::Tar => "application/x-tar",
            Kind::TarGz => "application/gzip",
            Kind::TarXz => "application/x-xz",
            Kind::TarZst => "application/zstd",
            Kind::TarBz2 => "application/x-bzip2",
            Kind::Zip => "application/zip",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Tar => "tar",
            Kind::TarGz => "tar.gz",
            Kind::TarXz => "tar.xz",
            Kind::TarZst => "tar.zst",
            Kind::TarBz2 => "tar.bz2",
            Kind::Zip => "zip",
        }
    }
}

/// What reading an archive end to end found.
struct Summary {
    entries: u64,
    unpacked_size: u64,
}

fn bad_archive(filename: &str, kind: Kind, err: impl std::fmt::Display) -> ProviderError {
    ProviderError::invalid(
        "invalid_archive",
        format!(
            "{filename} is not a readable {} archive: {err}",
            kind.label()
        ),
    )
}

fn bounded<R: Read>(inner: R, limit: u64) -> Bounded<R> {
    Bounded::new(inner, limit)
}

/// Reads every entry of a tar stream, then drains the decompressor so its
/// trailer (CRC, length) is verified too.
fn scan_tar<R: Read>(reader: R, limit: u64) -> io::Result<Summary> {
    let mut archive = tar::Archive::new(bounded(reader, limit));
    let mut summary = Summary {
        entries: 0,
        unpacked_size: 0,
    };
    for entry in archive.entries()? {
        let mut entry = entry?;
        summary.entries += 1;
        summary.unpacked_size += io::copy(&mut entry, &mut io::sink())?;
    }
    io::copy(&mut archive.into_inner(), &mut io::sink())?;
    Ok(summary)
}

/// Reads the central directory and every entry; entries in a compression
/// this build can decode (stored, deflate) are decompressed to check their
/// CRC, the others are checked by their headers.
fn scan_zip(file: File, limit: u64) -> Result<Summary, zip::result::ZipError> {
    let mut archive = zip::ZipArchive::new(BufReader::new(file))?;
    let mut summary = Summary {
        entries: 0,
        unpacked_size: 0,
    };
    for i in 0..archive.len() {
        summary.entries += 1;
        let left = limit.saturating_sub(summary.unpacked_size);
        let decoded = match archive.by_index(i) {
            Ok(entry) => Some(io::copy(&mut bounded(entry, left), &mut io::sink())?),
            Err(zip::result::ZipError::UnsupportedArchive(_)) => None,
            Err(e) => return Err(e),
        };
        // An undecoded entry's size is what the zip claims, up to u64::MAX:
        // summing must not wrap around below the limit.
        let size = match decoded {
            Some(n) => n,
            None => archive.by_index_raw(i)?.size(),
        };
        summary.unpacked_size = summary.unpacked_size.saturating_add(size);
        if summary.unpacked_size > limit {
            return Err(io::Error::other(format!("it unpacks to more than {limit} bytes")).into());
        }
    }
    Ok(summary)
}

fn scan(file: &UploadedFile, kind: Kind, limit: u64) -> Result<Summary, ProviderError> {
    let open = || File::open(&file.path).map(|f| BufReader::with_capacity(256 * 1024, f));
    let result = match kind {
        Kind::Tar => scan_tar(open()?, limit),
        Kind::TarGz => scan_tar(flate2::bufread::MultiGzDecoder::new(open()?), limit),
        Kind::TarXz => scan_tar(
            liblzma::bufread::XzDecoder::new_multi_decoder(open()?),
            limit,
        ),
        Kind::TarZst => {
            zstd::stream::read::Decoder::with_buffer(open()?).and_then(|d| scan_tar(d, limit))
        }
        Kind::TarBz2 => scan_tar(bzip2::bufread::MultiBzDecoder::new(open()?), limit),
        Kind::Zip => {
            return scan_zip(File::open(&file.path)?, limit).map_err(|e| match e {
                zip::result::ZipError::Io(io) => bad_archive(&file.filename, kind, io),
                other => bad_archive(&file.filename, kind, other),
            });
        }
    };
    let summary = result.map_err(|e| bad_archive(&file.filename, kind, e))?;
    if summary.entries == 0 {
        return Err(bad_archive(&file.filename, kind, "it has no entries"));
    }
    Ok(summary)
}

/// Splits `name-version` at the last `-` that is followed by a digit.
fn split_name_version(stem: &str) -> Option<(&str, &str)> {
    let idx = stem
        .char_indices()
        .rev()
        .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
        .0;
    Some((&stem[..idx], &stem[idx + 1..]))
}

fn check_token(what: &str, value: &str, extra: &[char]) -> Result<(), ProviderError> {
    let ok = is_safe_segment(value)
        && value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c) || extra.contains(&c));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::invalid(
            "invalid_name",
            format!(
                "{what} {value:?} must start with a letter or digit and contain only letters, digits and . _ + -{}",
                extra.iter().map(|c| format!(" {c}")).collect::<String>()
            ),
        ))
    }
}

/// Orders versions the way people read them (`1.10` after `1.9`), falling back
/// to byte order where the version comparison gives no answer.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    use version_compare::Cmp;
    match version_compare::compare(a, b) {
        Ok(Cmp::Lt) => Ordering::Less,
        Ok(Cmp::Gt) => Ordering::Greater,
        _ => a.cmp(b),
    }
}

impl Provider for TarProvider {
    fn name(&self) -> &'static str {
        "tar"
    }

    fn ingest(
        &self,
        ctx: &UploadContext<'_>,
        files: &[UploadedFile],
    ) -> Result<Vec<NewPackage>, ProviderError> {
        let mut packages: Vec<NewPackage> = Vec::new();
        for (upload, file) in files.iter().enumerate() {
            let Some((kind, stem)) = Kind::from_filename(&file.filename) else {
                return Err(ProviderError::invalid(
                    "unsupported_file_type",
                    format!(
                        "{}: expected one of {}",
                        file.filename,
                        SUFFIXES
                            .iter()
                            .map(|(s, _)| *s)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let derived = split_name_version(stem);
            let name = ctx.name.or(derived.map(|d| d.0)).ok_or_else(|| {
                ProviderError::invalid(
                    "missing_name",
                    format!(
                        "{}: give name= and version=, or name the file NAME-VERSION.ext",
                        file.filename
                    ),
                )
            })?;
            let version = ctx.version.or(derived.map(|d| d.1)).ok_or_else(|| {
                ProviderError::invalid(
                    "missing_version",
                    format!(
                        "{}: give version=, or name the file NAME-VERSION.ext",
                        file.filename
                    ),
                )
            })?;
            check_token("name", name, &[])?;
            check_token("version", version, &['~'])?;
            if version == "latest" {
                return Err(ProviderError::invalid(
                    "invalid_version",
                    "\"latest\" is reserved for the newest-version redirect",
                ));
            }
            let summary = scan(file, kind, self.unpack_limit(file.size))?;
            let new_file = NewFile {
                upload,
                filename: file.filename.clone(),
                path: format!("{name}/{version}/{}", file.filename),
                content_type: kind.content_type().to_owned(),
                metadata: json!({
                    "format": kind.label(),
                    "entries": summary.entries,
                    "unpacked_size": summary.unpacked_size,
                }),
            };
            match packages
                .iter_mut()
                .find(|p| p.name == name && p.version == version)
            {
                Some(p) => p.files.push(new_file),
                None => packages.push(NewPackage {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    section: String::new(),
                    variant: String::new(),
                    metadata: json!({}),
                    files: vec![new_file],
                    derived: Vec::new(),
                }),
            }
        }
        Ok(packages)
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<IndexFile>, ProviderError> {
        Ok(render::render_cached(input))
    }

    fn render_changes(
        &self,
        input: &RenderInput<'_>,
        changes: &RenderChanges<'_>,
    ) -> Result<Option<RenderDelta>, ProviderError> {
        Ok(render::render_changes_cached(input, changes))
    }

    fn resolve(&self, path: &str, _req: &ReadRequest<'_>) -> Resolution {
        if path.is_empty() || path.ends_with('/') {
            match path.strip_suffix("latest/") {
                Some(latest) => Resolution::Serve(format!("{latest}latest")),
                None => Resolution::Serve(format!("{path}index.json")),
            }
        } else {
            Resolution::Serve(path.to_owned())
        }
    }

    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        compare_versions(a, b)
    }

    fn install_snippets(&self, ctx: &SnippetContext<'_>) -> Vec<Snippet> {
        let root = format!("{}/repo/tar/{}", ctx.base_url, ctx.repo.name);
        if let Some(p) = ctx.package {
            let mut out = vec![Snippet {
                title: format!("Download {} {}", p.name, p.version),
                text: p
                    .files
                    .iter()
                    .map(|f| format!("curl -fLO {root}/{}", f.path))
                    .collect::<Vec<_>>()
                    .join("\n"),
            }];
            if let [only] = p.files.as_slice() {
                out.push(Snippet {
                    title: format!("Always the newest version of {}", p.name),
                    text: format!("curl -fL -o {} {root}/{}/latest", only.filename, p.name),
                });
            }
            return out;
        }
        vec![
            Snippet {
                title: "Download the newest version of a package".into(),
                text: format!("curl -fL -o FILE {root}/NAME/latest"),
            },
            Snippet {
                title: "List packages and versions (JSON)".into(),
                text: format!("curl -fsS {root}/"),
            },
            Snippet {
                title: "Upload".into(),
                text: format!(
                    "curl -u ci:$TOKEN -F f=@NAME-1.0.tar.gz '{}/addpkg?provider=tar&reponame={}'",
                    ctx.base_url, ctx.repo.name
                ),
            },
        ]
    }
}

#[cfg(test)]
mod tests;
