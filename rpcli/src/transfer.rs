//! Uploads and downloads. Files are streamed in chunks, never held whole in
//! memory; each gets a progress bar when stderr is a terminal and a plain
//! line otherwise. Both retry transient failures from the start of the
//! file (an upload is idempotent on the server).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::client::{Attempt, Client, describe, retry_status, transient};
use crate::error::Failure;

/// Progress bars on a terminal, plain lines elsewhere.
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new() -> Progress {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    /// A bar for `label` of `len` bytes; without a terminal, one line saying
    /// what starts.
    pub fn bar(&self, verb: &str, label: &str, len: u64) -> ProgressBar {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(len));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:30!} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {eta:>4}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar.set_message(label.to_owned());
                bar
            }
            None => {
                eprintln!("{verb} {label} ({len} bytes)");
                ProgressBar::hidden()
            }
        }
    }
}

/// What to upload, with which parameters.
pub struct Upload<'a> {
    pub provider: &'a str,
    pub repo: &'a str,
    pub files: &'a [PathBuf],
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub params: &'a [(String, String)],
    pub wait: bool,
}

/// Query parameters the server takes itself; `-a` may not set them.
const RESERVED: &[&str] = &["provider", "reponame", "name", "version", "wait"];

/// What the server answered, and how many attempts it took.
pub struct Uploaded {
    pub status: StatusCode,
    pub body: Value,
    pub attempts: u32,
}

/// Sends every file in one request (files that belong together, such as
/// a `.dsc` and its tarballs, must), streaming each from disk.
pub async fn upload(
    client: &Client,
    up: &Upload<'_>,
    progress: &Progress,
) -> Result<Uploaded, Failure> {
    let mut sizes = Vec::new();
    for f in up.files {
        let meta =
            std::fs::metadata(f).map_err(|e| Failure::Usage(format!("{}: {e}", f.display())))?;
        if !meta.is_file() {
            return Err(Failure::Usage(format!("{}: not a file", f.display())));
        }
        sizes.push(meta.len());
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("provider", up.provider)
        .append_pair("reponame", up.repo);
    if let Some(n) = up.name {
        query.append_pair("name", n);
    }
    if let Some(v) = up.version {
        query.append_pair("version", v);
    }
    if !up.wait {
        query.append_pair("wait", "0");
    }
    for (k, v) in up.params {
        if RESERVED.contains(&k.as_str()) {
            return Err(Failure::Usage(format!(
                "-a {k}=...: {k} has an option of its own"
            )));
        }
        query.append_pair(k, v);
    }
    let path = format!("/addpkg?{}", query.finish());
    let bars: Vec<ProgressBar> = up
        .files
        .iter()
        .zip(&sizes)
        .map(|(f, len)| progress.bar("uploading", &file_name(f), *len))
        .collect();
    let attempts = std::cell::Cell::new(0);
    let result = client
        .send("upload", || {
            attempts.set(attempts.get() + 1);
            let mut form = reqwest::multipart::Form::new();
            for ((file, len), bar) in up.files.iter().zip(&sizes).zip(&bars) {
                bar.set_position(0);
                let f = std::fs::File::open(file)
                    .map_err(|e| Failure::Failed(format!("{}: {e}", file.display())))?;
                let bar = bar.clone();
                let stream = tokio_util::io::ReaderStream::with_capacity(
                    tokio::fs::File::from_std(f),
                    256 * 1024,
                )
                .inspect_ok(move |chunk| bar.inc(chunk.len() as u64));
                let part = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::wrap_stream(stream),
                    *len,
                )
                .file_name(file_name(file))
                .mime_str("application/octet-stream")
                .expect("a valid media type");
                form = form.part("f", part);
            }
            Ok(client.request(Method::POST, &path).multipart(form))
        })
        .await;
    for bar in &bars {
        bar.finish_and_clear();
    }
    let (status, body) = result?;
    let body = serde_json::from_slice(&body)
        .map_err(|e| Failure::Failed(format!("upload: the answer is not JSON: {e}")))?;
    Ok(Uploaded {
        status,
        body,
        attempts: attempts.get(),
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Downloads `path` (relative to the server) to `dest`, checking its size
/// and SHA-256 on the way; a mismatch leaves nothing behind.
pub async fn download(
    client: &Client,
    path: &str,
    dest: &Path,
    sha256: &str,
    size: u64,
    progress: &Progress,
) -> Result<(), Failure> {
    let label = file_name(dest);
    let bar = progress.bar("downloading", &label, size);
    let partial = dest.with_file_name(format!(".{label}.part"));
    let what = format!("download {label}");
    let result = client
        .retrying(&what, |_| {
            let (bar, partial, what) = (&bar, &partial, &what);
            async move {
                bar.set_position(0);
                let resp = match client.request(Method::GET, path).send().await {
                    Ok(r) => r,
                    Err(e) if transient(&e) => return Attempt::Transient(describe(&e)),
                    Err(e) => return Attempt::Failed(Failure::Failed(describe(&e))),
                };
                let status = resp.status();
                if retry_status(status) {
                    return Attempt::Transient(format!("the server answered {status}"));
                }
                if !status.is_success() {
                    let text = resp.text().await.unwrap_or_default();
                    return Attempt::Failed(Failure::from_status(status, what, &text));
                }
                let mut out = match tokio::fs::File::create(partial).await {
                    Ok(f) => f,
                    Err(e) => {
                        return Attempt::Failed(Failure::Failed(format!(
                            "{}: {e}",
                            partial.display()
                        )));
                    }
                };
                let mut hasher = Sha256::new();
                let mut got = 0u64;
                let mut body = resp.bytes_stream();
                while let Some(chunk) = body.next().await {
                    let chunk = match chunk {
                        Ok(c) => c,
                        Err(e) => return Attempt::Transient(describe(&e)),
                    };
                    hasher.update(&chunk);
                    got += chunk.len() as u64;
                    bar.inc(chunk.len() as u64);
                    if let Err(e) = out.write_all(&chunk).await {
                        return Attempt::Failed(e.into());
                    }
                }
                if let Err(e) = out.flush().await {
                    return Attempt::Failed(e.into());
                }
                Attempt::Done((hex::encode(hasher.finalize()), got))
            }
        })
        .await;
    bar.finish_and_clear();
    let (got_sha, got_size) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if got_sha != sha256 || got_size != size {
        let _ = std::fs::remove_file(&partial);
        return Err(Failure::Failed(format!(
            "{label}: SHA-256 mismatch: the server lists {sha256} ({size} bytes), \
             the download is {got_sha} ({got_size} bytes); nothing was written"
        )));
    }
    std::fs::rename(&partial, dest)?;
    Ok(())
}
