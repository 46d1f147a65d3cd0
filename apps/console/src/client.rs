//! The admin API of an `inkset-server`, blocking (the console calls it from background
//! threads): `POST /api/auth/login` for a bearer token, then the admin routes with it.

use std::time::Duration;

use inkset_protocol::api::{AdminStats, ErrorBody, LoginRequest, LoginResponse};
use reqwest::StatusCode;
use reqwest::blocking::Client;

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL is not `http(s)://...`.
    #[error("server URL {0:?} must start with http:// or https://")]
    Url(String),
    /// No answer.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// 401: a wrong password at sign-in, or a session that expired since.
    #[error("{0}")]
    Unauthorized(String),
    /// Another refusal, with the server's message.
    #[error("{status}: {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// An answer that does not parse as the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// The parse error.
        message: String,
    },
}

impl ClientError {
    /// Whether the session is gone (sign in again).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized(_))
    }
}

/// A signed-in admin session.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: Client,
    base: String,
    token: String,
    /// When the token stops working, ms since the Unix epoch (server clock).
    pub expires_at: i64,
}

fn check(url: &str, resp: reqwest::blocking::Response) -> Result<Vec<u8>, ClientError> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .map_err(|source| ClientError::Unreachable {
            url: url.to_owned(),
            source,
        })?
        .to_vec();
    if status.is_success() {
        return Ok(bytes);
    }
    let message = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(200).collect());
    if status == StatusCode::UNAUTHORIZED {
        return Err(ClientError::Unauthorized(message));
    }
    Err(ClientError::Refused { status, message })
}

fn parse<T: serde::de::DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

impl AdminClient {
    /// Signs in to `base` (e.g. `http://127.0.0.1:8080`) as an admin.
    ///
    /// # Errors
    /// [`ClientError::Url`], [`ClientError::Unreachable`], or
    /// [`ClientError::Unauthorized`] for a wrong name or password.
    pub fn sign_in(base: &str, username: &str, password: &str) -> Result<Self, ClientError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Url(base));
        }
        let url = format!("{base}/api/auth/login");
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let resp = http
            .post(&url)
            .json(&LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .send()
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let login: LoginResponse = parse(&url, &check(&url, resp)?)?;
        Ok(Self {
            http,
            base,
            token: login.token,
            expires_at: login.expires_at,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let bytes = check(&url, resp).map_err(|e| match e {
            ClientError::Unauthorized(m) => {
                ClientError::Unauthorized(format!("the session has expired ({m}); sign in again"))
            }
            other => other,
        })?;
        parse(&url, &bytes)
    }

    /// `GET /api/admin/stats`: the dashboard's numbers.
    ///
    /// # Errors
    /// As the other calls; [`ClientError::Unauthorized`] once the token expired.
    pub fn stats(&self) -> Result<AdminStats, ClientError> {
        self.get("/api/admin/stats")
    }
}
