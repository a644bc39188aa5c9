//! `POST /addpkg`: spool the multipart body to temporary files (hashing as it
//! streams, never holding a file in memory), then hand over to the upload
//! pipeline.

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

/// Multipart field names that carry package files.
const FILE_FIELDS: &[&str] = &["f", "file"];
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
    let files =
        spool_multipart(Multipart::new(req.headers(), payload), spool.path(), limit).await?;

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

/// Streams every file field to `dir`, hashing as it goes. Fails with 413 as
/// soon as the files together exceed `limit`.
async fn spool_multipart(
    mut mp: Multipart,
    dir: &std::path::Path,
    limit: u64,
) -> Result<Vec<UploadedFile>> {
    let mut files = Vec::new();
    let mut total = 0u64;
    while let Some(mut field) = mp.try_next().await.map_err(multipart_error)? {
        let is_file = field.name().is_some_and(|n| FILE_FIELDS.contains(&n));
        if !is_file {
            // Other form fields are not used; read and drop them (bounded).
            let mut seen = 0usize;
            while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                seen += chunk.len();
                if seen > 64 * 1024 {
                    return Err(Error::bad_request(
                        "invalid_multipart",
                        "non-file form fields are limited to 64 KiB",
                    ));
                }
            }
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
    Ok(files)
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
