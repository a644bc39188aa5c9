//! What went wrong, as the exit code scripts branch on and a one-line
//! message (the server's own words where it gave some).

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments or configuration (exit 2, as clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    /// 401 or 403 (exit 3).
    #[error("{0}")]
    Auth(String),
    /// 404 (exit 4).
    #[error("{0}")]
    NotFound(String),
    /// 409: the same name, version or file exists with other content (exit 5).
    #[error("{0}")]
    Conflict(String),
    /// 5xx, or the server could not be reached, after retries (exit 6).
    #[error("{0}")]
    Server(String),
    /// Any other 4xx: the server refused the request as given (exit 7).
    #[error("{0}")]
    Rejected(String),
    /// Everything else: a checksum mismatch, a local file, an unhealthy
    /// server (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Failed(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Auth(_) => 3,
            Failure::NotFound(_) => 4,
            Failure::Conflict(_) => 5,
            Failure::Server(_) => 6,
            Failure::Rejected(_) => 7,
        }
    }

    /// The failure an HTTP error status stands for; `body` is the answer,
    /// whose `{"error", "message"}` is shown when present.
    pub fn from_status(status: reqwest::StatusCode, what: &str, body: &str) -> Failure {
        let said = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let message = v["message"].as_str()?.to_owned();
                Some(match v["error"].as_str() {
                    Some(code) => format!("{message} ({code})"),
                    None => message,
                })
            })
            .unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_owned()
            });
        let text = format!("{what}: {} {said}", status.as_u16());
        match status.as_u16() {
            401 | 403 => Failure::Auth(text),
            404 => Failure::NotFound(text),
            409 => Failure::Conflict(text),
            500..=599 => Failure::Server(text),
            _ => Failure::Rejected(text),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Failed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn statuses_map_to_distinct_exit_codes_with_the_servers_message() {
        let f = Failure::from_status(
            StatusCode::CONFLICT,
            "upload",
            r#"{"error":"conflict","message":"x.tar exists with other content"}"#,
        );
        assert_eq!(f.code(), 5);
        assert_eq!(
            f.to_string(),
            "upload: 409 x.tar exists with other content (conflict)"
        );
        let codes: Vec<_> = [401, 403, 404, 400, 413, 500, 503]
            .iter()
            .map(|s| {
                Failure::from_status(StatusCode::from_u16(*s).unwrap(), "x", "not json").code()
            })
            .collect();
        assert_eq!(codes, [3, 3, 4, 7, 7, 6, 6], "by status");
        assert_eq!(
            Failure::from_status(StatusCode::NOT_FOUND, "x", "").to_string(),
            "x: 404 Not Found"
        );
    }
}
