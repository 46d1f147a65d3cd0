//! The game's client for `inkset-server`'s player and inference APIs (reqwest, rustls).

use std::time::Duration;

use inkset_protocol::api::{
    BatchResult, BatchUpload, LoginRequest, PlayerAccount, SessionCreated, ShapeInfo, UserStats,
};
use inkset_protocol::ml::ModelInfo;
use serde::de::DeserializeOwned;

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: offline, refused, reset, timed out. Worth retrying.
    #[error("server unreachable: {0}")]
    Transport(String),
    /// The server answered with an error status; `message` is its `error.message`.
    #[error("server answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The server's error message (or the body).
        message: String,
        /// The field the server named, if any.
        field: Option<String>,
    },
    /// The answer was not the JSON expected.
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
}

impl ClientError {
    /// Whether trying again later may succeed (transport trouble, 408, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Decode(_) => true,
            Self::Status { status, .. } => matches!(status, 408 | 429) || *status >= 500,
        }
    }

    /// Whether the server no longer knows the credentials (401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Status { status: 401, .. })
    }
}

/// A client for one server.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`). Requests time out after 30 s.
    ///
    /// # Errors
    /// [`ClientError::Transport`] when the HTTP client cannot be built.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("inkset-draw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        Err(ClientError::Status {
            status: status.as_u16(),
            message: err
                .and_then(|e| e.get("message"))
                .and_then(|m| m.as_str())
                .map_or_else(|| body.chars().take(300).collect(), str::to_owned),
            field: err
                .and_then(|e| e.get("field"))
                .and_then(|f| f.as_str())
                .map(str::to_owned),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `POST /api/sessions`: a new anonymous session.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_session(&self) -> Result<SessionCreated, ClientError> {
        self.json(self.http.post(self.url("/api/sessions"))).await
    }

    /// `GET /api/shapes`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn shapes(&self) -> Result<Vec<ShapeInfo>, ClientError> {
        self.json(self.http.get(self.url("/api/shapes"))).await
    }

    /// `POST /api/drawings/batch` with the session token.
    ///
    /// # Errors
    /// [`ClientError`] for the request as a whole; per-drawing outcomes are in the result.
    pub async fn upload_batch(
        &self,
        token: &str,
        batch: &BatchUpload,
    ) -> Result<BatchResult, ClientError> {
        self.json(
            self.http
                .post(self.url("/api/drawings/batch"))
                .bearer_auth(token)
                .json(batch),
        )
        .await
    }

    /// `GET /api/user/stats` for the session, days in the given time zone.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn stats(&self, token: &str, utc_offset_min: i32) -> Result<UserStats, ClientError> {
        self.json(
            self.http
                .get(self.url("/api/user/stats"))
                .query(&[("utc_offset_min", utc_offset_min)])
                .bearer_auth(token),
        )
        .await
    }

    /// `POST /api/auth/signup` (`link == false`) or `/api/auth/link` (`link == true`).
    ///
    /// # Errors
    /// [`ClientError`]; a taken name is a 409 naming `username`, a wrong password a 401.
    pub async fn account(
        &self,
        token: &str,
        req: &LoginRequest,
        link: bool,
    ) -> Result<PlayerAccount, ClientError> {
        let path = if link {
            "/api/auth/link"
        } else {
            "/api/auth/signup"
        };
        self.json(self.http.post(self.url(path)).bearer_auth(token).json(req))
            .await
    }

    /// `GET /api/inference/model/info`: the served `production` recognizer.
    ///
    /// # Errors
    /// [`ClientError`]; 503 when no model is served yet.
    pub async fn model_info(&self) -> Result<ModelInfo, ClientError> {
        self.json(self.http.get(self.url("/api/inference/model/info")))
            .await
    }

    /// `GET /api/inference/model/artifact/{file}`: `manifest.json` or `weights.bpk`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn artifact(&self, file: &str) -> Result<Vec<u8>, ClientError> {
        let resp = self
            .send(
                self.http
                    .get(self.url(&format!("/api/inference/model/artifact/{file}")))
                    .timeout(Duration::from_secs(120)),
            )
            .await?;
        Ok(resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_vec())
    }
}
