//! `POST /api/v1/repos/<provider>/<repo>/copy` and `/move`: the HTTP face of
//! [`crate::copy`]. Admin only.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::App;
use crate::copy::{Copier, CopyRequest, Mode};
use crate::error::Result;

async fn run(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<CopyRequest>,
    mode: Mode,
) -> Result<HttpResponse> {
    let who = super::principal(&app, &req).await?;
    who.require_admin()?;
    let (provider, repo) = path.into_inner();
    let (format, state) = super::repo_state(&app, &provider, &repo).await?;
    let copier = Copier {
        db: &app.db,
        repos: &app.repos,
        publisher: &app.publisher,
        provider: format.as_ref(),
    };
    let outcome = copier.run(&state, &body, mode, &who.name).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

pub async fn copy(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<CopyRequest>,
) -> Result<HttpResponse> {
    run(app, req, path, body, Mode::Copy).await
}

pub async fn move_(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<CopyRequest>,
) -> Result<HttpResponse> {
    run(app, req, path, body, Mode::Move).await
}
