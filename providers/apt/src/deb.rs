//! Reading a binary package: the `ar` container, `debian-binary`, the control
//! file from `control.tar[.gz|.xz|.zst]`, and the file list of `data.tar.*`
//! (for Contents indices). The whole archive is read, so a truncated or
//! corrupt package is refused at upload.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use artifactd_provider_api::limits::{Bounded, unpack_limit};

use crate::control::{MAX_CONTROL_SIZE, Paragraph, ParseError};

/// Why a `.deb` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// Not a readable binary package.
    #[error("{0}")]
    Invalid(String),
    #[error("the control file is {size} bytes; at most {MAX_CONTROL_SIZE} are accepted")]
    ControlTooLarge { size: u64 },
    #[error("control file: {0}")]
    Control(#[from] ParseError),
}

impl DebError {
    /// The stable error code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            DebError::Invalid(_) => "invalid_deb",
            DebError::ControlTooLarge { .. } => "control_too_large",
            DebError::Control(e) => e.code("invalid_deb"),
        }
    }
}

impl From<String> for DebError {
    fn from(message: String) -> Self {
        DebError::Invalid(message)
    }
}

/// What a `.deb` says about itself.
#[derive(Debug)]
pub struct Deb {
    pub control: Paragraph,
    /// Paths of the files it installs, without a leading `./` or `/`.
    pub files: Vec<String>,
}

/// Opens a decompressor chosen by an ar member's name suffix.
fn decompressor<'a, R: Read + 'a>(
    name: &str,
    base: &str,
    inner: R,
) -> Result<Box<dyn Read + 'a>, String> {
    let suffix = &name[base.len()..];
    Ok(match suffix {
        "" => Box::new(inner),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        ".xz" => Box::new(liblzma::read::XzDecoder::new_multi_decoder(inner)),
        ".zst" => {
            Box::new(zstd::stream::read::Decoder::new(inner).map_err(|e| format!("{name}: {e}"))?)
        }
        ".bz2" if base == "data.tar" => Box::new(bzip2::read::MultiBzDecoder::new(inner)),
        other => return Err(format!("{name}: unsupported compression {other:?}")),
    })
}

/// Reads a control member whole: larger than [`MAX_CONTROL_SIZE`] is an
/// error, never a truncated paragraph.
fn read_control_text(entry: &mut impl Read, declared: u64, name: &str) -> Result<String, DebError> {
    if declared > MAX_CONTROL_SIZE {
        return Err(DebError::ControlTooLarge { size: declared });
    }
    let mut text = Vec::new();
    entry
        .take(MAX_CONTROL_SIZE + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("{name}: {e}"))?;
    if text.len() as u64 > MAX_CONTROL_SIZE {
        return Err(DebError::ControlTooLarge {
            size: text.len() as u64,
        });
    }
    String::from_utf8(text)
        .map_err(|e| DebError::Invalid(format!("{name}: control is not UTF-8 text: {e}")))
}

fn read_control(reader: impl Read, name: &str) -> Result<Paragraph, DebError> {
    let mut archive = tar::Archive::new(reader);
    let mut control = None;
    for entry in archive.entries().map_err(|e| format!("{name}: {e}"))? {
        let mut entry = entry.map_err(|e| format!("{name}: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("{name}: {e}"))?
            .to_string_lossy()
            .into_owned();
        if path.trim_start_matches("./") == "control" {
            let declared = entry.header().size().map_err(|e| format!("{name}: {e}"))?;
            let text = read_control_text(&mut entry, declared, name)?;
            control = Some(Paragraph::parse_one(&text)?);
        } else {
            io::copy(&mut entry, &mut io::sink()).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    Ok(control.ok_or_else(|| format!("{name} has no control file"))?)
}

fn read_data(reader: impl Read, name: &str) -> Result<Vec<String>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut files = Vec::new();
    for entry in archive.entries().map_err(|e| format!("{name}: {e}"))? {
        let mut entry = entry.map_err(|e| format!("{name}: {e}"))?;
        let is_dir = entry.header().entry_type().is_dir();
        let path = entry
            .path()
            .map_err(|e| format!("{name}: {e}"))?
            .to_string_lossy()
            .into_owned();
        io::copy(&mut entry, &mut io::sink()).map_err(|e| format!("{name}: {e}"))?;
        let path = path
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_owned();
        if !is_dir && !path.is_empty() {
            files.push(path);
        }
    }
    Ok(files)
}

/// Reads and checks a `.deb` file.
pub fn read(path: &Path, size: u64) -> Result<Deb, DebError> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut archive = ar::Archive::new(BufReader::new(file));
    let limit = unpack_limit(size);
    let mut control = None;
    let mut files = None;
    let mut index = 0;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| format!("not a valid ar archive: {e}"))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        if index == 0 {
            if name != "debian-binary" {
                return Err(format!("first member is {name:?}, not debian-binary").into());
            }
            let mut version = String::new();
            entry
                .by_ref()
                .take(64)
                .read_to_string(&mut version)
                .map_err(|e| format!("debian-binary: {e}"))?;
            if !version.starts_with("2.") {
                return Err(format!(
                    "debian-binary says {:?}; only format 2.x is supported",
                    version.trim()
                )
                .into());
            }
        } else if name.starts_with("control.tar") {
            // One of each, as dpkg has it: every member may unpack to the
            // limit, so repeats would multiply the work an upload costs.
            if control.is_some() {
                return Err(format!("a second control member, {name:?}").into());
            }
            let reader = decompressor(&name, "control.tar", Bounded::new(&mut entry, limit))?;
            control = Some(read_control(reader, &name)?);
        } else if name.starts_with("data.tar") {
            if files.is_some() {
                return Err(format!("a second data member, {name:?}").into());
            }
            let reader = decompressor(&name, "data.tar", Bounded::new(&mut entry, limit))?;
            files = Some(read_data(reader, &name)?);
        } else if !name.starts_with('_') {
            return Err(format!("unexpected member {name:?}").into());
        }
        io::copy(&mut entry, &mut io::sink()).map_err(|e| format!("{name}: {e}"))?;
        index += 1;
    }
    if index == 0 {
        return Err(DebError::Invalid(
            "not a .deb: empty or not an ar archive".into(),
        ));
    }
    Ok(Deb {
        control: control.ok_or_else(|| DebError::Invalid("no control.tar member".into()))?,
        files: files.ok_or_else(|| DebError::Invalid("no data.tar member".into()))?,
    })
}
