//! What every domain's handlers share: the raw body within its route's limit, JSON parsing
//! that names the failing field, and the error for an invalid field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use inkset_protocol::FieldError;

use crate::error::ApiError;

/// The raw request body, within the route's size limit; a too-large body is a 413 naming
/// `body`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Self(b)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge),
            Err(r) => Err(ApiError::BadRequest(FieldError::new(
                "body",
                "unreadable",
                r.body_text(),
            ))),
        }
    }
}

/// Parses a JSON body, naming the field that failed.
///
/// # Errors
/// [`ApiError::BadRequest`] with the field's path.
pub fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    inkset_protocol::validate::parse_json(body).map_err(ApiError::BadRequest)
}

/// A 422 naming `field`, with a stable `code` and a message.
pub fn invalid(
    field: impl Into<String>,
    code: &'static str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::Invalid(FieldError::new(field, code, message))
}
