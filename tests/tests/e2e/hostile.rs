//! Packages crafted to hurt the repository or its clients: control files
//! past the size limit or flooded with fields, versions dpkg refuses,
//! archive members and RECORD entries that leave the install root, rpm file
//! lists with `..`, relative paths and device files. Each is a 400 with a
//! stable error code that stores nothing and publishes nothing, whether the
//! repository is new or already holds a package.

use std::path::Path;
use std::time::{Duration, Instant};

use artifactd_tests::apt::make_deb;
use artifactd_tests::pypi::{Dist, zip_of};
use artifactd_tests::rpm::{Spec, replace_string, rpmbuild, with_header_edit};
use artifactd_tests::{Backend, Server, TestEnv, both_backends};

use crate::bad_input::assert_untouched;

both_backends!(hostile_debs_and_dscs, hostile_python_dists, hostile_rpms);

/// What a case uploads and the error code (and, if given, the words of
/// the message) it must be refused with.
struct Case<'a> {
    name: &'a str,
    query: &'a str,
    files: Vec<(&'a str, Vec<u8>)>,
    code: &'a str,
    says: Option<&'a str>,
}

fn case<'a>(
    name: &'a str,
    query: &'a str,
    file: &'a str,
    bytes: Vec<u8>,
    code: &'a str,
) -> Case<'a> {
    Case {
        name,
        query,
        files: vec![(file, bytes)],
        code,
        says: None,
    }
}

/// Uploads every case into repository `r` of `provider`, each refused as
/// it says, with nothing stored and the repository as it was (`before`
/// objects, `generation`).
async fn refuse_all(
    env: &TestEnv,
    server: &Server,
    provider: &str,
    cases: &[Case<'_>],
    before: &[String],
    generation: Option<i64>,
) {
    for c in cases {
        let started = Instant::now();
        let r = server
            .upload(
                &format!("provider={provider}&reponame=r&{}", c.query),
                &c.files,
            )
            .await;
        assert_eq!(r.status, 400, "{}: {}", c.name, r.text);
        assert_eq!(r.error_code(), c.code, "{}: {}", c.name, r.text);
        if let Some(words) = c.says {
            assert!(r.text.contains(words), "{}: {}", c.name, r.text);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}: took {:?}",
            c.name,
            started.elapsed()
        );
        assert_untouched(env, server, before, generation, c.name).await;
    }
}

/// Uploads `files` into `r`, which must be accepted; then returns what is
/// stored and the repository's generation, for the cases that follow.
async fn accept(
    env: &TestEnv,
    server: &Server,
    provider: &str,
    query: &str,
    files: &[(&str, Vec<u8>)],
) -> (Vec<String>, Option<i64>) {
    let r = server
        .upload(&format!("provider={provider}&reponame=r&{query}"), files)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let status = server
        .get_json(&format!("/api/v1/repos/{provider}/r"))
        .await;
    (env.stored_objects().await, status["generation"].as_i64())
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel),
    )
    .unwrap()
}

fn fields(n: usize) -> String {
    (0..n).map(|i| format!("X-Field-{i}: v\n")).collect()
}

/// The hello source package with its `.dsc` text edited by `edit`.
fn hello_source(edit: impl Fn(&str) -> String) -> Vec<(&'static str, Vec<u8>)> {
    let dsc = String::from_utf8(fixture("deb-src/hello_2.10-3.dsc")).unwrap();
    let mut files = vec![("hello_2.10-3.dsc", edit(&dsc).into_bytes())];
    for n in [
        "hello_2.10.orig.tar.gz",
        "hello_2.10-3.debian.tar.xz",
        "hello_2.10.orig.tar.gz.asc",
    ] {
        files.push((n, fixture(&format!("deb-src/{n}"))));
    }
    files
}

async fn hostile_debs_and_dscs(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let q = "dist=bookworm";
    let long_line = format!(" {}\n", "x".repeat(99));
    let oversized = format!(
        "X-Long: l\n{}X-After-The-Cut: 1\n",
        long_line.repeat(11_000)
    );
    let mut cases = vec![
        case(
            "control over 1 MiB",
            q,
            "h.deb",
            make_deb("hostile", "1.0", "amd64", &oversized),
            "control_too_large",
        ),
        case(
            "1,000 extra fields",
            q,
            "h.deb",
            make_deb("hostile", "1.0", "amd64", &fields(1000)),
            "too_many_fields",
        ),
        case(
            "200,000 fields",
            q,
            "h.deb",
            make_deb("hostile", "1.0", "amd64", &fields(200_000)),
            "control_too_large",
        ),
        Case {
            name: "a .dsc with 1,000 extra fields",
            query: q,
            files: hello_source(|d| d.replacen("Format:", &format!("{}Format:", fields(1000)), 1)),
            code: "too_many_fields",
            says: None,
        },
        Case {
            name: "a .dsc with a bad version",
            query: q,
            files: hello_source(|d| d.replacen("Version: 2.10-3", "Version: 2.10-", 1)),
            code: "invalid_version",
            says: Some("revision number is empty"),
        },
    ];
    for (version, words) in [
        (":1.0", "epoch in version is empty"),
        ("1.0-", "revision number is empty"),
        ("1:", "nothing after colon in version number"),
        ("-1:1.0", "epoch in version is negative"),
        ("1x:1.0", "epoch in version is not number"),
        ("1.0_1", "invalid character in version number"),
        ("1.0-1_1", "invalid character in revision number"),
    ] {
        cases.push(Case {
            says: Some(words),
            ..case(
                "bad version",
                q,
                "h.deb",
                make_deb("hostile", version, "amd64", ""),
                "invalid_version",
            )
        });
    }

    refuse_all(&env, &server, "apt", &cases, &[], None).await;
    // With a package in place (and a valid edge-case version), still nothing changes.
    let edge = make_deb("hostile", "1:1.0~rc1+dfsg-2ubuntu0.1", "amd64", "");
    let (before, generation) = accept(&env, &server, "apt", q, &[("h.deb", edge)]).await;
    assert!(generation.is_some());
    refuse_all(&env, &server, "apt", &cases, &before, generation).await;
}

/// The files of a wheel of `evil` 1.0 plus `extra`, with a RECORD that also
/// lists `record_extra` lines.
fn evil_wheel(extra: &[&str], record_extra: &str) -> Vec<u8> {
    let dist = Dist {
        name: "evil",
        version: "1.0",
        ..Dist::default()
    };
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("evil/__init__.py".into(), b"x = 1\n".to_vec()),
        (
            "evil-1.0.dist-info/METADATA".into(),
            dist.metadata().into_bytes(),
        ),
        (
            "evil-1.0.dist-info/WHEEL".into(),
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
        ),
        (
            "evil-1.0.dist-info/RECORD".into(),
            format!("evil/__init__.py,,\n{record_extra}evil-1.0.dist-info/RECORD,,\n").into_bytes(),
        ),
    ];
    files.extend(
        extra
            .iter()
            .map(|p| (p.to_string(), b"import os\n".to_vec())),
    );
    zip_of(&files)
}

/// An sdist of `evil` 1.0 with one more entry: `path`, a regular file or,
/// with a `link`, a symbolic link to it.
fn evil_sdist(path: &str, link: Option<&str>) -> Vec<u8> {
    let dist = Dist {
        name: "evil",
        version: "1.0",
        ..Dist::default()
    };
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let pkg_info = dist.metadata().into_bytes();
    for (name, content, link) in [
        ("evil-1.0/PKG-INFO", &pkg_info[..], None),
        (path, b"x\n", link),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        // Raw names: the tar crate's own setters refuse '..'.
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        let content = match link {
            Some(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                &[][..]
            }
            None => content,
        };
        header.set_size(content.len() as u64);
        header.set_cksum();
        builder.append(&header, content).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

async fn hostile_python_dists(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let whl = "evil-1.0-py3-none-any.whl";
    let sdist = "evil-1.0.tar.gz";
    let mut cases = Vec::new();
    for (name, entry) in [
        ("wheel entry ../../evil.py", "../../evil.py"),
        ("wheel entry /etc/evil", "/etc/evil"),
        ("wheel entry a/../../x", "evil/../../x"),
        ("wheel entry \\evil.py", "\\evil.py"),
        ("wheel entry C:\\x", "C:\\x"),
        ("wheel entry with NUL", "evil/a\0b.py"),
    ] {
        cases.push(case(name, "", whl, evil_wheel(&[entry], ""), "unsafe_path"));
    }
    for (name, line) in [
        ("RECORD ../../evil.py", "../../evil.py,,\n"),
        ("RECORD /etc/passwd", "/etc/passwd,,\n"),
        ("RECORD C:\\x", "\"C:\\x\",,\n"),
    ] {
        cases.push(case(name, "", whl, evil_wheel(&[], line), "unsafe_path"));
    }
    for (name, path, link) in [
        ("sdist member ../../evil.py", "../../evil.py", None),
        ("sdist member /etc/evil", "/etc/evil", None),
        ("sdist member evil-1.0/../../x", "evil-1.0/../../x", None),
        ("sdist member C:\\x", "C:\\x", None),
        (
            "sdist symlink out of the root",
            "evil-1.0/l",
            Some("../../etc/passwd"),
        ),
    ] {
        cases.push(case(name, "", sdist, evil_sdist(path, link), "unsafe_path"));
    }
    refuse_all(&env, &server, "pypi", &cases, &[], None).await;
    let (before, generation) =
        accept(&env, &server, "pypi", "", &[(whl, evil_wheel(&[], ""))]).await;
    refuse_all(&env, &server, "pypi", &cases, &before, generation).await;
}

async fn hostile_rpms(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let built = rpmbuild(
        env.dir.path(),
        &Spec {
            files: &[("/opt/aaaa/x", "hi")],
            ..Spec::new("hostile", "1.0")
        },
        false,
    );
    let good = std::fs::read(&built[0]).unwrap();
    // DIRNAMES (1118) holds "/opt/aaaa/"; FILEMODES (1030) the file's mode.
    let dirname = |new: &'static str| {
        with_header_edit(&good, move |tag, data| {
            if tag == 1118 {
                replace_string(data, new);
            }
        })
    };
    let device = with_header_edit(&good, |tag, data| {
        if tag == 1030 {
            data[..2].copy_from_slice(&0o020644u16.to_be_bytes());
        }
    });
    let q = "dist=el9";
    let cases = vec![
        case(
            "'..' in a directory",
            q,
            "x.rpm",
            dirname("/opt/../x/"),
            "unsafe_path",
        ),
        case(
            "a relative directory",
            q,
            "x.rpm",
            dirname("opt/aaaaa/"),
            "unsafe_path",
        ),
        case("a character device", q, "x.rpm", device, "device_file"),
    ];
    refuse_all(&env, &server, "rpm", &cases, &[], None).await;
    // The same edit with a harmless path is accepted: the refusals above
    // come from the paths, not from the renamed digests.
    let harmless = dirname("/opt/bbbb/");
    let (before, generation) = accept(&env, &server, "rpm", q, &[("x.rpm", harmless)]).await;
    refuse_all(&env, &server, "rpm", &cases, &before, generation).await;
}
