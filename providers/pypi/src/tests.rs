use super::*;

#[test]
fn resolve_paths() {
    let p = PypiProvider;
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
    let p = PypiProvider;
    assert_eq!(p.canonical_name("Typing_Extensions"), "typing-extensions");
    assert!(p.same_version("1.0", "1.0.0"));
    assert!(p.same_version("1.0-RC1", "1.0rc1"));
    assert!(!p.same_version("1.0", "1.1"));
}
