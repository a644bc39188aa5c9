//! The one mapping from [`Error`] to HTTP: a status code and a JSON body
//! `{"error": "<stable code>", "message": "<text>"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use artifactd_provider_api::ProviderError;

use crate::error::Error;

/// What 503 and 507 answers suggest to wait before trying again.
pub const RETRY_AFTER_SECS: u32 = 5;

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } | Error::Provider(ProviderError::Invalid { .. }) => {
                StatusCode::BAD_REQUEST
            }
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Provider(_) | Error::Storage(_) | Error::Db(_) | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut resp = HttpResponse::build(status);
        if matches!(self, Error::Unavailable(_) | Error::InsufficientStorage(_)) {
            // Both clear by themselves (the database returns, space is freed).
            resp.insert_header(("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.insert_header((
                "WWW-Authenticate",
                "Bearer realm=\"artifactd\", Basic realm=\"artifactd\"",
            ));
        }
        resp.json(serde_json::json!({ "error": self.code(), "message": self.to_string() }))
    }
}
