//! Reading distribution files: a wheel's filename grammar and its
//! `.dist-info` (METADATA, WHEEL, RECORD), an sdist's `PKG-INFO`. Archives
//! are read end to end (CRCs, truncation) with decompression bounded, and
//! the metadata file's size is checked before it is read.

use std::fs::File;
use std::io::{self, BufReader, Read};

use artifactd_provider_api::limits::{Bounded, unpack_limit};
use artifactd_provider_api::{ProviderError, UploadedFile};
use pep440_rs::Version;

use crate::metadata::{self, CoreMetadata, MAX_METADATA};
use crate::{member, names};

fn invalid(code: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(code, message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Wheel,
    SdistTarGz,
    SdistZip,
}

impl Kind {
    pub fn of(filename: &str) -> Option<Kind> {
        if filename.ends_with(".whl") {
            Some(Kind::Wheel)
        } else if filename.ends_with(".tar.gz") {
            Some(Kind::SdistTarGz)
        } else if filename.ends_with(".zip") {
            Some(Kind::SdistZip)
        } else {
            None
        }
    }

    /// The `filetype` twine sends for it.
    pub fn filetype(self) -> &'static str {
        match self {
            Kind::Wheel => "bdist_wheel",
            Kind::SdistTarGz | Kind::SdistZip => "sdist",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Wheel | Kind::SdistZip => "application/zip",
            Kind::SdistTarGz => "application/gzip",
        }
    }
}

/// The parts of `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
#[derive(Debug, PartialEq, Eq)]
pub struct WheelName<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub build: Option<&'a str>,
    pub tags: [&'a str; 3],
}

/// Parses a wheel file name (PEP 427 and the binary distribution format spec).
pub fn parse_wheel_name(filename: &str) -> Result<WheelName<'_>, ProviderError> {
    let bad = |why: &str| {
        invalid(
            "invalid_filename",
            format!(
                "{filename} is not a wheel file name ({why}); expected NAME-VERSION(-BUILD)?-PYTHON-ABI-PLATFORM.whl"
            ),
        )
    };
    let stem = filename
        .strip_suffix(".whl")
        .ok_or_else(|| bad("no .whl"))?;
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, build, tags) = match parts.as_slice() {
        [n, v, py, abi, plat] => (*n, *v, None, [*py, *abi, *plat]),
        [n, v, b, py, abi, plat] => (*n, *v, Some(*b), [*py, *abi, *plat]),
        _ => return Err(bad("wrong number of '-' separated parts")),
    };
    if !names::is_valid(name) {
        return Err(bad("invalid project name"));
    }
    if let Some(b) = build
        && !(b.starts_with(|c: char| c.is_ascii_digit())
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.'))
    {
        return Err(bad("a build tag starts with a digit"));
    }
    for t in tags {
        if t.is_empty()
            || !t
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            return Err(bad("invalid compatibility tag"));
        }
    }
    metadata::parse_version(version, filename)?;
    Ok(WheelName {
        name,
        version,
        build,
        tags,
    })
}

/// What an accepted distribution file says about itself.
#[derive(Debug)]
pub struct Inspected {
    pub kind: Kind,
    pub metadata: CoreMetadata,
    /// The raw core metadata file, served as `<file>.metadata` (wheels only).
    pub metadata_file: Option<Vec<u8>>,
    /// Wheel compatibility tags (`py3-none-any`).
    pub tags: Option<String>,
}

/// Validates one uploaded distribution file end to end.
pub fn inspect(file: &UploadedFile) -> Result<Inspected, ProviderError> {
    let kind = Kind::of(&file.filename).ok_or_else(|| {
        invalid(
            "unsupported_file",
            format!(
                "{} is not a wheel (.whl) or an sdist (.tar.gz, .zip)",
                file.filename
            ),
        )
    })?;
    match kind {
        Kind::Wheel => inspect_wheel(file),
        Kind::SdistTarGz => inspect_sdist_tar(file),
        Kind::SdistZip => inspect_sdist_zip(file),
    }
}

fn same_version(a: &Version, b: &str) -> bool {
    b.parse::<Version>().is_ok_and(|b| *a == b)
}

/// Checks the file name's project name and version against the metadata.
fn check_identity(
    filename: &str,
    name: &str,
    version: &str,
    md: &CoreMetadata,
) -> Result<(), ProviderError> {
    if names::normalize(name) != names::normalize(&md.name) {
        return Err(invalid(
            "name_mismatch",
            format!(
                "{filename} names project {name:?} but its metadata says {:?}",
                md.name
            ),
        ));
    }
    if !same_version(&md.version, version) {
        return Err(invalid(
            "version_mismatch",
            format!(
                "{filename} has version {version:?} but its metadata says {:?}",
                md.version.to_string()
            ),
        ));
    }
    Ok(())
}

fn archive_error(filename: &str, e: impl std::fmt::Display) -> ProviderError {
    invalid(
        "invalid_archive",
        format!("{filename} is not a readable archive: {e}"),
    )
}

/// Reads one zip entry whole, refusing it up front when it claims to be
/// larger than `max` and while reading when it turns out larger.
fn read_entry<R: Read + io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    max: u64,
    filename: &str,
) -> Result<Vec<u8>, ProviderError> {
    let entry = zip
        .by_index(index)
        .map_err(|e| archive_error(filename, e))?;
    let name = entry.name().to_owned();
    if entry.size() > max {
        return Err(invalid(
            "metadata_too_large",
            format!(
                "{filename}: {name} declares {} bytes; metadata is limited to {max}",
                entry.size()
            ),
        ));
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    Bounded::new(entry, max)
        .read_to_end(&mut out)
        .map_err(|e| archive_error(filename, format!("{name}: {e}")))?;
    Ok(out)
}

/// Decompresses every entry (the zip reader checks each CRC), bounded in
/// total; a wheel pip could not unpack is refused here. The entry at
/// `record` is a wheel's RECORD, whose paths are checked on the way.
fn check_all_entries<R: Read + io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    limit: u64,
    filename: &str,
    record: Option<usize>,
) -> Result<(), ProviderError> {
    let mut left = limit;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| archive_error(filename, e))?;
        let name = entry.name().to_owned();
        if entry.size() > left {
            return Err(invalid(
                "archive_too_large",
                format!("{filename} unpacks to more than {limit} bytes"),
            ));
        }
        let n = if record == Some(i) {
            member::check_record(filename, &name, Bounded::new(entry, left))?
        } else {
            io::copy(&mut Bounded::new(entry, left), &mut io::sink())
                .map_err(|e| archive_error(filename, format!("{name}: {e}")))?
        };
        left -= n;
    }
    Ok(())
}

fn open_zip(file: &UploadedFile) -> Result<zip::ZipArchive<BufReader<File>>, ProviderError> {
    zip::ZipArchive::new(BufReader::new(File::open(&file.path)?))
        .map_err(|e| archive_error(&file.filename, e))
}

fn inspect_wheel(file: &UploadedFile) -> Result<Inspected, ProviderError> {
    let wn = parse_wheel_name(&file.filename)?;
    let mut zip = open_zip(file)?;
    for name in zip.file_names() {
        member::check(&file.filename, name)?;
    }
    // The one top-level `*.dist-info` directory with a METADATA file.
    let mut dist_info: Option<String> = None;
    for name in zip.file_names() {
        if let Some(dir) = name.strip_suffix("/METADATA")
            && dir.ends_with(".dist-info")
            && !dir.contains('/')
        {
            if let Some(other) = &dist_info {
                return Err(invalid(
                    "invalid_wheel",
                    format!(
                        "{}: more than one .dist-info directory ({other}, {dir})",
                        file.filename
                    ),
                ));
            }
            dist_info = Some(dir.to_owned());
        }
    }
    let dist_info = dist_info.ok_or_else(|| {
        invalid(
            "invalid_wheel",
            format!(
                "{} is a zip without a NAME-VERSION.dist-info/METADATA: not a wheel",
                file.filename
            ),
        )
    })?;
    let index = |zip: &zip::ZipArchive<_>, leaf: &str| {
        zip.index_for_name(&format!("{dist_info}/{leaf}"))
            .ok_or_else(|| {
                invalid(
                    "invalid_wheel",
                    format!("{}: {dist_info}/{leaf} is missing", file.filename),
                )
            })
    };
    let (md_index, wheel_index) = (index(&zip, "METADATA")?, index(&zip, "WHEEL")?);
    let record_index = index(&zip, "RECORD")?;
    let md_bytes = read_entry(&mut zip, md_index, MAX_METADATA, &file.filename)?;
    let md = metadata::parse(&md_bytes, &format!("{dist_info}/METADATA"))?;
    check_identity(&file.filename, wn.name, wn.version, &md)?;
    // The directory name carries the same identity.
    let stem = dist_info.trim_end_matches(".dist-info");
    match stem.rsplit_once('-') {
        Some((n, v)) => check_identity(&file.filename, n, v, &md)?,
        None => {
            return Err(invalid(
                "invalid_wheel",
                format!(
                    "{}: {dist_info} is not NAME-VERSION.dist-info",
                    file.filename
                ),
            ));
        }
    }
    let wheel = read_entry(&mut zip, wheel_index, 1 << 20, &file.filename)?;
    let wheel = metadata::parse_headers(&wheel, &format!("{dist_info}/WHEEL"))?;
    let wheel_version = wheel
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Wheel-Version"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if wheel_version.split('.').next() != Some("1") {
        return Err(invalid(
            "invalid_wheel",
            format!(
                "{}: {dist_info}/WHEEL has Wheel-Version {wheel_version:?}; only 1.x is installable",
                file.filename
            ),
        ));
    }
    check_all_entries(
        &mut zip,
        unpack_limit(file.size),
        &file.filename,
        Some(record_index),
    )?;
    Ok(Inspected {
        kind: Kind::Wheel,
        metadata: md,
        metadata_file: Some(md_bytes),
        tags: Some(wn.tags.join("-")),
    })
}

/// Splits an sdist stem `NAME-VERSION` where the name may itself contain
/// `-`: the split whose version equals the metadata's wins.
fn check_sdist_name(filename: &str, stem: &str, md: &CoreMetadata) -> Result<(), ProviderError> {
    let fits = stem.match_indices('-').any(|(i, _)| {
        names::normalize(&stem[..i]) == names::normalize(&md.name)
            && same_version(&md.version, &stem[i + 1..])
    });
    if fits {
        return Ok(());
    }
    match stem.rsplit_once('-') {
        Some((n, v)) => check_identity(filename, n, v, md),
        None => Err(invalid(
            "invalid_filename",
            format!("{filename} is not NAME-VERSION.tar.gz or NAME-VERSION.zip"),
        )),
    }
}

/// Where an sdist's PKG-INFO must be: `<top>/PKG-INFO`, one top directory.
fn pkg_info_top(path: &str) -> Option<&str> {
    let (top, leaf) = path.trim_start_matches("./").split_once('/')?;
    (leaf == "PKG-INFO" && !top.is_empty()).then_some(top)
}

/// Checks a tar member's path, link target and type: nothing that could be
/// written outside the directory it is unpacked into, and no device files.
fn check_tar_member<R: Read>(
    filename: &str,
    path: &str,
    entry: &tar::Entry<'_, R>,
) -> Result<(), ProviderError> {
    member::check(filename, path)?;
    let kind = entry.header().entry_type();
    if kind.is_character_special() || kind.is_block_special() {
        return Err(invalid(
            "device_file",
            format!("{filename}: member {path:?} is a device file"),
        ));
    }
    if kind.is_symlink() || kind.is_hard_link() {
        let target = entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        member::check_link(filename, path, &target, kind.is_symlink())?;
    }
    Ok(())
}

fn inspect_sdist_tar(file: &UploadedFile) -> Result<Inspected, ProviderError> {
    let stem = file.filename.trim_end_matches(".tar.gz");
    let reader = BufReader::with_capacity(256 * 1024, File::open(&file.path)?);
    let gz = flate2::bufread::MultiGzDecoder::new(reader);
    let mut archive = tar::Archive::new(Bounded::new(gz, unpack_limit(file.size)));
    let mut pkg_info: Option<(String, Vec<u8>)> = None;
    let mut entries = 0usize;
    let err = |e: io::Error| archive_error(&file.filename, e);
    for entry in archive.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        entries += 1;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        check_tar_member(&file.filename, &path, &entry)?;
        if pkg_info.is_none()
            && let Some(top) = pkg_info_top(&path)
        {
            let size = entry.size();
            if size > MAX_METADATA {
                return Err(invalid(
                    "metadata_too_large",
                    format!(
                        "{}: {path} is {size} bytes; metadata is limited to {MAX_METADATA}",
                        file.filename
                    ),
                ));
            }
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(err)?;
            pkg_info = Some((top.to_owned(), buf));
        } else {
            io::copy(&mut entry, &mut io::sink()).map_err(err)?;
        }
    }
    // Drain the gzip trailer so its CRC and length are checked too.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(err)?;
    finish_sdist(file, stem, entries, pkg_info, Kind::SdistTarGz)
}

fn inspect_sdist_zip(file: &UploadedFile) -> Result<Inspected, ProviderError> {
    let stem = file.filename.trim_end_matches(".zip");
    let mut zip = open_zip(file)?;
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    for n in &names {
        member::check(&file.filename, n)?;
    }
    let found = names
        .iter()
        .filter_map(|n| pkg_info_top(n).map(|top| (top.to_owned(), n.clone())))
        .next();
    let pkg_info = match found {
        Some((top, name)) => {
            let i = zip.index_for_name(&name).expect("listed name");
            Some((top, read_entry(&mut zip, i, MAX_METADATA, &file.filename)?))
        }
        None => None,
    };
    check_all_entries(&mut zip, unpack_limit(file.size), &file.filename, None)?;
    finish_sdist(file, stem, names.len(), pkg_info, Kind::SdistZip)
}

fn finish_sdist(
    file: &UploadedFile,
    stem: &str,
    entries: usize,
    pkg_info: Option<(String, Vec<u8>)>,
    kind: Kind,
) -> Result<Inspected, ProviderError> {
    if entries == 0 {
        return Err(archive_error(&file.filename, "it has no entries"));
    }
    let (top, bytes) = pkg_info.ok_or_else(|| {
        invalid(
            "invalid_sdist",
            format!(
                "{} has no NAME-VERSION/PKG-INFO: not a source distribution",
                file.filename
            ),
        )
    })?;
    let md = metadata::parse(&bytes, &format!("{top}/PKG-INFO"))?;
    check_sdist_name(&file.filename, stem, &md)?;
    Ok(Inspected {
        kind,
        metadata: md,
        metadata_file: None,
        tags: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names() {
        let w = parse_wheel_name("six-1.16.0-py2.py3-none-any.whl").unwrap();
        assert_eq!(
            w,
            WheelName {
                name: "six",
                version: "1.16.0",
                build: None,
                tags: ["py2.py3", "none", "any"]
            }
        );
        let w = parse_wheel_name("my_pkg-1.0-1b-cp311-cp311-manylinux_2_17_x86_64.whl").unwrap();
        assert_eq!(w.build, Some("1b"));
        for bad in [
            "six-1.16.0-py3-none.whl",
            "six-1.16.0-x-py3-none-any.whl",
            "six-one-py3-none-any.whl",
            "-1.0-py3-none-any.whl",
            "six-1.0-py3-none-any.zip",
            "a-b-c-d-e-f-g.whl",
        ] {
            assert!(parse_wheel_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sdist_names_may_contain_dashes() {
        let md = metadata::parse(
            b"Metadata-Version: 2.1\nName: typing_extensions\nVersion: 4.0\n",
            "PKG-INFO",
        )
        .unwrap();
        for ok in [
            "typing_extensions-4.0",
            "typing-extensions-4.0",
            "Typing.Extensions-4.0.0",
        ] {
            check_sdist_name("f", ok, &md).unwrap();
        }
        for bad in ["typing-4.0", "typing_extensions-4.1", "typing_extensions"] {
            assert!(check_sdist_name("f", bad, &md).is_err(), "{bad}");
        }
    }
}
