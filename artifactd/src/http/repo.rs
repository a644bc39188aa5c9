//! `GET|HEAD /repo/<provider>/<repo>/<path>`: what package clients read.
//!
//! The hot path: the repository's published state is in memory (refreshed at
//! most once per cache TTL), small index files are served from memory, and
//! package files are streamed from storage with Range and ETag support.

use actix_web::body::SizedStream;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use artifactd_provider_api::{ReadRequest, Resolution};
use bytes::Bytes;

use crate::app::App;
use crate::error::{Error, Result};
use crate::manifest::read_index_body;
use crate::state::{Lookup, ManifestEntry};
use crate::storage::{ByteRange, StorageKey, read_all};

pub async fn redirect_to_root(path: web::Path<(String, String)>) -> HttpResponse {
    let (provider, repo) = path.into_inner();
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, format!("/repo/{provider}/{repo}/")))
        .finish()
}

fn not_found(provider: &str, repo: &str, path: &str) -> Error {
    Error::not_found("not_found", format!("{provider}/{repo} has no {path:?}"))
}

pub async fn get(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (provider_name, repo_name, path) = path.into_inner();
    tracing::debug!(target: "artifactd::access", method = %req.method(), path = %req.path(), "read");
    // `R@name`: a snapshot or channel, read from its frozen sets alone.
    let (base, at) = super::history::split_ref(&repo_name);
    let (provider, state) = super::repo_state(&app, &provider_name, base).await?;
    let frozen = match at {
        Some(name) => Some(super::history::frozen_view(&app, &state, name).await?),
        None => None,
    };
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (target, negotiated) = match provider.resolve(&path, &ReadRequest { accept }) {
        Resolution::Serve(p) => (p, false),
        Resolution::Negotiated(p) => (p, true),
        Resolution::Redirect(p) => return Ok(redirect(&provider_name, &repo_name, &p)),
        Resolution::NotAcceptable(msg) => return Err(Error::NotAcceptable(msg)),
        Resolution::NotFound => return Err(not_found(&provider_name, &repo_name, &path)),
    };
    let missing = || not_found(&provider_name, &repo_name, &path);
    // A channel dates the files that date the repository at its last move.
    if let Some(view) = &frozen
        && let Some(made) = app
            .history
            .channel_file(&state, &provider, view, &target)
            .await?
    {
        let meta = Meta {
            sha256: &made.sha256,
            size: made.bytes.len() as u64,
            content_type: &made.content_type,
            cache: "no-cache",
        };
        return Ok(respond_bytes(&req, &meta, made.bytes.clone()));
    }
    let found = match &frozen {
        Some(view) => view.lookup(&target),
        None => state.lookup(&target, app.repos.grace()),
    };
    let shown = format!("{provider_name}/{repo_name}");
    let mut resp = match serve(&app, &req, &state, found, frozen.is_some(), &shown, missing).await {
        // Clients never read a directory; a browser is shown its listing.
        Err(Error::NotFound { .. })
            if super::ui::wants_html(&req)
                && let Some(listing) = super::ui::directory_listing(
                    &state,
                    frozen.as_deref().map(|v| (repo_name.as_str(), v)),
                    &path,
                ) =>
        {
            return Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, listing))
                .finish());
        }
        other => other?,
    };
    if negotiated {
        resp.headers_mut()
            .append(header::VARY, header::HeaderValue::from_static("Accept"));
    }
    Ok(resp)
}

/// Answers with the index file or package file at `target`; `missing` is
/// the 404 (naming what the client asked for, not where it led).
/// `frozen`: a snapshot's set, whose bodies it keeps like a current set's.
/// `shown`: `provider/repo` as the request named it (redirects stay there).
async fn serve(
    app: &App,
    req: &HttpRequest,
    state: &crate::state::RepoState,
    found: Lookup,
    frozen: bool,
    shown: &str,
    missing: impl Fn() -> Error,
) -> Result<HttpResponse> {
    match found {
        Lookup::Redirect(p) => {
            let (provider, repo) = shown.split_once('/').unwrap_or((shown, ""));
            Ok(redirect(provider, repo, &p))
        }
        Lookup::Missing => Err(missing()),
        found @ (Lookup::Index { .. } | Lookup::Departed(_)) => {
            // A departed file (a superseded set served it) keeps no bytes here.
            let (set, departed, path) = match found {
                Lookup::Index { set, path } => (Some(set), None, path),
                Lookup::Departed(entry) => (None, Some(entry), String::new()),
                _ => unreachable!("matched above"),
            };
            let entry = match (&set, &departed) {
                (Some(set), _) => set.entry(&path),
                (None, departed) => departed.as_deref(),
            };
            let Some(ManifestEntry::File {
                sha256,
                size,
                content_type,
                template,
                parts,
            }) = entry
            else {
                return Err(missing());
            };
            let key = StorageKey::Index {
                repo_id: state.info.id,
                sha256: sha256.clone(),
            };
            let meta = Meta {
                sha256,
                size: *size,
                content_type,
                cache: "no-cache",
            };
            let composite = !parts.is_empty();
            let limit = app.settings.publish.memory_limit_bytes;
            if *size > limit && !*template && !composite {
                return respond_stream(app, req, &meta, &key).await;
            }
            let current = set
                .as_ref()
                .is_some_and(|set| frozen || set.generation == state.generation());
            // Only the current set keeps bytes in memory.
            let held = match (&set, current) {
                (Some(set), true) => Some(set.body_or_insert(sha256)),
                (Some(set), false) => set.body(sha256),
                (None, _) => None,
            };
            // A large composite (apt's Packages.xz at 50,000 packages) is
            // streamed part by part, never joined in memory.
            if composite
                && *size > limit
                && !*template
                && !compressible(content_type, *size as usize)
            {
                let fresh = held.as_ref().and_then(|h| h.fresh_parts.get().cloned());
                return respond_parts(app, req, &meta, state.info.id, parts, fresh).await;
            }
            let bytes = match held.as_ref().and_then(|h| h.cached.get()) {
                Some(b) => b.clone(),
                None => {
                    let fresh = held.as_ref().and_then(|h| h.fresh_parts.get());
                    let b = match fresh {
                        Some(pieces) => Bytes::from(pieces.concat()),
                        None => {
                            read_index_body(app.storage.as_ref(), state.info.id, sha256, parts)
                                .await?
                        }
                    };
                    if let Some(h) = &held {
                        let _ = h.cached.set(b.clone());
                    }
                    b
                }
            };
            if *template {
                let base = super::ui::base_url(app, req);
                let text = String::from_utf8_lossy(&bytes);
                let text = match frozen {
                    // A snapshot's client config points at the snapshot.
                    true => point_at(
                        &text,
                        &format!(
                            "{}/repo/{}/{}",
                            artifactd_provider_api::BASE_URL,
                            state.info.provider,
                            state.info.name
                        ),
                        &format!("{}/repo/{shown}", artifactd_provider_api::BASE_URL),
                    ),
                    false => text.into_owned(),
                };
                let filled = text.replace(artifactd_provider_api::BASE_URL, &base);
                let meta = Meta {
                    size: filled.len() as u64,
                    ..meta
                };
                return Ok(respond_bytes(req, &meta, Bytes::from(filled)));
            }
            if !compressible(content_type, bytes.len()) {
                return Ok(respond_bytes(req, &meta, bytes));
            }
            let vary = header::HeaderValue::from_static("Accept-Encoding");
            if let Some(held) = held.as_ref().filter(|_| current)
                && accepts_gzip(req)
                && !req.headers().contains_key(header::RANGE)
            {
                let gzip = &held.gzip;
                let gz = match gzip.get() {
                    Some(g) => g.clone(),
                    None => {
                        let plain = bytes.clone();
                        let g = web::block(move || gzip_bytes(&plain))
                            .await
                            .map_err(|e| Error::Internal(format!("compressing: {e}")))?;
                        let _ = gzip.set(g.clone());
                        g
                    }
                };
                let etag = format!("{sha256}.gz");
                let gz_meta = Meta {
                    sha256: &etag,
                    size: gz.len() as u64,
                    ..meta
                };
                let mut resp = respond_bytes(req, &gz_meta, gz);
                let headers = resp.headers_mut();
                headers.insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
                headers.append(header::VARY, vary);
                return Ok(resp);
            }
            let mut resp = respond_bytes(req, &meta, bytes);
            resp.headers_mut().append(header::VARY, vary);
            Ok(resp)
        }
        Lookup::File(f) => {
            let meta = Meta {
                sha256: &f.sha256,
                size: f.size,
                content_type: &f.content_type,
                cache: "public, max-age=300",
            };
            respond_stream(app, req, &meta, &StorageKey::blob(&f.sha256)).await
        }
    }
}

/// Replaces `live` with `frozen` where `live` is a whole repository URL
/// (not the start of a longer repository name).
fn point_at(text: &str, live: &str, frozen: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(live) {
        let after = &rest[i + live.len()..];
        let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || "._-@".contains(c));
        out.push_str(&rest[..i]);
        out.push_str(if whole { frozen } else { live });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Serves a composite index file from its parts: from memory when this
/// instance published them, else read from storage a few at a time as the
/// client takes them. A Range or HEAD request is answered from the whole.
async fn respond_parts(
    app: &App,
    req: &HttpRequest,
    meta: &Meta<'_>,
    repo_id: i64,
    parts: &[String],
    fresh: Option<Vec<Bytes>>,
) -> Result<HttpResponse> {
    use futures_util::StreamExt;
    if let Some(resp) = not_modified(req, meta) {
        return Ok(resp);
    }
    let head = req.method() == actix_web::http::Method::HEAD;
    if head || !matches!(range(req, meta), Range::Full) {
        let bytes = match fresh {
            Some(pieces) => Bytes::from(pieces.concat()),
            None => read_index_body(app.storage.as_ref(), repo_id, meta.sha256, parts).await?,
        };
        return Ok(respond_bytes(req, meta, bytes));
    }
    let body: futures_util::stream::BoxStream<'static, std::io::Result<Bytes>> = match fresh {
        Some(pieces) => futures_util::stream::iter(pieces.into_iter().map(Ok)).boxed(),
        None => {
            let storage = app.storage.clone();
            let keys: Vec<StorageKey> = parts
                .iter()
                .map(|sha256| StorageKey::Index {
                    repo_id,
                    sha256: sha256.clone(),
                })
                .collect();
            futures_util::stream::iter(keys)
                .map(move |key| {
                    let storage = storage.clone();
                    async move {
                        read_all(storage.as_ref(), &key)
                            .await
                            .map_err(std::io::Error::other)
                    }
                })
                .buffered(4)
                .boxed()
        }
    };
    Ok(start(meta).body(SizedStream::new(meta.size, body)))
}

/// Text worth compressing: pages, JSON, XML above a kilobyte.
fn compressible(content_type: &str, len: usize) -> bool {
    let ct = content_type.split(';').next().unwrap_or_default().trim();
    len >= 1024
        && (ct.starts_with("text/")
            || ct.ends_with("json")
            || ct.ends_with("+html")
            || ct.ends_with("xml"))
}

/// Whether `Accept-Encoding` allows gzip (a `q=0` refuses it).
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(artifactd_provider_api::weighted)
        .any(|(coding, q)| (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0)
}

fn gzip_bytes(plain: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4),
        flate2::Compression::default(),
    );
    enc.write_all(plain).expect("writing to memory");
    Bytes::from(enc.finish().expect("writing to memory"))
}

fn redirect(provider: &str, repo: &str, target: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("/repo/{provider}/{repo}/{target}"),
        ))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .finish()
}

struct Meta<'a> {
    sha256: &'a str,
    size: u64,
    content_type: &'a str,
    cache: &'static str,
}

enum Range {
    Full,
    Part(ByteRange),
    Unsatisfiable,
}

fn range(req: &HttpRequest, meta: &Meta<'_>) -> Range {
    let Some(value) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Range::Full;
    };
    // If-Range with a stale validator means: send the whole thing.
    if let Some(if_range) = req
        .headers()
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        && if_range.trim_matches('"') != meta.sha256
    {
        return Range::Full;
    }
    match http_range::HttpRange::parse(value, meta.size) {
        Ok(ranges) if ranges.len() == 1 => Range::Part(ByteRange {
            start: ranges[0].start,
            len: ranges[0].length,
        }),
        Ok(_) => Range::Full,
        Err(http_range::HttpRangeParseError::NoOverlap) => Range::Unsatisfiable,
        Err(http_range::HttpRangeParseError::InvalidRange) => Range::Full,
    }
}

/// A 304 if the client already holds this version.
fn not_modified(req: &HttpRequest, meta: &Meta<'_>) -> Option<HttpResponse> {
    let etag = format!("\"{}\"", meta.sha256);
    let inm = req.headers().get(header::IF_NONE_MATCH)?.to_str().ok()?;
    inm.split(',')
        .any(|t| t.trim() == etag || t.trim() == "*")
        .then(|| {
            HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .insert_header((header::CACHE_CONTROL, meta.cache))
                .finish()
        })
}

/// Headers shared by every file response.
fn start(meta: &Meta<'_>) -> HttpResponseBuilder {
    let mut b = HttpResponse::Ok();
    b.insert_header((header::CONTENT_TYPE, meta.content_type))
        .insert_header((header::ETAG, format!("\"{}\"", meta.sha256)))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, meta.cache));
    b
}

fn unsatisfiable(meta: &Meta<'_>) -> HttpResponse {
    HttpResponse::RangeNotSatisfiable()
        .insert_header((header::CONTENT_RANGE, format!("bytes */{}", meta.size)))
        .finish()
}

fn respond_bytes(req: &HttpRequest, meta: &Meta<'_>, bytes: Bytes) -> HttpResponse {
    if let Some(resp) = not_modified(req, meta) {
        return resp;
    }
    let mut b = start(meta);
    match range(req, meta) {
        Range::Full => b.body(bytes),
        Range::Unsatisfiable => unsatisfiable(meta),
        Range::Part(r) => {
            let part = bytes.slice(r.start as usize..(r.start + r.len) as usize);
            b.status(StatusCode::PARTIAL_CONTENT)
                .insert_header((header::CONTENT_RANGE, content_range(r, meta.size)))
                .body(part)
        }
    }
}

fn content_range(r: ByteRange, size: u64) -> String {
    format!("bytes {}-{}/{size}", r.start, r.start + r.len - 1)
}

async fn respond_stream(
    app: &App,
    req: &HttpRequest,
    meta: &Meta<'_>,
    key: &StorageKey,
) -> Result<HttpResponse> {
    if let Some(resp) = not_modified(req, meta) {
        return Ok(resp);
    }
    let mut b = start(meta);
    let head = req.method() == actix_web::http::Method::HEAD;
    Ok(match range(req, meta) {
        Range::Unsatisfiable => unsatisfiable(meta),
        Range::Full if head => b.body(SizedStream::new(
            meta.size,
            futures_util::stream::empty::<std::io::Result<Bytes>>(),
        )),
        Range::Full => {
            let stream = app.storage.get(key, None).await?;
            b.body(SizedStream::new(meta.size, stream))
        }
        Range::Part(r) => {
            b.status(StatusCode::PARTIAL_CONTENT)
                .insert_header((header::CONTENT_RANGE, content_range(r, meta.size)));
            if head {
                b.body(SizedStream::new(
                    r.len,
                    futures_util::stream::empty::<std::io::Result<Bytes>>(),
                ))
            } else {
                let stream = app.storage.get(key, Some(r)).await?;
                b.body(SizedStream::new(r.len, stream))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn point_at_replaces_whole_repository_urls_only() {
        let t = "baseurl=B/repo/rpm/r/el9/\nx=B/repo/rpm/rx/\nbase='B/repo/rpm/r'";
        assert_eq!(
            super::point_at(t, "B/repo/rpm/r", "B/repo/rpm/r@s1"),
            "baseurl=B/repo/rpm/r@s1/el9/\nx=B/repo/rpm/rx/\nbase='B/repo/rpm/r@s1'"
        );
    }
}
