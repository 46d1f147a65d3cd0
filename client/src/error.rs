//! [`ClientError`]: every way a call to `inkset-server` can fail.

use std::path::PathBuf;

use inkset_protocol::api::ErrorBody;

/// What went wrong talking to the server.
///
/// A refusal keeps the HTTP status and the server's error body (`{"error": {"code",
/// "message", "field"?}}`, [`inkset_protocol::api::ErrorBody`]), so a caller can point at
/// the field the server named.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server URL is not `http(s)://...`.
    #[error("server URL {0:?} must start with http:// or https://")]
    Url(String),
    /// No answer: refused, reset, timed out, offline. Worth retrying.
    #[error("cannot reach {url} (unreachable: {source})")]
    Transport {
        /// The URL asked.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{}: {message}", status_text(*status))]
    Status {
        /// The URL asked.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The server's stable error code (`invalid_json`, `conflict`, `unauthorized`, ...),
        /// when the body was the documented error JSON.
        code: Option<String>,
        /// The server's message, or the start of the body when it was not error JSON.
        message: String,
        /// The offending field's path (`strokes[3].points[17].x`) when the server named one.
        field: Option<String>,
        /// The answer's `Retry-After` in seconds (429 and 503 from Inkset: when a retry
        /// can succeed), when it carried one as delay-seconds.
        retry_after_secs: Option<u64>,
    },
    /// An answer that does not parse as the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Decode {
        /// The URL asked.
        url: String,
        /// The parse error.
        message: String,
    },
    /// A local file could not be written (downloads).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// `422 Unprocessable Entity` for 422.
fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status).map_or_else(|_| status.to_string(), |s| s.to_string())
}

impl ClientError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The field the server named in a refusal.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Status { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// The server's message of a refusal, or this error's text.
    pub fn message(&self) -> String {
        match self {
            Self::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Whether the server no longer accepts the credentials (401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// Whether the server could not be reached at all.
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Transport { .. })
    }

    /// Whether trying again later may succeed: no answer, 408, 429, 502, 503, 504.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 429 | 502..=504),
            _ => false,
        }
    }

    /// How long the server asked the caller to wait before trying again (its
    /// `Retry-After`), for a refusal that carried one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Status {
                retry_after_secs: Some(s),
                ..
            } => Some(std::time::Duration::from_secs(*s)),
            _ => None,
        }
    }

    /// The error for a non-success answer `status` with `body` and the answer's
    /// `Retry-After` (delay-seconds), if any.
    pub(crate) fn refused(
        url: &str,
        status: u16,
        body: &[u8],
        retry_after_secs: Option<u64>,
    ) -> Self {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => Self::Status {
                url: url.to_owned(),
                status,
                code: Some(b.error.code),
                message: b.error.message,
                field: b.error.field,
                retry_after_secs,
            },
            Err(_) => Self::Status {
                url: url.to_owned(),
                status,
                code: None,
                message: String::from_utf8_lossy(body).chars().take(300).collect(),
                field: None,
                retry_after_secs,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_servers_code_field_and_status() {
        let body = br#"{"error":{"code":"invalid","message":"x must be finite","field":"strokes[0].points[3].x"}}"#;
        let e = ClientError::refused("http://h/api/drawings", 422, body, None);
        assert_eq!(e.status(), Some(422));
        assert_eq!(e.code(), Some("invalid"));
        assert_eq!(e.field(), Some("strokes[0].points[3].x"));
        assert_eq!(e.to_string(), "422 Unprocessable Entity: x must be finite");
        assert!(!e.is_retryable());
        assert!(!e.is_unauthorized());
    }

    #[test]
    fn a_body_that_is_not_error_json_becomes_the_message() {
        let e = ClientError::refused("http://h/", 503, b"upstream gone", Some(3));
        assert_eq!(e.code(), None);
        assert_eq!(e.message(), "upstream gone");
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(3)));
        let e = ClientError::refused("http://h/", 401, b"{}", None);
        assert!(e.is_unauthorized());
    }
}
