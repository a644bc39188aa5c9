//! Every kind of bad upload gets a 4xx JSON answer and changes nothing: no
//! object in storage, no repository or package row, no new index generation.

use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, tar_with};

use crate::roundtrip::gz;

both_backends!(bad_uploads_store_nothing, oversized_bodies_get_413);

/// A multipart body with one file part whose header bytes we choose.
fn raw_multipart(disposition: &[u8], content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "XyZzYboundary";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Disposition: form-data; ");
    body.extend_from_slice(disposition);
    body.extend_from_slice(b"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) async fn assert_untouched(
    env: &TestEnv,
    server: &Server,
    before_objects: &[String],
    before_generation: Option<i64>,
    case: &str,
) {
    assert_eq!(
        env.stored_objects().await,
        before_objects,
        "{case}: storage changed"
    );
    let repos = server.get_json("/api/v1/repos").await;
    let generation = repos["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "r")
        .map(|r| r["generation"].as_i64().unwrap());
    assert_eq!(
        generation, before_generation,
        "{case}: repository or index changed"
    );
}

/// Name, token, query, files, expected status, expected error code.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    &'a str,
    Vec<(&'a str, Vec<u8>)>,
    u16,
    &'a str,
);

async fn bad_uploads_store_nothing(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let good = tar_with("f", b"content");
    let big = gz(&tar_with("f", &vec![b'a'; 200_000]));
    let truncated = big[..big.len() / 2].to_vec();

    let cases: Vec<Case> = vec![
        (
            "no token",
            None,
            "provider=tar&reponame=r",
            vec![("a-1.0.tar", good.clone())],
            401,
            "unauthorized",
        ),
        (
            "wrong token",
            Some("not-a-real-token"),
            "provider=tar&reponame=r",
            vec![("a-1.0.tar", good.clone())],
            401,
            "unauthorized",
        ),
        (
            "missing provider",
            Some(ADMIN_TOKEN),
            "reponame=r",
            vec![("a-1.0.tar", good.clone())],
            400,
            "missing_provider",
        ),
        (
            "unknown provider",
            Some(ADMIN_TOKEN),
            "provider=nuget&reponame=r",
            vec![("a-1.0.tar", good.clone())],
            400,
            "unknown_provider",
        ),
        (
            "missing reponame",
            Some(ADMIN_TOKEN),
            "provider=tar",
            vec![("a-1.0.tar", good.clone())],
            400,
            "missing_reponame",
        ),
        (
            "bad reponame",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=../r",
            vec![("a-1.0.tar", good.clone())],
            400,
            "invalid_repo_name",
        ),
        (
            "missing file field",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![],
            400,
            "missing_file",
        ),
        (
            "not an archive",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("a-1.0.tar.gz", b"just some text, not gzip".to_vec())],
            400,
            "invalid_archive",
        ),
        (
            "garbage tar",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("a-1.0.tar", vec![b'z'; 4096])],
            400,
            "invalid_archive",
        ),
        (
            "truncated archive",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("a-1.0.tar.gz", truncated)],
            400,
            "invalid_archive",
        ),
        (
            "unsupported type",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("a-1.0.exe", good.clone())],
            400,
            "unsupported_file_type",
        ),
        (
            "traversal filename",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("../a-1.0.tar", good.clone())],
            400,
            "invalid_filename",
        ),
        (
            "absolute filename",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("/etc/a-1.0.tar", good.clone())],
            400,
            "invalid_filename",
        ),
        (
            "dot-dot filename",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("..", good.clone())],
            400,
            "invalid_filename",
        ),
        (
            "traversal name",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r&name=../x&version=1",
            vec![("a.tar", good.clone())],
            400,
            "invalid_name",
        ),
        (
            "absolute version",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r&name=x&version=/etc",
            vec![("a.tar", good.clone())],
            400,
            "invalid_name",
        ),
        (
            "NUL in name",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r&name=a%00b&version=1",
            vec![("a.tar", good.clone())],
            400,
            "invalid_name",
        ),
        (
            "non-UTF-8 name",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r&name=%FF&version=1",
            vec![("a.tar", good.clone())],
            400,
            "invalid_query",
        ),
        (
            "dotted name",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r&name=..&version=1",
            vec![("a.tar", good.clone())],
            400,
            "invalid_name",
        ),
        (
            "no version",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("plain.tar", good.clone())],
            400,
            "missing_name",
        ),
        (
            "reserved version",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r&name=a&version=latest",
            vec![("a.tar", good.clone())],
            400,
            "invalid_version",
        ),
        (
            "one bad file of two",
            Some(ADMIN_TOKEN),
            "provider=tar&reponame=r",
            vec![("a-1.0.tar", good.clone()), ("b-1.0.tar", vec![0u8; 10])],
            400,
            "invalid_archive",
        ),
    ];
    for (case, token, query, files, status, code) in cases {
        let r = server.upload_as(token, query, &files).await;
        assert_eq!(r.status, status, "{case}: {}", r.text);
        assert_eq!(r.error_code(), code, "{case}");
        assert_untouched(&env, &server, &[], None, case).await;
    }

    // Hand-made multipart bodies: NUL and non-UTF-8 bytes in the file name,
    // a part without a file name, and a body that is not multipart at all.
    let raw_cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "NUL in filename",
            b"name=\"f\"; filename=\"a\0b-1.0.tar\"".to_vec(),
        ),
        (
            "non-UTF-8 filename",
            b"name=\"f\"; filename=\"\xff\xfe-1.0.tar\"".to_vec(),
        ),
        ("no filename", b"name=\"f\"".to_vec()),
    ];
    for (case, disposition) in raw_cases {
        let (ct, body) = raw_multipart(&disposition, &good);
        let r = server
            .raw_post("/addpkg?provider=tar&reponame=r", &ct, body)
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{case}: {} {}",
            r.status,
            r.text
        );
        r.error_code();
        assert_untouched(&env, &server, &[], None, case).await;
    }
    let r = server
        .raw_post(
            "/addpkg?provider=tar&reponame=r",
            "multipart/form-data; boundary=x",
            b"garbage".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), "invalid_multipart");
    let r = server
        .raw_post(
            "/addpkg?provider=tar&reponame=r",
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Now one good upload, then conflicting ones that must leave it as it is.
    let r = server
        .upload("provider=tar&reponame=r", &[("a-1.0.tar", good.clone())])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let objects = env.stored_objects().await;
    assert_eq!(
        objects.iter().filter(|k| k.starts_with("blobs/")).count(),
        1
    );
    let other = tar_with("f", b"other content");
    let r = server
        .upload("provider=tar&reponame=r", &[("a-1.0.tar", other.clone())])
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_untouched(
        &env,
        &server,
        &objects,
        Some(1),
        "same version, other bytes",
    )
    .await;
    // A batch whose second file conflicts stores neither.
    let r = server
        .upload(
            "provider=tar&reponame=r",
            &[("c-1.0.tar", tar_with("c", b"c")), ("a-1.0.tar", other)],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_untouched(&env, &server, &objects, Some(1), "batch with a conflict").await;
    assert_eq!(
        server.get_json("/api/v1/repos/tar/r/packages").await["packages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn oversized_bodies_get_413(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[("ARTIFACTD_MAX_UPLOAD_SIZE", "1M")]).await;
    let big = tar_with("f", &vec![7u8; 2 << 20]);
    // With Content-Length: refused before the body is read.
    let r = server
        .upload("provider=tar&reponame=r", &[("a-1.0.tar", big.clone())])
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.error_code(), "too_large");
    // Chunked, without Content-Length: refused once the limit is crossed.
    let stream = futures_util::stream::iter(
        big.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream)).file_name("a-1.0.tar");
    let resp = server
        .http
        .post(server.url("/addpkg?provider=tar&reponame=r"))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(reqwest::multipart::Form::new().part("f", part))
        .send()
        .await;
    // The server may close the connection while the client still sends.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    assert_untouched(&env, &server, &[], None, "oversized").await;
    // Just under the limit still works.
    let fits = tar_with("f", &vec![7u8; 512 << 10]);
    assert_eq!(
        server
            .upload("provider=tar&reponame=r", &[("a-1.0.tar", fits)])
            .await
            .status,
        201
    );
    // Leftover spool files would be partial uploads on disk.
    let tmp: Vec<_> = std::fs::read_dir(env.dir.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "spool directory not cleaned: {tmp:?}");
}
