//! Uploads: `POST /addpkg`, and `POST /repo/<provider>/<repo>/...` where a
//! provider speaks its own upload protocol. Spools the multipart body to
//! temporary files (hashing as it streams, never holding a file in memory),
//! then hands over to the upload pipeline.

use std::collections::BTreeMap;

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use artifactd_provider_api::UploadedFile;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::app::App;
use crate::error::{Error, Result};
use crate::upload::{UploadRequest, validate_filename};

/// Multipart field names that carry package files (`content` is twine's).
const FILE_FIELDS: &[&str] = &["f", "file", "content"];
/// Limits on multipart text fields, which are held in memory.
const FIELD_LIMIT: usize = 1 << 20;
const FIELDS_LIMIT: usize = 4 << 20;
/// Query parameters the server consumes; the rest go to the provider.
const SERVER_PARAMS: &[&str] = &["provider", "reponame", "name", "version", "wait"];

pub async fn addpkg(
    app: web::Data<App>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let who = super::principal(&app, &req).await?;
    let mut query = parse_query(req.query_string())?;
    let provider = query
        .remove("provider")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Error::bad_request("missing_provider", "missing query parameter provider")
        })?;
    app.provider(&provider)?;
    let repo = query
        .remove("reponame")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Error::bad_request("missing_reponame", "missing query parameter reponame")
        })?;
    receive(&app, &req, payload, who, provider, repo, query).await
}

/// `POST /repo/<provider>/<repo>/<path>`: an upload in the format's own
/// protocol (twine's legacy API for pypi), where the provider says so.
pub async fn repo_upload(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let (provider, repo, sub) = path.into_inner();
    if !app.provider(&provider)?.accepts_upload_at(&sub) {
        return Err(Error::MethodNotAllowed(format!(
            "POST /repo/{provider}/{repo}/{sub} is not an upload endpoint; upload with POST /addpkg"
        )));
    }
    let who = super::principal(&app, &req).await?;
    let query = parse_query(req.query_string())?;
    receive(&app, &req, payload, who, provider, repo, query).await
}

pub async fn repo_upload_root(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let (provider, repo) = path.into_inner();
    repo_upload(
        app,
        req,
        web::Path::from((provider, repo, String::new())),
        payload,
    )
    .await
}

/// The part both upload routes share: spool the body, then run the pipeline.
/// Multipart text fields count as parameters; the query string wins over them.
async fn receive(
    app: &App,
    req: &HttpRequest,
    payload: web::Payload,
    who: crate::auth::Principal,
    provider: String,
    repo: String,
    mut query: BTreeMap<String, String>,
) -> Result<HttpResponse> {
    crate::upload::validate_repo_name(&repo)?;
    who.require_upload(&provider, &repo)?;

    let limit = app.settings.max_upload_size;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::TooLarge { limit });
    }

    let spool = tempfile::Builder::new()
        .prefix("upload-")
        .tempdir_in(app.settings.tmp_dir())?;
    let (files, fields) =
        spool_multipart(Multipart::new(req.headers(), payload), spool.path(), limit).await?;
    for (k, v) in fields {
        query.entry(k).or_insert(v);
    }

    let wait = !matches!(
        query.get("wait").map(String::as_str),
        Some("0" | "false" | "no")
    );
    let upload = UploadRequest {
        provider,
        repo,
        name: query.remove("name").filter(|v| !v.is_empty()),
        version: query.remove("version").filter(|v| !v.is_empty()),
        params: query
            .into_iter()
            .filter(|(k, _)| !SERVER_PARAMS.contains(&k.as_str()))
            .collect(),
        wait,
    };
    let result = app.upload(&who, upload, files).await?;
    drop(spool);
    let status = if wait && !result.publication.published {
        StatusCode::ACCEPTED
    } else if result.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(result))
}

/// Decodes a query string, refusing (rather than mangling) escapes that are
/// not UTF-8. A repeated key keeps its last value.
fn parse_query(raw: &str) -> Result<BTreeMap<String, String>> {
    let decode = |s: &str| {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                Error::bad_request(
                    "invalid_query",
                    format!("query parameter {s:?} is not UTF-8"),
                )
            })
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn multipart_error(e: impl std::fmt::Display) -> Error {
    Error::bad_request(
        "invalid_multipart",
        format!("malformed multipart body: {e}"),
    )
}

/// Streams every file field to `dir`, hashing as it goes, and collects the
/// text fields (a repeated field's values joined by newlines). Fails with 413
/// as soon as the files together exceed `limit`.
async fn spool_multipart(
    mut mp: Multipart,
    dir: &std::path::Path,
    limit: u64,
) -> Result<(Vec<UploadedFile>, BTreeMap<String, String>)> {
    let mut files = Vec::new();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut total = 0u64;
    let mut text_total = 0usize;
    while let Some(mut field) = mp.try_next().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if !FILE_FIELDS.contains(&name.as_str()) {
            let mut value = Vec::new();
            while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                value.extend_from_slice(&chunk);
                text_total += chunk.len();
                if value.len() > FIELD_LIMIT || text_total > FIELDS_LIMIT {
                    return Err(Error::bad_request(
                        "invalid_multipart",
                        format!(
                            "form fields are limited to {FIELD_LIMIT} bytes each and {FIELDS_LIMIT} in all"
                        ),
                    ));
                }
            }
            let value = String::from_utf8(value).map_err(|_| {
                Error::bad_request(
                    "invalid_multipart",
                    format!("form field {name:?} is not UTF-8"),
                )
            })?;
            fields
                .entry(name)
                .and_modify(|v| {
                    v.push('\n');
                    v.push_str(&value);
                })
                .or_insert(value);
            continue;
        }
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::bad_request("invalid_filename", "the file field has no (UTF-8) filename")
            })?;
        validate_filename(&filename)?;
        let path = dir.join(files.len().to_string());
        let mut out = tokio::fs::File::create(&path).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
            size += chunk.len() as u64;
            total += chunk.len() as u64;
            if total > limit {
                return Err(Error::TooLarge { limit });
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        files.push(UploadedFile {
            filename,
            path,
            size,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    Ok((files, fields))
}

#[cfg(test)]
mod tests {
    use super::parse_query;

    #[test]
    fn query_decoding_is_strict() {
        let q = parse_query("provider=tar&reponame=r&name=a+b%2Fc&empty=&flag").unwrap();
        assert_eq!(q["name"], "a b/c");
        assert_eq!(q["empty"], "");
        assert_eq!(q["flag"], "");
        assert!(parse_query("name=%FF").is_err());
        assert_eq!(parse_query("a=1&a=2").unwrap()["a"], "2");
    }
}
