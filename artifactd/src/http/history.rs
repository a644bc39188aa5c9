//! `/api/v1/repos/<provider>/<repo>/snapshots` and `/channels`: the HTTP face
//! of [`crate::history`]. Reading is open like repository status; creating,
//! moving and deleting need an admin token.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSnapshot {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<NewSnapshot>,
) -> Result<HttpResponse> {
    let who = super::principal(&app, &req).await?;
    who.require_admin()?;
    let (provider, repo) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    let snap = app
        .history
        .create(&state, &body.name, &body.description, &who.name)
        .await?;
    Ok(HttpResponse::Created().json(snap))
}

pub async fn list(app: web::Data<App>, path: web::Path<(String, String)>) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    let snapshots = app.history.list(&state).await?;
    Ok(HttpResponse::Ok().json(json!({ "snapshots": snapshots })))
}

pub async fn show(
    app: web::Data<App>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo, name) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    Ok(HttpResponse::Ok().json(app.history.show(&state, &name).await?))
}

pub async fn delete(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    super::principal(&app, &req).await?.require_admin()?;
    let (provider, repo, name) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    app.history.delete(&state, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `.../snapshots/<a>/diff/<b>`, or `.../snapshots/<a>/diff` against the
/// live repository.
pub async fn diff(
    app: web::Data<App>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo, from, to) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    Ok(HttpResponse::Ok().json(app.history.diff(&state, &from, Some(&to)).await?))
}

pub async fn diff_live(
    app: web::Data<App>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo, from) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    Ok(HttpResponse::Ok().json(app.history.diff(&state, &from, None).await?))
}

/// `expect` absent: move whatever it points at; `null`: the channel must
/// not exist yet; a name: it must point at that snapshot.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveChannel {
    snapshot: String,
    #[serde(default, deserialize_with = "present")]
    expect: Option<Option<String>>,
}

/// Tells a `null` apart from a missing key.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn set_channel(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Json<MoveChannel>,
) -> Result<HttpResponse> {
    let who = super::principal(&app, &req).await?;
    who.require_admin()?;
    let (provider, repo, name) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    let expect = body.expect.as_ref().map(|e| e.as_deref());
    let channel = app
        .history
        .set_channel(&state, &name, &body.snapshot, expect, &who.name)
        .await?;
    Ok(HttpResponse::Ok().json(channel))
}

pub async fn channels(
    app: web::Data<App>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    let channels = app.history.channels(&state).await?;
    Ok(HttpResponse::Ok().json(json!({ "channels": channels })))
}

pub async fn channel(
    app: web::Data<App>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo, name) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    Ok(HttpResponse::Ok().json(app.history.channel(&state, &name).await?))
}

pub async fn delete_channel(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    super::principal(&app, &req).await?.require_admin()?;
    let (provider, repo, name) = path.into_inner();
    let (_, state) = super::repo_state(&app, &provider, &repo).await?;
    app.history.delete_channel(&state, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Splits `R@name` into the repository and the snapshot or channel.
pub fn split_ref(repo: &str) -> (&str, Option<&str>) {
    match repo.split_once('@') {
        Some((r, name)) => (r, Some(name)),
        None => (repo, None),
    }
}

/// The frozen view a `R@name` URL reads; 404 when there is none.
pub async fn frozen_view(
    app: &App,
    state: &crate::state::RepoState,
    name: &str,
) -> Result<std::sync::Arc<crate::history::FrozenView>> {
    app.history.view(state, name).await?.ok_or_else(|| {
        Error::not_found(
            "no_such_snapshot",
            format!(
                "{}/{} has no snapshot or channel {name:?}",
                state.info.provider, state.info.name
            ),
        )
    })
}
