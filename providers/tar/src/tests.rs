use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use super::*;
use artifactd_provider_api::{
    FileRecord, IndexBody, PackageChange, PackageRecord, Part, RenderChanges, RepoInfo,
};
use serde_json::Value;

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
        metadata: json!({}).into(),
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
                metadata: json!({}).into(),
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
            sections: &[],
            repo: &repo,
            packages: &packages,
            signer: None,
            now: 0,
            seq: 0,
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
    let root: Value = serde_json::from_slice(&body_bytes(&get("index.json").body)).unwrap();
    assert_eq!(root["packages"]["t"]["versions"], json!(["1.10", "1.9"]));
    assert_eq!(root["packages"]["t"]["latest"], "1.10");
    get("t/1.9/index.json");
    get("u/index.json");
}

/// The bytes an index body stands for.
fn body_bytes(body: &IndexBody) -> Vec<u8> {
    match body {
        IndexBody::Bytes(b) | IndexBody::Template(b) => b.clone(),
        IndexBody::Hashed { bytes, sha256 } => {
            assert_eq!(*sha256, Part::new(bytes.clone()).sha256);
            bytes.clone()
        }
        IndexBody::Parts(parts) => {
            for p in parts {
                assert_eq!(p.sha256, Part::new(p.bytes.to_vec()).sha256);
            }
            parts.iter().flat_map(|p| p.bytes.iter().copied()).collect()
        }
        other => panic!("no bytes: {other:?}"),
    }
}

/// How every file was rendered before the root listing came in parts: one
/// `serde_json::Value` per file, pretty-printed whole.
fn reference_render(repo: &RepoInfo, packages: &[PackageRecord]) -> Vec<IndexFile> {
    let json_file = |path: String, value: &Value| IndexFile {
        path,
        content_type: "application/json".into(),
        body: IndexBody::Bytes(serde_json::to_vec_pretty(value).unwrap()),
    };
    let mut by_name: BTreeMap<&str, Vec<&PackageRecord>> = BTreeMap::new();
    for p in packages {
        by_name.entry(&p.name).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut listing = serde_json::Map::new();
    for (name, mut versions) in by_name {
        versions.sort_by(|a, b| compare_versions(&b.version, &a.version));
        let newest = versions[0];
        let version_entries: Vec<Value> = versions
            .iter()
            .map(|p| {
                let mut files: Vec<Value> = p
                    .files
                    .iter()
                    .map(|f| {
                        json!({
                            "filename": f.filename,
                            "path": f.path,
                            "size": f.size,
                            "sha256": f.sha256,
                            "uploaded_at": f.uploaded_at,
                        })
                    })
                    .collect();
                files.sort_by(|a, b| a["filename"].as_str().cmp(&b["filename"].as_str()));
                json!({ "version": p.version, "uploaded_at": p.uploaded_at, "files": files })
            })
            .collect();
        for (p, entry) in versions.iter().zip(&version_entries) {
            out.push(json_file(format!("{name}/{}/index.json", p.version), entry));
        }
        out.push(json_file(
            format!("{name}/index.json"),
            &json!({ "name": name, "latest": newest.version, "versions": version_entries }),
        ));
        let target = match newest.files.as_slice() {
            [only] => only.path.clone(),
            _ => format!("{name}/{}/", newest.version),
        };
        out.push(IndexFile {
            path: format!("{name}/latest"),
            content_type: "text/plain".into(),
            body: IndexBody::Redirect(target),
        });
        listing.insert(
            name.to_owned(),
            json!({
                "latest": newest.version,
                "versions": versions.iter().map(|p| p.version.as_str()).collect::<Vec<_>>(),
            }),
        );
    }
    out.push(json_file(
        "index.json".to_owned(),
        &json!({ "repository": repo.name, "packages": listing }),
    ));
    out
}

/// `n` names with gaps between them (`pkg-00000`, `pkg-00010`, ...), every
/// third with two versions, every fifth version with two files.
fn corpus(n: usize) -> Vec<PackageRecord> {
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("pkg-{:05}", i * 10);
        out.push(record(&name, "1.0", &[&format!("{name}-1.0.tar.gz")]));
        if i % 3 == 0 {
            let mut files = vec![format!("{name}-1.10.tar.gz")];
            if i % 5 == 0 {
                files.push(format!("{name}-1.10.zip"));
            }
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            out.push(record(&name, "1.10", &files));
        }
    }
    out
}

fn render_with(
    cache: &render::RepoCache,
    repo: &RepoInfo,
    packages: &[PackageRecord],
) -> (Vec<IndexFile>, render::RepoCache) {
    render::render(
        cache,
        &RenderInput {
            sections: &[],
            repo,
            packages,
            signer: None,
            now: 0,
            seq: 0,
        },
    )
}

fn root_parts(files: &[IndexFile]) -> Vec<Part> {
    match &files.iter().find(|f| f.path == "index.json").unwrap().body {
        IndexBody::Parts(parts) => parts.clone(),
        other => panic!("index.json is not in parts: {other:?}"),
    }
}

/// How many of `after`'s parts `before` did not have.
fn new_parts(before: &[Part], after: &[Part]) -> usize {
    let old: std::collections::HashSet<&str> = before.iter().map(|p| p.sha256.as_str()).collect();
    after
        .iter()
        .filter(|p| !old.contains(p.sha256.as_str()))
        .count()
}

/// The listing `index.json` should hold, built independently of both renderers.
fn expected_listing(repo: &RepoInfo, packages: &[PackageRecord]) -> Value {
    let mut names: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in packages {
        names.entry(&p.name).or_default().push(&p.version);
    }
    let packages: serde_json::Map<String, Value> = names
        .into_iter()
        .map(|(name, mut versions)| {
            versions.sort_by(|a, b| compare_versions(b, a));
            (
                name.to_owned(),
                json!({ "latest": versions[0], "versions": versions }),
            )
        })
        .collect();
    json!({ "repository": repo.name, "packages": packages })
}

#[test]
fn render_gives_the_bytes_of_a_whole_rendering() {
    let mut hostile = vec![
        record("quote\"d", "1", &["a\"b.tar"]),
        record("back\\slash\n", "2\u{1}", &["x.tar"]),
        record("ünï", "1.0~rc1", &["ü.zip", "a.zip"]),
    ];
    hostile[2].files[1].size = u64::MAX;
    hostile[2].uploaded_at = i64::MIN;
    let mut weird_repo = repo();
    weird_repo.name = "r\"e\\po\u{7f}".into();
    let cases = [
        ("empty", repo(), vec![]),
        ("one", repo(), vec![record("t", "1.0", &["t-1.0.tar"])]),
        (
            "one, two versions",
            repo(),
            vec![record("t", "1.9", &["t.tar"]), record("t", "1.10", &[])],
        ),
        ("thousand", repo(), corpus(1000)),
        ("hostile", weird_repo, hostile),
    ];
    for (what, repo, packages) in cases {
        // Records come in no particular order.
        let mut shuffled = packages.clone();
        shuffled.reverse();
        let (files, _) = render_with(&Default::default(), &repo, &shuffled);
        let want = reference_render(&repo, &packages);
        assert_eq!(files.len(), want.len(), "{what}");
        for (got, want) in files.iter().zip(&want) {
            assert_eq!(
                (&got.path, &got.content_type),
                (&want.path, &want.content_type),
                "{what}"
            );
            match &want.body {
                IndexBody::Redirect(_) => assert_eq!(got.body, want.body, "{what}"),
                body => assert_eq!(
                    String::from_utf8(body_bytes(&got.body)).unwrap(),
                    String::from_utf8(body_bytes(body)).unwrap(),
                    "{what}: {}",
                    got.path
                ),
            }
        }
        let root: Value = serde_json::from_slice(&body_bytes(
            &files.iter().find(|f| f.path == "index.json").unwrap().body,
        ))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(root, expected_listing(&repo, &packages), "{what}");
    }
}

#[test]
fn root_listing_is_cut_into_chunks_of_about_spread_names() {
    let (files, _) = render_with(&Default::default(), &repo(), &corpus(1000));
    let parts = root_parts(&files);
    // The opening, the chunks, the closing.
    let chunks = parts.len() - 2;
    assert!((1000 / 64..=1000 / 16).contains(&chunks), "{chunks} chunks");
    for p in &parts[1..parts.len() - 1] {
        let latest = b"\"latest\": ";
        let names = p
            .bytes
            .windows(latest.len())
            .filter(|w| w == latest)
            .count();
        assert!((1..=128).contains(&names), "{names} names in a chunk");
    }
    let (empty, _) = render_with(&Default::default(), &repo(), &[]);
    assert_eq!(root_parts(&empty).len(), 2, "the opening and the closing");
}

#[test]
fn adding_a_package_changes_at_most_three_parts() {
    let repo = repo();
    let base = corpus(1000);
    let (before, cache) = render_with(&Default::default(), &repo, &base);
    let before = root_parts(&before);
    // New names before, between and after the existing ones.
    let mut new_names: Vec<String> = (0..300).map(|i| format!("pkg-{:05}", i * 33 + 5)).collect();
    new_names.extend(["a".into(), "pkg-".into(), "pkg-99999".into(), "zzz".into()]);
    let mut single = 0;
    for name in &new_names {
        let mut packages = base.clone();
        packages.push(record(name, "0.1", &["x.tar"]));
        let (after, _) = render_with(&cache, &repo, &packages);
        let after = root_parts(&after);
        let changed = new_parts(&before, &after);
        assert!((1..=3).contains(&changed), "{name}: {changed} new parts");
        single += usize::from(changed == 1);
    }
    // Usually the new name joins one chunk and changes only that one.
    assert!(single * 10 >= new_names.len() * 8, "{single}");
}

#[test]
fn a_name_inserted_between_two_others_changes_only_its_chunk() {
    let repo = repo();
    let base = corpus(1000);
    let (before, cache) = render_with(&Default::default(), &repo, &base);
    let before = root_parts(&before);
    // Between pkg-05000 and pkg-05010; not itself a chunk boundary, so it
    // joins its neighbours' chunk.
    let name = (1..10)
        .map(|d| format!("pkg-0500{d}"))
        .find(|n| !render::boundary(n).is_multiple_of(32))
        .unwrap();
    let mut packages = base.clone();
    packages.push(record(&name, "1", &["x.tar"]));
    let (after, _) = render_with(&cache, &repo, &packages);
    let after = root_parts(&after);
    assert_eq!(after.len(), before.len());
    let changed: Vec<usize> = (0..after.len())
        .filter(|&i| after[i].sha256 != before[i].sha256)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let text = String::from_utf8(after[changed[0]].bytes.to_vec()).unwrap();
    assert!(text.contains(&format!("\"{name}\"")), "{text}");
    assert!(text.contains("\"pkg-05000\"") || text.contains("\"pkg-05010\""));

    // A new version of an existing package changes its chunk and its files only.
    let mut packages = base.clone();
    packages.push(record("pkg-05000", "2.0", &["y.tar"]));
    let (newer, _) = render_with(&cache, &repo, &packages);
    assert_eq!(new_parts(&before, &root_parts(&newer)), 1);
    let (old_files, _) = render_with(&Default::default(), &repo, &base);
    let changed: Vec<&str> = newer
        .iter()
        .filter(|f| f.path != "index.json" && !old_files.contains(f))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        changed,
        [
            "pkg-05000/2.0/index.json",
            "pkg-05000/index.json",
            "pkg-05000/latest"
        ]
    );
}

#[test]
fn output_does_not_depend_on_the_cache() {
    let repo = repo();
    let packages = corpus(1000);
    let (cold, cache) = render_with(&Default::default(), &repo, &packages);
    let (warm, cache) = render_with(&cache, &repo, &packages);
    assert_eq!(cold, warm);
    // A cache left by other content under the same names: versions,
    // sizes and upload times all differ.
    let mut other = corpus(1200);
    for p in &mut other {
        p.uploaded_at = 7;
        for f in &mut p.files {
            f.size = 9;
        }
    }
    other.push(record("pkg-00000", "3.0", &["z.tar"]));
    let (_, stale) = render_with(&cache, &repo, &other);
    let (from_stale, _) = render_with(&stale, &repo, &packages);
    assert_eq!(cold, from_stale);
    // Through the provider, twice.
    let provider = TarProvider::default();
    let input = RenderInput {
        sections: &[],
        repo: &repo,
        packages: &packages,
        signer: None,
        now: 0,
        seq: 0,
    };
    assert_eq!(provider.render(&input).unwrap(), cold);
    assert_eq!(provider.render(&input).unwrap(), cold);
}

#[test]
fn cache_holds_only_what_the_last_render_used() {
    let repo = repo();
    let (_, cache) = render_with(&Default::default(), &repo, &corpus(1000));
    let few = corpus(10);
    let (files, cache) = render_with(&cache, &repo, &few);
    assert_eq!(cache.sizes(), (10, root_parts(&files).len() - 2));
    let (_, cache) = render_with(&cache, &repo, &[]);
    assert_eq!(cache.sizes(), (0, 0));
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

fn input_at<'a>(repo: &'a RepoInfo, packages: &'a [PackageRecord], seq: i64) -> RenderInput<'a> {
    RenderInput {
        sections: &[],
        repo,
        packages,
        signer: None,
        now: 0,
        seq,
    }
}

fn by_path(files: Vec<IndexFile>) -> BTreeMap<String, IndexFile> {
    files.into_iter().map(|f| (f.path.clone(), f)).collect()
}

#[test]
fn incremental_renders_give_what_a_full_render_gives() {
    let repo = repo();
    let mut packages = corpus(300);
    for (i, p) in packages.iter_mut().enumerate() {
        p.id = i as i64 + 1;
    }
    let mut next_id = packages.len() as i64 + 1;
    let (files, mut cache) = render::render(&Default::default(), &input_at(&repo, &packages, 0));
    let mut published = by_path(files);
    // A fixed LCG: the same steps on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut roll = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ((state >> 33) as usize) % n
    };
    for seq in 1..=150 {
        let old = packages.clone();
        let mut changes: Vec<(Option<usize>, Option<usize>)> = Vec::new();
        for _ in 0..1 + roll(3) {
            match roll(4) {
                // A new version of an existing name, or a new name.
                0 | 1 => {
                    let name = match roll(2) {
                        0 => packages[roll(packages.len())].name.clone(),
                        _ => format!("new-{seq}-{}", roll(1000)),
                    };
                    let mut p = record(&name, &format!("9.{seq}.{}", roll(100)), &["a.tar"]);
                    p.id = next_id;
                    next_id += 1;
                    packages.push(p);
                }
                2 if packages.len() > 1 => {
                    packages.swap_remove(roll(packages.len()));
                }
                _ => {
                    let i = roll(packages.len());
                    packages[i].uploaded_at += 1;
                    packages[i].files[0].size += 1;
                }
            }
        }
        // Each package once, as it was and as it is.
        let ids: BTreeSet<i64> = old.iter().chain(&packages).map(|p| p.id).collect();
        for id in ids {
            let before = old.iter().position(|p| p.id == id);
            let after = packages.iter().position(|p| p.id == id);
            let same = matches!((before, after), (Some(b), Some(a))
                if old[b].uploaded_at == packages[a].uploaded_at);
            if !same {
                changes.push((before, after));
            }
        }
        let changes: Vec<PackageChange<'_>> = changes
            .iter()
            .map(|&(b, a)| PackageChange {
                before: b.map(|i| &old[i]),
                after: a.map(|i| &packages[i]),
            })
            .collect();
        let input = input_at(&repo, &packages, seq);
        let (delta, next) = render::render_changes(
            cache,
            &input,
            &RenderChanges {
                since: seq - 1,
                packages: &changes,
            },
        )
        .expect("the cache is of the render at since");
        cache = next;
        // Cost follows the change: the touched names' files and the root.
        let touched: BTreeSet<&str> = changes
            .iter()
            .flat_map(|c| c.before.iter().chain(&c.after))
            .map(|p| p.name.as_str())
            .collect();
        for f in &delta.files {
            let name = f.path.split('/').next().unwrap();
            assert!(
                f.path == "index.json" || touched.contains(name),
                "{}",
                f.path
            );
        }
        for path in &delta.removed {
            assert!(published.remove(path).is_some(), "{path} was not published");
        }
        for f in delta.files {
            published.insert(f.path.clone(), f);
        }
        let (full, _) = render::render(&Default::default(), &input);
        assert_eq!(published, by_path(full), "step {seq}");
    }
}

#[test]
fn incremental_render_needs_the_render_it_is_relative_to() {
    let repo = repo();
    let mut packages = corpus(20);
    for (i, p) in packages.iter_mut().enumerate() {
        p.id = i as i64 + 1;
    }
    let (_, cache) = render::render(&Default::default(), &input_at(&repo, &packages, 5));
    let changes = RenderChanges {
        since: 4,
        packages: &[],
    };
    let cache = render::render_changes(cache, &input_at(&repo, &packages, 6), &changes)
        .expect_err("the cache is of seq 5, not 4");
    let changes = RenderChanges {
        since: 5,
        packages: &[],
    };
    let (delta, _) = render::render_changes(cache, &input_at(&repo, &packages, 6), &changes)
        .expect("the cache is of seq 5");
    // Nothing changed: only the root listing, and it is the same.
    assert_eq!(delta.files.len(), 1);
    assert!(delta.removed.is_empty());
    // Through the provider: nothing cached for another repository.
    let other = RepoInfo { id: 999, ..repo };
    assert_eq!(
        TarProvider::default()
            .render_changes(&input_at(&other, &packages, 6), &changes)
            .unwrap(),
        None
    );
}
