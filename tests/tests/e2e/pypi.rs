//! The pypi provider against real pip, uv and twine, with every client
//! isolated from the machine's own package sources.

use std::path::Path;

use artifactd_tests::pypi::{Dist, Venv, twine_upload, zip_of};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex};
use reqwest::Method;
use serde_json::Value;

both_backends!(
    pip_resolves_newest_compatible_and_uses_metadata,
    uv_resolves_newest_compatible,
    twine_uploads_wheels_and_sdists,
    simple_pages_negotiation_and_redirects,
    pypi_bad_uploads_change_nothing,
    two_instances_grow_one_project,
);

const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/pypi")
            .join(name),
    )
    .unwrap()
}

async fn upload(server: &Server, repo: &str, name: &str, bytes: Vec<u8>) {
    let r = server
        .upload(&format!("provider=pypi&reponame={repo}"), &[(name, bytes)])
        .await;
    assert!(r.status == 201 || r.status == 200, "{name}: {}", r.text);
}

async fn upload_wheel(server: &Server, repo: &str, d: &Dist<'_>) {
    upload(server, repo, &d.wheel_name(), d.wheel()).await;
}

/// A GET with extra request headers.
async fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = server.http.get(server.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn page_json(server: &Server, path: &str) -> Value {
    let r = get_with(server, path, &[("accept", JSON)]).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// The resolver scenario both pip and uv must get right: `Alpha.Pkg` 1.0,
/// 2.0 (needs `beta-lib`), 2.5 (yanked), 3.0 (Requires-Python >=4); and
/// `Beta_Lib` 1.0.
async fn seed_resolver_repo(server: &Server, repo: &str) {
    for d in [
        Dist {
            name: "Alpha.Pkg",
            version: "1.0",
            ..Default::default()
        },
        Dist {
            name: "Alpha.Pkg",
            version: "2.0",
            requires_dist: &["beta-lib>=1.0"],
            requires_python: Some(">=3.8"),
            ..Default::default()
        },
        Dist {
            name: "Alpha.Pkg",
            version: "2.5",
            ..Default::default()
        },
        Dist {
            name: "Alpha.Pkg",
            version: "3.0",
            requires_python: Some(">=4"),
            ..Default::default()
        },
        Dist {
            name: "Beta_Lib",
            version: "1.0",
            ..Default::default()
        },
    ] {
        upload_wheel(server, repo, &d).await;
    }
    let r = server
        .call(
            Method::PUT,
            &format!("/api/v1/repos/pypi/{repo}/packages/alpha_pkg/2.5.0/yank"),
            ADMIN_TOKEN,
            Some(serde_json::json!({ "reason": "broken <build>" })),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// How often the server's access log shows a read of a path ending in `suffix`.
fn fetched(server: &Server, suffix: &str) -> usize {
    server
        .log_text()
        .lines()
        .filter(|l| l.contains("artifactd::access") && l.trim_end().ends_with(suffix))
        .count()
}

async fn access_logged(env: &TestEnv) -> Server {
    env.start(&[("ARTIFACTD_LOG", "info,sqlx=warn,artifactd::access=debug")])
        .await
}

async fn pip_resolves_newest_compatible_and_uses_metadata(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = access_logged(&env).await;
    seed_resolver_repo(&server, "py").await;
    let index = server.url("/repo/pypi/py/simple/");

    let venv = Venv::new(&env.dir.path().join("pip"));
    let r = venv.pip_install(&index, &["alpha-pkg"]);
    assert!(r.ok, "pip install failed:\n{}", r.output);
    let installed = venv.installed();
    assert!(
        installed.contains(&"alpha-pkg==2.0".to_owned())
            && installed.contains(&"beta-lib==1.0".to_owned()),
        "newest compatible, not yanked, with its dependency: {installed:?}\n{}",
        r.output
    );
    // pip read the PEP 658 metadata and never downloaded the wheel whose
    // Requires-Python excludes this interpreter.
    assert!(
        fetched(&server, "/Alpha_Pkg-2.0-py3-none-any.whl.metadata") >= 1,
        "pip did not fetch the .metadata file:\n{}",
        server.log_text()
    );
    assert_eq!(fetched(&server, "/Alpha_Pkg-3.0-py3-none-any.whl"), 0);

    // A yanked version is installed when pinned exactly.
    let r = venv.pip_install(&index, &["alpha-pkg==2.5"]);
    assert!(r.ok, "pinned yanked version:\n{}", r.output);
    assert!(venv.installed().contains(&"alpha-pkg==2.5".to_owned()));
    assert!(r.output.to_lowercase().contains("yanked"), "{}", r.output);

    // The compatibility root works as an index URL too, and real-world wheels install.
    upload(
        &server,
        "py",
        "six-1.16.0-py2.py3-none-any.whl",
        fixture("six-1.16.0-py2.py3-none-any.whl"),
    )
    .await;
    let r = venv.pip_install(&server.url("/repo/pypi/py/"), &["six"]);
    assert!(r.ok, "pip -i <repo>/:\n{}", r.output);
    assert!(venv.installed().contains(&"six==1.16.0".to_owned()));
}

async fn uv_resolves_newest_compatible(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = access_logged(&env).await;
    seed_resolver_repo(&server, "py").await;
    upload(
        &server,
        "py",
        "typing_extensions-4.12.2-py3-none-any.whl",
        fixture("typing_extensions-4.12.2-py3-none-any.whl"),
    )
    .await;
    let index = server.url("/repo/pypi/py/simple/");

    let venv = Venv::new(&env.dir.path().join("uv"));
    let r = venv.uv_install(&index, &["alpha-pkg", "Typing.Extensions"]);
    assert!(r.ok, "uv pip install failed:\n{}", r.output);
    let installed = venv.installed();
    for want in [
        "alpha-pkg==2.0",
        "beta-lib==1.0",
        "typing-extensions==4.12.2",
    ] {
        assert!(
            installed.contains(&want.to_owned()),
            "{want}: {installed:?}\n{}",
            r.output
        );
    }
    assert_eq!(fetched(&server, "/Alpha_Pkg-3.0-py3-none-any.whl"), 0);
    let r = venv.uv_install(&index, &["alpha-pkg==2.5"]);
    assert!(r.ok, "uv, pinned yanked version:\n{}", r.output);
    assert!(venv.installed().contains(&"alpha-pkg==2.5".to_owned()));
}

async fn twine_uploads_wheels_and_sdists(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let dir = env.dir.path().join("dist");
    std::fs::create_dir_all(&dir).unwrap();
    let d = Dist {
        name: "Gamma-Tool",
        version: "0.3.1",
        requires_python: Some(">=3.9"),
        ..Default::default()
    };
    let wheel = dir.join(d.wheel_name());
    let sdist = dir.join(d.sdist_name());
    std::fs::write(&wheel, d.wheel()).unwrap();
    std::fs::write(&sdist, d.sdist()).unwrap();
    let real = dir.join("idna-3.7.tar.gz");
    std::fs::write(&real, fixture("idna-3.7.tar.gz")).unwrap();
    let url = server.url("/repo/pypi/tw/");

    let r = twine_upload(
        &env.dir.path().join("home"),
        &url,
        ADMIN_TOKEN,
        &[wheel.clone(), sdist.clone(), real],
    );
    assert!(r.ok, "twine upload failed:\n{}", r.output);
    let page = page_json(&server, "/repo/pypi/tw/simple/gamma-tool/").await;
    let names: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, [d.wheel_name(), d.sdist_name()]);
    assert_eq!(page["versions"], serde_json::json!(["0.3.1"]));
    let idna = page_json(&server, "/repo/pypi/tw/simple/idna/").await;
    assert_eq!(
        idna["files"][0]["hashes"]["sha256"],
        sha256_hex(&fixture("idna-3.7.tar.gz"))
    );

    // The same file again is fine; the same name with other bytes is refused.
    let r = twine_upload(
        &env.dir.path().join("home"),
        &url,
        ADMIN_TOKEN,
        std::slice::from_ref(&wheel),
    );
    assert!(r.ok, "identical re-upload:\n{}", r.output);
    let other = Dist {
        description: "other bytes\n",
        ..d.clone()
    };
    std::fs::write(&wheel, other.wheel()).unwrap();
    let before = env.stored_objects().await;
    let r = twine_upload(
        &env.dir.path().join("home"),
        &url,
        ADMIN_TOKEN,
        std::slice::from_ref(&wheel),
    );
    assert!(
        !r.ok && r.output.contains("409"),
        "conflicting re-upload:\n{}",
        r.output
    );
    // A bad token is refused and stores nothing.
    let r = twine_upload(
        &env.dir.path().join("home"),
        &url,
        "not-a-real-token-000000",
        std::slice::from_ref(&wheel),
    );
    assert!(
        !r.ok && r.output.contains("401"),
        "bad token:\n{}",
        r.output
    );
    assert_eq!(env.stored_objects().await, before);

    // The legacy API checks the declared digest.
    let form = reqwest::multipart::Form::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("name", "gamma-tool")
        .text("version", "0.3.2")
        .text("sha256_digest", "0".repeat(64))
        .part(
            "content",
            reqwest::multipart::Part::bytes(
                Dist {
                    version: "0.3.2",
                    ..d.clone()
                }
                .wheel(),
            )
            .file_name("gamma_tool-0.3.2-py3-none-any.whl"),
        );
    let r = server
        .http
        .post(&url)
        .basic_auth("__token__", Some(ADMIN_TOKEN))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "digest_mismatch");
    assert_eq!(env.stored_objects().await, before);
    // A POST elsewhere in the repository is not an upload.
    let r = server
        .http
        .post(server.url("/repo/pypi/tw/simple/gamma-tool/"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

async fn simple_pages_negotiation_and_redirects(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let d = Dist {
        name: "My_Pkg",
        version: "1.0.0rc1",
        requires_python: Some(">=3.8,<4"),
        ..Default::default()
    };
    upload_wheel(&server, "r", &d).await;
    upload(
        &server,
        "r",
        "six-1.16.0.tar.gz",
        fixture("six-1.16.0.tar.gz"),
    )
    .await;

    // Non-normalised names redirect to the normalised URL.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (from, to) in [
        ("/repo/pypi/r/simple/My_Pkg/", "/repo/pypi/r/simple/my-pkg/"),
        ("/repo/pypi/r/simple/my.pkg", "/repo/pypi/r/simple/my-pkg/"),
        ("/repo/pypi/r/My_Pkg/", "/repo/pypi/r/my-pkg/"),
        ("/repo/pypi/r/simple", "/repo/pypi/r/simple/"),
    ] {
        let r = no_redirect.get(server.url(from)).send().await.unwrap();
        assert!(r.status().is_redirection(), "{from}: {}", r.status());
        assert_eq!(r.headers()["location"], to, "{from}");
    }

    // HTML by default, with escaped attributes; the compatibility path answers the same.
    let html = server.get("/repo/pypi/r/simple/my-pkg/").await;
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(html.headers()["vary"], "Accept");
    let html = html.text().await.unwrap();
    let compat = server
        .get("/repo/pypi/r/my-pkg/")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html, compat);
    let wheel = d.wheel();
    let metadata = d.metadata();
    assert!(
        html.contains(&format!(
            "href=\"{}#sha256={}\"",
            d.wheel_name(),
            sha256_hex(&wheel)
        )),
        "{html}"
    );
    assert!(
        html.contains("data-requires-python=\"&gt;=3.8,&lt;4\""),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "data-core-metadata=\"sha256={}\"",
            sha256_hex(metadata.as_bytes())
        )),
        "{html}"
    );
    let root = server
        .get("/repo/pypi/r/simple/")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        root.contains("href=\"my-pkg/\">My_Pkg</a>") && root.contains("href=\"six/\""),
        "{root}"
    );

    // Clients that accept gzip get (larger) pages compressed, with their own ETag.
    for v in ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"] {
        upload_wheel(
            &server,
            "r",
            &Dist {
                name: "many",
                version: v,
                ..Default::default()
            },
        )
        .await;
    }
    let html = server
        .get("/repo/pypi/r/simple/many/")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.len() > 1024);
    let r = get_with(
        &server,
        "/repo/pypi/r/simple/many/",
        &[("accept-encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let vary: Vec<&str> = r
        .headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        vary.contains(&"Accept") && vary.contains(&"Accept-Encoding"),
        "{vary:?}"
    );
    let gz_etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, html);
    let r = get_with(
        &server,
        "/repo/pypi/r/simple/many/",
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)],
    )
    .await;
    assert_eq!(r.status(), 304);
    let r = get_with(
        &server,
        "/repo/pypi/r/simple/many/",
        &[("accept-encoding", "gzip;q=0, identity")],
    )
    .await;
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.text().await.unwrap(), html);

    // PEP 691 JSON by Accept, with PEP 700 fields.
    let j = page_json(&server, "/repo/pypi/r/simple/my-pkg/").await;
    assert_eq!(j["meta"]["api-version"], "1.1");
    assert_eq!(j["name"], "my-pkg");
    assert_eq!(j["versions"], serde_json::json!(["1.0.0rc1"]));
    let f = &j["files"][0];
    assert_eq!(f["url"], d.wheel_name());
    assert_eq!(f["size"], wheel.len());
    assert_eq!(f["requires-python"], ">=3.8,<4");
    assert_eq!(f["yanked"], false);
    assert!(f["upload-time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        f["core-metadata"]["sha256"],
        sha256_hex(metadata.as_bytes())
    );
    let r = get_with(
        &server,
        "/repo/pypi/r/simple/",
        &[("accept", "application/vnd.pypi.simple.latest+json")],
    )
    .await;
    assert_eq!(r.headers()["content-type"], JSON);
    let rootj: Value = r.json().await.unwrap();
    assert_eq!(rootj["projects"].as_array().unwrap().len(), 3);
    let r = get_with(&server, "/repo/pypi/r/simple/", &[("accept", "image/png")]).await;
    assert_eq!(r.status(), 406);
    let r = get_with(
        &server,
        "/repo/pypi/r/simple/six/",
        &[("accept", "application/vnd.pypi.simple.v1+html")],
    )
    .await;
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.pypi.simple.v1+html"
    );
    assert_eq!(server.get("/repo/pypi/r/simple/nope/").await.status(), 404);

    // Files and .metadata: stable URLs, types, ETag, Range.
    let url = format!("/repo/pypi/r/simple/my-pkg/{}", d.wheel_name());
    let r = server.get(&url).await;
    assert_eq!(r.headers()["content-type"], "application/zip");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.bytes().await.unwrap(), wheel);
    let r = get_with(&server, &url, &[("range", "bytes=0-3")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], b"PK\x03\x04");
    let r = get_with(&server, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), 304);
    let r = server.get(&format!("{url}.metadata")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), metadata);
    assert_eq!(
        server
            .get(&format!("/repo/pypi/r/my-pkg/{}", d.wheel_name()))
            .await
            .bytes()
            .await
            .unwrap(),
        wheel
    );

    // Yank with a reason, then unyank; other formats refuse yanking.
    let yank = "/api/v1/repos/pypi/r/packages/My.Pkg/1.0.0-rc1/yank";
    let r = server
        .call(
            Method::PUT,
            yank,
            ADMIN_TOKEN,
            Some(serde_json::json!({"reason": "use \"2.0\" <now>"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let j = page_json(&server, "/repo/pypi/r/simple/my-pkg/").await;
    assert_eq!(j["files"][0]["yanked"], "use \"2.0\" <now>");
    let html = server
        .get("/repo/pypi/r/simple/my-pkg/")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-yanked=\"use &quot;2.0&quot; &lt;now&gt;\""),
        "{html}"
    );
    let r = server.call(Method::DELETE, yank, ADMIN_TOKEN, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        page_json(&server, "/repo/pypi/r/simple/my-pkg/").await["files"][0]["yanked"],
        false
    );
    let r = server
        .call(
            Method::PUT,
            "/api/v1/repos/pypi/r/packages/my-pkg/9.9/yank",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = server
        .upload(
            "provider=tar&reponame=t",
            &[("x-1.0.tar", artifactd_tests::tar_with("x", b"x"))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = server
        .call(
            Method::PUT,
            "/api/v1/repos/tar/t/packages/x/1.0/yank",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
}

async fn pypi_bad_uploads_change_nothing(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    upload(
        &server,
        "py",
        "six-1.16.0-py2.py3-none-any.whl",
        fixture("six-1.16.0-py2.py3-none-any.whl"),
    )
    .await;
    let status = server.get_json("/api/v1/repos/pypi/py").await;
    let before = env.stored_objects().await;

    let good = Dist {
        name: "good",
        version: "1.0",
        ..Default::default()
    };
    let mismatch = Dist {
        name: "good",
        version: "1.0",
        metadata_name: Some("evil"),
        ..Default::default()
    };
    // METADATA says a version PEP 440 does not allow.
    let bad_version_wheel = zip_of(&[
        (
            "good-1.0.dist-info/METADATA".into(),
            b"Metadata-Version: 2.1\nName: good\nVersion: one.zero\n".to_vec(),
        ),
        (
            "good-1.0.dist-info/WHEEL".into(),
            b"Wheel-Version: 1.0\n".to_vec(),
        ),
        ("good-1.0.dist-info/RECORD".into(), Vec::new()),
    ]);
    // A decompression bomb: METADATA declares (and inflates to) 64 MiB.
    let bomb = zip_of(&[
        ("good-1.0.dist-info/METADATA".into(), vec![b'a'; 64 << 20]),
        (
            "good-1.0.dist-info/WHEEL".into(),
            b"Wheel-Version: 1.0\n".to_vec(),
        ),
        ("good-1.0.dist-info/RECORD".into(), Vec::new()),
    ]);
    assert!(bomb.len() < 1 << 20);
    let mut truncated = good.wheel();
    truncated.truncate(truncated.len() - 30);
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "not a wheel",
            zip_of(&[("hello.txt".into(), b"hi".to_vec())]),
            "good-1.0-py3-none-any.whl",
            "invalid_wheel",
        ),
        (
            "not even a zip",
            b"plain text".to_vec(),
            "good-1.0-py3-none-any.whl",
            "invalid_archive",
        ),
        (
            "truncated",
            truncated,
            "good-1.0-py3-none-any.whl",
            "invalid_archive",
        ),
        (
            "METADATA name differs",
            mismatch.wheel(),
            "good-1.0-py3-none-any.whl",
            "name_mismatch",
        ),
        (
            "file name version differs",
            good.wheel(),
            "good-1.1-py3-none-any.whl",
            "version_mismatch",
        ),
        (
            "invalid version in METADATA",
            bad_version_wheel,
            "good-1.0-py3-none-any.whl",
            "invalid_version",
        ),
        (
            "invalid version in file name",
            good.wheel(),
            "good-1.0~x-py3-none-any.whl",
            "invalid_version",
        ),
        (
            "bad wheel file name",
            good.wheel(),
            "good-1.0-py3.whl",
            "invalid_filename",
        ),
        (
            "zip bomb",
            bomb,
            "good-1.0-py3-none-any.whl",
            "metadata_too_large",
        ),
        (
            "traversal",
            good.wheel(),
            "../good-1.0-py3-none-any.whl",
            "invalid_filename",
        ),
        (
            "not a distribution",
            b"x".to_vec(),
            "good-1.0.exe",
            "unsupported_file",
        ),
        (
            "sdist without PKG-INFO",
            artifactd_tests::tar_with("good-1.0/setup.py", b""),
            "good-1.0.tar.gz",
            "invalid_archive",
        ),
    ];
    for (what, bytes, filename, code) in cases {
        let r = server
            .upload("provider=pypi&reponame=py", &[(filename, bytes)])
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{what}: {} {}",
            r.status,
            r.text
        );
        assert_eq!(r.error_code(), code, "{what}: {}", r.text);
        // A refused first upload does not create a repository either.
        let r2 = server
            .upload("provider=pypi&reponame=fresh", &[(filename, Vec::new())])
            .await;
        assert!((400..500).contains(&r2.status), "{what} (empty)");
    }
    let r = server
        .upload(
            "provider=pypi&reponame=py&name=other",
            &[(&good.wheel_name(), good.wheel())],
        )
        .await;
    assert_eq!(r.error_code(), "name_mismatch");
    let r = server
        .upload(
            "provider=pypi&reponame=py&version=2.0",
            &[(&good.wheel_name(), good.wheel())],
        )
        .await;
    assert_eq!(r.error_code(), "version_mismatch");

    assert_eq!(
        env.stored_objects().await,
        before,
        "a refused upload stored something"
    );
    assert_eq!(
        server.get_json("/api/v1/repos/pypi/py").await["generation"],
        status["generation"]
    );
    assert_eq!(server.get("/api/v1/repos/pypi/fresh").await.status(), 404);
    let j = page_json(&server, "/repo/pypi/py/simple/").await;
    assert_eq!(j["projects"], serde_json::json!([{"name": "six"}]));

    // name= and version= in another spelling of the same project and version are fine.
    let r = server
        .upload(
            "provider=pypi&reponame=py&name=Good&version=1.0.0",
            &[(&good.wheel_name(), good.wheel())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Two instances share one database and storage; uploads to one project
/// alternate between them, so each publishes pages whose parts the other
/// stored. Readers must always get a complete page that never shrinks, and
/// both end up serving every file, byte-exact, in both representations.
async fn two_instances_grow_one_project(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let opts = [("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "100")];
    let a = std::sync::Arc::new(env.start(&opts).await);
    let b = std::sync::Arc::new(env.start(&opts).await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for server in [a.clone(), b.clone()] {
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut last = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = get_with(
                    &server,
                    "/repo/pypi/shared/simple/grow/",
                    &[("accept", JSON)],
                )
                .await;
                if r.status() == 404 {
                    continue; // not published yet
                }
                let page: Value = r.json().await.expect("a complete JSON page");
                let n = page["files"].as_array().unwrap().len();
                assert!(n >= last, "page went backwards: {last} -> {n}");
                last = n;
            }
        }));
    }
    let mut wheels = Vec::new();
    // Enough files that pages have several parts; sequential per instance,
    // concurrent across the two.
    let mut tasks = Vec::new();
    for (k, server) in [a.clone(), b.clone()].into_iter().enumerate() {
        let mine: Vec<(String, Vec<u8>)> = (0..60)
            .filter(|i| i % 2 == k)
            .map(|i| {
                let v = format!("1.{i}");
                let d = Dist {
                    name: "grow",
                    version: &v,
                    ..Default::default()
                };
                (d.wheel_name(), d.wheel())
            })
            .collect();
        wheels.extend(mine.clone());
        tasks.push(tokio::spawn(async move {
            for (name, bytes) in mine {
                let r = server
                    .upload("provider=pypi&reponame=shared", &[(&name, bytes)])
                    .await;
                assert!(r.status == 201, "{name}: {}", r.text);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    Server::converged(&[&a, &b], "/repo/pypi/shared/simple/grow/").await;
    for server in [&a, &b] {
        let page = page_json(server, "/repo/pypi/shared/simple/grow/").await;
        let files = page["files"].as_array().unwrap();
        assert_eq!(files.len(), 60);
        assert_eq!(page["versions"].as_array().unwrap().len(), 60);
        let html = server
            .get("/repo/pypi/shared/simple/grow/")
            .await
            .text()
            .await
            .unwrap();
        for (name, bytes) in &wheels {
            let sha = sha256_hex(bytes);
            assert!(
                files
                    .iter()
                    .any(|f| f["filename"] == *name && f["hashes"]["sha256"] == sha),
                "{name}"
            );
            assert!(
                html.contains(&format!("href=\"{name}#sha256={sha}\"")),
                "{name}"
            );
            let (got, _) = server
                .download_digest(&format!("/repo/pypi/shared/simple/grow/{name}"))
                .await;
            assert_eq!(got, sha);
        }
    }
}
