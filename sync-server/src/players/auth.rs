//! Credentials: argon2id password hashes, random bearer tokens stored as sha256 hashes,
//! and the extractors that guard routes.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// A new random token: 32 bytes from the OS RNG, base64url without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The form a token is stored in: sha256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, per
/// OWASP's password storage cheat sheet) and a random salt, as a PHC string.
///
/// # Errors
/// When hashing fails (it does not for valid parameters).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    bearer_token(&parts.headers)
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive,
/// RFC 9110 section 11.1).
///
/// # Errors
/// [`ApiError::Unauthorized`] when the header is missing or not a bearer token.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing Authorization: Bearer <token>",
        ))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "Authorization must be Bearer <token>",
        ))
}

/// An authenticated admin (`Authorization: Bearer <login token>` of an admin account).
#[derive(Debug, Clone)]
pub struct Admin {
    /// The admin's user id.
    pub user_id: String,
    /// sha256 of the token used.
    pub token_hash: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let hash = token_hash(bearer(parts)?);
        match state.db.token_role(&hash).await? {
            Some((user_id, role)) if role == "admin" => Ok(Self {
                user_id,
                token_hash: hash,
            }),
            Some(_) => Err(ApiError::Unauthorized("this token is not an admin's")),
            None => Err(ApiError::Unauthorized("token unknown, expired or revoked")),
        }
    }
}

/// An authenticated player session (`Authorization: Bearer <session token>`).
#[derive(Debug, Clone, Copy)]
pub struct Player {
    /// The session's id.
    pub session_id: Uuid,
}

impl FromRequestParts<AppState> for Player {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let hash = token_hash(bearer(parts)?);
        if let Some(&session_id) = state
            .session_cache
            .read()
            .ok()
            .and_then(|c| c.get(&hash).copied())
            .as_ref()
        {
            return Ok(Self { session_id });
        }
        let session_id = state
            .db
            .session_for_token(&hash)
            .await?
            .ok_or(ApiError::Unauthorized("unknown session token"))?;
        if let Ok(mut cache) = state.session_cache.write() {
            if cache.len() >= crate::state::SESSION_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(hash, session_id);
        }
        Ok(Self { session_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert_ne!(new_token(), new_token());
    }
}
