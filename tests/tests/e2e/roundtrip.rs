//! Upload then download, byte for byte, through every read feature clients use.

use artifactd_tests::{
    Backend, TestEnv, both_backends, file_sha256, sha256_hex, tar_with, write_big_tar,
};

both_backends!(
    small_archive_roundtrip,
    large_archives_roundtrip,
    publish_and_listing,
    restart_keeps_everything
);

async fn small_archive_roundtrip(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    // An archive whose payload is one byte.
    let archive = tar_with("one.txt", b"x");
    let r = server
        .upload(
            "provider=tar&reponame=rt",
            &[("one-1.0.tar", archive.clone())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let file = &r.json["packages"][0]["files"][0];
    assert_eq!(file["sha256"], sha256_hex(&archive));
    assert_eq!(file["status"], "created");
    assert_eq!(r.json["publication"]["published"], true);
    assert_eq!(r.json["publication"]["generation"], 1);

    let url = "/repo/tar/rt/one/1.0/one-1.0.tar";
    let resp = server.get(url).await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "application/x-tar");
    assert_eq!(
        headers["content-length"],
        archive.len().to_string().as_str()
    );
    assert_eq!(headers["accept-ranges"], "bytes");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&archive)));
    assert_eq!(resp.bytes().await.unwrap().as_ref(), archive.as_slice());

    // Range, suffix range, unsatisfiable range, conditional GET, HEAD.
    let part = server
        .http
        .get(server.url(url))
        .header("range", "bytes=512-1023")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 512-1023/{}", archive.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &archive[512..1024]);
    let tail = server
        .http
        .get(server.url(url))
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &archive[archive.len() - 10..]
    );
    let bad = server
        .http
        .get(server.url(url))
        .header("range", "bytes=999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 416);
    let cached = server
        .http
        .get(server.url(url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let head = server.http.head(server.url(url)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        archive.len().to_string().as_str()
    );

    // The identical file again is idempotent; other bytes under the same name are not.
    let again = server
        .upload(
            "provider=tar&reponame=rt",
            &[("one-1.0.tar", archive.clone())],
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["packages"][0]["files"][0]["status"], "exists");
    let other = server
        .upload(
            "provider=tar&reponame=rt",
            &[("one-1.0.tar", tar_with("one.txt", b"y"))],
        )
        .await;
    assert_eq!(other.status, 409, "{}", other.text);
    assert_eq!(other.error_code(), "file_exists");
    let (sha, _) = server.download_digest(url).await;
    assert_eq!(
        sha,
        sha256_hex(&archive),
        "a refused upload must not change the stored file"
    );

    // The same bytes in another repository are stored once.
    let r = server
        .upload(
            "provider=tar&reponame=rt2",
            &[("copy-2.0.tar", archive.clone())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let blobs: Vec<String> = env
        .stored_objects()
        .await
        .into_iter()
        .filter(|k| k.starts_with("blobs/"))
        .collect();
    assert_eq!(
        blobs,
        [format!(
            "blobs/sha256/{}/{}",
            &sha256_hex(&archive)[..2],
            sha256_hex(&archive)
        )]
    );
    let api = server.get_json("/api/v1/repos/tar/rt2/packages").await;
    assert_eq!(
        api["packages"][0]["files"][0]["url"],
        "/repo/tar/rt2/copy/2.0/copy-2.0.tar"
    );
    assert_eq!(
        api["packages"][0]["files"][0]["sha256"],
        sha256_hex(&archive)
    );
}

async fn large_archives_roundtrip(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    // 10 MiB, and 100 MiB: above the 8 MiB multipart part size of the S3 backend.
    for (mib, name) in [(10u64, "ten-1.0.tar"), (100, "hundred-1.0.tar")] {
        let path = env.dir.path().join(name);
        write_big_tar(&path, mib << 20);
        let expected = file_sha256(&path);
        let r = server.upload_path("provider=tar&reponame=big", &path).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let stem = name.trim_end_matches("-1.0.tar");
        let (sha, len) = server
            .download_digest(&format!("/repo/tar/big/{stem}/1.0/{name}"))
            .await;
        assert_eq!(sha, expected, "{name} differs after the round trip");
        assert_eq!(len, std::fs::metadata(&path).unwrap().len());
        // A range from the middle of the object, streamed from storage.
        let start = (mib << 20) / 2;
        let resp = server
            .http
            .get(server.url(&format!("/repo/tar/big/{stem}/1.0/{name}")))
            .header("range", format!("bytes={start}-{}", start + 99_999))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 206);
        let body = resp.bytes().await.unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        use std::io::{Read, Seek};
        f.seek(std::io::SeekFrom::Start(start)).unwrap();
        let mut want = vec![0u8; 100_000];
        f.read_exact(&mut want).unwrap();
        assert!(body.as_ref() == want.as_slice(), "range of {name} differs");
        std::fs::remove_file(&path).unwrap();
    }
}

async fn publish_and_listing(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    for v in ["1.9", "1.10", "1.2"] {
        let r = server
            .upload(
                "provider=tar&reponame=rel",
                &[(
                    &format!("tool-{v}.tar.gz"),
                    gz(&tar_with("bin/tool", v.as_bytes())),
                )],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // Explicit name/version for a file whose name says neither.
    let r = server
        .upload(
            "provider=tar&reponame=rel&name=docs&version=2.0",
            &[("site.zip", zip_with("index.html", b"<h1>hi</h1>"))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json["packages"][0]["files"][0]["path"],
        "docs/2.0/site.zip"
    );

    let listing = server.get_json("/repo/tar/rel/").await;
    assert_eq!(
        listing["packages"]["tool"]["versions"],
        serde_json::json!(["1.10", "1.9", "1.2"])
    );
    assert_eq!(listing["packages"]["tool"]["latest"], "1.10");
    let versions = server.get_json("/repo/tar/rel/tool/").await;
    assert_eq!(
        versions["versions"][0]["files"][0]["filename"],
        "tool-1.10.tar.gz"
    );

    let latest = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = latest
        .get(server.url("/repo/tar/rel/tool/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "/repo/tar/rel/tool/1.10/tool-1.10.tar.gz"
    );
    let body = server
        .get("/repo/tar/rel/tool/latest")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), gz(&tar_with("bin/tool", b"1.10")).as_slice());

    // wait=0 answers before publishing; the upload shows up shortly after.
    let r = server
        .upload(
            "provider=tar&reponame=rel&wait=0",
            &[("tool-2.0.tar.gz", gz(&tar_with("bin/tool", b"2.0")))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["publication"]["published"], false);
    let seq = r.json["publication"]["seq"].as_i64().unwrap();
    let mut seen = false;
    for _ in 0..100 {
        let status = server.get_json("/api/v1/repos/tar/rel").await;
        if status["published_seq"].as_i64().unwrap() >= seq {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "wait=0 upload was never published");
    assert_eq!(
        server.get_json("/repo/tar/rel/").await["packages"]["tool"]["latest"],
        "2.0"
    );

    let api = server
        .get_json("/api/v1/repos/tar/rel/packages?name=tool")
        .await;
    assert_eq!(api["packages"].as_array().unwrap().len(), 4);
    let repos = server.get_json("/api/v1/repos").await;
    assert_eq!(repos["repos"][0]["name"], "rel");

    // The home page lists the repository; its page has a ready-to-copy command.
    let home = server.get("/").await;
    assert_eq!(home.headers()["content-type"], "text/html; charset=utf-8");
    let html = home.text().await.unwrap().replace("&#x2f;", "/");
    assert!(html.contains("href=\"/repos/tar/rel\">rel</a>"), "{html}");
    let page = server.get("/repos/tar/rel").await.text().await.unwrap();
    let page = page.replace("&#x2f;", "/");
    assert!(
        page.contains(&format!(
            "curl -fL -o FILE {}/repo/tar/rel/NAME/latest",
            server.url
        )),
        "{page}"
    );

    // Unknown things are JSON 404s.
    for path in [
        "/repo/tar/rel/nope/1.0/x.tar",
        "/repo/tar/absent/",
        "/repo/nosuch/rel/",
        "/api/v1/repos/tar/absent",
    ] {
        let resp = server.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }
}

async fn restart_keeps_everything(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let archive = tar_with("a", b"persist");
    assert_eq!(
        server
            .upload(
                "provider=tar&reponame=p",
                &[("keep-3.1.tar", archive.clone())]
            )
            .await
            .status,
        201
    );
    server.stop().await;
    let server = env.start(&[]).await;
    let (sha, _) = server
        .download_digest("/repo/tar/p/keep/3.1/keep-3.1.tar")
        .await;
    assert_eq!(sha, sha256_hex(&archive));
    assert_eq!(
        server.get_json("/repo/tar/p/").await["packages"]["keep"]["latest"],
        "3.1"
    );
}

pub fn gz(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(raw).unwrap();
    e.finish().unwrap()
}

pub fn zip_with(name: &str, content: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(content).unwrap();
    w.finish().unwrap().into_inner()
}

both_backends!(superseded_index_files_expire_after_grace);

/// Index files of a superseded set stay stored for the grace period, then go.
async fn superseded_index_files_expire_after_grace(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env
        .start(&[
            ("ARTIFACTD_PUBLISH_GRACE_PERIOD_SECS", "1"),
            ("ARTIFACTD_PUBLISH_GC_INTERVAL_SECS", "0"),
        ])
        .await;
    let storage = env.storage().await;
    let mut root_index_keys = Vec::new();
    for v in ["1.0", "2.0", "3.0"] {
        let r = server
            .upload(
                "provider=tar&reponame=g",
                &[(&format!("g-{v}.tar"), tar_with("f", v.as_bytes()))],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        // The package's listing: one object (the root listing is made of
        // parts, stored separately).
        let body = server
            .get("/repo/tar/g/g/index.json")
            .await
            .bytes()
            .await
            .unwrap();
        root_index_keys.push(artifactd::storage::StorageKey::Index {
            repo_id: 1,
            sha256: sha256_hex(&body),
        });
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    // Publishing 3.0 expired generation 1 (superseded over a second ago) and
    // removed its files; generation 2 was superseded just now and stays.
    assert_eq!(
        storage.head(&root_index_keys[0]).await.unwrap(),
        None,
        "expired index file still stored"
    );
    assert!(
        storage.head(&root_index_keys[1]).await.unwrap().is_some(),
        "index file removed within its grace period"
    );
    assert!(
        storage.head(&root_index_keys[2]).await.unwrap().is_some(),
        "current index file missing"
    );
}
