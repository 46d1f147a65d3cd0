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
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
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

/// Who a bearer token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An admin account's login token.
    Admin {
        /// The account's id.
        user_id: String,
    },
    /// A player account's login token (sign-up, link).
    Account {
        /// The account's id.
        user_id: String,
    },
    /// An anonymous (or linked) player session token.
    Session {
        /// The session's id.
        session_id: Uuid,
    },
    /// A trainer's worker token.
    Worker {
        /// The token's id.
        token_id: Uuid,
        /// The token's name.
        name: String,
    },
}

impl Identity {
    /// What kind of token this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Admin { .. } => "an admin login token",
            Self::Account { .. } => "a player account token",
            Self::Session { .. } => "a player session token",
            Self::Worker { .. } => "a worker token",
        }
    }
}

/// The live identity of a token: login tokens, then player sessions, then worker tokens.
/// `None` when the token is unknown, expired or revoked.
///
/// # Errors
/// On SQL failure.
pub async fn identify(state: &AppState, token: &str) -> Result<Option<Identity>, ApiError> {
    let hash = token_hash(token);
    if let Some(session_id) = state.sessions.get(&hash) {
        return Ok(Some(Identity::Session { session_id }));
    }
    if let Some((user_id, role)) = state.db.token_role(&hash).await? {
        return Ok(Some(if role == "admin" {
            Identity::Admin { user_id }
        } else {
            Identity::Account { user_id }
        }));
    }
    if let Some((session_id, mut expires_at)) = state.db.session_for_token(&hash).await? {
        // Sliding expiry: a session in use is extended once half its lifetime has passed,
        // so `auth.session_ttl_secs` is the longest a player may stay away.
        let now = crate::now_ms();
        if expires_at.saturating_sub(now) < state.session_ttl_ms / 2 {
            expires_at = now.saturating_add(state.session_ttl_ms);
            state.db.extend_session(session_id, expires_at).await?;
        }
        state.sessions.insert(hash, session_id, expires_at);
        return Ok(Some(Identity::Session { session_id }));
    }
    if token.starts_with("iw_")
        && let Some((token_id, name)) = state.db.worker_for_token(token).await?
    {
        return Ok(Some(Identity::Worker { token_id, name }));
    }
    Ok(None)
}

/// 403 naming what the route needs and what the token is.
pub fn wrong_role(needs: &str, identity: &Identity) -> ApiError {
    ApiError::Forbidden(format!(
        "this route needs {needs}; the request carries {}",
        identity.kind()
    ))
}

/// An authenticated admin (`Authorization: Bearer <login token>` of an admin account).
/// 401 for a missing, unknown, expired or revoked token; 403 for another kind of token.
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
        let token = bearer(parts)?;
        match identify(state, token).await? {
            Some(Identity::Admin { user_id }) => Ok(Self {
                user_id,
                token_hash: token_hash(token),
            }),
            Some(other) => Err(wrong_role("an admin login token", &other)),
            None => Err(ApiError::Unauthorized("token unknown, expired or revoked")),
        }
    }
}

/// An authenticated player session (`Authorization: Bearer <session token>`). 401 for a
/// missing, unknown, expired or revoked token; 403 for another kind of token.
#[derive(Debug, Clone, Copy)]
pub struct Player {
    /// The session's id.
    pub session_id: Uuid,
}

impl FromRequestParts<AppState> for Player {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match identify(state, bearer(parts)?).await? {
            Some(Identity::Session { session_id }) => Ok(Self { session_id }),
            Some(other) => Err(wrong_role("a player session token", &other)),
            None => Err(ApiError::Unauthorized(
                "session token unknown, expired or revoked",
            )),
        }
    }
}

/// Player sessions by token hash, so uploads skip a SQL lookup. An entry is trusted until
/// its session expires and for at most [`SessionCache::RECHECK`] after it was read from
/// SQL, so a session revoked by another replica stops working within that time (this
/// replica evicts its own revocations at once). Cleared when it grows past
/// [`SessionCache::ENTRIES`].
#[derive(Clone, Default)]
pub struct SessionCache {
    entries: Arc<RwLock<HashMap<String, CachedSession>>>,
}

#[derive(Clone, Copy)]
struct CachedSession {
    id: Uuid,
    expires_at: i64,
    read_at: Instant,
}

impl SessionCache {
    /// Most entries (about 150 bytes each).
    pub const ENTRIES: usize = 100_000;
    /// Longest an entry is used without asking SQL again.
    pub const RECHECK: Duration = Duration::from_secs(30);

    /// The live session of a token hash, if cached and fresh.
    pub fn get(&self, hash: &str) -> Option<Uuid> {
        let entries = self.entries.read().ok()?;
        let e = entries.get(hash)?;
        (e.expires_at > crate::now_ms() && e.read_at.elapsed() < Self::RECHECK).then_some(e.id)
    }

    /// Caches a session read from SQL.
    pub fn insert(&self, hash: String, id: Uuid, expires_at: i64) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= Self::ENTRIES {
                entries.clear();
            }
            entries.insert(
                hash,
                CachedSession {
                    id,
                    expires_at,
                    read_at: Instant::now(),
                },
            );
        }
    }

    /// Forgets one token (it was revoked here).
    pub fn evict(&self, hash: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(hash);
        }
    }

    /// Forgets every token (sessions were revoked in bulk).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
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
