//! Distributions built to write outside the install directory: traversal,
//! absolute and Windows paths in a wheel's entries or its RECORD, and in an
//! sdist's members and links.

use std::io::Write;

use artifactd_provider_api::{ProviderError, UploadedFile};

use crate::dist;

fn upload(dir: &std::path::Path, name: &str, bytes: &[u8]) -> UploadedFile {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    UploadedFile {
        filename: name.into(),
        path,
        size: bytes.len() as u64,
        sha256: String::new(),
    }
}

fn code(file: &UploadedFile) -> &'static str {
    match dist::inspect(file) {
        Ok(_) => "ok",
        Err(ProviderError::Invalid { code, .. }) => code,
        Err(e) => panic!("{e}"),
    }
}

/// A wheel of project `evil` 1.0 with `extra` entries and RECORD `record`.
fn wheel(extra: &[&str], record: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut files: Vec<(&str, &[u8])> = vec![
        ("evil/__init__.py", b"x = 1\n"),
        (
            "evil-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n",
        ),
        ("evil-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
        ("evil-1.0.dist-info/RECORD", record.as_bytes()),
    ];
    files.extend(extra.iter().map(|n| (*n, &b"pwned\n"[..])));
    for (name, bytes) in files {
        w.start_file(name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const RECORD: &str = "evil/__init__.py,,\nevil-1.0.dist-info/RECORD,,\n";

#[test]
fn wheels_with_entries_outside_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil-1.0-py3-none-any.whl";
    assert_eq!(code(&upload(dir.path(), name, &wheel(&[], RECORD))), "ok");
    for bad in [
        "../../evil.py",
        "/etc/evil",
        "evil/../../x",
        "\\evil.py",
        "C:\\x",
        "C:/x",
        "evil/a\0b.py",
    ] {
        let file = upload(dir.path(), name, &wheel(&[bad], RECORD));
        assert_eq!(code(&file), "unsafe_path", "{bad:?}");
    }
}

#[test]
fn wheels_whose_record_leaves_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil-1.0-py3-none-any.whl";
    for bad in [
        "../../../../etc/passwd,,\n",
        "/etc/passwd,,\n",
        "\"evil/../../x\",,\n",
        "C:\\Windows\\x,,\n",
    ] {
        let file = upload(dir.path(), name, &wheel(&[], &format!("{RECORD}{bad}")));
        assert_eq!(code(&file), "unsafe_path", "{bad:?}");
    }
}

/// An sdist `evil-1.0.tar.gz` with PKG-INFO plus `extra` entries, each a
/// regular file, a link (`Some(target)`) or a device.
fn sdist(extra: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let pkg_info = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n";
    let mut entries: Vec<(&str, tar::EntryType, &str)> =
        vec![("evil-1.0/PKG-INFO", tar::EntryType::Regular, "")];
    entries.extend_from_slice(extra);
    for (path, kind, target) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o644);
        let content: &[u8] = if kind == tar::EntryType::Regular {
            if path.ends_with("PKG-INFO") {
                pkg_info
            } else {
                b"pwned\n"
            }
        } else {
            b""
        };
        header.set_size(content.len() as u64);
        // Set the raw name bytes: `append_data` refuses `..` itself.
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        if !target.is_empty() {
            header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, content).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn sdists_with_members_or_links_outside_the_root_are_refused() {
    use tar::EntryType::{Block, Char, Link, Regular, Symlink};
    let dir = tempfile::tempdir().unwrap();
    let name = "evil-1.0.tar.gz";
    let ok = sdist(&[
        ("evil-1.0/src/a.py", Regular, ""),
        ("evil-1.0/src/link", Symlink, "../PKG-INFO"),
        ("evil-1.0/hard", Link, "evil-1.0/src/a.py"),
    ]);
    assert_eq!(code(&upload(dir.path(), name, &ok)), "ok");
    for (case, entry, want) in [
        ("traversal", ("../../evil.py", Regular, ""), "unsafe_path"),
        ("absolute", ("/etc/evil", Regular, ""), "unsafe_path"),
        (
            "inner traversal",
            ("evil-1.0/../../x", Regular, ""),
            "unsafe_path",
        ),
        (
            "backslash",
            ("evil-1.0\\..\\..\\x", Regular, ""),
            "unsafe_path",
        ),
        ("drive", ("C:\\x", Regular, ""), "unsafe_path"),
        (
            "symlink out",
            ("evil-1.0/l", Symlink, "../../etc/passwd"),
            "unsafe_path",
        ),
        (
            "absolute symlink",
            ("evil-1.0/l", Symlink, "/etc/passwd"),
            "unsafe_path",
        ),
        (
            "hard link out",
            ("evil-1.0/h", Link, "../etc/shadow"),
            "unsafe_path",
        ),
        ("char device", ("evil-1.0/null", Char, ""), "device_file"),
        ("block device", ("evil-1.0/sda", Block, ""), "device_file"),
    ] {
        let bytes = sdist(&[entry]);
        assert_eq!(code(&upload(dir.path(), name, &bytes)), want, "{case}");
    }
}

#[test]
fn zip_sdists_are_checked_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        (
            "evil-1.0/PKG-INFO",
            &b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n"[..],
        ),
        ("evil-1.0/../../evil.py", b"pwned\n"),
    ] {
        w.start_file(name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(
        code(&upload(dir.path(), "evil-1.0.zip", &bytes)),
        "unsafe_path"
    );
}
