use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artifactd_provider_api::{FileRecord, IndexBody, RepoInfo, SignError, Signer};

use super::*;

pub(super) fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

pub(super) fn repo() -> RepoInfo {
    RepoInfo {
        id: 1,
        provider: "apt".into(),
        name: "r".into(),
        settings: json!({}),
    }
}

pub(super) fn upload_of(path: &Path, name: &str) -> UploadedFile {
    let bytes = std::fs::read(path).unwrap();
    UploadedFile {
        filename: name.into(),
        path: path.to_owned(),
        size: bytes.len() as u64,
        sha256: Digests::of_bytes(&bytes).sha256,
    }
}

pub(super) fn ingest(
    params: &[(&str, &str)],
    files: &[UploadedFile],
) -> Result<Vec<NewPackage>, ProviderError> {
    let repo = repo();
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AptProvider::default().ingest(
        &UploadContext {
            repo: &repo,
            name: None,
            version: None,
            params: &params,
        },
        files,
    )
}

pub(super) fn code(e: ProviderError) -> &'static str {
    match e {
        ProviderError::Invalid { code, .. } => code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn reads_real_debs() {
    let files = [
        upload_of(&corpus("deb/jq_1.6-2.1+deb12u3_amd64.deb"), "jq.deb"),
        upload_of(
            &corpus("deb/libjq1_1.6-2.1+deb12u3_amd64.deb"),
            "libjq1.deb",
        ),
        upload_of(&corpus("deb/python3-six_1.16.0-4_all.deb"), "six.deb"),
    ];
    let pkgs = ingest(&[("dist", "bookworm")], &files).unwrap();
    assert_eq!(pkgs.len(), 3);
    assert_eq!(
        (
            pkgs[0].name.as_str(),
            pkgs[0].version.as_str(),
            pkgs[0].variant.as_str()
        ),
        ("jq", "1.6-2.1+deb12u3", "amd64")
    );
    assert_eq!(pkgs[0].section, "bookworm/main");
    assert_eq!(
        pkgs[0].files[0].path,
        "pool/main/j/jq/jq_1.6-2.1+deb12u3_amd64.deb"
    );
    assert_eq!(
        pkgs[1].files[0].path, "pool/main/j/jq/libjq1_1.6-2.1+deb12u3_amd64.deb",
        "grouped by source"
    );
    assert_eq!(pkgs[2].variant, "all");
    let contents = pkgs[0].files[0].metadata["contents"].as_array().unwrap();
    assert!(contents.iter().any(|p| p == "usr/bin/jq"), "{contents:?}");
    let control: Paragraph = serde_json::from_value(pkgs[0].metadata["control"].clone()).unwrap();
    assert!(control.get("Depends").unwrap().contains("libjq1"));
}

#[test]
fn refuses_bad_debs_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(corpus("deb/hello_2.10-3_amd64.deb")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        upload_of(&p, name)
    };
    let truncated = write("t.deb", &good[..good.len() / 2]);
    assert_eq!(
        code(ingest(&[("dist", "bookworm")], &[truncated]).unwrap_err()),
        "invalid_deb"
    );
    let text = write("x.deb", b"not a debian package");
    assert_eq!(
        code(ingest(&[("dist", "bookworm")], &[text]).unwrap_err()),
        "invalid_deb"
    );
    let hello = write("h.deb", &good);
    assert_eq!(
        code(ingest(&[], std::slice::from_ref(&hello)).unwrap_err()),
        "missing_parameter"
    );
    assert_eq!(
        code(ingest(&[("dist", "../x")], std::slice::from_ref(&hello)).unwrap_err()),
        "invalid_parameter"
    );
    assert_eq!(
        code(
            ingest(
                &[("dist", "b"), ("component", "a/b")],
                std::slice::from_ref(&hello)
            )
            .unwrap_err()
        ),
        "invalid_parameter"
    );
    let other = write("readme.txt", b"x");
    assert_eq!(
        code(ingest(&[("dist", "b")], &[other]).unwrap_err()),
        "unsupported_file_type"
    );
}

#[test]
fn versions_and_names() {
    for ok in ["1.0", "1:2.3-4", "2.10-3+deb12u1~bpo1", "0~rc1"] {
        check_version(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in ["", "a.b", "1.0 2", "1/0", "-1"] {
        assert!(check_version(bad).is_err(), "{bad}");
    }
    for bad in ["A", "x", "../x", "a_b"] {
        assert!(check_package_name(bad).is_err(), "{bad}");
    }
}

fn source_files(dir: &Path) -> Vec<UploadedFile> {
    [
        "hello_2.10-3.dsc",
        "hello_2.10.orig.tar.gz",
        "hello_2.10-3.debian.tar.xz",
        "hello_2.10.orig.tar.gz.asc",
    ]
    .iter()
    .map(|n| {
        let p = dir.join(n);
        std::fs::copy(corpus(&format!("deb-src/{n}")), &p).unwrap();
        upload_of(&p, n)
    })
    .collect()
}

#[test]
fn source_packages_need_every_listed_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let files = source_files(dir.path());
    let pkgs = ingest(&[("dist", "bookworm")], &files).unwrap();
    assert_eq!(
        (pkgs[0].name.as_str(), pkgs[0].variant.as_str()),
        ("hello", "source")
    );
    assert_eq!(pkgs[0].files.len(), 4);
    assert!(
        pkgs[0]
            .files
            .iter()
            .all(|f| f.path.starts_with("pool/main/h/hello/"))
    );

    let missing: Vec<UploadedFile> = files
        .iter()
        .filter(|f| !f.filename.ends_with(".debian.tar.xz"))
        .cloned()
        .collect();
    assert_eq!(
        code(ingest(&[("dist", "bookworm")], &missing).unwrap_err()),
        "missing_file"
    );
    let mut tampered = files.clone();
    std::fs::write(&tampered[2].path, b"other bytes").unwrap();
    tampered[2].size = 11;
    assert_eq!(
        code(ingest(&[("dist", "bookworm")], &tampered).unwrap_err()),
        "checksum_mismatch"
    );
}

pub(super) struct FakeSigner;

impl Signer for FakeSigner {
    fn clearsign(&self, text: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok([b"SIGNED\n".as_slice(), text].concat())
    }
    fn detached(&self, _: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(b"SIG".to_vec())
    }
    fn public_keys_armored(&self) -> Result<Vec<u8>, SignError> {
        Ok(b"KEY".to_vec())
    }
}

pub(super) fn record(p: &NewPackage, files: &[UploadedFile], id: i64) -> PackageRecord {
    PackageRecord {
        id,
        name: p.name.clone(),
        version: p.version.clone(),
        section: p.section.clone(),
        variant: p.variant.clone(),
        metadata: (&p.metadata).into(),
        uploaded_at: 0,
        uploader: "t".into(),
        yanked: None,
        seq: 1,
        files: p
            .files
            .iter()
            .map(|f| FileRecord {
                filename: f.filename.clone(),
                path: f.path.clone(),
                sha256: files[f.upload].sha256.clone(),
                size: files[f.upload].size,
                content_type: f.content_type.clone(),
                metadata: (&f.metadata).into(),
                uploaded_at: 0,
            })
            .collect(),
    }
}

#[test]
fn renders_signed_indices_with_all_in_every_arch() {
    let dir = tempfile::tempdir().unwrap();
    let debs = [
        upload_of(&corpus("deb/hello_2.10-3_amd64.deb"), "hello.deb"),
        upload_of(&corpus("deb/python3-six_1.16.0-4_all.deb"), "six.deb"),
    ];
    let mut records: Vec<PackageRecord> = ingest(&[("dist", "bookworm")], &debs)
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| record(p, &debs, i as i64))
        .collect();
    let src = source_files(dir.path());
    records.extend(
        ingest(&[("dist", "bookworm")], &src)
            .unwrap()
            .iter()
            .map(|p| record(p, &src, 9)),
    );
    let repo = repo();
    let files = AptProvider::default()
        .render(&RenderInput {
            sections: &[],
            repo: &repo,
            packages: &records,
            signer: Some(&FakeSigner),
            now: 0,
            seq: 0,
        })
        .unwrap();
    let bytes = |path: &str| -> Vec<u8> {
        let mut path = path.to_owned();
        loop {
            match &files
                .iter()
                .find(|f| f.path == path)
                .unwrap_or_else(|| panic!("no {path}"))
                .body
            {
                IndexBody::Bytes(b)
                | IndexBody::Template(b)
                | IndexBody::Hashed { bytes: b, .. } => return b.clone(),
                IndexBody::Alias(target) => path = target.clone(),
                IndexBody::Redirect(r) => return r.clone().into_bytes(),
                IndexBody::Parts(parts) => {
                    return parts.iter().flat_map(|p| p.bytes.iter().copied()).collect();
                }
            }
        }
    };
    let gunzip = |path: &str| {
        let mut text = String::new();
        use std::io::Read;
        flate2::read::MultiGzDecoder::new(&bytes(path)[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    let get = |path: &str| String::from_utf8_lossy(&bytes(path)).into_owned();
    let amd64 = gunzip("dists/bookworm/main/binary-amd64/Packages.gz");
    let arm64 = gunzip("dists/bookworm/main/binary-arm64/Packages.gz");
    assert!(
        amd64.contains("Package: hello\n") && amd64.contains("Package: python3-six\n"),
        "{amd64}"
    );
    assert!(
        !arm64.contains("Package: hello\n") && arm64.contains("Package: python3-six\n"),
        "{arm64}"
    );
    assert!(amd64.contains("Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\n"));
    assert!(amd64.contains(&format!("SHA256: {}\n", debs[0].sha256)));
    let sources = gunzip("dists/bookworm/main/source/Sources.gz");
    assert!(
        sources.contains("Package: hello\n") && sources.contains("Directory: pool/main/h/hello\n"),
        "{sources}"
    );
    assert!(
        sources.contains("hello_2.10-3.dsc\n"),
        "the .dsc lists itself: {sources}"
    );
    let release = get("dists/bookworm/Release");
    for needle in [
        "Suite: bookworm\n",
        "Architectures: amd64 arm64\n",
        "Components: main\n",
        "Acquire-By-Hash: yes\n",
        "MD5Sum:\n",
        "SHA512:\n",
    ] {
        assert!(release.contains(needle), "{needle:?} missing in\n{release}");
    }
    assert_eq!(
        get("dists/bookworm/InRelease"),
        format!("SIGNED\n{release}")
    );
    assert_eq!(get("pubkey"), "KEY");
    // Every served file Release names has that size and SHA-256, also by
    // hash; the plain indices are listed with the digests of their text.
    let sha256_section = release
        .split("SHA256:\n")
        .nth(1)
        .unwrap()
        .split("SHA512:")
        .next()
        .unwrap();
    for line in sha256_section.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let plain = w[2].ends_with("Packages")
            || w[2].ends_with("Sources")
            || w[2].rsplit('/').next().unwrap().starts_with("Contents-") && !w[2].ends_with(".gz");
        let body = if plain {
            gunzip(&format!("dists/bookworm/{}.gz", w[2])).into_bytes()
        } else {
            let dir = w[2].rsplit_once('/').unwrap().0;
            let body = bytes(&format!("dists/bookworm/{}", w[2]));
            assert_eq!(
                bytes(&format!("dists/bookworm/{dir}/by-hash/SHA256/{}", w[0])),
                body
            );
            body
        };
        assert_eq!(body.len().to_string(), w[1], "{}", w[2]);
        assert_eq!(Digests::of_bytes(&body).sha256, w[0], "{}", w[2]);
    }
    let mut contents = String::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&bytes("dists/bookworm/main/Contents-amd64.gz")[..])
        .read_to_string(&mut contents)
        .unwrap();
    assert!(
        contents
            .lines()
            .any(|l| l.starts_with("usr/bin/hello ") && l.ends_with(" devel/hello")),
        "{contents}"
    );
    assert!(get("dists/bookworm/install").contains("Suites: bookworm"));
}

#[test]
fn versions_order_as_dpkg_does() {
    use std::cmp::Ordering::*;
    let p = AptProvider::default();
    assert_eq!(p.compare_versions("1.0-1", "1.0-1+b1"), Less);
    assert_eq!(p.compare_versions("2.0~rc1-1", "2.0-1"), Less);
    assert_eq!(p.compare_versions("1:0.5-1", "9.9-9"), Greater);
    assert_eq!(p.compare_versions("1.10-1", "1.9-1"), Greater);
}

#[test]
fn snippets_name_the_real_dists_and_components() {
    use artifactd_provider_api::SnippetContext;
    let p = AptProvider::default();
    let sections = [
        "bookworm/contrib".to_owned(),
        "bookworm/main".to_owned(),
        "trixie/main".to_owned(),
    ];
    let repo = repo();
    let ctx = SnippetContext {
        repo: &repo,
        base_url: "http://h:1",
        sections: &sections,
        package: None,
    };
    let text: Vec<String> = p
        .install_snippets(&ctx)
        .into_iter()
        .map(|s| s.text)
        .collect();
    let root = format!("http://h:1/repo/apt/{}", repo.name);
    assert!(text.contains(&format!(
        "curl -fsSL {root}/dists/bookworm/install | sudo sh\nsudo apt-get update"
    )));
    assert!(
        text.iter()
            .any(|t| t.contains("Suites: bookworm\nComponents: contrib main\n"))
    );
    assert!(
        text.iter()
            .any(|t| t.contains("Suites: trixie\nComponents: main\n"))
    );
    assert_eq!(
        text.iter().filter(|t| t.contains("Types: deb")).count(),
        1,
        "one .sources file with a stanza per dist: {text:?}"
    );
    // A package page: its own dist only, and the install line.
    let debs = [upload_of(
        &corpus("deb/jq_1.6-2.1+deb12u3_amd64.deb"),
        "jq_1.6-2.1+deb12u3_amd64.deb",
    )];
    let pkgs = ingest(&[("dist", "trixie")], &debs).unwrap();
    let record = record(&pkgs[0], &debs, 1);
    assert_eq!(
        p.summary(&record),
        "lightweight and flexible command-line JSON processor"
    );
    let ctx = SnippetContext {
        package: Some(&record),
        ..ctx
    };
    let text: Vec<String> = p
        .install_snippets(&ctx)
        .into_iter()
        .map(|s| s.text)
        .collect();
    assert_eq!(text[0], "sudo apt-get install jq=1.6-2.1+deb12u3");
    assert!(text.iter().all(|t| !t.contains("bookworm")), "{text:?}");
}
