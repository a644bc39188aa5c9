//! The server's one error type. Domain modules return it; `http::error` is the
//! only place that turns it into a status code and a JSON body, so every
//! client sees `{"error": <stable code>, "message": <text>}`.

use artifactd_provider_api::ProviderError;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or the upload is not acceptable (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// No or unknown credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Known credentials without the right (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The request contradicts what is stored, e.g. same file name, other bytes (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// No representation the client's `Accept` header allows (406).
    #[error("{0}")]
    NotAcceptable(String),
    /// The path exists but not for this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body exceeds `max_upload_size` (413).
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A dependency (database, storage, another instance) did not answer in time (503).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Error::NotFound {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A stable machine-readable code for the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. }
            | Error::NotFound { code, .. }
            | Error::Conflict { code, .. } => code,
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::TooLarge { .. } => "too_large",
            Error::NotAcceptable(_) => "not_acceptable",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Provider(ProviderError::Invalid { code, .. }) => code,
            Error::Provider(_) => "provider_error",
            Error::Storage(_) => "storage_error",
            Error::Db(_) => "database_error",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(format!("I/O: {e}"))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("task failed: {e}"))
    }
}
