//! Talking to an artifactd server: the base URL and token, JSON requests,
//! and retrying what may succeed on a second try (the connection failed or
//! was cut, 502/503/504/429) with exponential backoff.
//!
//! Retrying an upload is safe: the server answers `200` to the identical
//! file and `409` only to other bytes under the same name.

use std::future::Future;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::Failure;

pub struct Client {
    base: String,
    token: Option<String>,
    pub http: reqwest::Client,
    /// Further attempts after the first, for transient failures.
    retries: u32,
    /// The first backoff; each retry waits twice the one before (up to 16x).
    pub backoff: Duration,
    /// Whether to say so on stderr when an attempt is retried.
    pub verbose: bool,
}

/// How one attempt ended, for [`Client::retrying`].
pub enum Attempt<T> {
    Done(T),
    /// Worth another try; the text says why.
    Transient(String),
    Failed(Failure),
}

impl<T> From<Result<T, Failure>> for Attempt<T> {
    fn from(r: Result<T, Failure>) -> Self {
        match r {
            Ok(v) => Attempt::Done(v),
            Err(e) => Attempt::Failed(e),
        }
    }
}

/// Whether a request error is the network's (worth retrying) rather than
/// ours.
pub fn transient(e: &reqwest::Error) -> bool {
    !e.is_builder() && !e.is_redirect() && e.status().is_none()
}

/// Whether an HTTP status says "try again later".
pub fn retry_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 502 | 503 | 504)
}

/// The text of a request error with its causes ("error sending request:
/// connection reset by peer").
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Client {
    pub fn new(server: &str, token: Option<String>, retries: u32) -> Result<Client, Failure> {
        let url = url_ok(server)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("rpcli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::Failed(format!("HTTP client: {e}")))?;
        Ok(Client {
            base: url,
            token,
            http,
            retries,
            backoff: Duration::from_millis(250),
            verbose: true,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// A request with the token, if there is one.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Runs `attempt` until it is done, fails for good, or the retries are
    /// spent (then the last transient reason is a server failure).
    pub async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, Failure>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let mut n = 0;
        loop {
            match attempt(n).await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Failed(f) => return Err(f),
                Attempt::Transient(why) if n < self.retries => {
                    let delay = self.backoff * (1 << n.min(4));
                    if self.verbose {
                        eprintln!(
                            "rpcli: {what}: {why}; retrying in {:.1} s ({}/{})",
                            delay.as_secs_f32(),
                            n + 1,
                            self.retries
                        );
                    }
                    tokio::time::sleep(delay).await;
                    n += 1;
                }
                Attempt::Transient(why) => {
                    return Err(Failure::Server(format!(
                        "{what}: {why} (gave up after {} attempts)",
                        n + 1
                    )));
                }
            }
        }
    }

    /// Sends a request built by `build` (again on each attempt; a failure
    /// to build is final) and returns the body of a successful answer.
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, Failure>,
    ) -> Result<(StatusCode, bytes::Bytes), Failure> {
        self.retrying(what, |_| async {
            let req = match build() {
                Ok(r) => r,
                Err(f) => return Attempt::Failed(f),
            };
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if transient(&e) => return Attempt::Transient(describe(&e)),
                Err(e) => return Attempt::Failed(Failure::Failed(describe(&e))),
            };
            let status = resp.status();
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => return Attempt::Transient(describe(&e)),
            };
            if retry_status(status) {
                return Attempt::Transient(format!("the server answered {status}"));
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                return Attempt::Failed(Failure::from_status(status, what, &text));
            }
            Attempt::Done((status, body))
        })
        .await
    }

    /// `GET` a JSON document.
    pub async fn get_json(&self, path: &str) -> Result<Value, Failure> {
        self.json(Method::GET, path, None).await
    }

    /// A JSON request (with an optional JSON body) and its JSON answer.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let what = format!("{method} {path}");
        let (_, bytes) = self
            .send(&what, || {
                let req = self.request(method.clone(), path);
                Ok(match body {
                    Some(b) => req.json(b),
                    None => req,
                })
            })
            .await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Failure::Failed(format!("{what}: the answer is not JSON: {e}")))
    }

    /// `GET` a text document (a public key).
    pub async fn get_text(&self, path: &str) -> Result<String, Failure> {
        let (_, bytes) = self
            .send(&format!("GET {path}"), || {
                Ok(self.request(Method::GET, path))
            })
            .await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A server URL: http(s), no query; the trailing slash dropped.
fn url_ok(server: &str) -> Result<String, Failure> {
    let parsed = reqwest::Url::parse(server)
        .map_err(|e| Failure::Usage(format!("server URL {server:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(Failure::Usage(format!(
            "server URL {server:?}: expected http(s)://HOST[:PORT][/PATH]"
        )));
    }
    Ok(server.trim_end_matches('/').to_owned())
}

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked() {
        assert_eq!(url_ok("http://h:8080/").unwrap(), "http://h:8080");
        assert_eq!(url_ok("https://h/base").unwrap(), "https://h/base");
        assert!(matches!(url_ok("h:8080"), Err(Failure::Usage(_))));
        assert!(matches!(url_ok("ftp://h"), Err(Failure::Usage(_))));
        assert!(matches!(url_ok("http://h/?x=1"), Err(Failure::Usage(_))));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("libstdc++6"), "libstdc%2B%2B6");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn transient_failures_are_retried_then_reported() {
        let mut client = Client::new("http://127.0.0.1:9", None, 3).unwrap();
        client.backoff = Duration::from_millis(1);
        client.verbose = false;
        let mut tries = 0;
        let out: Result<(), Failure> = client
            .retrying("x", |_| {
                tries += 1;
                async { Attempt::Transient("reset".into()) }
            })
            .await;
        assert_eq!(tries, 4, "the first attempt and three retries");
        assert!(matches!(out, Err(Failure::Server(m)) if m.contains("gave up after 4")));
        let mut tries = 0;
        let out = client
            .retrying("x", |n| {
                tries += 1;
                async move {
                    if n == 0 {
                        Attempt::Transient("reset".into())
                    } else {
                        Attempt::Done(n)
                    }
                }
            })
            .await;
        assert_eq!((out.unwrap(), tries), (1, 2));
        let out: Result<(), Failure> = client
            .retrying("x", |_| async {
                Attempt::Failed(Failure::Conflict("no".into()))
            })
            .await;
        assert!(
            matches!(out, Err(Failure::Conflict(_))),
            "final failures are not retried"
        );
    }
}
