//! Token management and what each scope allows.

use artifactd_tests::{ADMIN_TOKEN, Backend, TestEnv, both_backends, tar_with};
use reqwest::Method;
use serde_json::json;

both_backends!(scoped_tokens, generated_admin_token_is_printed_once);

async fn scoped_tokens(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let create = |body: serde_json::Value, token: &'static str| {
        server.call(Method::POST, "/api/v1/tokens", token, Some(body))
    };
    let resp = create(
        json!({"name": "ci", "scopes": ["upload:tar/team"]}),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    let ci = body["token"].as_str().unwrap().to_owned();
    let ci_id = body["id"].as_i64().unwrap();
    let resp = create(
        json!({"name": "creator", "scopes": ["create", "upload:tar/*"]}),
        ADMIN_TOKEN,
    )
    .await;
    let creator = resp.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let file = || vec![("t-1.0.tar", tar_with("a", b"a"))];
    // The repository does not exist and ci may not create it.
    let r = server
        .upload_as(Some(&ci), "provider=tar&reponame=team", &file())
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // creator may; then ci may upload into it, and not elsewhere.
    let r = server
        .upload_as(Some(&creator), "provider=tar&reponame=team", &file())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = server
        .upload_as(
            Some(&ci),
            "provider=tar&reponame=team",
            &[("t-2.0.tar", tar_with("a", b"b"))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = server
        .upload_as(Some(&ci), "provider=tar&reponame=other", &file())
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.error_code(), "forbidden");

    // HTTP Basic with the token as password works too (curl -u, twine).
    let form = reqwest::multipart::Form::new().part(
        "f",
        reqwest::multipart::Part::bytes(tar_with("a", b"c")).file_name("t-3.0.tar"),
    );
    let resp = server
        .http
        .post(server.url("/addpkg?provider=tar&reponame=team"))
        .basic_auth("anyone", Some(&ci))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // Only admins manage tokens; bad scopes are refused; revoked tokens stop working.
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/tokens", &ci, None)
            .await
            .status(),
        403
    );
    assert_eq!(
        server
            .http
            .get(server.url("/api/v1/tokens"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let resp = create(json!({"name": "bad", "scopes": ["root"]}), ADMIN_TOKEN).await;
    assert_eq!(resp.status(), 400);
    let resp = create(json!({"name": "ci", "scopes": ["create"]}), ADMIN_TOKEN).await;
    assert_eq!(resp.status(), 409);
    let listed: serde_json::Value = server
        .call(Method::GET, "/api/v1/tokens", ADMIN_TOKEN, None)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci", "creator"]);
    assert!(
        !listed.to_string().contains(&ci),
        "token list must not reveal secrets"
    );
    let resp = server
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{ci_id}"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let r = server
        .upload_as(
            Some(&ci),
            "provider=tar&reponame=team",
            &[("t-4.0.tar", tar_with("a", b"d"))],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

async fn generated_admin_token_is_printed_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[("ARTIFACTD_ADMIN_TOKEN", "")]).await;
    let log = server.log_text();
    let token = log
        .split_whitespace()
        .find(|w| w.starts_with("ad_"))
        .unwrap_or_else(|| panic!("no generated token in the log:\n{log}"))
        .to_owned();
    let r = server
        .upload_as(
            Some(&token),
            "provider=tar&reponame=x",
            &[("a-1.0.tar", tar_with("a", b"a"))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    server.stop().await;
    let server = env.start(&[("ARTIFACTD_ADMIN_TOKEN", "")]).await;
    assert!(
        !server.log_text().contains("ad_"),
        "the admin token must be printed only once"
    );
    let r = server
        .upload_as(
            Some(&token),
            "provider=tar&reponame=x",
            &[("a-2.0.tar", tar_with("a", b"b"))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}
