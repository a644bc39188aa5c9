//! The JSON API for people, rpcli and CI: repositories, packages, tokens,
//! health.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::error::{Error, Result};

/// 200 when every check passes, else 503; the body names each check.
pub async fn healthz(app: web::Data<App>) -> HttpResponse {
    let report = app.health.report().await;
    let body = json!({
        "status": if report.ok { "ok" } else { "unavailable" },
        // Which instance answered (behind a load balancer): `<pid>-<random>`.
        "instance": app.publisher.owner(),
        "checks": report.checks,
    });
    if report.ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", super::error::RETRY_AFTER_SECS.to_string()))
            .json(body)
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
        "settings": serde_json::from_str::<serde_json::Value>(&r.settings).unwrap_or_default(),
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
    let format = app.provider(&provider)?.clone();
    let name = filter.name.as_deref().map(|n| format.canonical_name(n));
    let packages: Vec<_> = app
        .db
        .list_packages(row.id)
        .await?
        .into_iter()
        .filter(|p| name.as_ref().is_none_or(|n| *n == p.name))
        .filter(|p| {
            filter
                .version
                .as_ref()
                .is_none_or(|v| format.same_version(v, &p.version))
        })
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

pub async fn list_keys(
    app: web::Data<App>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    let row = find_repo(&app, &provider, &repo).await?;
    let now = crate::db::now_ms();
    let keys: Vec<_> = app
        .db
        .list_signing_keys(row.id)
        .await?
        .into_iter()
        .map(|k| {
            json!({
                "fingerprint": k.fingerprint,
                "algorithm": k.algorithm,
                "created_at": k.created_at,
                "retire_at": k.retire_at,
                "active": k.retire_at.is_none_or(|t| t > now),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

#[derive(Deserialize)]
pub struct NewKeyRequest {
    /// `ed25519` or `rsa4096`, to generate a key.
    algorithm: Option<String>,
    /// An armored secret key to import instead.
    secret_key: Option<String>,
    /// How long the keys in use now keep signing beside the new one.
    transition_secs: Option<u64>,
}

/// Adds a signing key (generated or imported) and republishes: during the
/// transition the indices carry signatures by the old and the new keys.
pub async fn add_key(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<NewKeyRequest>,
) -> Result<HttpResponse> {
    super::principal(&app, &req).await?.require_admin()?;
    let (provider, repo) = path.into_inner();
    if !app.provider(&provider)?.signed() {
        return Err(Error::bad_request(
            "unsigned_format",
            format!("{provider} repositories are not signed"),
        ));
    }
    let row = find_repo(&app, &provider, &repo).await?;
    let key = match (&body.secret_key, &body.algorithm) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "invalid_request",
                "give either algorithm or secret_key, not both",
            ));
        }
        (Some(secret), None) => crate::signing::import(secret)?,
        (None, algorithm) => {
            let algorithm = crate::signing::KeyAlgorithm::parse(
                algorithm
                    .as_deref()
                    .unwrap_or(&app.settings.signing.algorithm),
            )?;
            let userid = format!("artifactd {provider}/{repo} <{repo}@artifactd.invalid>");
            tokio::task::spawn_blocking(move || crate::signing::generate(&userid, algorithm))
                .await??
        }
    };
    let transition = body.transition_secs.unwrap_or(7 * 24 * 3600);
    let retire_at = crate::db::now_ms() + (transition as i64).saturating_mul(1000);
    let added = app
        .db
        .add_signing_key(row.id, &key, Some(retire_at))
        .await?;
    let seq = app.db.touch_repo(row.id).await?;
    let state = app.repos.insert(&row);
    let published = app.publisher.publish_and_wait(state, seq).await?;
    Ok(HttpResponse::Created().json(json!({
        "fingerprint": added.fingerprint,
        "algorithm": added.algorithm,
        "previous_keys_retire_at": retire_at,
        "generation": published.generation(),
    })))
}

#[derive(Deserialize)]
pub struct DeleteFilter {
    section: Option<String>,
    variant: Option<String>,
}

/// Removes a package version (in every section and variant, unless narrowed
/// by `?section=` / `?variant=`) and answers once indices no longer list it.
pub async fn delete_package(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
    filter: web::Query<DeleteFilter>,
) -> Result<HttpResponse> {
    let (provider, repo, name, version) = path.into_inner();
    super::principal(&app, &req)
        .await?
        .require_upload(&provider, &repo)?;
    let row = find_repo(&app, &provider, &repo).await?;
    let p = app.provider(&provider)?.clone();
    let name = p.canonical_name(&name);
    let pick = |m: &crate::db::entities::package::Model| {
        p.same_version(&version, &m.version)
            && filter.section.as_ref().is_none_or(|s| *s == m.section)
            && filter.variant.as_ref().is_none_or(|v| *v == m.variant)
    };
    let Some((seq, deleted)) = app.db.delete_packages(row.id, &name, &pick).await? else {
        return Err(no_package(&provider, &repo, &name, &version));
    };
    tracing::info!(repo = %format!("{provider}/{repo}"), %name, %version, count = deleted.len(), "packages deleted");
    package_change_response(&app, &row, seq, "deleted", &deleted).await
}

fn no_package(provider: &str, repo: &str, name: &str, version: &str) -> Error {
    Error::not_found(
        "package_not_found",
        format!("{provider}/{repo} has no package {name} {version}"),
    )
}

/// Answers a change to packages once the indices show it.
async fn package_change_response(
    app: &App,
    row: &crate::db::entities::repo::Model,
    seq: i64,
    what: &str,
    changed: &[crate::db::entities::package::Model],
) -> Result<HttpResponse> {
    let state = app.repos.insert(row);
    let published = app.publisher.publish_and_wait(state, seq).await?;
    Ok(HttpResponse::Ok().json(json!({
        what: changed.iter().map(|p| json!({
            "name": p.name, "version": p.version, "section": p.section, "variant": p.variant,
        })).collect::<Vec<_>>(),
        "publication": { "seq": seq, "generation": published.generation(), "published": published.generation().is_some() },
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YankBody {
    #[serde(default)]
    reason: String,
}

/// `PUT .../packages/NAME/VERSION/yank` with an optional `{"reason": ...}`:
/// resolvers skip the version unless it is pinned; it stays downloadable.
pub async fn yank(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<YankBody>(&body)
            .map_err(|e| Error::bad_request("invalid_json", format!("yank body: {e}")))?
            .reason
    };
    if reason.len() > 1000 || reason.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "invalid_reason",
            "the reason must be at most 1000 bytes without control characters",
        ));
    }
    set_yanked(&app, &req, path.into_inner(), Some(&reason)).await
}

/// `DELETE .../packages/NAME/VERSION/yank`: undoes a yank.
pub async fn unyank(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse> {
    set_yanked(&app, &req, path.into_inner(), None).await
}

async fn set_yanked(
    app: &App,
    req: &HttpRequest,
    (provider, repo, name, version): (String, String, String, String),
    reason: Option<&str>,
) -> Result<HttpResponse> {
    super::principal(app, req)
        .await?
        .require_upload(&provider, &repo)?;
    let p = app.provider(&provider)?.clone();
    if !p.yankable() {
        return Err(Error::bad_request(
            "not_yankable",
            format!("{provider} packages cannot be yanked; delete them instead"),
        ));
    }
    let row = find_repo(app, &provider, &repo).await?;
    let name = p.canonical_name(&name);
    let pick = |m: &crate::db::entities::package::Model| p.same_version(&version, &m.version);
    let Some((seq, changed)) = app.db.set_yanked(row.id, &name, &pick, reason).await? else {
        return Err(no_package(&provider, &repo, &name, &version));
    };
    let what = if reason.is_some() {
        "yanked"
    } else {
        "unyanked"
    };
    tracing::info!(repo = %format!("{provider}/{repo}"), %name, %version, "{what}");
    package_change_response(app, &row, seq, what, &changed).await
}

#[derive(Deserialize)]
pub struct RepoUpdate {
    settings: serde_json::Map<String, serde_json::Value>,
}

/// Replaces a repository's settings (e.g. apt's `origin` and `label`) and
/// republishes. Values are short strings without control characters: they
/// end up in index files.
pub async fn update_repo(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<RepoUpdate>,
) -> Result<HttpResponse> {
    super::principal(&app, &req).await?.require_admin()?;
    let (provider, repo) = path.into_inner();
    let row = find_repo(&app, &provider, &repo).await?;
    for (key, value) in &body.settings {
        let ok = artifactd_provider_api::is_safe_segment(key)
            && value
                .as_str()
                .is_some_and(|v| v.len() <= 200 && !v.chars().any(char::is_control));
        if !ok {
            return Err(Error::bad_request(
                "invalid_setting",
                format!(
                    "setting {key:?} must be a string of at most 200 characters without control characters"
                ),
            ));
        }
    }
    let settings = serde_json::Value::Object(body.settings.clone());
    app.db.set_repo_settings(row.id, &settings).await?;
    let seq = app.db.touch_repo(row.id).await?;
    let published = app
        .publisher
        .publish_and_wait(app.repos.insert(&row), seq)
        .await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "settings": settings, "generation": published.generation() })))
}

#[derive(Deserialize)]
pub struct SetupQuery {
    package: Option<String>,
}

/// `GET /api/v1/repos/P/R/setup[?package=NAME]`: the client set-up the web
/// pages show (the format's install snippets for this repository's real
/// dists, or for the newest version of one package), for `rpcli setup`.
pub async fn repo_setup(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<SetupQuery>,
) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    let (format, state) = super::repo_state(&app, &provider, &repo).await?;
    let newest = match &query.package {
        Some(name) => {
            let name = format.canonical_name(name);
            let versions = crate::catalog::versions(&state, format.as_ref(), &name);
            Some(versions.into_iter().next().ok_or_else(|| {
                Error::not_found(
                    "package_not_found",
                    format!("{provider}/{repo} has no package {name:?}"),
                )
            })?)
        }
        None => None,
    };
    let snippets = super::ui::snippets(&app, &req, format.as_ref(), &state, newest.as_ref());
    Ok(HttpResponse::Ok().json(json!({
        "provider": provider,
        "repository": repo,
        "sections": crate::catalog::of(&state, format.as_ref()).sections,
        "snippets": snippets,
    })))
}
