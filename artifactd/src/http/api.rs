//! The JSON API for people, rpcli and CI: repositories, packages, tokens,
//! health.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::error::{Error, Result};

pub async fn healthz(app: web::Data<App>) -> HttpResponse {
    match app.health().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ok" })),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "error": e.code(), "message": e.to_string() })),
    }
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse> {
    Err(Error::not_found(
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

fn repo_json(r: &crate::db::entities::repo::Model) -> serde_json::Value {
    json!({
        "provider": r.provider,
        "name": r.name,
        "created_at": r.created_at,
        "generation": r.generation,
        "change_seq": r.change_seq,
        "published_seq": r.published_seq,
        "url": format!("/repo/{}/{}/", r.provider, r.name),
    })
}

pub async fn list_repos(app: web::Data<App>) -> Result<HttpResponse> {
    let repos = app.db.list_repos().await?;
    Ok(
        HttpResponse::Ok()
            .json(json!({ "repos": repos.iter().map(repo_json).collect::<Vec<_>>() })),
    )
}

async fn find_repo(
    app: &App,
    provider: &str,
    repo: &str,
) -> Result<crate::db::entities::repo::Model> {
    app.db.find_repo(provider, repo).await?.ok_or_else(|| {
        Error::not_found("repo_not_found", format!("no repository {provider}/{repo}"))
    })
}

pub async fn repo_status(
    app: web::Data<App>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    Ok(HttpResponse::Ok().json(repo_json(&find_repo(&app, &provider, &repo).await?)))
}

#[derive(Deserialize)]
pub struct PackageFilter {
    name: Option<String>,
    version: Option<String>,
}

pub async fn list_packages(
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    filter: web::Query<PackageFilter>,
) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    let row = find_repo(&app, &provider, &repo).await?;
    let packages: Vec<_> = app
        .db
        .list_packages(row.id)
        .await?
        .into_iter()
        .filter(|p| filter.name.as_ref().is_none_or(|n| *n == p.name))
        .filter(|p| filter.version.as_ref().is_none_or(|v| *v == p.version))
        .map(|p| {
            let mut value = serde_json::to_value(&p).expect("package records serialise");
            for (file, record) in value["files"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .zip(&p.files)
            {
                file["url"] = json!(format!("/repo/{provider}/{repo}/{}", record.path));
            }
            value
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "provider": provider, "repository": repo, "packages": packages })))
}

#[derive(Deserialize)]
pub struct NewToken {
    name: String,
    scopes: Vec<String>,
}

pub async fn create_token(
    app: web::Data<App>,
    req: HttpRequest,
    body: web::Json<NewToken>,
) -> Result<HttpResponse> {
    super::principal(&app, &req).await?.require_admin()?;
    let (id, secret) = app.auth.create_token(&body.name, &body.scopes).await?;
    Ok(HttpResponse::Created()
        .json(json!({ "id": id, "name": body.name, "scopes": body.scopes, "token": secret })))
}

pub async fn list_tokens(app: web::Data<App>, req: HttpRequest) -> Result<HttpResponse> {
    super::principal(&app, &req).await?.require_admin()?;
    let tokens: Vec<_> = app
        .db
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "scopes": serde_json::from_str::<serde_json::Value>(&t.scopes).unwrap_or_default(),
                "created_at": t.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": tokens })))
}

pub async fn delete_token(
    app: web::Data<App>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse> {
    super::principal(&app, &req).await?.require_admin()?;
    if app.db.delete_token(*id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::not_found(
            "token_not_found",
            format!("no token with id {id}"),
        ))
    }
}
