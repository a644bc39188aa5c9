use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::*;
use artifactd_provider_api::{FileRecord, RepoInfo};

fn repo() -> RepoInfo {
    RepoInfo {
        id: 1,
        provider: "tar".into(),
        name: "r".into(),
        settings: json!({}),
    }
}

fn tar_bytes(payload: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(payload.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "dir/file.txt", payload)
        .unwrap();
    builder.into_inner().unwrap()
}

fn compress(kind: Kind, raw: &[u8]) -> Vec<u8> {
    match kind {
        Kind::Tar => raw.to_vec(),
        Kind::TarGz => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        Kind::TarXz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        Kind::TarZst => zstd::encode_all(raw, 1).unwrap(),
        Kind::TarBz2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        Kind::Zip => {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            w.start_file("a.txt", zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(raw).unwrap();
            w.finish().unwrap().into_inner()
        }
    }
}

fn upload(dir: &Path, filename: &str, bytes: &[u8]) -> UploadedFile {
    let path = dir.join(filename);
    std::fs::write(&path, bytes).unwrap();
    UploadedFile {
        filename: filename.into(),
        path,
        size: bytes.len() as u64,
        sha256: String::new(),
    }
}

fn ingest(
    name: Option<&str>,
    version: Option<&str>,
    files: &[UploadedFile],
) -> Result<Vec<NewPackage>, ProviderError> {
    let repo = repo();
    let params = BTreeMap::new();
    let ctx = UploadContext {
        repo: &repo,
        name,
        version,
        params: &params,
    };
    TarProvider::default().ingest(&ctx, files)
}

fn code(err: ProviderError) -> &'static str {
    match err {
        ProviderError::Invalid { code, .. } => code,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn accepts_every_format_and_derives_name_version() {
    let dir = tempfile::tempdir().unwrap();
    for (suffix, kind) in SUFFIXES {
        let filename = format!("my-tool-1.2.3{suffix}");
        let f = upload(
            dir.path(),
            &filename,
            &compress(*kind, &tar_bytes(b"hello")),
        );
        let pkgs = ingest(None, None, &[f]).unwrap_or_else(|e| panic!("{suffix}: {e}"));
        assert_eq!(pkgs.len(), 1);
        assert_eq!(
            (pkgs[0].name.as_str(), pkgs[0].version.as_str()),
            ("my-tool", "1.2.3")
        );
        assert_eq!(pkgs[0].files[0].path, format!("my-tool/1.2.3/{filename}"));
        assert_eq!(pkgs[0].files[0].content_type, kind.content_type());
        assert_eq!(pkgs[0].files[0].metadata["entries"], 1);
    }
}

#[test]
fn explicit_name_and_version_win() {
    let dir = tempfile::tempdir().unwrap();
    let f = upload(dir.path(), "build.tar", &tar_bytes(b"x"));
    let pkgs = ingest(Some("tool"), Some("2.0"), &[f]).unwrap();
    assert_eq!(pkgs[0].files[0].path, "tool/2.0/build.tar");
}

#[test]
fn several_files_of_one_version_make_one_package() {
    let dir = tempfile::tempdir().unwrap();
    let a = upload(dir.path(), "t-1.0.tar", &tar_bytes(b"a"));
    let b = upload(dir.path(), "t-1.0.zip", &compress(Kind::Zip, b"b"));
    let pkgs = ingest(None, None, &[a, b]).unwrap();
    assert_eq!(pkgs.len(), 1);
    assert_eq!(pkgs[0].files.len(), 2);
    assert_eq!(pkgs[0].files[1].upload, 1);
}

#[test]
fn refuses_non_archives_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let text = upload(dir.path(), "x-1.0.tar.gz", b"this is not gzip at all");
    assert_eq!(
        code(ingest(None, None, &[text]).unwrap_err()),
        "invalid_archive"
    );
    let plain = upload(dir.path(), "x-1.0.tar", &[b'z'; 2048]);
    assert_eq!(
        code(ingest(None, None, &[plain]).unwrap_err()),
        "invalid_archive"
    );

    let payload = vec![7u8; 100_000];
    for (suffix, kind) in SUFFIXES {
        let full = compress(*kind, &tar_bytes(&payload));
        let cut = &full[..full.len() / 2];
        let f = upload(dir.path(), &format!("cut-1.0{suffix}"), cut);
        assert_eq!(
            code(ingest(None, None, &[f]).unwrap_err()),
            "invalid_archive",
            "{suffix}"
        );
    }
}

#[test]
fn refuses_unknown_suffix_bad_names_and_missing_version() {
    let dir = tempfile::tempdir().unwrap();
    let f = upload(dir.path(), "x-1.0.rar", b"whatever");
    assert_eq!(
        code(ingest(None, None, &[f]).unwrap_err()),
        "unsupported_file_type"
    );
    let f = upload(dir.path(), "noversion.tar", &tar_bytes(b"x"));
    assert_eq!(
        code(ingest(None, None, std::slice::from_ref(&f)).unwrap_err()),
        "missing_name"
    );
    assert_eq!(
        code(ingest(Some("n"), None, std::slice::from_ref(&f)).unwrap_err()),
        "missing_version"
    );
    for (name, version) in [
        ("../x", "1"),
        ("a b", "1"),
        ("n", "../1"),
        ("n", "latest"),
        (".n", "1"),
    ] {
        let err = ingest(Some(name), Some(version), std::slice::from_ref(&f)).unwrap_err();
        assert!(
            matches!(err, ProviderError::Invalid { .. }),
            "{name} {version}"
        );
    }
}

#[test]
fn version_order_is_numeric() {
    let mut v = vec!["1.9", "1.10", "1.2", "0.9.9", "1.10.1"];
    v.sort_by(|a, b| compare_versions(a, b));
    assert_eq!(v, ["0.9.9", "1.2", "1.9", "1.10", "1.10.1"]);
}

fn record(name: &str, version: &str, files: &[&str]) -> PackageRecord {
    PackageRecord {
        id: 0,
        name: name.into(),
        version: version.into(),
        section: String::new(),
        variant: String::new(),
        metadata: json!({}),
        uploaded_at: 1,
        uploader: "u".into(),
        yanked: None,
        seq: 1,
        files: files
            .iter()
            .map(|f| FileRecord {
                filename: (*f).into(),
                path: format!("{name}/{version}/{f}"),
                sha256: "00".into(),
                size: 1,
                content_type: "application/x-tar".into(),
                metadata: json!({}),
                uploaded_at: 1,
            })
            .collect(),
    }
}

#[test]
fn render_lists_versions_and_points_latest_at_newest() {
    let packages = vec![
        record("t", "1.9", &["t-1.9.tar"]),
        record("t", "1.10", &["t-1.10.tar"]),
        record("u", "2", &["a.tar", "b.zip"]),
    ];
    let repo = repo();
    let files = TarProvider::default()
        .render(&RenderInput {
            repo: &repo,
            packages: &packages,
            signer: None,
            now: 0,
        })
        .unwrap();
    let get = |p: &str| {
        files
            .iter()
            .find(|f| f.path == p)
            .unwrap_or_else(|| panic!("{p}"))
    };
    assert_eq!(
        get("t/latest").body,
        IndexBody::Redirect("t/1.10/t-1.10.tar".into())
    );
    assert_eq!(get("u/latest").body, IndexBody::Redirect("u/2/".into()));
    let IndexBody::Bytes(root) = &get("index.json").body else {
        panic!()
    };
    let root: Value = serde_json::from_slice(root).unwrap();
    assert_eq!(root["packages"]["t"]["versions"], json!(["1.10", "1.9"]));
    assert_eq!(root["packages"]["t"]["latest"], "1.10");
    get("t/1.9/index.json");
    get("u/index.json");
}

#[test]
fn resolve_maps_directories_to_listings() {
    let r = |p: &str| TarProvider::default().resolve(p, &ReadRequest::default());
    assert_eq!(r(""), Resolution::Serve("index.json".into()));
    assert_eq!(r("t/"), Resolution::Serve("t/index.json".into()));
    assert_eq!(r("t/latest/"), Resolution::Serve("t/latest".into()));
    assert_eq!(r("t/1.0/x.tar"), Resolution::Serve("t/1.0/x.tar".into()));
}

#[test]
fn refuses_decompression_bombs_and_bad_zip_crcs() {
    let dir = tempfile::tempdir().unwrap();
    let provider = TarProvider {
        unpack_floor: 1 << 20,
        unpack_ratio: 10,
    };
    let repo = repo();
    let params = BTreeMap::new();
    let ctx = UploadContext {
        repo: &repo,
        name: None,
        version: None,
        params: &params,
    };
    // 4 MiB of zeros squeeze into a few KiB: far beyond 10x and 1 MiB.
    let zeros = vec![0u8; 4 << 20];
    for kind in [
        Kind::TarGz,
        Kind::TarXz,
        Kind::TarZst,
        Kind::TarBz2,
        Kind::Zip,
    ] {
        let raw = if kind == Kind::Zip {
            zeros.clone()
        } else {
            tar_bytes(&zeros)
        };
        let suffix = SUFFIXES.iter().find(|(_, k)| *k == kind).unwrap().0;
        let f = upload(
            dir.path(),
            &format!("bomb-1.0{suffix}"),
            &compress(kind, &raw),
        );
        let err = provider.ingest(&ctx, &[f]).unwrap_err();
        assert!(
            err.to_string().contains("unpacks to more than"),
            "{suffix}: {err}"
        );
    }
    // The same content within the limit is fine.
    let small = upload(
        dir.path(),
        "ok-1.0.tar.gz",
        &compress(Kind::TarGz, &tar_bytes(&zeros[..100_000])),
    );
    provider.ingest(&ctx, &[small]).unwrap();

    // A zip whose stored data was altered after its CRC was written.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("a.txt", opts).unwrap();
    w.write_all(b"original content").unwrap();
    let mut bytes = w.finish().unwrap().into_inner();
    let at = bytes.windows(8).position(|x| x == b"original").unwrap();
    bytes[at] = b'X';
    let f = upload(dir.path(), "crc-1.0.zip", &bytes);
    assert_eq!(
        code(ingest(None, None, &[f]).unwrap_err()),
        "invalid_archive"
    );
}

/// A zip whose entries use a compression this build does not decode
/// (bzip2, method 12), each claiming an uncompressed size in a zip64 extra
/// field. Found by the `tar_archive` fuzz target.
fn zip_claiming_sizes(sizes: &[u64]) -> Vec<u8> {
    let (mut body, mut central) = (Vec::new(), Vec::new());
    for (i, size) in sizes.iter().enumerate() {
        let name = [b'a' + i as u8];
        let data = b"x";
        let crc = 0u32; // never checked: the entry is not decoded
        let mut extra = Vec::new();
        extra.extend(1u16.to_le_bytes()); // zip64 extended information
        extra.extend(16u16.to_le_bytes());
        extra.extend(size.to_le_bytes());
        extra.extend((data.len() as u64).to_le_bytes());
        let offset = body.len() as u32;
        // Local header: version, flags, method, time, date, CRC, sizes, lengths.
        body.extend(0x0403_4b50u32.to_le_bytes());
        for v in [45u16, 0, 12, 0, 0] {
            body.extend(v.to_le_bytes());
        }
        body.extend(crc.to_le_bytes());
        body.extend([0xff; 8]);
        body.extend((name.len() as u16).to_le_bytes());
        body.extend((extra.len() as u16).to_le_bytes());
        body.extend(name);
        body.extend(&extra);
        body.extend(data);
        // Central directory entry.
        central.extend(0x0201_4b50u32.to_le_bytes());
        for v in [45u16, 45, 0, 12, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        central.extend(crc.to_le_bytes());
        central.extend([0xff; 8]);
        for v in [name.len() as u16, extra.len() as u16, 0, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        central.extend(0u32.to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(name);
        central.extend(&extra);
    }
    let (cd_start, cd_len) = (body.len() as u32, central.len() as u32);
    body.extend(central);
    body.extend(0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, sizes.len() as u16, sizes.len() as u16] {
        body.extend(v.to_le_bytes());
    }
    body.extend(cd_len.to_le_bytes());
    body.extend(cd_start.to_le_bytes());
    body.extend(0u16.to_le_bytes());
    body
}

#[test]
fn zip_sizes_that_overflow_when_summed_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 10 + (2^64 - 5) wrapped around to 5 bytes: accepted as tiny in a
    // release build, "attempt to add with overflow" in a debug one.
    let f = upload(
        dir.path(),
        "ov-1.0.zip",
        &zip_claiming_sizes(&[10, u64::MAX - 4]),
    );
    let err = ingest(None, None, &[f]).unwrap_err();
    assert!(err.to_string().contains("unpacks to more than"), "{err}");
    // Claimed sizes within the limit are counted as they are.
    let f = upload(dir.path(), "ok-1.0.zip", &zip_claiming_sizes(&[10, 20]));
    let pkgs = ingest(None, None, &[f]).unwrap();
    assert_eq!(pkgs[0].files[0].metadata["unpacked_size"], 30);
}
