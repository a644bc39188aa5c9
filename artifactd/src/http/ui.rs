//! HTML pages for people: the home page, repository, package and search
//! pages, listings of the published tree, and error pages for browsers.
//!
//! Rendered with minijinja from `templates/` (embedded at build time; a
//! directory given by `ui.templates_dir` replaces single templates).
//! Auto-escaping is on for `.html`, so every string from a package is text.
//! The data comes from `catalog` (in memory); formats contribute through the
//! provider trait (`summary`, `describe`, `install_snippets`). Client-facing
//! URLs under `/repo/` are never rendered here.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use artifactd_provider_api::{PackageRecord, Provider, Snippet, SnippetContext, time::Utc};
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::catalog::{self, Query, Sort};
use crate::config::UiSettings;
use crate::error::{Error, Result};
use crate::state::{EntryKind, RepoState};

/// Every template, built in; `ui.templates_dir` may replace any of them.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../templates/base.html")),
    ("index.html", include_str!("../../../templates/index.html")),
    ("repo.html", include_str!("../../../templates/repo.html")),
    (
        "package.html",
        include_str!("../../../templates/package.html"),
    ),
    (
        "search.html",
        include_str!("../../../templates/search.html"),
    ),
    ("files.html", include_str!("../../../templates/files.html")),
    ("error.html", include_str!("../../../templates/error.html")),
    (
        "macros.html",
        include_str!("../../../templates/macros.html"),
    ),
];
const STYLE: &str = include_str!("../../../templates/style.css");

/// Search results per page.
const SEARCH_PAGE: usize = 50;

/// The template environment and the style sheet, shared by all workers.
pub struct Ui {
    env: Environment<'static>,
    style: String,
    page_size: usize,
}

impl Ui {
    /// Loads the templates (the override directory first), failing on any
    /// that does not parse, so a broken override stops the server at start.
    pub fn new(settings: &UiSettings) -> std::result::Result<Ui, String> {
        let dir = settings.templates_dir.clone();
        let read_override = move |name: &str| -> std::io::Result<Option<String>> {
            let Some(dir) = &dir else { return Ok(None) };
            match std::fs::read_to_string(dir.join(name)) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        let style = read_override("style.css")
            .map_err(|e| format!("reading style.css: {e}"))?
            .unwrap_or_else(|| STYLE.to_owned());
        let mut env = Environment::new();
        env.set_loader(move |name| {
            if !TEMPLATES.iter().any(|(n, _)| *n == name) {
                return Ok(None);
            }
            if let Some(text) = read_override(name).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })? {
                return Ok(Some(text));
            }
            Ok(TEMPLATES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| (*s).to_owned()))
        });
        env.add_filter("filesize", filesize);
        env.add_filter("datetime", datetime);
        env.add_global("version", env!("CARGO_PKG_VERSION"));
        for (name, _) in TEMPLATES {
            env.get_template(name)
                .map_err(|e| format!("template {name}: {e:#}"))?;
        }
        Ok(Ui {
            env,
            style,
            page_size: settings.page_size,
        })
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Internal(format!("rendering {name}: {e:#}")))
    }

    fn page(&self, name: &str, ctx: Value) -> Result<HttpResponse> {
        Ok(html(StatusCode::OK, self.render(name, ctx)?))
    }
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `1536` → `1.5 KiB`.
fn filesize(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds since the epoch → `2026-11-30 13:45 UTC`.
fn datetime(ms: i64) -> String {
    let t = Utc::from_millis(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// The URL clients reach this server at: `public_url`, or what the request says.
pub fn base_url(app: &App, req: &HttpRequest) -> String {
    match &app.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

fn value<T: Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// The format's set-up instructions for a repository (its real sections),
/// or for one package of it.
pub fn snippets(
    app: &App,
    req: &HttpRequest,
    format: &dyn Provider,
    state: &RepoState,
    package: Option<&PackageRecord>,
) -> Vec<Snippet> {
    let c = catalog::of(state, format);
    format.install_snippets(&SnippetContext {
        repo: &state.info,
        base_url: &base_url(app, req),
        sections: &c.sections,
        package,
    })
}

#[derive(Serialize)]
struct RepoCard {
    provider: String,
    name: String,
    packages: usize,
    versions: usize,
    size: u64,
    last_upload: Option<i64>,
}

pub async fn home(app: web::Data<App>, ui: web::Data<Ui>) -> Result<HttpResponse> {
    let mut groups: Vec<(String, Vec<RepoCard>)> = Vec::new();
    for row in app.db.list_repos().await? {
        // A repository of a format this build lacks is not listed; any
        // other failure is the page's.
        if app.registry.get(&row.provider).is_none() {
            continue;
        }
        let (format, state) = super::repo_state(&app, &row.provider, &row.name).await?;
        let c = catalog::of(&state, format.as_ref());
        let card = RepoCard {
            provider: row.provider.clone(),
            name: row.name,
            packages: c.entries.len(),
            versions: c.versions,
            size: c.size,
            last_upload: c.last_upload,
        };
        match groups.last_mut() {
            Some((p, cards)) if *p == row.provider => cards.push(card),
            _ => groups.push((row.provider, vec![card])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(provider, repos)| context! { provider, repos => value(&repos) })
        .collect();
    ui.page("index.html", context! { groups })
}

#[derive(Deserialize)]
pub struct ListParams {
    q: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

/// A repository page URL with these listing parameters (defaults left out).
fn list_url(
    base: &str,
    q: &str,
    sort: Sort,
    desc: bool,
    page: usize,
    per_page: Option<usize>,
) -> String {
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        params.append_pair("q", q);
    }
    if sort != Sort::Name {
        params.append_pair("sort", sort.as_str());
    }
    if desc != sort.default_desc() {
        params.append_pair("order", if desc { "desc" } else { "asc" });
    }
    if page > 1 {
        params.append_pair("page", &page.to_string());
    }
    if let Some(n) = per_page {
        params.append_pair("per_page", &n.to_string());
    }
    let query = params.finish();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

pub async fn repository(
    app: web::Data<App>,
    ui: web::Data<Ui>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    // `R@name` (a snapshot or channel) has no page of its own: its files.
    if let (base, Some(name)) = super::history::split_ref(&repo) {
        let target = format!(
            "/repos/{provider}/{}@{}/files/",
            percent_encoding::utf8_percent_encode(base, SEGMENT),
            percent_encoding::utf8_percent_encode(name, SEGMENT)
        );
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, target))
            .finish());
    }
    let (format, state) = super::repo_state(&app, &provider, &repo).await?;
    let sort = match params.sort.as_deref() {
        None | Some("") => Sort::Name,
        Some(s) => Sort::parse(s).ok_or_else(|| {
            Error::bad_request(
                "invalid_query",
                format!("sort must be name, updated, size or versions, not {s:?}"),
            )
        })?,
    };
    let desc = match params.order.as_deref() {
        None | Some("") => sort.default_desc(),
        Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(Error::bad_request(
                "invalid_query",
                format!("order must be asc or desc, not {o:?}"),
            ));
        }
    };
    if params.per_page.is_some_and(|n| !(1..=500).contains(&n)) {
        return Err(Error::bad_request(
            "invalid_query",
            "per_page must be between 1 and 500",
        ));
    }
    let filter = params.q.clone().unwrap_or_default();
    let c = catalog::of(&state, format.as_ref());
    let listing = c.query(&Query {
        filter: filter.clone(),
        sort,
        desc,
        page: params.page.unwrap_or(1),
        per_page: params.per_page.unwrap_or(ui.page_size),
    });
    let here = format!("/repos/{provider}/{repo}");
    let link = |sort: Sort, desc: bool, page: usize| {
        list_url(&here, &filter, sort, desc, page, params.per_page)
    };
    // Header links: the current column flips its order, others start at their default.
    let columns: Vec<Value> = [Sort::Name, Sort::Versions, Sort::Size, Sort::Updated]
        .into_iter()
        .map(|col| {
            let active = col == sort;
            let next_desc = if active { !desc } else { col.default_desc() };
            context! {
                key => col.as_str(),
                url => link(col, next_desc, 1),
                active,
                desc => active && desc,
            }
        })
        .collect();
    let snippets = snippets(&app, &req, format.as_ref(), &state, None);
    let keys: Vec<String> = if format.signed() {
        let now = crate::db::now_ms();
        app.db
            .list_signing_keys(state.info.id)
            .await?
            .into_iter()
            .filter(|k| k.retire_at.is_none_or(|t| t > now))
            .map(|k| k.fingerprint)
            .collect()
    } else {
        Vec::new()
    };
    let history = super::ui_history::sections(&app, &state).await?;
    let rows: Vec<&catalog::Entry> = listing.rows;
    ui.page(
        "repo.html",
        context! {
            provider,
            repo,
            packages => c.entries.len(),
            versions => c.versions,
            files => c.files,
            size => c.size,
            last_upload => c.last_upload,
            sections => value(&c.sections),
            snippets => value(&snippets),
            keys,
            snapshots => value(&history.snapshots),
            channels => value(&history.channels),
            rows => value(&rows),
            matches => listing.matches,
            page => listing.page,
            pages => listing.pages,
            prev => (listing.page > 1).then(|| link(sort, desc, listing.page - 1)),
            next => (listing.page < listing.pages).then(|| link(sort, desc, listing.page + 1)),
            filter,
            sort => sort.as_str(),
            order => if desc { "desc" } else { "asc" },
            per_page => params.per_page,
            columns,
        },
    )
}

#[derive(Serialize)]
struct FileRow {
    filename: String,
    size: u64,
    sha256: String,
    url: String,
}

#[derive(Serialize)]
struct Build {
    section: String,
    variant: String,
    uploaded_at: i64,
    uploader: String,
    files: Vec<FileRow>,
}

#[derive(Serialize)]
struct VersionGroup {
    version: String,
    yanked: Option<String>,
    builds: Vec<Build>,
}

fn group_versions(provider: &str, repo: &str, records: &[PackageRecord]) -> Vec<VersionGroup> {
    let mut out: Vec<VersionGroup> = Vec::new();
    for p in records {
        let build = Build {
            section: p.section.clone(),
            variant: p.variant.clone(),
            uploaded_at: p.uploaded_at,
            uploader: p.uploader.clone(),
            files: p
                .files
                .iter()
                .map(|f| FileRow {
                    filename: f.filename.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                    url: format!("/repo/{provider}/{repo}/{}", f.path),
                })
                .collect(),
        };
        match out.last_mut() {
            Some(g) if g.version == p.version => g.builds.push(build),
            _ => out.push(VersionGroup {
                version: p.version.clone(),
                yanked: p.yanked.clone(),
                builds: vec![build],
            }),
        }
    }
    out
}

pub async fn package(
    app: web::Data<App>,
    ui: web::Data<Ui>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo, name) = path.into_inner();
    let (format, state) = super::repo_state(&app, &provider, &repo).await?;
    let canonical = format.canonical_name(&name);
    if canonical != name {
        return Ok(HttpResponse::MovedPermanently()
            .insert_header((
                header::LOCATION,
                format!(
                    "/repos/{provider}/{repo}/packages/{}",
                    percent_encoding::utf8_percent_encode(&canonical, SEGMENT)
                ),
            ))
            .finish());
    }
    let records = catalog::versions(&state, format.as_ref(), &name);
    let Some(newest) = records.first() else {
        return Err(Error::not_found(
            "package_not_found",
            format!("{provider}/{repo} has no package {name:?}"),
        ));
    };
    let snippets = snippets(&app, &req, format.as_ref(), &state, Some(newest));
    let fields = format.describe(newest);
    let versions = group_versions(&provider, &repo, &records);
    ui.page(
        "package.html",
        context! {
            provider,
            repo,
            name,
            latest => newest.version.clone(),
            summary => format.summary(newest),
            fields => value(&fields),
            snippets => value(&snippets),
            versions => value(&versions),
            api => format!("/api/v1/repos/{}/{}/packages?name={}", state.info.provider, state.info.name,
                percent_encoding::utf8_percent_encode(&newest.name, SEGMENT)),
        },
    )
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    page: Option<usize>,
}

#[derive(Serialize)]
struct Hit {
    provider: String,
    repo: String,
    name: String,
    latest: String,
    summary: String,
    updated: i64,
}

pub async fn search(
    app: web::Data<App>,
    ui: web::Data<Ui>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse> {
    let q = params.q.clone().unwrap_or_default().trim().to_owned();
    let mut hits: Vec<(u8, Hit)> = Vec::new();
    if !q.is_empty() {
        for row in app.db.list_repos().await? {
            if app.registry.get(&row.provider).is_none() {
                continue;
            }
            let (format, state) = super::repo_state(&app, &row.provider, &row.name).await?;
            let c = catalog::of(&state, format.as_ref());
            hits.extend(c.search(&q).map(|(rank, e)| {
                (
                    rank,
                    Hit {
                        provider: row.provider.clone(),
                        repo: row.name.clone(),
                        name: e.name.clone(),
                        latest: e.latest.clone(),
                        summary: e.summary.clone(),
                        updated: e.updated,
                    },
                )
            }));
        }
    }
    hits.sort_by(|(ra, a), (rb, b)| {
        (ra, &a.name, &a.provider, &a.repo).cmp(&(rb, &b.name, &b.provider, &b.repo))
    });
    let hits: Vec<Hit> = hits.into_iter().map(|(_, h)| h).collect();
    let catalog::Page {
        rows,
        matches,
        page,
        pages,
    } = catalog::paginate(hits, params.page.unwrap_or(1), SEARCH_PAGE);
    let link = |page: usize| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("q", &q);
        if page > 1 {
            s.append_pair("page", &page.to_string());
        }
        format!("/search?{}", s.finish())
    };
    ui.page(
        "search.html",
        context! {
            query => q.clone(),
            searched => !q.is_empty(),
            rows => value(&rows),
            matches,
            page,
            pages,
            prev => (page > 1).then(|| link(page - 1)),
            next => (page < pages).then(|| link(page + 1)),
        },
    )
}

/// Path characters kept as they are in links (`/` separates segments).
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+');
/// The same for one segment.
const SEGMENT: &percent_encoding::AsciiSet = &PATH.add(b'/');

#[derive(Serialize)]
struct Listed {
    name: String,
    kind: EntryKind,
    size: u64,
    url: String,
}

/// `/repos/<provider>/<repo>/files/<dir>`: a directory of what the
/// repository publishes now; with `<repo>@<name>`, of what a snapshot or
/// channel froze (its files linked under `/repo/<provider>/<repo>@<name>/`).
pub async fn files(
    app: web::Data<App>,
    ui: web::Data<Ui>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    // `shown`: the repository as the URL names it, `R` or `R@name`.
    let (provider, shown, dir) = path.into_inner();
    let (repo, at) = super::history::split_ref(&shown);
    let (_, state) = super::repo_state(&app, &provider, repo).await?;
    let frozen = match at {
        Some(name) => Some(super::history::frozen_view(&app, &state, name).await?),
        None => None,
    };
    let list = |dir: &str| match &frozen {
        Some(view) => super::ui_history::list_frozen(view.current(), dir),
        None => state.list_dir(dir),
    };
    let enc = |p: &str| percent_encoding::utf8_percent_encode(p, PATH).to_string();
    let here = format!(
        "{provider}/{}{}",
        percent_encoding::utf8_percent_encode(repo, SEGMENT),
        at.map(|n| format!("@{}", percent_encoding::utf8_percent_encode(n, SEGMENT)))
            .unwrap_or_default()
    );
    if !dir.is_empty() && !dir.ends_with('/') {
        // A file: where clients fetch it. A directory: its listing.
        let target = if list(&format!("{dir}/")).is_empty() {
            format!("/repo/{here}/{}", enc(&dir))
        } else {
            format!("/repos/{here}/files/{}/", enc(&dir))
        };
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, target))
            .finish());
    }
    let entries = list(&dir);
    if entries.is_empty() && !dir.is_empty() {
        return Err(Error::not_found(
            "not_found",
            format!("{provider}/{shown} has no directory {dir:?}"),
        ));
    }
    let listed: Vec<Listed> = entries
        .into_iter()
        .map(|e| {
            let url = match e.kind {
                EntryKind::Dir => {
                    format!("/repos/{here}/files/{}/", enc(&format!("{dir}{}", e.name)))
                }
                _ => format!("/repo/{here}/{}", enc(&format!("{dir}{}", e.name))),
            };
            Listed {
                name: e.name,
                kind: e.kind,
                size: e.size,
                url,
            }
        })
        .collect();
    // Breadcrumbs: each ancestor directory with its listing URL.
    let mut crumbs: Vec<Value> = Vec::new();
    let mut sofar = String::new();
    for seg in dir.split('/').filter(|s| !s.is_empty()) {
        sofar.push_str(seg);
        sofar.push('/');
        crumbs
            .push(context! { name => seg, url => format!("/repos/{here}/files/{}", enc(&sofar)) });
    }
    let parent = (!dir.is_empty()).then(|| {
        let trimmed = dir.trim_end_matches('/');
        let up = trimmed.rfind('/').map_or("", |i| &trimmed[..=i]);
        format!("/repos/{here}/files/{}", enc(up))
    });
    let frozen_as = match at {
        Some(name) => Some(super::ui_history::describe(&app, &state, name).await?),
        None => None,
    };
    ui.page(
        "files.html",
        context! {
            provider,
            repo,
            at,
            frozen => frozen_as,
            shown,
            root => format!("/repos/{here}/files/"),
            dir,
            crumbs,
            parent,
            entries => value(&listed),
        },
    )
}

pub async fn style(ui: web::Data<Ui>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(ui.style.clone())
}

/// Whether the client would rather read HTML than JSON: browsers say so
/// with `text/html` first; API clients, curl (`*/*`) and package clients
/// (pip ranks `text/html` below JSON) get JSON.
pub fn wants_html(req: &HttpRequest) -> bool {
    let mut html = 0.0f32;
    let mut json = 0.0f32;
    for value in req.headers().get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for (media, q) in artifactd_provider_api::weighted(value) {
            let media = media.to_ascii_lowercase();
            if media == "text/html" || media == "application/xhtml+xml" {
                html = html.max(q);
            } else if media.ends_with("json") {
                json = json.max(q);
            }
        }
    }
    html > 0.0 && html >= json
}

/// Middleware: an error answered to a browser becomes an HTML page with the
/// same status and headers; everyone else keeps the JSON body.
pub async fn html_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> std::result::Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    // Only errors pay for reading Accept: the read path stays as it was.
    if !(status.is_client_error() || status.is_server_error())
        || res.request().method() == actix_web::http::Method::HEAD
        || !wants_html(res.request())
    {
        return Ok(res.map_into_boxed_body());
    }
    let Some(err) = res.response().error() else {
        return Ok(res.map_into_boxed_body());
    };
    let (code, message) = match err.as_error::<Error>() {
        Some(e) => (e.code().to_owned(), e.to_string()),
        None => ("error".to_owned(), err.to_string()),
    };
    let Some(ui) = res.request().app_data::<web::Data<Ui>>().cloned() else {
        return Ok(res.map_into_boxed_body());
    };
    let page = ui.render(
        "error.html",
        context! {
            status => status.as_u16(),
            reason => status.canonical_reason().unwrap_or("Error"),
            code,
            message,
        },
    );
    let Ok(page) = page else {
        return Ok(res.map_into_boxed_body());
    };
    Ok(res.map_body(|head, _| {
        head.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        head.headers_mut().remove(header::CONTENT_LENGTH);
        BoxBody::new(page)
    }))
}

/// Where a browser asking for a directory of the published tree (which
/// clients never read as such) is sent to see its listing.
pub fn directory_listing(
    state: &RepoState,
    frozen: Option<(&str, &crate::history::FrozenView)>,
    path: &str,
) -> Option<String> {
    let dir = if path.is_empty() || path.ends_with('/') {
        path.to_owned()
    } else {
        return None;
    };
    let (shown, empty) = match frozen {
        Some((shown, view)) => (
            shown.to_owned(),
            super::ui_history::list_frozen(view.current(), &dir).is_empty(),
        ),
        None => (state.info.name.clone(), state.list_dir(&dir).is_empty()),
    };
    (!empty).then(|| {
        format!(
            "/repos/{}/{shown}/files/{}",
            state.info.provider,
            percent_encoding::utf8_percent_encode(&dir, PATH)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui() -> Ui {
        Ui::new(&UiSettings::default()).unwrap()
    }

    #[test]
    fn sizes_and_dates_read_well() {
        assert_eq!(filesize(512), "512 B");
        assert_eq!(filesize(1536), "1.5 KiB");
        assert_eq!(filesize(5 << 30), "5.0 GiB");
        assert_eq!(datetime(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn every_template_parses_and_escapes() {
        let ui = ui();
        let html = ui
            .render(
                "error.html",
                context! { status => 404, reason => "Not Found", code => "x", message => "<script>alert(1)</script>" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn overrides_replace_single_templates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("error.html"),
            "custom {{ status }} {{ message }}",
        )
        .unwrap();
        std::fs::write(dir.path().join("style.css"), "body{}").unwrap();
        let settings = UiSettings {
            templates_dir: Some(dir.path().into()),
            ..UiSettings::default()
        };
        let ui = Ui::new(&settings).unwrap();
        let out = ui
            .render("error.html", context! { status => 404, message => "<b>" })
            .unwrap();
        assert_eq!(out, "custom 404 &lt;b&gt;");
        assert_eq!(ui.style, "body{}");
        // The others stay built in.
        assert!(
            ui.render("search.html", context! { query => "", searched => false, rows => Vec::<()>::new(), matches => 0, page => 1, pages => 1 })
                .unwrap()
                .contains("<form")
        );
        // A broken override stops start-up with the template's name.
        std::fs::write(dir.path().join("repo.html"), "{% if %}").unwrap();
        let err = Ui::new(&settings).err().unwrap();
        assert!(err.contains("repo.html"), "{err}");
    }

    #[test]
    fn browsers_get_html_and_clients_json() {
        let with = |accept: Option<&str>| {
            let mut req = actix_web::test::TestRequest::default();
            if let Some(a) = accept {
                req = req.insert_header((header::ACCEPT, a));
            }
            wants_html(&req.to_http_request())
        };
        assert!(with(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!with(None));
        assert!(!with(Some("*/*")));
        assert!(!with(Some("application/json")));
        // pip's Accept: JSON first, text/html last.
        assert!(!with(Some(
            "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
        )));
    }
}
