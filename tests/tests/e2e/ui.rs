//! The web UI: every page loaded in headless Chromium with its DOM checked
//! and a screenshot kept; escaping of package-supplied text; pagination,
//! sorting, filtering and search; snapshots and channels, browsable.

use std::path::Path;

use artifactd_tests::apt::make_deb;
use artifactd_tests::browser::{Browser, tag_names, texts};
use artifactd_tests::pypi::Dist;
use artifactd_tests::rpm::{Spec, rpmbuild};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex, tar_with};

both_backends!(
    pages_render_in_a_browser,
    package_supplied_html_is_shown_as_text,
    pagination_sorting_filtering_and_search,
    snapshots_and_channels_are_listed_and_browsable,
);

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn group(backend: Backend) -> &'static str {
    match backend {
        Backend::Embedded => "sqlite_local",
        Backend::External => "mariadb_s3",
    }
}

async fn ok(server: &Server, query: &str, files: &[(&str, Vec<u8>)]) {
    let r = server.upload(query, files).await;
    assert!(r.status == 201 || r.status == 200, "{query}: {}", r.text);
}

fn read(path: &Path) -> (String, Vec<u8>) {
    (
        path.file_name().unwrap().to_string_lossy().into_owned(),
        std::fs::read(path).unwrap(),
    )
}

fn fixture(rel: &str) -> (String, Vec<u8>) {
    read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel),
    )
}

async fn pages_render_in_a_browser(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let url = &server.url;

    // apt: real Debian packages, a newer hello, and a second dist.
    let debs: Vec<(String, Vec<u8>)> = [
        "deb/hello_2.10-3_amd64.deb",
        "deb/jq_1.6-2.1+deb12u3_amd64.deb",
        "deb/libjq1_1.6-2.1+deb12u3_amd64.deb",
    ]
    .iter()
    .map(|r| fixture(r))
    .collect();
    let old_hello_sha = sha256_hex(&debs[0].1);
    let files: Vec<(&str, Vec<u8>)> = debs.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    ok(
        &server,
        "provider=apt&reponame=debian&dist=bookworm",
        &files,
    )
    .await;
    ok(
        &server,
        "provider=apt&reponame=debian&dist=bookworm",
        &[("hello.deb", make_deb("hello", "2.10-4", "amd64", ""))],
    )
    .await;
    ok(
        &server,
        "provider=apt&reponame=debian&dist=trixie&component=contrib",
        &[("extra.deb", make_deb("extra", "1.0", "all", ""))],
    )
    .await;
    // pypi: two versions of one project and a real wheel.
    for version in ["1.0", "2.0"] {
        let d = Dist {
            name: "Alpha.Pkg",
            version,
            ..Dist::default()
        };
        ok(
            &server,
            "provider=pypi&reponame=py",
            &[(&d.wheel_name(), d.wheel())],
        )
        .await;
    }
    let six = fixture("pypi/six-1.16.0-py2.py3-none-any.whl");
    ok(&server, "provider=pypi&reponame=py", &[(&six.0, six.1)]).await;
    // rpm: one package built here.
    let spec = Spec {
        description: "A tool that the web UI test shows.",
        ..Spec::new("tool", "1.0")
    };
    let rpm = read(&rpmbuild(&env.dir.path().join("rpm"), &spec, false)[0]);
    ok(
        &server,
        "provider=rpm&reponame=yum&dist=el9",
        &[(&rpm.0, rpm.1)],
    )
    .await;
    // tar: versions whose byte order is not their order.
    for v in ["1.0", "1.9", "1.10"] {
        let name = format!("mytool-{v}.tar");
        ok(
            &server,
            "provider=tar&reponame=tools",
            &[(&name, tar_with("a", v.as_bytes()))],
        )
        .await;
    }

    let b = Browser::new(group(backend));
    let page = |path: &str| format!("{url}{path}");

    let home = b.dom(&page("/")).await;
    for (provider, repo) in [
        ("apt", "debian"),
        ("pypi", "py"),
        ("rpm", "yum"),
        ("tar", "tools"),
    ] {
        assert!(
            home.contains(&format!("href=\"/repos/{provider}/{repo}\">{repo}</a>")),
            "{provider}/{repo} on the home page:\n{home}"
        );
    }
    assert!(home.contains("<form class=\"search\""), "a search box");
    b.screenshot(&page("/"), "home", 1280, 900).await;

    let apt = b.dom(&page("/repos/apt/debian")).await;
    assert_eq!(
        texts(&apt, "<a class=\"pkg\""),
        ["extra", "hello", "jq", "libjq1"]
    );
    assert_eq!(
        texts(&apt, "<td class=\"version\""),
        ["1.0", "2.10-4", "1.6-2.1+deb12u3", "1.6-2.1+deb12u3"]
    );
    assert!(apt.contains(&format!(
        "curl -fsSL {url}/repo/apt/debian/dists/bookworm/install | sudo sh"
    )));
    assert!(
        apt.contains("Suites: trixie\nComponents: contrib\n"),
        "{apt}"
    );
    assert!(apt.contains("lightweight and flexible command-line JSON processor"));
    b.screenshot(&page("/repos/apt/debian"), "repo-apt", 1280, 1300)
        .await;
    b.screenshot(&page("/repos/apt/debian"), "repo-apt-phone", 390, 1200)
        .await;

    let hello = b.dom(&page("/repos/apt/debian/packages/hello")).await;
    assert_eq!(
        texts(&hello, "<span class=\"version\""),
        ["2.10-4", "2.10-4", "2.10-3"],
        "the title's version, then every version newest first"
    );
    assert!(hello.contains("sudo apt-get install hello=2.10-4"));
    assert!(hello.contains(&old_hello_sha), "the SHA-256 of each file");
    assert!(
        hello.contains("href=\"/repo/apt/debian/pool/main/h/hello/hello_2.10-3_amd64.deb\""),
        "{hello}"
    );
    assert!(hello.contains("by <span class=\"uploader\">admin</span>"));
    b.screenshot(
        &page("/repos/apt/debian/packages/hello"),
        "package-apt",
        1280,
        1500,
    )
    .await;
    b.screenshot(
        &page("/repos/apt/debian/packages/jq"),
        "package-apt-phone",
        390,
        1500,
    )
    .await;

    let py = b.dom(&page("/repos/pypi/py")).await;
    assert_eq!(texts(&py, "<a class=\"pkg\""), ["alpha-pkg", "six"]);
    assert_eq!(texts(&py, "<td class=\"version\""), ["2.0", "1.16.0"]);
    assert!(py.contains(&format!(
        "pip install --index-url {url}/repo/pypi/py/simple/ PACKAGE"
    )));
    assert!(py.contains(&format!(
        "uv pip install --index-url {url}/repo/pypi/py/simple/ PACKAGE"
    )));
    b.screenshot(&page("/repos/pypi/py"), "repo-pypi", 1280, 1100)
        .await;
    // Other spellings of a project lead to its page.
    let alpha = b.dom(&page("/repos/pypi/py/packages/Alpha.Pkg")).await;
    assert!(alpha.contains(&format!(
        "pip install --index-url {url}/repo/pypi/py/simple/ 'alpha-pkg==2.0'"
    )));
    assert!(alpha.contains("test package Alpha.Pkg"), "the summary");
    b.screenshot(
        &page("/repos/pypi/py/packages/alpha-pkg"),
        "package-pypi",
        1280,
        1200,
    )
    .await;

    let yum = b.dom(&page("/repos/rpm/yum")).await;
    assert!(
        yum.contains(&format!("baseurl={url}/repo/rpm/yum/el9/")),
        "{yum}"
    );
    assert!(yum.contains("repo_gpgcheck=1"));
    assert!(
        yum.contains("Signed by <code class=\"fpr\">"),
        "the key's fingerprint"
    );
    b.screenshot(&page("/repos/rpm/yum"), "repo-rpm", 1280, 1100)
        .await;
    let tool = b.dom(&page("/repos/rpm/yum/packages/tool")).await;
    assert!(tool.contains("sudo dnf install tool-1.0-1"));
    assert!(tool.contains("A tool that the web UI test shows."));
    assert!(tool.contains(&rpm.0), "the file name");
    b.screenshot(
        &page("/repos/rpm/yum/packages/tool"),
        "package-rpm",
        1280,
        1400,
    )
    .await;

    let tools = b.dom(&page("/repos/tar/tools")).await;
    assert_eq!(
        texts(&tools, "<td class=\"version\""),
        ["1.10"],
        "1.10 is newer than 1.9"
    );
    b.screenshot(&page("/repos/tar/tools"), "repo-tar", 1280, 900)
        .await;
    let mytool = b.dom(&page("/repos/tar/tools/packages/mytool")).await;
    assert!(mytool.contains(&format!(
        "curl -fLO {url}/repo/tar/tools/mytool/1.10/mytool-1.10.tar"
    )));

    let search = b.dom(&page("/search?q=jq")).await;
    assert_eq!(
        texts(&search, "<a class=\"pkg\""),
        ["jq", "libjq1"],
        "exact match first"
    );
    b.screenshot(&page("/search?q=jq"), "search", 1280, 800)
        .await;

    // The published tree, browsable; a browser asking for a directory under
    // /repo/ is sent to its listing.
    let dists = b.dom(&page("/repo/apt/debian/dists/bookworm/")).await;
    let names = texts(&dists, "<th scope=\"row\"><a");
    for want in [
        "../",
        "main/",
        "InRelease",
        "Release",
        "Release.gpg",
        "install",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    b.screenshot(
        &page("/repos/apt/debian/files/dists/bookworm/"),
        "files-apt",
        1280,
        900,
    )
    .await;
    let simple = b.dom(&page("/repos/pypi/py/files/")).await;
    assert!(
        texts(&simple, "<th scope=\"row\"><a").contains(&"simple/".to_owned()),
        "{simple}"
    );

    // Errors: an HTML page for a browser, JSON for everyone else.
    let missing = b.dom(&page("/repos/apt/debian/packages/nope")).await;
    assert!(missing.contains("<h1>404 Not Found</h1>"), "{missing}");
    b.screenshot(&page("/repos/apt/nope"), "error-404", 1280, 600)
        .await;
    // (status, content type, body) of a GET with this Accept header.
    let fetch = |path: &str, accept: Option<&str>| {
        let mut req = server.http.get(page(path));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        async move {
            let r = req.send().await.unwrap();
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            (r.status().as_u16(), ct, r.text().await.unwrap())
        }
    };
    let (status, ct, _) = fetch("/repos/apt/nope", Some(BROWSER_ACCEPT)).await;
    assert_eq!((status, ct.starts_with("text/html")), (404, true));
    let (status, _, body) = fetch("/repos/apt/nope", None).await;
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "repo_not_found");
    // Client-facing URLs keep their clients' format, whatever a browser asks.
    let (status, _, body) = fetch("/repo/pypi/py/simple/", Some(BROWSER_ACCEPT)).await;
    assert_eq!(status, 200);
    assert!(body.contains("<a href=\"alpha-pkg/\">"), "{body}");
    let (_, _, body) = fetch(
        "/repo/apt/debian/dists/bookworm/InRelease",
        Some(BROWSER_ACCEPT),
    )
    .await;
    assert!(body.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
    let pip_accept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    let (status, ct, _) = fetch("/repo/pypi/py/simple/nope/x.whl", Some(pip_accept)).await;
    assert_eq!((status, ct.contains("json")), (404, true));
    let (status, _, _) = fetch("/repo/apt/debian/", None).await;
    assert_eq!(status, 404, "no listing for apt itself");
}

/// Sets the page title if it ever runs.
const SVG: &str = "<svg onload=document.title='PWNED'>";
const SCRIPT: &str = "<script>document.title='PWNED'</script>";

async fn package_supplied_html_is_shown_as_text(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let url = &server.url;
    // The uploader is the token's name.
    let r = server
        .call(
            reqwest::Method::POST,
            "/api/v1/tokens",
            ADMIN_TOKEN,
            Some(serde_json::json!({ "name": SCRIPT, "scopes": ["create", "upload:*"] })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let token = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let upload = |query: &'static str, name: String, bytes: Vec<u8>| {
        let token = token.clone();
        let server = &server;
        async move {
            let r = server
                .upload_as(Some(&token), query, &[(&name, bytes)])
                .await;
            assert_eq!(r.status, 201, "{query}: {}", r.text);
        }
    };
    upload(
        "provider=apt&reponame=x&dist=bookworm",
        "evil.deb".into(),
        make_deb(
            "evil",
            "1.0",
            "all",
            &format!("Homepage: {SVG}\nRecommends: {SCRIPT}\n"),
        ),
    )
    .await;
    upload(
        "provider=tar&reponame=x&name=evil&version=1.0",
        format!("evil{SVG}.tar"),
        tar_with("a", b"a"),
    )
    .await;
    let description = format!("Says {SCRIPT} and {SVG}.");
    let spec = Spec {
        description: &description,
        ..Spec::new("evil", "1.0")
    };
    let rpm = read(&rpmbuild(&env.dir.path().join("rpm"), &spec, false)[0]);
    upload("provider=rpm&reponame=x&dist=el9", rpm.0, rpm.1).await;

    let b = Browser::new(&format!("{}-escaping", group(backend)));
    let svg_q = SVG
        .replace(' ', "%20")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace('=', "%3D")
        .replace('\'', "%27");
    for (path, shown) in [
        ("/repos/apt/x/packages/evil", vec![SVG, SCRIPT]),
        ("/repos/tar/x/packages/evil", vec![SVG, SCRIPT]),
        ("/repos/rpm/x/packages/evil", vec![SVG, SCRIPT]),
        ("/repos/tar/x/files/evil/1.0/", vec![SVG]),
        ("/search?q=evil", vec![]),
        (&format!("/repos/tar/x?q={svg_q}") as &str, vec![SVG]),
        (&format!("/search?q={svg_q}") as &str, vec![SVG]),
    ] {
        let dom = b.dom(&format!("{url}{path}")).await;
        let title = &texts(&dom, "<title")[0];
        assert_ne!(title, "PWNED", "{path}: a script ran");
        let tags = tag_names(&dom);
        assert!(
            !tags.iter().any(|t| t == "svg" || t == "script"),
            "{path}: markup got through ({tags:?}):\n{dom}"
        );
        for text in shown {
            let escaped = text.replace('<', "&lt;").replace('>', "&gt;");
            assert!(
                dom.contains(&escaped),
                "{path}: {escaped} is not shown as text:\n{dom}"
            );
        }
    }
    b.screenshot(
        &format!("{url}/repos/apt/x/packages/evil"),
        "escaped-apt",
        1280,
        1100,
    )
    .await;
}

/// Parses "Page N of M".
fn pages(html: &str) -> Option<String> {
    texts(html, "<span class=\"pageno\"").into_iter().next()
}

async fn pagination_sorting_filtering_and_search(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[("ARTIFACTD_UI_PAGE_SIZE", "20")]).await;
    // pkg-00 .. pkg-59, each bigger than the one before, uploaded ten at a time.
    for batch in 0..6 {
        let files: Vec<(String, Vec<u8>)> = (batch * 10..batch * 10 + 10)
            .map(|i| {
                (
                    format!("pkg-{i:02}-1.0.tar"),
                    tar_with("f", &vec![b'x'; 1000 * (i + 1)]),
                )
            })
            .collect();
        let files: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        ok(&server, "provider=tar&reponame=many", &files).await;
    }
    ok(
        &server,
        "provider=tar&reponame=other",
        &[
            ("pkg-05-2.0.tar", tar_with("f", b"o")),
            ("pkg-05x-1.0.tar", tar_with("f", b"o")),
        ],
    )
    .await;
    let get = |path: String| {
        let server = &server;
        async move {
            let r = server
                .http
                .get(server.url(&path))
                .header("accept", BROWSER_ACCEPT)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let names = |html: &str| texts(html, "<a class=\"pkg\"");
    let range = |a: usize, b: usize| (a..b).map(|i| format!("pkg-{i:02}")).collect::<Vec<_>>();

    // ui.page_size = 20: three pages by name.
    let (status, first) = get("/repos/tar/many".into()).await;
    assert_eq!(status, 200);
    assert_eq!(names(&first), range(0, 20));
    assert_eq!(pages(&first).as_deref(), Some("Page 1 of 3"));
    assert!(
        first.contains("<a rel=\"next\" href=\"&#x2f;repos&#x2f;tar&#x2f;many?page=2\">"),
        "{first}"
    );
    assert_eq!(
        names(&get("/repos/tar/many?page=3".into()).await.1),
        range(40, 60)
    );
    // per_page overrides it; a page past the end is the last page.
    assert_eq!(
        names(&get("/repos/tar/many?per_page=25&page=2".into()).await.1),
        range(25, 50)
    );
    let (_, last) = get("/repos/tar/many?per_page=25&page=99".into()).await;
    assert_eq!(names(&last), range(50, 60));
    assert_eq!(pages(&last).as_deref(), Some("Page 3 of 3"));
    // Sorting: size biggest first by default, ascending on request; names descending.
    assert_eq!(
        names(&get("/repos/tar/many?sort=size".into()).await.1)[..3],
        range(57, 60).into_iter().rev().collect::<Vec<_>>()
    );
    assert_eq!(
        names(&get("/repos/tar/many?sort=size&order=asc".into()).await.1)[..3],
        range(0, 3)
    );
    assert_eq!(
        names(&get("/repos/tar/many?order=desc".into()).await.1)[0],
        "pkg-59"
    );
    let updated = names(&get("/repos/tar/many?sort=updated".into()).await.1);
    assert!(
        range(50, 60).contains(&updated[0]),
        "the last batch first: {updated:?}"
    );
    // Filtering: case-insensitive substring, counted, paged within the matches.
    let (_, filtered) = get("/repos/tar/many?q=PKG-1".into()).await;
    assert_eq!(names(&filtered), range(10, 20));
    assert_eq!(
        texts(&filtered, "<p class=\"count\" id=\"match-count\"")[0],
        "10 packages matching “PKG-1”"
    );
    assert_eq!(pages(&filtered), None, "one page needs no pager");
    let (_, none) = get("/repos/tar/many?q=zzz".into()).await;
    assert!(names(&none).is_empty() && none.contains("No packages match this filter."));
    // Bad parameters: 400, as JSON for API clients.
    for bad in [
        "sort=bogus",
        "order=up",
        "per_page=0",
        "per_page=501",
        "page=x",
    ] {
        let r = server.get(&format!("/repos/tar/many?{bad}")).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_query", "{bad}");
    }

    // Search across repositories: exact names first, then prefixes, then the rest.
    let (_, found) = get("/search?q=pkg-05".into()).await;
    assert_eq!(names(&found), ["pkg-05", "pkg-05", "pkg-05x"]);
    let repos = texts(&found, "<td><a href=");
    assert_eq!(repos, ["many", "other", "other"]);
    let versions = texts(&found, "<td class=\"version\"");
    assert_eq!(versions, ["1.0", "2.0", "1.0"]);
    let (_, all) = get("/search?q=pkg".into()).await;
    assert_eq!(
        texts(&all, "<p class=\"count\" id=\"match-count\"")[0],
        "62 results for “pkg”"
    );
    assert_eq!(pages(&all).as_deref(), Some("Page 1 of 2"));
    assert_eq!(names(&get("/search?q=pkg&page=2".into()).await.1).len(), 12);
    let (status, empty) = get("/search?q=".into()).await;
    assert_eq!(status, 200);
    assert!(!empty.contains("match-count"), "no query, no results line");
    // The home page counts packages and versions.
    let (_, home) = get("/".into()).await;
    assert!(home.contains("<td class=\"num\">60</td>"), "{home}");
}

/// The `href` of every element that opens with `open`, in document order.
fn hrefs(html: &str, open: &str) -> Vec<String> {
    html.split(open)
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let start = tag.find("href=\"")? + 6;
            let end = start + tag[start..].find('"')?;
            Some(artifactd_tests::browser::unescape(&tag[start..end]))
        })
        .collect()
}

async fn snapshots_and_channels_are_listed_and_browsable(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let url = &server.url;
    let b = Browser::new(&format!("{}-snapshots", group(backend)));
    let page = |path: &str| format!("{url}{path}");
    let api = |method: reqwest::Method, path: &'static str, body: serde_json::Value| {
        let server = &server;
        async move {
            let r = server.call(method, path, ADMIN_TOKEN, Some(body)).await;
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert!(status == 200 || status == 201, "{path}: {status} {text}");
        }
    };
    let tool = |v: &str| (format!("tool-{v}.tar"), tar_with("tool", v.as_bytes()));

    let (name, one) = tool("1.0");
    ok(
        &server,
        "provider=tar&reponame=rel",
        &[(&name, one.clone())],
    )
    .await;
    // None yet: each section says how to make one.
    let empty = b.dom(&page("/repos/tar/rel")).await;
    assert!(
        empty.contains("No snapshots yet: <code>POST /api/v1/repos/tar/rel/snapshots</code>"),
        "{empty}"
    );
    assert!(
        empty.contains("No channels yet: <code>PUT /api/v1/repos/tar/rel/channels/NAME</code>")
    );

    // s1 (described with markup, shown as text), a newer version, s2; the
    // channel stable at s1, then at s2.
    api(
        reqwest::Method::POST,
        "/api/v1/repos/tar/rel/snapshots",
        serde_json::json!({ "name": "s1", "description": format!("first {SCRIPT}") }),
    )
    .await;
    let (name, two) = tool("2.0");
    ok(&server, "provider=tar&reponame=rel", &[(&name, two)]).await;
    api(
        reqwest::Method::POST,
        "/api/v1/repos/tar/rel/snapshots",
        serde_json::json!({ "name": "s2" }),
    )
    .await;
    for to in ["s1", "s2"] {
        api(
            reqwest::Method::PUT,
            "/api/v1/repos/tar/rel/channels/stable",
            serde_json::json!({ "snapshot": to }),
        )
        .await;
    }

    let repo = b.dom(&page("/repos/tar/rel")).await;
    assert_eq!(
        texts(&repo, "<a class=\"snapshot\""),
        ["s2", "s1", "s2"],
        "newest first, then the channel's"
    );
    assert_eq!(
        hrefs(&repo, "<a class=\"snapshot\""),
        [
            "/repos/tar/rel@s2/files/",
            "/repos/tar/rel@s1/files/",
            "/repos/tar/rel@s2/files/"
        ]
    );
    assert_eq!(texts(&repo, "<a class=\"channel\""), ["stable"]);
    assert_eq!(
        hrefs(&repo, "<a class=\"channel\""),
        ["/repos/tar/rel@stable/files/"]
    );
    let channel_row = &repo[repo.find("<a class=\"channel\"").unwrap()..];
    let channel_row = &channel_row[..channel_row.find("</tr>").unwrap()];
    assert!(
        channel_row.contains("<a href=\"/repos/tar/rel@s1/files/\">s1</a>"),
        "previous: s1\n{channel_row}"
    );
    assert_eq!(texts(channel_row, "<td class=\"uploader\""), ["admin"]);
    assert_eq!(
        texts(&repo, "<td class=\"uploader\""),
        ["admin", "admin", "admin"]
    );
    assert!(!repo.contains("No snapshots yet") && !repo.contains("No channels yet"));
    let escaped = format!("first {}", SCRIPT.replace('<', "&lt;").replace('>', "&gt;"));
    assert!(repo.contains(&escaped), "the description, as text:\n{repo}");
    assert!(!tag_names(&repo).iter().any(|t| t == "script"));
    assert_ne!(texts(&repo, "<title")[0], "PWNED");
    // Dates read like the page's others.
    let created = texts(&repo, "<time");
    assert!(
        created.len() >= 4 && created.iter().all(|t| t.ends_with(" UTC") && t.len() == 20),
        "{created:?}"
    );
    b.screenshot(&page("/repos/tar/rel"), "repo-snapshots", 1280, 1300)
        .await;

    // s1's files, as it froze them: 1.0 only, every link under rel@s1.
    let names = |dom: &str| texts(dom, "<th scope=\"row\"><a");
    let links = |dom: &str| hrefs(dom, "<th scope=\"row\"><a");
    let root = b.dom(&page("/repos/tar/rel@s1/files/")).await;
    assert!(names(&root).contains(&"tool/".to_owned()), "{root}");
    assert!(links(&root).contains(&"/repos/tar/rel@s1/files/tool/".to_owned()));
    assert!(root.contains("snapshot <strong>s1</strong>"), "{root}");
    assert!(
        root.contains(&escaped) && !tag_names(&root).iter().any(|t| t == "script"),
        "the description, as text:\n{root}"
    );
    let dir = b.dom(&page("/repos/tar/rel@s1/files/tool/")).await;
    assert_eq!(names(&dir)[0], "../");
    assert!(names(&dir).contains(&"1.0/".to_owned()), "{dir}");
    assert!(
        !names(&dir).contains(&"2.0/".to_owned()),
        "2.0 came after s1: {dir}"
    );
    let files = b.dom(&page("/repos/tar/rel@s1/files/tool/1.0/")).await;
    assert_eq!(names(&files), ["../", "index.json", "tool-1.0.tar"]);
    assert_eq!(
        links(&files),
        [
            "/repos/tar/rel@s1/files/tool/",
            "/repo/tar/rel@s1/tool/1.0/index.json",
            "/repo/tar/rel@s1/tool/1.0/tool-1.0.tar"
        ]
    );
    b.screenshot(
        &page("/repos/tar/rel@s1/files/tool/1.0/"),
        "files-snapshot",
        1280,
        700,
    )
    .await;
    // The link downloads the snapshot's bytes.
    let r = server.get("/repo/tar/rel@s1/tool/1.0/tool-1.0.tar").await;
    assert_eq!(r.status(), 200);
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), sha256_hex(&one));
    // A file's path leads to the download; the bare R@name page, to its files.
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = |path: &'static str| {
        let req = no_follow.get(page(path));
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 302, "{path}");
            r.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        location("/repos/tar/rel@s1/files/tool/1.0/tool-1.0.tar").await,
        "/repo/tar/rel@s1/tool/1.0/tool-1.0.tar"
    );
    assert_eq!(
        location("/repos/tar/rel@s1/files/tool").await,
        "/repos/tar/rel@s1/files/tool/"
    );
    assert_eq!(
        location("/repos/tar/rel@stable").await,
        "/repos/tar/rel@stable/files/"
    );
    // A browser at a directory of the read path (apt's `dists/`: tar
    // serves its directories as index.json) is shown the snapshot's listing.
    let r = server
        .upload(
            "provider=apt&reponame=os&dist=bookworm",
            &[("hello.deb", make_deb("hello", "1.0", "amd64", ""))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = server
        .call(
            reqwest::Method::POST,
            "/api/v1/repos/apt/os/snapshots",
            ADMIN_TOKEN,
            Some(serde_json::json!({ "name": "s1" })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = no_follow
        .get(page("/repo/apt/os@s1/dists/"))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/repos/apt/os@s1/files/dists/");
    let r = no_follow
        .get(page("/repo/apt/os@s1/dists/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "clients other than browsers get no listing"
    );

    // The channel: where it points now (s2, so 2.0 too).
    let stable = b.dom(&page("/repos/tar/rel@stable/files/tool/")).await;
    assert!(names(&stable).contains(&"2.0/".to_owned()), "{stable}");
    assert!(
        links(&stable).contains(&"/repos/tar/rel@stable/files/tool/2.0/".to_owned()),
        "{stable}"
    );
    assert!(
        stable.contains("channel <strong>stable</strong>, pointing at snapshot"),
        "{stable}"
    );
    // Unknown names and directories: 404.
    for missing in [
        "/repos/tar/rel@nope/files/",
        "/repos/tar/rel@s1/files/other/",
    ] {
        let r = server
            .http
            .get(page(missing))
            .header("accept", BROWSER_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{missing}");
        assert!(r.text().await.unwrap().contains("<h1>404 Not Found</h1>"));
    }
}
