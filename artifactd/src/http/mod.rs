//! HTTP: the only module that knows about actix-web. Handlers translate
//! requests into calls on [`App`] and its results into responses.
//!
//! - `POST /addpkg`, and `POST /repo/...` for providers with their own upload
//!   protocol: uploads ([`addpkg`]);
//! - `GET|HEAD /repo/<provider>/<repo>/<path>`: what package clients read ([`repo`]);
//! - `/api/v1/...` and `/healthz`: JSON for people and CI ([`api`]);
//! - `/`, `/search`, `/repos/...`: HTML pages for people, and HTML error
//!   pages for browsers ([`ui`]).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{App as ActixApp, HttpRequest, HttpServer, web};
use base64::Engine;

use crate::app::App;
use crate::auth::Principal;
use crate::error::{Error, Result};

mod addpkg;
mod api;
mod copy;
mod error;
mod history;
mod repo;
mod ui;
mod ui_history;

pub use ui::Ui;

/// Runs the HTTP server until interrupted.
pub async fn serve(app: Arc<App>) -> std::io::Result<()> {
    let listen = app.settings.listen;
    let ui = web::Data::new(Ui::new(&app.settings.ui).map_err(std::io::Error::other)?);
    let data = web::Data::from(app);
    tracing::info!(%listen, "listening");
    HttpServer::new(move || {
        ActixApp::new()
            .app_data(data.clone())
            .app_data(ui.clone())
            .wrap(actix_web::middleware::from_fn(ui::html_errors))
            .configure(routes)
    })
    .bind(listen)?
    .run()
    .await
}

/// Every route; also used by in-process tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| Error::bad_request("invalid_query", e.to_string()).into()),
    )
    .route("/", web::get().to(ui::home))
    .route("/static/style.css", web::get().to(ui::style))
    .route("/search", web::get().to(ui::search))
    .route("/repos/{provider}/{repo}", web::get().to(ui::repository))
    .route("/repos/{provider}/{repo}/", web::get().to(ui::repository))
    .route(
        "/repos/{provider}/{repo}/packages/{name}",
        web::get().to(ui::package),
    )
    .route(
        "/repos/{provider}/{repo}/files/{path:.*}",
        web::get().to(ui::files),
    )
    .route("/addpkg", web::post().to(addpkg::addpkg))
    .route("/healthz", web::get().to(api::healthz))
    .service(
        web::scope("/api/v1")
            .route("/repos", web::get().to(api::list_repos))
            .route("/repos/{provider}/{repo}", web::get().to(api::repo_status))
            .route(
                "/repos/{provider}/{repo}",
                web::patch().to(api::update_repo),
            )
            .route(
                "/repos/{provider}/{repo}/packages",
                web::get().to(api::list_packages),
            )
            .route(
                "/repos/{provider}/{repo}/setup",
                web::get().to(api::repo_setup),
            )
            .route(
                "/repos/{provider}/{repo}/keys",
                web::get().to(api::list_keys),
            )
            .route(
                "/repos/{provider}/{repo}/keys",
                web::post().to(api::add_key),
            )
            .route(
                "/repos/{provider}/{repo}/packages/{name}/{version}",
                web::delete().to(api::delete_package),
            )
            .route(
                "/repos/{provider}/{repo}/packages/{name}/{version}/yank",
                web::put().to(api::yank),
            )
            .route(
                "/repos/{provider}/{repo}/packages/{name}/{version}/yank",
                web::delete().to(api::unyank),
            )
            .route(
                "/repos/{provider}/{repo}/snapshots",
                web::get().to(history::list),
            )
            .route(
                "/repos/{provider}/{repo}/snapshots",
                web::post().to(history::create),
            )
            .route(
                "/repos/{provider}/{repo}/snapshots/{name}",
                web::get().to(history::show),
            )
            .route(
                "/repos/{provider}/{repo}/snapshots/{name}",
                web::delete().to(history::delete),
            )
            .route(
                "/repos/{provider}/{repo}/snapshots/{name}/diff",
                web::get().to(history::diff_live),
            )
            .route(
                "/repos/{provider}/{repo}/snapshots/{name}/diff/{other}",
                web::get().to(history::diff),
            )
            .route("/repos/{provider}/{repo}/copy", web::post().to(copy::copy))
            .route("/repos/{provider}/{repo}/move", web::post().to(copy::move_))
            .route(
                "/repos/{provider}/{repo}/channels",
                web::get().to(history::channels),
            )
            .route(
                "/repos/{provider}/{repo}/channels/{name}",
                web::get().to(history::channel),
            )
            .route(
                "/repos/{provider}/{repo}/channels/{name}",
                web::put().to(history::set_channel),
            )
            .route(
                "/repos/{provider}/{repo}/channels/{name}",
                web::delete().to(history::delete_channel),
            )
            .route("/tokens", web::get().to(api::list_tokens))
            .route("/tokens", web::post().to(api::create_token))
            .route("/tokens/{id}", web::delete().to(api::delete_token)),
    )
    .route(
        "/repo/{provider}/{repo}",
        web::get().to(repo::redirect_to_root),
    )
    .route(
        "/repo/{provider}/{repo}",
        web::head().to(repo::redirect_to_root),
    )
    .route(
        "/repo/{provider}/{repo}/{path:.*}",
        web::get().to(repo::get),
    )
    .route(
        "/repo/{provider}/{repo}/{path:.*}",
        web::head().to(repo::get),
    )
    .route(
        "/repo/{provider}/{repo}",
        web::post().to(addpkg::repo_upload_root),
    )
    .route(
        "/repo/{provider}/{repo}/{path:.*}",
        web::post().to(addpkg::repo_upload),
    )
    .default_service(web::to(api::not_found));
}

/// A repository's provider and in-memory state; 404 if either is unknown.
async fn repo_state(
    app: &App,
    provider: &str,
    repo: &str,
) -> Result<(
    Arc<dyn artifactd_provider_api::Provider>,
    Arc<crate::state::RepoState>,
)> {
    let format = app.registry.get(provider).cloned().ok_or_else(|| {
        Error::not_found("unknown_provider", format!("unknown provider {provider:?}"))
    })?;
    let state = app.repos.get(provider, repo).await?.ok_or_else(|| {
        Error::not_found("repo_not_found", format!("no repository {provider}/{repo}"))
    })?;
    Ok((format, state))
}

/// The token a request presents: `Authorization: Bearer T`, or HTTP Basic
/// with the token as the password (what `curl -u user:T` and twine send).
fn presented_token(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, rest) = value.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Some(rest.trim().to_owned()),
        "basic" => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (_user, pass) = text.split_once(':')?;
            Some(pass.to_owned())
        }
        _ => None,
    }
}

/// The authenticated caller, or 401.
async fn principal(app: &App, req: &HttpRequest) -> Result<Principal> {
    app.auth.authenticate(presented_token(req).as_deref()).await
}
