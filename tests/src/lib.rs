//! Harness for end-to-end tests: each test gets a fresh metadata database and
//! storage area on one of the two backend pairs, and starts the real
//! `artifactd` binary against them.
//!
//! - [`Backend::Embedded`]: SQLite file + local directory (the defaults);
//! - [`Backend::External`]: MariaDB + S3, reached through
//!   `ARTIFACTD_TEST_MYSQL_URL` and `ARTIFACTD_TEST_S3_URL`, which `tests/run`
//!   exports after starting both servers on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use artifactd::storage::{LocalStorage, S3Location, S3Storage, Storage};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

pub mod apt;
pub mod browser;
pub mod pypi;
pub mod rpm;
pub mod services;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    External,
}

/// Generates one test per backend pair from `async fn NAME(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_local() {
                super::$name($crate::Backend::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb_s3() {
                super::$name($crate::Backend::External).await
            }
        }
    )*};
}

fn external(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite with tests/run, which starts MariaDB and S3 and sets it")
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// One test's database and storage area, shared by every server it starts.
pub struct TestEnv {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub s3_url: Option<String>,
    pub s3_prefix: String,
    /// Where server logs go; `dir` when `None` (a fault test keeps them off
    /// the disk it fills).
    pub log_dir: Option<PathBuf>,
}

impl TestEnv {
    pub async fn new(backend: Backend) -> TestEnv {
        let mut dir = tempfile::tempdir().expect("temp dir");
        if std::env::var_os("ARTIFACTD_TEST_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("test data kept in {}", dir.path().display());
        }
        match backend {
            Backend::Embedded => TestEnv {
                backend,
                database_url: format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display()),
                dir,
                s3_url: None,
                s3_prefix: String::new(),
                log_dir: None,
            },
            Backend::External => {
                let base = external("ARTIFACTD_TEST_MYSQL_URL");
                let name = unique("t_");
                let conn = sea_orm::Database::connect(&base)
                    .await
                    .expect("connect to MariaDB");
                use sea_orm::ConnectionTrait;
                conn.execute_unprepared(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                TestEnv {
                    backend,
                    database_url: format!("{base}/{name}"),
                    dir,
                    s3_url: Some(external("ARTIFACTD_TEST_S3_URL")),
                    s3_prefix: format!("{}/", unique("t")),
                    log_dir: None,
                }
            }
        }
    }

    /// The storage this environment's servers write to, opened directly.
    pub async fn storage(&self) -> Arc<dyn Storage> {
        match &self.s3_url {
            Some(url) => Arc::new(
                S3Storage::new(
                    &S3Location::parse(url).unwrap(),
                    "us-east-1",
                    &self.s3_prefix,
                )
                .unwrap(),
            ),
            None => Arc::new(
                LocalStorage::open(self.dir.path().join("blobs"))
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Every object key in this environment's storage.
    pub async fn stored_objects(&self) -> Vec<String> {
        let storage = self.storage().await;
        let mut keys = storage.list("blobs/").await.unwrap();
        keys.extend(storage.list("index/").await.unwrap());
        keys
    }

    /// Replaces the stored bytes of a published index file (what someone with
    /// write access to the bucket could do), found by its current bytes.
    pub async fn tamper_index(&self, repo_id: i64, current: &[u8], replacement: Vec<u8>) {
        assert_ne!(current, replacement.as_slice(), "tampering changes nothing");
        let key = artifactd::storage::StorageKey::Index {
            repo_id,
            sha256: sha256_hex(current),
        };
        self.storage()
            .await
            .put_bytes(&key, replacement.into(), "application/octet-stream")
            .await
            .unwrap();
    }

    /// Starts a server with the test defaults plus `extra` environment.
    pub async fn start(&self, extra: &[(&str, &str)]) -> Server {
        Server::start(self, extra).await
    }
}

/// A running `artifactd` process, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub http: reqwest::Client,
    pub log: PathBuf,
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("ARTIFACTD_BIN") {
        return p.into();
    }
    // target/<profile>/deps/<test binary> -> target/<profile>/artifactd
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("artifactd"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} missing: build it first (cargo build --bins), or set ARTIFACTD_BIN",
        bin.display()
    );
    bin
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts a server on a free port. Ports are picked before the server
    /// binds them, so another test's server may take the same one first:
    /// then ours exits (or another answers its health check), and it is
    /// started again on a new port.
    async fn start(env: &TestEnv, extra: &[(&str, &str)]) -> Server {
        let mut last_log = String::new();
        for _ in 0..5 {
            let mut server = Self::spawn(env, extra).await;
            if server.wait_healthy().await {
                return server;
            }
            let _ = server.child.kill().await;
            last_log = server.log_text();
        }
        panic!("artifactd did not start on any of 5 ports; the last one logged:\n{last_log}");
    }

    async fn spawn(env: &TestEnv, extra: &[(&str, &str)]) -> Server {
        let port = free_port();
        let data = env.dir.path();
        let log = env
            .log_dir
            .as_deref()
            .unwrap_or(data)
            .join(format!("server-{port}.log"));
        let mut cmd = Command::new(binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ARTIFACTD_LISTEN", format!("127.0.0.1:{port}"))
            .env("ARTIFACTD_DATA_DIR", data)
            .env("ARTIFACTD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("DATABASE_URL", &env.database_url)
            .env("ARTIFACTD_PUBLISH_DEBOUNCE_MS", "20")
            .env(
                "ARTIFACTD_LOG",
                std::env::var("ARTIFACTD_TEST_LOG").unwrap_or("info,sqlx=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ))
            .kill_on_drop(true);
        if let Some(s3) = &env.s3_url {
            cmd.env("S3_URL", s3)
                .env("ARTIFACTD_S3_PREFIX", &env.s3_prefix);
        }
        for (k, v) in extra {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let child = cmd.spawn().expect("spawn artifactd");
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            log,
        }
    }

    /// Waits until this process (its pid names the answering instance)
    /// reports healthy; `false` if it exited, e.g. its port was taken.
    async fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let me = format!("{}-", self.child.id().unwrap_or(0));
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(r) = self.http.get(format!("{}/healthz", self.url)).send().await
                && r.status().is_success()
            {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if body["instance"]
                    .as_str()
                    .is_some_and(|i| i.starts_with(&me))
                {
                    return true;
                }
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "server did not become healthy:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn stop(mut self) {
        self.child.kill().await.ok();
    }

    /// `kill -9` through a shared reference: no shutdown, requests in flight
    /// are cut. The process stays unreaped until dropped, so its pid cannot
    /// be reused meanwhile.
    pub fn kill9(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `POST /addpkg?QUERY` with the given files as field `f`, as admin.
    pub async fn upload(&self, query: &str, files: &[(&str, Vec<u8>)]) -> Reply {
        self.upload_as(Some(ADMIN_TOKEN), query, files).await
    }

    pub async fn upload_as(
        &self,
        token: Option<&str>,
        query: &str,
        files: &[(&str, Vec<u8>)],
    ) -> Reply {
        self.try_upload_as(token, query, files)
            .await
            .expect("upload request")
    }

    /// [`Server::upload_as`] that returns a transport error (a server that
    /// died mid-request) instead of panicking.
    pub async fn try_upload_as(
        &self,
        token: Option<&str>,
        query: &str,
        files: &[(&str, Vec<u8>)],
    ) -> reqwest::Result<Reply> {
        // With no files, send a form that has only a text field.
        let mut form = reqwest::multipart::Form::new();
        if files.is_empty() {
            form = form.text("note", "no file here");
        }
        for (name, bytes) in files {
            form = form.part(
                "f",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        let mut req = self
            .http
            .post(self.url(&format!("/addpkg?{query}")))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Ok(Reply::from(req.send().await?).await)
    }

    /// Uploads a file from disk, streaming it.
    pub async fn upload_path(&self, query: &str, path: &Path) -> Reply {
        let file = tokio::fs::File::open(path).await.unwrap();
        let len = file.metadata().await.unwrap().len();
        let body = reqwest::Body::wrap_stream(tokio_util_stream(file));
        let part = reqwest::multipart::Part::stream_with_length(body, len)
            .file_name(path.file_name().unwrap().to_string_lossy().into_owned());
        let form = reqwest::multipart::Form::new().part("f", part);
        let req = self
            .http
            .post(self.url(&format!("/addpkg?{query}")))
            .bearer_auth(ADMIN_TOKEN)
            .multipart(form);
        Reply::from(req.send().await.expect("upload request")).await
    }

    /// Sends a hand-made request body (for malformed multipart and the like).
    pub async fn raw_post(&self, path_and_query: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let req = self
            .http
            .post(self.url(path_and_query))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body);
        Reply::from(req.send().await.expect("request")).await
    }

    /// An API request with a token and an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("API request")
    }

    /// Waits (up to 10 s) until every one of `servers` answers `path` with
    /// the same ETag: an instance that did not publish the newest set
    /// catches up within its cache TTL plus the time a refresh takes (reads
    /// do not wait for it).
    pub async fn converged(servers: &[&Server], path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut tags = Vec::new();
            for s in servers {
                let r = s.get(path).await;
                tags.push(
                    r.headers()
                        .get("etag")
                        .map(|t| t.to_str().unwrap_or_default().to_owned()),
                );
            }
            if tags[0].is_some() && tags.iter().all(|t| *t == tags[0]) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "instances never agreed on {path}: {tags:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path).await;
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// SHA-256 and length of a download, streamed.
    pub async fn download_digest(&self, path: &str) -> (String, u64) {
        use futures_util::StreamExt;
        let resp = self.get(path).await;
        assert_eq!(resp.status(), 200, "GET {path}");
        let mut hasher = Sha256::new();
        let mut len = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            len += chunk.len() as u64;
            hasher.update(&chunk);
        }
        (hex::encode(hasher.finalize()), len)
    }
}

fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

/// A response with its body read as JSON (or kept as text when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: serde_json::Value,
    pub text: String,
}

impl Reply {
    async fn from(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// The JSON `error` code of a 4xx answer.
    pub fn error_code(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no JSON error in {}: {}", self.status, self.text))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A tar archive holding one file `name` with `content`.
pub fn tar_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, content).unwrap();
    builder.into_inner().unwrap()
}

/// Writes a tar holding `size` pseudo-random bytes to `path`, streaming.
pub fn write_big_tar(path: &Path, size: u64) {
    use std::io::Write;
    struct Noise(u64, u64);
    impl std::io::Read for Noise {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1 as usize);
            for b in &mut buf[..n] {
                // xorshift: incompressible enough, cheap, deterministic.
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = self.0 as u8;
            }
            self.1 -= n as u64;
            Ok(n)
        }
    }
    let out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut builder = tar::Builder::new(out);
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(
            &mut header,
            "payload.bin",
            Noise(0x9e37_79b9_7f4a_7c15, size),
        )
        .unwrap();
    builder.into_inner().unwrap().flush().unwrap();
}

/// SHA-256 of a file on disk, streamed.
pub fn file_sha256(path: &Path) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex::encode(hasher.finalize())
}
