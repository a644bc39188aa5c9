//! Uploads built to hurt: oversized control files, field floods, versions
//! dpkg refuses; and the indices a dist without source packages publishes.

use std::path::Path;

use artifactd_provider_api::{IndexBody, IndexFile};

use super::tests::{FakeSigner, corpus, ingest, record, repo, upload_of};
use super::*;
use crate::control::{MAX_CONTROL_SIZE, MAX_FIELDS};

/// An uncompressed tar of one file.
fn tar_of(path: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, path, content).unwrap();
    builder.into_inner().unwrap()
}

/// A `.deb` whose control file is `control`, written under `dir`.
fn deb_with_control(dir: &Path, name: &str, control: &str) -> UploadedFile {
    let mut out = ar::Builder::new(Vec::new());
    for (member, bytes) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar", tar_of("./control", control.as_bytes())),
        ("data.tar", tar_of("./usr/share/doc/x/README", b"hi\n")),
    ] {
        let header = ar::Header::new(member.as_bytes().to_vec(), bytes.len() as u64);
        out.append(&header, &bytes[..]).unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, out.into_inner().unwrap()).unwrap();
    upload_of(&path, name)
}

fn control(version: &str, extra: &str) -> String {
    format!("Package: hostile\nVersion: {version}\nArchitecture: amd64\n{extra}Description: x\n")
}

fn refusal(files: &[UploadedFile]) -> (&'static str, String) {
    match ingest(&[("dist", "bookworm")], files).unwrap_err() {
        ProviderError::Invalid { code, message } => (code, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_control_file_over_the_limit_is_refused_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    // A long description, then a field past the old 1 MiB cut.
    let line = format!(" {}\n", "x".repeat(99));
    let long = |bytes: u64| line.repeat((bytes / line.len() as u64) as usize);
    let over = control(
        "1.0",
        &format!("X-Long: l\n{}X-Last: yes\n", long(MAX_CONTROL_SIZE + 1000)),
    );
    assert!(over.len() as u64 > MAX_CONTROL_SIZE);
    let (code, message) = refusal(&[deb_with_control(dir.path(), "over.deb", &over)]);
    assert_eq!(code, "control_too_large", "{message}");
    assert!(message.contains("1048576"), "{message}");
    // Just under the limit: every field is kept, the last one too.
    let under = control(
        "1.0",
        &format!("X-Long: l\n{}X-Last: yes\n", long(MAX_CONTROL_SIZE - 4096)),
    );
    assert!(under.len() as u64 <= MAX_CONTROL_SIZE);
    let pkgs = ingest(
        &[("dist", "bookworm")],
        &[deb_with_control(dir.path(), "under.deb", &under)],
    )
    .unwrap();
    let stanza: Paragraph = serde_json::from_value(pkgs[0].metadata["control"].clone()).unwrap();
    assert_eq!(stanza.get("X-Last"), Some("yes"));
}

#[test]
fn field_floods_are_refused_fast() {
    let dir = tempfile::tempdir().unwrap();
    let fields = |n: usize| -> String { (0..n).map(|i| format!("X-F{i}: v\n")).collect() };
    let flood = control("1.0", &fields(MAX_FIELDS));
    let (code, message) = refusal(&[deb_with_control(dir.path(), "flood.deb", &flood)]);
    assert_eq!(code, "too_many_fields", "{message}");
    // The 200,000 fields: over the size limit, and refused at once.
    let started = std::time::Instant::now();
    let huge = control("1.0", &fields(200_000));
    let (code, _) = refusal(&[deb_with_control(dir.path(), "huge.deb", &huge)]);
    assert_eq!(code, "control_too_large");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A hundred thousand fields in one paragraph parse (and fail) in linear time.
    let started = std::time::Instant::now();
    let err = Paragraph::parse_one(&fields(100_000)).unwrap_err();
    assert_eq!(err.code("invalid_deb"), "too_many_fields");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn a_second_control_or_data_member_is_refused() {
    // Each member may unpack to the limit, so a 400 KB .deb of twelve
    // zstd data members of 1 GiB of zeros made 12 GiB of work (the apt_deb
    // fuzz target, while it was written).
    let dir = tempfile::tempdir().unwrap();
    let control = tar_of("./control", control("1.0", "").as_bytes());
    let data = tar_of("./usr/share/doc/x/README", b"hi\n");
    for (what, members) in [
        ("data", ["control.tar", "data.tar", "data.tar"]),
        ("control", ["control.tar", "control.tar", "data.tar"]),
    ] {
        let mut out = ar::Builder::new(Vec::new());
        for member in ["debian-binary"].iter().chain(&members) {
            let bytes: &[u8] = match *member {
                "debian-binary" => b"2.0\n",
                "control.tar" => &control,
                _ => &data,
            };
            let header = ar::Header::new(member.as_bytes().to_vec(), bytes.len() as u64);
            out.append(&header, bytes).unwrap();
        }
        let path = dir.path().join(format!("{what}.deb"));
        std::fs::write(&path, out.into_inner().unwrap()).unwrap();
        let (code, message) = refusal(&[upload_of(&path, "twice.deb")]);
        assert_eq!(code, "invalid_deb", "{message}");
        assert!(
            message.contains(&format!("a second {what} member")),
            "{message}"
        );
    }
}

#[test]
fn versions_dpkg_refuses_are_refused_with_its_words() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, words) in [
        (":1.0", "epoch in version is empty"),
        ("1.0-", "revision number is empty"),
        ("1x:1.0", "epoch in version is not number"),
        ("x:1.0", "epoch in version is empty"),
        ("1:", "nothing after colon in version number"),
        ("1.0_1", "invalid character in version number"),
        ("1.0-1_1", "invalid character in revision number"),
        ("a1.0", "version number does not start with digit"),
    ] {
        let deb = deb_with_control(dir.path(), "v.deb", &control(bad, ""));
        let (code, message) = refusal(&[deb]);
        assert_eq!(code, "invalid_version", "{bad}: {message}");
        assert!(message.contains(words), "{bad}: {message}");
    }
    for (good, file) in [
        (
            "1:1.0~rc1+dfsg-2ubuntu0.1",
            "hostile_1.0~rc1+dfsg-2ubuntu0.1_amd64.deb",
        ),
        ("0:1.0", "hostile_1.0_amd64.deb"),
        ("1.0-1-2", "hostile_1.0-1-2_amd64.deb"),
    ] {
        let deb = deb_with_control(dir.path(), "v.deb", &control(good, ""));
        let pkgs = ingest(&[("dist", "bookworm")], &[deb]).unwrap();
        assert_eq!(pkgs[0].version, good);
        assert_eq!(pkgs[0].files[0].filename, file);
    }
}

/// The hello source package's files, with the `.dsc` text replaced.
fn source_with_dsc(dir: &Path, dsc: &str) -> Vec<UploadedFile> {
    let names = [
        "hello_2.10.orig.tar.gz",
        "hello_2.10-3.debian.tar.xz",
        "hello_2.10.orig.tar.gz.asc",
    ];
    let mut files = vec![{
        let p = dir.join("hello_2.10-3.dsc");
        std::fs::write(&p, dsc).unwrap();
        upload_of(&p, "hello_2.10-3.dsc")
    }];
    for n in names {
        let p = dir.join(n);
        std::fs::copy(corpus(&format!("deb-src/{n}")), &p).unwrap();
        files.push(upload_of(&p, n));
    }
    files
}

#[test]
fn dsc_floods_and_bad_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read_to_string(corpus("deb-src/hello_2.10-3.dsc")).unwrap();
    assert!(ingest(&[("dist", "bookworm")], &source_with_dsc(dir.path(), &real)).is_ok());
    let flood: String = (0..MAX_FIELDS).map(|i| format!("X-F{i}: v\n")).collect();
    let flooded = real.replacen("Format:", &format!("{flood}Format:"), 1);
    let (code, message) = refusal(&source_with_dsc(dir.path(), &flooded));
    assert_eq!(code, "too_many_fields", "{message}");
    let bad = real.replacen("Version: 2.10-3", "Version: 2.10-", 1);
    assert_ne!(bad, real);
    let (code, message) = refusal(&source_with_dsc(dir.path(), &bad));
    assert_eq!(code, "invalid_version", "{message}");
    assert!(message.contains("revision number is empty"), "{message}");
    let huge = format!("{real}\n{}", " ".repeat(MAX_CONTROL_SIZE as usize));
    let (code, _) = refusal(&source_with_dsc(dir.path(), &huge));
    assert_eq!(code, "control_too_large");
}

fn body(files: &[IndexFile], path: &str) -> Vec<u8> {
    let file = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"));
    match &file.body {
        IndexBody::Bytes(b) | IndexBody::Template(b) | IndexBody::Hashed { bytes: b, .. } => {
            b.clone()
        }
        IndexBody::Parts(parts) => parts.iter().flat_map(|p| p.bytes.iter().copied()).collect(),
        other => panic!("{path}: {other:?}"),
    }
}

fn render_records(records: &[PackageRecord]) -> Vec<IndexFile> {
    AptProvider::default()
        .render(&RenderInput {
            sections: &[],
            repo: &repo(),
            packages: records,
            signer: Some(&FakeSigner),
            now: 0,
            seq: 0,
        })
        .unwrap()
}

#[test]
fn every_dist_lists_a_sources_index_and_the_script_says_deb_src_when_it_has_some() {
    let debs = [upload_of(
        &corpus("deb/hello_2.10-3_amd64.deb"),
        "hello.deb",
    )];
    let mut records: Vec<PackageRecord> = ingest(&[("dist", "bookworm")], &debs)
        .unwrap()
        .iter()
        .map(|p| record(p, &debs, 1))
        .collect();
    records.extend(
        ingest(&[("dist", "trixie"), ("component", "contrib")], &debs)
            .unwrap()
            .iter()
            .map(|p| record(p, &debs, 2)),
    );
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read_to_string(corpus("deb-src/hello_2.10-3.dsc")).unwrap();
    let src = source_with_dsc(dir.path(), &real);
    records.extend(
        ingest(&[("dist", "trixie")], &src)
            .unwrap()
            .iter()
            .map(|p| record(p, &src, 3)),
    );
    let files = render_records(&records);
    let text = |path: &str| String::from_utf8_lossy(&body(&files, path)).into_owned();

    // bookworm has no source package: its Sources is empty but there.
    let release = text("dists/bookworm/Release");
    let empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert!(
        release.contains(&format!(" {empty_sha256} {:>16} main/source/Sources\n", 0)),
        "{release}"
    );
    for compressed in ["main/source/Sources.xz", "main/source/Sources.gz"] {
        assert!(
            release.contains(compressed),
            "{compressed} not in\n{release}"
        );
        let bytes = body(&files, &format!("dists/bookworm/{compressed}"));
        let mut plain = Vec::new();
        if compressed.ends_with(".xz") {
            std::io::Read::read_to_end(&mut liblzma::read::XzDecoder::new(&bytes[..]), &mut plain)
                .unwrap();
        } else {
            std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                &mut plain,
            )
            .unwrap();
        }
        assert!(plain.is_empty(), "{compressed}");
    }
    let script = text("dists/bookworm/install");
    assert!(script.contains("\nTypes: deb\n"), "{script}");

    // trixie has one in main, none in contrib: both components list one.
    let release = text("dists/trixie/Release");
    assert!(release.contains(" contrib/source/Sources\n"), "{release}");
    assert!(release.contains(" main/source/Sources\n"), "{release}");
    let script = text("dists/trixie/install");
    assert!(script.contains("\nTypes: deb deb-src\n"), "{script}");
    assert!(script.contains("\nComponents: contrib main\n"), "{script}");
}
