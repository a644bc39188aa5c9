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
    Storage(StorageError),
    #[error("database: {0}")]
    Db(sea_orm::DbErr),
    /// A dependency (database, storage, another instance) did not answer in
    /// time or is down (503 with `Retry-After`). The text names no endpoint.
    #[error("{0}")]
    Unavailable(String),
    /// The database or the storage has no space left (507 with
    /// `Retry-After`); nothing of the request was kept.
    #[error("{0}")]
    InsufficientStorage(String),
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
            Error::InsufficientStorage(_) => "insufficient_storage",
            Error::Internal(_) => "internal",
        }
    }
}

/// Whether an I/O error means the file system is full (or over quota).
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        // ENOSPC, EDQUOT: kinds are lost when an error is wrapped and rebuilt.
        || matches!(e.raw_os_error(), Some(28 | 122))
}

const NO_SPACE: &str =
    "no space left to store the request; nothing was kept, retry once space is freed";

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if is_out_of_space(&e) {
            tracing::error!(error = %e, "out of space");
            crate::health::refused_for_space();
            return Error::InsufficientStorage(NO_SPACE.into());
        }
        Error::Internal(format!("I/O: {e}"))
    }
}

impl From<StorageError> for Error {
    /// Full disks and unreachable object stores become 507 and 503 whose
    /// text names no internal endpoint; the details go to the log.
    fn from(e: StorageError) -> Self {
        match &e {
            StorageError::Io { source, .. } if is_out_of_space(source) => {
                tracing::error!(error = %e, "storage out of space");
                crate::health::refused_for_space();
                Error::InsufficientStorage(NO_SPACE.into())
            }
            StorageError::Remote { .. } => {
                tracing::error!(error = %e, "object store failed");
                Error::Unavailable("the object store is unavailable; retry later".into())
            }
            _ => Error::Storage(e),
        }
    }
}

impl From<crate::tree::TreeError> for Error {
    fn from(e: crate::tree::TreeError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<sea_orm::DbErr> for Error {
    /// Classifies database failures: no space (507), unreachable, timed out
    /// or busy (503), anything else (500). The log keeps the details.
    fn from(e: sea_orm::DbErr) -> Self {
        match crate::db::classify(&e) {
            crate::db::Failure::NoSpace => {
                tracing::error!(error = %e, "database out of space");
                crate::health::refused_for_space();
                Error::InsufficientStorage(NO_SPACE.into())
            }
            crate::db::Failure::Unavailable => {
                tracing::error!(error = %e, "database unavailable");
                Error::Unavailable("the database is unavailable; retry later".into())
            }
            crate::db::Failure::Other => Error::Db(e),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("task failed: {e}"))
    }
}
