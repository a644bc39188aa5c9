//! HTML pages for people, rendered with minijinja from `templates/` (embedded
//! at build time; auto-escaping is on for `.html`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Environment, context};
use serde::Serialize;

use crate::app::App;
use crate::error::{Error, Result};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../templates/base.html")),
    ("index.html", include_str!("../../../templates/index.html")),
];
const STYLE: &str = include_str!("../../../templates/style.css");

/// The template environment, built once per worker.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("embedded templates parse");
    }
    env
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

#[derive(Serialize)]
struct RepoCard {
    name: String,
    generation: i64,
    snippets: Vec<artifactd_provider_api::Snippet>,
}

#[derive(Serialize)]
struct Group {
    provider: String,
    repos: Vec<RepoCard>,
}

pub async fn home(
    app: web::Data<App>,
    env: web::Data<Environment<'static>>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let base = base_url(&app, &req);
    let mut groups: Vec<Group> = Vec::new();
    for row in app.db.list_repos().await? {
        let Some(provider) = app.registry.get(&row.provider) else {
            continue;
        };
        let info = artifactd_provider_api::RepoInfo {
            id: row.id,
            provider: row.provider.clone(),
            name: row.name.clone(),
            settings: serde_json::from_str(&row.settings).unwrap_or_default(),
        };
        let card = RepoCard {
            snippets: provider.install_snippets(&info, &base),
            name: row.name,
            generation: row.generation,
        };
        match groups.last_mut() {
            Some(g) if g.provider == row.provider => g.repos.push(card),
            _ => groups.push(Group {
                provider: row.provider,
                repos: vec![card],
            }),
        }
    }
    let html = env
        .get_template("index.html")
        .and_then(|t| {
            t.render(context! {
                groups => minijinja::Value::from(minijinja::value::Serde(&groups)),
                base_url => base,
                version => env!("CARGO_PKG_VERSION"),
            })
        })
        .map_err(|e| Error::Internal(format!("rendering index.html: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

pub async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_parse_and_escape() {
        let env = super::environment();
        let html = env
            .get_template("index.html")
            .unwrap()
            .render(minijinja::context! {
                groups => vec![minijinja::context! {
                    provider => "tar",
                    repos => vec![minijinja::context! { name => "<script>x</script>", generation => 1, snippets => Vec::<()>::new() }],
                }],
                base_url => "http://h",
                version => "0",
            })
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
    }
}
