use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use artifactd_provider_api::{
    FileRecord, IndexBody, IndexFile, NewPackage, PackageRecord, Provider, ProviderError,
    RenderInput, RepoInfo, SignError, Signer, UploadContext, UploadedFile,
};
use sha2::{Digest, Sha256};

use crate::RpmProvider;
use crate::header::{self, Dep};

const HELLO: &str = "hello-1.0-1.el9.x86_64.rpm";

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn repo() -> RepoInfo {
    RepoInfo {
        id: 1,
        provider: "rpm".into(),
        name: "r".into(),
        settings: serde_json::Value::Null,
    }
}

fn upload(dir: &Path, name: &str, bytes: &[u8]) -> UploadedFile {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    UploadedFile {
        filename: name.into(),
        path,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

fn ingest(dist: &str, files: &[UploadedFile]) -> Result<Vec<NewPackage>, ProviderError> {
    let params = BTreeMap::from([("dist".to_owned(), dist.to_owned())]);
    let repo = repo();
    let ctx = UploadContext {
        repo: &repo,
        name: None,
        version: None,
        params: &params,
    };
    RpmProvider::default().ingest(&ctx, files)
}

fn refusal(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    match ingest("el9", &[upload(dir.path(), "x.rpm", bytes)]) {
        Err(ProviderError::Invalid { code, message }) => {
            assert_eq!(code, "invalid_rpm", "{message}");
            message
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn hello() -> Vec<u8> {
    std::fs::read(testdata(HELLO)).unwrap()
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn reads_what_the_metadata_needs() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = ingest("el9", &[upload(dir.path(), "anything.rpm", &hello())]).unwrap();
    let [p] = pkgs.as_slice() else { panic!() };
    assert_eq!(
        (&*p.name, &*p.version, &*p.section, &*p.variant),
        ("hello", "1.0-1.el9", "el9", "x86_64")
    );
    assert_eq!(p.files[0].path, "el9/Packages/h/hello-1.0-1.el9.x86_64.rpm");
    let info: header::RpmInfo = serde_json::from_value(p.metadata.clone()).unwrap();
    assert_eq!(info.license, "MIT");
    assert!(info.summary.contains("<b>bold</b>"));
    assert!(info.description.contains("<script>"));
    assert_eq!(info.sourcerpm, "hello-1.0-1.el9.src.rpm");
    let dep = |name: &str, flags: &str, ver: &str, pre: bool| Dep {
        name: name.into(),
        flags: Some(flags.into()).filter(|f: &String| !f.is_empty()),
        epoch: Some("0".into()).filter(|_| !ver.is_empty()),
        ver: Some(ver.into()).filter(|v: &String| !v.is_empty()),
        rel: None,
        pre,
    };
    // rpmlib() requires are dropped, as createrepo_c does; /bin/sh is Requires(pre).
    assert_eq!(
        info.requires,
        vec![
            dep("/bin/sh", "", "", true),
            dep("world", "GE", "2.0", false)
        ]
    );
    assert!(info.provides.contains(&dep("greeter", "EQ", "1.0", false)));
    assert!(
        info.provides
            .iter()
            .any(|d| d.name == "hello(x86-64)" && d.rel.as_deref() == Some("1.el9"))
    );
    assert_eq!(info.conflicts, vec![dep("goodbye", "LT", "0.5", false)]);
    assert_eq!(info.obsoletes, vec![dep("hello-old", "LE", "0.9", false)]);
    assert_eq!(info.recommends, vec![dep("cheer", "", "", false)]);
    let kind = |path: &str| {
        info.files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .kind
            .clone()
    };
    assert_eq!(kind("/usr/bin/hello"), None);
    assert_eq!(kind("/etc/hello").as_deref(), Some("dir"));
    assert_eq!(kind("/var/log/hello.log").as_deref(), Some("ghost"));
    assert_eq!(info.changelog.len(), 2);
    assert!(info.changelog[0].author.starts_with("Dev One"));
    let bytes = hello();
    assert!(info.header_start > 96 && info.header_end < bytes.len() as u64);
    assert_eq!(
        bytes[info.header_start as usize..info.header_start as usize + 4],
        [0x8e, 0xad, 0xe8, 0x01]
    );
}

#[test]
fn refuses_what_is_not_a_whole_rpm() {
    let good = hello();
    assert!(refusal(b"just some text").contains("too short"));
    assert!(refusal(&[b"x".repeat(200)].concat()).contains("lead magic"));
    // Cut inside the payload: the sizes the package states disagree.
    assert!(refusal(&good[..good.len() - 100]).contains("truncated"));
    // Cut inside the main header.
    assert!(
        refusal(&good[..1200]).contains("truncated") || refusal(&good[..1200]).contains("ends")
    );
    // A flipped payload byte fails the payload digest.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 10] ^= 0xff;
    assert!(refusal(&bad).contains("digest"), "{}", refusal(&bad));
    // A flipped byte in the main header's data fails the header digest.
    let info = {
        let dir = tempfile::tempdir().unwrap();
        let p = ingest("el9", &[upload(dir.path(), "h.rpm", &good)]).unwrap();
        serde_json::from_value::<header::RpmInfo>(p[0].metadata.clone()).unwrap()
    };
    let mut bad = good.clone();
    let at = info.header_end as usize - 20;
    bad[at] ^= 0x01;
    assert!(refusal(&bad).contains("digest"), "{}", refusal(&bad));
    // Impossible sizes in the main header's intro.
    let h = info.header_start as usize;
    let mut bad = good.clone();
    bad[h + 8..h + 12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(
        refusal(&bad).contains("impossible size"),
        "{}",
        refusal(&bad)
    );
    let mut bad = good.clone();
    bad[h + 12..h + 16].copy_from_slice(&0x0800_0000u32.to_be_bytes());
    assert!(refusal(&bad).contains("truncated"), "{}", refusal(&bad));
    // An index entry pointing past the data store.
    let mut bad = good.clone();
    let data = be32(&good, h + 12);
    bad[h + 16 + 8..h + 16 + 12].copy_from_slice(&(data + 10).to_be_bytes());
    assert!(
        refusal(&bad).contains("outside its data"),
        "{}",
        refusal(&bad)
    );
}

#[test]
fn refuses_other_files_and_bad_dists() {
    let dir = tempfile::tempdir().unwrap();
    let f = upload(dir.path(), "hello.deb", &hello());
    assert!(matches!(
        ingest("el9", &[f]),
        Err(ProviderError::Invalid {
            code: "unsupported_file_type",
            ..
        })
    ));
    let f = upload(dir.path(), "hello.rpm", &hello());
    for dist in ["", "../x", "a/b", ".hidden", "pubkey"] {
        assert!(ingest(dist, std::slice::from_ref(&f)).is_err(), "{dist}");
    }
}

struct FakeSigner;

impl Signer for FakeSigner {
    fn clearsign(&self, text: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(text.to_vec())
    }
    fn detached(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(format!("SIG {}", hex::encode(Sha256::digest(data))).into_bytes())
    }
    fn public_keys_armored(&self) -> Result<Vec<u8>, SignError> {
        Ok(b"KEY".to_vec())
    }
}

/// `n` copies of hello under other ids, as rows the server would hold.
fn records(template: &NewPackage, ids: impl Iterator<Item = i64>) -> Vec<PackageRecord> {
    ids.map(|id| PackageRecord {
        id,
        seq: id,
        name: format!("{}{id}", template.name),
        version: template.version.clone(),
        section: template.section.clone(),
        variant: template.variant.clone(),
        metadata: (&template.metadata).into(),
        uploaded_at: 1_700_000_000_000,
        uploader: "t".into(),
        yanked: None,
        files: vec![FileRecord {
            filename: format!("p{id}.rpm"),
            path: format!("el9/Packages/p/p{id}.rpm"),
            sha256: format!("{id:064x}"),
            size: 7000,
            content_type: "application/x-rpm".into(),
            metadata: Default::default(),
            uploaded_at: 1_700_000_000_000,
        }],
    })
    .collect()
}

fn render(p: &RpmProvider, packages: &[PackageRecord]) -> Vec<IndexFile> {
    p.render(&RenderInput {
        sections: &[],
        repo: &repo(),
        packages,
        signer: Some(&FakeSigner),
        now: 1_700_000_000_000,
        seq: 0,
    })
    .unwrap()
}

fn bytes_of(files: &[IndexFile], path: &str) -> Vec<u8> {
    let f = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not rendered"));
    match &f.body {
        IndexBody::Bytes(b) | IndexBody::Template(b) => b.clone(),
        IndexBody::Parts(parts) => parts.iter().flat_map(|p| p.bytes.iter().copied()).collect(),
        IndexBody::Alias(target) => bytes_of(files, target),
        other => panic!("{path}: {other:?}"),
    }
}

/// Checks that `xml` is well-formed and returns the text of every element
/// named `tag` and the attributes of the root.
fn parse_xml(xml: &[u8], tag: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut found = Vec::new();
    let mut inside = false;
    let mut depth = 0i32;
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) => {
                depth += 1;
                inside = e.name().as_ref() == tag.as_bytes();
            }
            Event::Empty(e) if e.name().as_ref() == tag.as_bytes() => found.push(String::new()),
            Event::Text(t) if inside => found.push(t.decode().unwrap().into_owned()),
            Event::GeneralRef(_) if inside => {}
            Event::End(_) => {
                depth -= 1;
                inside = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced XML");
    found
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// repomd.xml's (type, checksum, open-checksum, href, size, open-size).
fn repomd_entries(repomd: &str) -> Vec<[String; 6]> {
    repomd
        .split("<data type=\"")
        .skip(1)
        .map(|d| {
            let between = |a: &str, b: &str| {
                let s = &d[d.find(a).unwrap() + a.len()..];
                s[..s.find(b).unwrap()].to_owned()
            };
            [
                between("", "\""),
                between("<checksum type=\"sha256\">", "<"),
                between("<open-checksum type=\"sha256\">", "<"),
                between("<location href=\"", "\""),
                between("<size>", "<"),
                between("<open-size>", "<"),
            ]
        })
        .collect()
}

#[test]
fn renders_signed_consistent_repodata() {
    let dir = tempfile::tempdir().unwrap();
    let hello = ingest("el9", &[upload(dir.path(), "h.rpm", &hello())]).unwrap();
    let packages = records(&hello[0], 1..=300);
    let p = RpmProvider::default();
    let files = render(&p, &packages);
    let repomd = String::from_utf8(bytes_of(&files, "el9/repodata/repomd.xml")).unwrap();
    parse_xml(repomd.as_bytes(), "revision");
    assert_eq!(
        String::from_utf8(bytes_of(&files, "el9/repodata/repomd.xml.asc")).unwrap(),
        format!("SIG {}", hex::encode(Sha256::digest(repomd.as_bytes())))
    );
    assert_eq!(bytes_of(&files, "el9/repodata/repomd.xml.key"), b"KEY");
    assert_eq!(bytes_of(&files, "pubkey"), b"KEY");
    let entries = repomd_entries(&repomd);
    assert_eq!(
        entries.iter().map(|e| e[0].as_str()).collect::<Vec<_>>(),
        ["primary", "filelists", "other"]
    );
    for [kind, sha, open_sha, href, size, open_size] in &entries {
        assert_eq!(href, &format!("repodata/{sha}-{kind}.xml.gz"));
        let gz = bytes_of(&files, &format!("el9/{href}"));
        assert_eq!(hex::encode(Sha256::digest(&gz)), *sha);
        assert_eq!(gz.len().to_string(), *size);
        let xml = gunzip(&gz);
        assert_eq!(hex::encode(Sha256::digest(&xml)), *open_sha);
        assert_eq!(xml.len().to_string(), *open_size);
        // No package count in the head: it would change with every upload.
        let text = String::from_utf8_lossy(&xml);
        assert!(!text.contains("packages="), "{}", &text[..200]);
        assert_eq!(text.matches("<package ").count(), 300, "{kind}");
        let tag = match kind.as_str() {
            "primary" => "name",
            _ => "version",
        };
        let names = parse_xml(&xml, tag);
        if kind == "primary" {
            assert_eq!(names.len(), 300);
            assert_eq!(names[0], "hello1");
            let text = String::from_utf8(xml).unwrap();
            // Markup in the package's own text stays text.
            assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert!(!text.contains("<script>"));
            assert!(text.contains("<location href=\"Packages/p/p1.rpm\"/>"));
            assert!(text.contains("<rpm:entry name=\"/bin/sh\" pre=\"1\"/>"));
            assert!(text.contains("<file type=\"dir\">/etc/hello</file>"));
            assert!(
                !text.contains("/usr/share/hello/data.txt"),
                "not a primary file"
            );
        }
    }
    let repo_file = String::from_utf8(bytes_of(&files, "el9/r.repo")).unwrap();
    assert!(repo_file.contains("repo_gpgcheck=1"));
    assert!(repo_file.contains("gpgkey=@BASE_URL@/repo/rpm/r/pubkey"));
    assert!(repo_file.contains("baseurl=@BASE_URL@/repo/rpm/r/el9/"));
    assert_eq!(bytes_of(&files, "el9/config.repo"), repo_file.as_bytes());
}

fn parts_of(files: &[IndexFile]) -> std::collections::HashSet<String> {
    files
        .iter()
        .filter_map(|f| match &f.body {
            IndexBody::Parts(p) => Some(p.iter().map(|p| p.sha256.clone())),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn one_more_package_rewrites_a_few_parts_and_renders_the_same_as_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let hello = ingest("el9", &[upload(dir.path(), "h.rpm", &hello())]).unwrap();
    let mut packages = records(&hello[0], (1..=2000).map(|i| i * 7));
    let p = RpmProvider::default();
    let first = render(&p, &packages);
    // Chunks of ~32 packages are joined into parts of ~8 chunks: the part
    // lists a set records stay short (2,000 packages: ~63 chunks).
    for f in &first {
        if let IndexBody::Parts(parts) = &f.body {
            assert!(
                parts.len() <= 2 + 63 / 4,
                "{}: {} parts",
                f.path,
                parts.len()
            );
        }
    }
    let before = parts_of(&first);
    packages.extend(records(&hello[0], [20_000].into_iter()));
    let after = render(&p, &packages);
    let new: Vec<_> = parts_of(&after).difference(&before).cloned().collect();
    // Per file: the last chunk (the head never changes).
    assert!(new.len() <= 3, "{} new parts", new.len());
    // Checksums resumed from the last render's states equal fresh ones.
    assert_eq!(after, render(&RpmProvider::default(), &packages));
    // A deletion in the middle touches its chunk; where a
    // chunk was cut at its size limit, the one after it too.
    let appended = after.clone();
    let gone = packages.remove(1000);
    let before = parts_of(&after);
    let after = render(&p, &packages);
    let new: Vec<_> = parts_of(&after).difference(&before).cloned().collect();
    assert!(new.len() <= 6, "{} new parts", new.len());
    let fresh = render(&RpmProvider::default(), &packages);
    assert_eq!(after, fresh);
    // Back to the earlier state: the same files again.
    packages.insert(1000, gone);
    assert_eq!(render(&p, &packages), appended);
}

#[test]
fn same_version_accepts_an_explicit_zero_epoch() {
    let p = RpmProvider::default();
    assert!(p.same_version("1.0-1.el9", "1.0-1.el9"));
    assert!(p.same_version("0:1.0-1.el9", "1.0-1.el9"));
    assert!(p.same_version("2:1.0-1", "2:1.0-1"));
    assert!(!p.same_version("1.0", "1.0-1.el9"));
    assert!(!p.same_version("1:1.0-1.el9", "1.0-1.el9"));
}

#[test]
fn xml_escape_drops_characters_xml_cannot_carry() {
    assert_eq!(
        crate::xml::esc("a<b>&\"c\u{1}\u{7}d\te"),
        "a&lt;b&gt;&amp;&quot;cd\te"
    );
}

#[test]
fn versions_order_as_rpm_does() {
    use std::cmp::Ordering::*;
    let p = RpmProvider::default();
    assert_eq!(p.compare_versions("1.0-1", "1.0-2"), Less);
    assert_eq!(p.compare_versions("1:0.1-1", "9.9-9"), Greater);
    assert_eq!(p.compare_versions("1.0~rc1-1", "1.0-1"), Less);
    assert_eq!(p.compare_versions("1.10-1.el9", "1.9-1.el9"), Greater);
}

#[test]
fn snippets_give_each_dists_repo_file() {
    use artifactd_provider_api::SnippetContext;
    let repo = repo();
    let sections = ["el9".to_owned(), "fc40".to_owned()];
    let ctx = SnippetContext {
        repo: &repo,
        base_url: "http://h:1",
        sections: &sections,
        package: None,
    };
    let text: Vec<String> = RpmProvider::default()
        .install_snippets(&ctx)
        .into_iter()
        .map(|s| s.text)
        .collect();
    let root = format!("http://h:1/repo/rpm/{}", repo.name);
    for dist in ["el9", "fc40"] {
        assert!(
            text.iter()
                .any(|t| t.contains(&format!("baseurl={root}/{dist}/"))),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains(&format!("gpgkey={root}/pubkey")))
        );
    }
    assert!(
        text.iter()
            .all(|t| !t.contains(artifactd_provider_api::BASE_URL))
    );
}
