use super::*;
use std::collections::BTreeMap;

use artifactd_provider_api::RepoInfo;

#[test]
fn resolve_paths() {
    let p = PypiProvider::default();
    let json = ReadRequest {
        accept: Some(render::V1_JSON),
    };
    let html = ReadRequest::default();
    let r = |path: &str, req: &ReadRequest<'_>| p.resolve(path, req);
    let neg = |s: &str| Resolution::Negotiated(s.to_owned());
    let redir = |s: &str| Resolution::Redirect(s.to_owned());
    assert_eq!(r("", &html), neg("+simple/index.html"));
    assert_eq!(r("simple/", &json), neg("+simple/index.v1.json"));
    assert_eq!(r("simple", &html), redir("simple/"));
    assert_eq!(r("simple/six/", &json), neg("+simple/six/index.v1.json"));
    assert_eq!(r("six/", &html), neg("+simple/six/index.html"));
    assert_eq!(r("simple/My_Pkg/", &html), redir("simple/my-pkg/"));
    assert_eq!(r("simple/My_Pkg", &html), redir("simple/my-pkg/"));
    assert_eq!(r("My.Pkg/", &html), redir("my-pkg/"));
    assert_eq!(r("six", &html), redir("six/"));
    assert_eq!(
        r("simple/six/six-1.0-py3-none-any.whl", &html),
        Resolution::Serve("simple/six/six-1.0-py3-none-any.whl".into())
    );
    assert_eq!(
        r("six/six-1.0.tar.gz", &html),
        Resolution::Serve("simple/six/six-1.0.tar.gz".into())
    );
    assert_eq!(r("Six/six-1.0.tar.gz", &html), redir("six/six-1.0.tar.gz"));
    assert_eq!(r("simple/six/a/b", &html), Resolution::NotFound);
    assert_eq!(r("..%2f/", &html), Resolution::NotFound);
    assert!(matches!(
        r(
            "simple/",
            &ReadRequest {
                accept: Some("image/png")
            }
        ),
        Resolution::NotAcceptable(_)
    ));
}

#[test]
fn names_and_versions() {
    let p = PypiProvider::default();
    assert_eq!(p.canonical_name("Typing_Extensions"), "typing-extensions");
    assert!(p.same_version("1.0", "1.0.0"));
    assert!(p.same_version("1.0-RC1", "1.0rc1"));
    assert!(!p.same_version("1.0", "1.1"));
}

fn record(id: i64, seq: i64, name: &str, version: &str, yanked: Option<&str>) -> PackageRecord {
    let wheel = format!("{name}-{version}-py3-none-any.whl");
    let file = |filename: String, kind: &str| artifactd_provider_api::FileRecord {
        path: format!("simple/{name}/{filename}"),
        filename,
        sha256: format!("{id:064x}"),
        size: 10,
        content_type: "application/zip".into(),
        metadata: serde_json::json!({ "kind": kind, "requires_python": ">=3.8" }).into(),
        uploaded_at: 1_700_000_000_000 + id,
    };
    PackageRecord {
        id,
        seq,
        name: name.into(),
        version: version.into(),
        section: String::new(),
        variant: String::new(),
        metadata: serde_json::json!({ "display_name": name }).into(),
        uploaded_at: 0,
        uploader: "t".into(),
        yanked: yanked.map(str::to_owned),
        files: vec![
            file(wheel.clone(), "wheel"),
            file(format!("{wheel}.metadata"), "core-metadata"),
        ],
    }
}

fn render_all(
    p: &PypiProvider,
    packages: &[PackageRecord],
) -> BTreeMap<String, (Vec<u8>, Vec<String>)> {
    let repo = RepoInfo {
        id: 1,
        provider: "pypi".into(),
        name: "r".into(),
        settings: serde_json::json!({}),
    };
    p.render(&RenderInput {
        sections: &[],
        repo: &repo,
        packages,
        signer: None,
        now: 0,
        seq: 0,
    })
    .unwrap()
    .into_iter()
    .filter_map(|f| match f.body {
        IndexBody::Parts(parts) => Some((
            f.path,
            (
                parts.iter().flat_map(|p| p.bytes.iter().copied()).collect(),
                parts.iter().map(|p| p.sha256.clone()).collect(),
            ),
        )),
        _ => None,
    })
    .collect()
}

#[test]
fn growing_a_project_rewrites_few_parts_and_matches_a_fresh_render() {
    let cached = PypiProvider::default();
    let mut packages: Vec<PackageRecord> = (1..=500)
        .map(|i| record(i, i, "big", &format!("1.0.{i}"), None))
        .collect();
    packages.push(record(501, 501, "small", "1.0", None));
    let before = render_all(&cached, &packages);
    packages.push(record(502, 502, "big", "2.0", None));
    // A yank in the middle changes that package's seq.
    packages[200] = record(201, 503, "big", "1.0.201", Some("bad <build>"));
    let after = render_all(&cached, &packages);
    let fresh = render_all(&PypiProvider::default(), &packages);
    for (path, (bytes, parts)) in &after {
        assert_eq!(bytes, &fresh[path].0, "{path}: the cached render differs");
        let old = &before[path].1;
        let new_parts = parts.iter().filter(|p| !old.contains(p)).count();
        if path.starts_with("+simple/big/") {
            assert!(parts.len() > 10, "{path} is not cut into parts");
            assert!(
                new_parts <= 5,
                "{path}: {new_parts} of {} parts changed",
                parts.len()
            );
        } else {
            assert_eq!(new_parts, 0, "{path} changed although its project did not");
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&after["+simple/big/index.v1.json"].0).unwrap();
    assert_eq!(json["files"].as_array().unwrap().len(), 501);
    assert_eq!(json["versions"].as_array().unwrap().len(), 501);
    assert_eq!(json["versions"][500], "2.0");
    assert_eq!(json["files"][200]["yanked"], "bad <build>");
    assert_eq!(
        json["files"][0]["core-metadata"]["sha256"],
        format!("{:064x}", 1)
    );
    let html = String::from_utf8(after["+simple/big/index.html"].0.clone()).unwrap();
    assert!(html.contains("data-yanked=\"bad &lt;build&gt;\""));
    assert_eq!(html.matches("<a href=").count(), 501);
}

#[test]
fn versions_order_as_pep_440_does() {
    use std::cmp::Ordering::*;
    let p = PypiProvider::default();
    assert_eq!(p.compare_versions("1.0rc1", "1.0"), Less);
    assert_eq!(p.compare_versions("1.0.post1", "1.0"), Greater);
    assert_eq!(p.compare_versions("1.10", "1.9"), Greater);
    assert_eq!(p.compare_versions("1.0", "1.0.0"), Equal);
}

#[test]
fn package_snippets_pin_the_version() {
    let repo = RepoInfo {
        id: 1,
        provider: "pypi".into(),
        name: "py".into(),
        settings: json!({}),
    };
    let rec = record(1, 1, "alpha-pkg", "2.0", None);
    let ctx = SnippetContext {
        repo: &repo,
        base_url: "http://h:1",
        sections: &[],
        package: Some(&rec),
    };
    let text: Vec<String> = PypiProvider::default()
        .install_snippets(&ctx)
        .into_iter()
        .map(|s| s.text)
        .collect();
    assert_eq!(
        text,
        [
            "pip install --index-url http://h:1/repo/pypi/py/simple/ 'alpha-pkg==2.0'",
            "uv pip install --index-url http://h:1/repo/pypi/py/simple/ 'alpha-pkg==2.0'",
        ]
    );
}
