//! The API's errors: one enum, answered as `{"error": {"code", "message", "field"?}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use inkset_protocol::FieldError;
use inkset_protocol::api::{ErrorBody, ErrorDetail};

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON of the expected shape (400).
    #[error("{0}")]
    BadRequest(FieldError),
    /// The body parsed but a value breaks a rule (422).
    #[error("{0}")]
    Invalid(FieldError),
    /// The body is larger than the route allows (413).
    #[error("body is larger than this route accepts (see inkset_protocol::Limits)")]
    TooLarge,
    /// Missing, malformed, expired or insufficient credentials (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Nothing at that id or path (404).
    #[error("{0}")]
    NotFound(String),
    /// Something with that key exists already (409), e.g. a drawing id with other content.
    #[error("{message}")]
    Conflict {
        /// The field holding the key.
        field: &'static str,
        /// What collided.
        message: String,
    },
    /// Storage failed; details are logged, not returned (500).
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    /// The route exists but not for this method (405).
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The server is shutting down (503).
    #[error("{0}")]
    Unavailable(&'static str),
    /// A valid token whose role may not use this route (403).
    #[error("{0}")]
    Forbidden(String),
    /// The caller went past a rate limit or a login back-off (429, with `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        /// What was limited, and for whom.
        message: String,
        /// Seconds until a retry can succeed (at least 1).
        retry_after_secs: u64,
    },
    /// A queue of the server is full or its wait ran out (503, with `Retry-After`).
    #[error("{message}")]
    Overloaded {
        /// Which queue.
        message: String,
        /// Seconds after which a retry is likely to be served (at least 1).
        retry_after_secs: u64,
    },
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl ApiError {
    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Seconds for `Retry-After` (at least 1): rate limits and full queues only.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests {
                retry_after_secs, ..
            }
            | Self::Overloaded {
                retry_after_secs, ..
            } => Some((*retry_after_secs).max(1)),
            _ => None,
        }
    }

    /// The envelope's `error` object.
    pub fn detail(&self) -> ErrorDetail {
        let (code, field) = match self {
            Self::BadRequest(f) | Self::Invalid(f) => (f.code, Some(f.field.clone())),
            Self::TooLarge => ("payload_too_large", Some("body".to_owned())),
            Self::Unauthorized(_) => ("unauthorized", None),
            Self::NotFound(_) => ("not_found", None),
            Self::Conflict { field, .. } => ("conflict", Some((*field).to_owned())),
            Self::MethodNotAllowed => ("method_not_allowed", None),
            Self::Internal(_) => ("internal", None),
            Self::Unavailable(_) => ("unavailable", None),
            Self::Overloaded { .. } => ("overloaded", None),
            Self::Forbidden(_) => ("forbidden", None),
            Self::TooManyRequests { .. } => ("rate_limited", None),
        };
        let message = match self {
            Self::BadRequest(f) | Self::Invalid(f) => f.message.clone(),
            other => other.to_string(),
        };
        ErrorDetail {
            code: code.to_owned(),
            message,
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let retry_after = self.retry_after_secs();
        let mut response = (
            self.status(),
            Json(ErrorBody {
                error: self.detail(),
            }),
        )
            .into_response();
        if let Some(secs) = retry_after {
            // Retry-After in delay-seconds (RFC 9110 section 10.2.3).
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
