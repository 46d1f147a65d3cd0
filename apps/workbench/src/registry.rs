//! A server's model registry, over its HTTP API (blocking; the app calls it from worker
//! threads).
//!
//! * `POST /api/auth/login`: an admin's bearer token.
//! * `GET /api/admin/models?model_kind=recognizer`: versions with aliases and metrics.
//! * `GET /api/admin/models/{id}/artifact/{manifest.json|weights.bpk}`: the artifact.
//! * Without signing in, `GET /api/inference/model/info` and
//!   `/api/inference/model/artifact/{file}` give the production version (when the server
//!   does not require an inference token).

use std::time::Duration;

use inkset_model::artifact::{MANIFEST, WEIGHTS, sha256_hex};
use inkset_protocol::api::{ErrorBody, LoginRequest, LoginResponse};
use inkset_protocol::ml::{ModelInfo, ModelList, ModelVersion};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};

use crate::cache::{CachedModel, CachedVersion, ModelCache};

/// What went wrong talking to the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The server URL is not `http(s)://host[:port]`.
    #[error("server URL {0:?} must start with http:// or https://")]
    Url(String),
    /// No answer (server stopped, wrong address, timeout).
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// 401: a wrong password, or a token that expired.
    #[error("not signed in: {0}; sign in again")]
    Unauthorized(String),
    /// Another refusal.
    #[error("{status}: {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The download's weights do not match the manifest's checksum.
    #[error("the downloaded weights hash to {actual}, the manifest says {expected}")]
    Checksum {
        /// From the manifest.
        expected: String,
        /// Of the bytes received.
        actual: String,
    },
    /// The cache could not be written.
    #[error("cannot write the model cache: {0}")]
    Cache(#[from] std::io::Error),
}

/// A connection to one server.
#[derive(Debug, Clone)]
pub struct Registry {
    http: Client,
    base: String,
    token: Option<String>,
}

impl Registry {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`), not signed in.
    ///
    /// # Errors
    /// [`RegistryError::Url`] for a URL that is not http(s).
    pub fn new(base: &str) -> Result<Self, RegistryError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RegistryError::Url(base));
        }
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|source| RegistryError::Unreachable {
                url: base.clone(),
                source,
            })?;
        Ok(Self {
            http,
            base,
            token: None,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether a token is held.
    pub fn signed_in(&self) -> bool {
        self.token.is_some()
    }

    fn get(&self, path: &str) -> RequestBuilder {
        let r = self.http.get(format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn send(&self, path: &str, r: RequestBuilder) -> Result<Response, RegistryError> {
        let url = format!("{}{path}", self.base);
        let resp = r.send().map_err(|source| RegistryError::Unreachable {
            url: url.clone(),
            source,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| text.chars().take(200).collect());
        if status == StatusCode::UNAUTHORIZED {
            return Err(RegistryError::Unauthorized(message));
        }
        Err(RegistryError::Refused { status, message })
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        r: RequestBuilder,
    ) -> Result<T, RegistryError> {
        let bytes = self.bytes(path, r)?;
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
            url: format!("{}{path}", self.base),
            message: e.to_string(),
        })
    }

    fn bytes(&self, path: &str, r: RequestBuilder) -> Result<Vec<u8>, RegistryError> {
        let resp = self.send(path, r)?;
        resp.bytes()
            .map(|b| b.to_vec())
            .map_err(|source| RegistryError::Unreachable {
                url: format!("{}{path}", self.base),
                source,
            })
    }

    /// Signs in with an admin account.
    ///
    /// # Errors
    /// [`RegistryError::Unauthorized`] for a wrong name or password; transport errors.
    pub fn sign_in(&mut self, username: &str, password: &str) -> Result<(), RegistryError> {
        let path = "/api/auth/login";
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            });
        let login: LoginResponse = self.json(path, r)?;
        self.token = Some(login.token);
        Ok(())
    }

    /// Recognizer versions, newest first, with their aliases and held-out metrics.
    ///
    /// # Errors
    /// [`RegistryError::Unauthorized`] when not signed in or the token expired.
    pub fn models(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        self.models_of("recognizer")
    }

    /// Versions of a model kind (`recognizer`, `generator`), newest first.
    ///
    /// # Errors
    /// [`RegistryError::Unauthorized`] when not signed in or the token expired.
    pub fn models_of(&self, kind: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        let path = &format!("/api/admin/models?model_kind={kind}");
        let list: ModelList = self.json(path, self.get(path))?;
        Ok(list.models)
    }

    /// Downloads a version into the cache (checking the weights against the manifest's
    /// sha256) unless it is cached already.
    ///
    /// # Errors
    /// Transport errors, refusals, [`RegistryError::Checksum`], cache I/O.
    pub fn download(
        &self,
        version: &ModelVersion,
        cache: &ModelCache,
    ) -> Result<CachedModel, RegistryError> {
        if let Some(hit) = cache.get(version.id) {
            return Ok(hit);
        }
        let prefix = format!("/api/admin/models/{}/artifact", version.id);
        self.fetch(&prefix, version.clone(), cache)
    }

    /// Downloads the production recognizer through the public inference routes.
    ///
    /// # Errors
    /// As [`Self::download`]; 404 when no version is in production.
    pub fn download_production(&self, cache: &ModelCache) -> Result<CachedModel, RegistryError> {
        let path = "/api/inference/model/info";
        let info: ModelInfo = self.json(path, self.get(path))?;
        if let Some(hit) = cache.get(info.model_id) {
            return Ok(hit);
        }
        let version = ModelVersion {
            id: info.model_id,
            model_kind: info.model_kind,
            version: info.version,
            job_id: None,
            created_at: 0,
            aliases: vec!["production".into()],
            classes: info.classes,
            accuracy: None,
            metrics: info.metrics,
        };
        self.fetch("/api/inference/model/artifact", version, cache)
    }

    fn fetch(
        &self,
        prefix: &str,
        version: ModelVersion,
        cache: &ModelCache,
    ) -> Result<CachedModel, RegistryError> {
        let mpath = format!("{prefix}/{MANIFEST}");
        let manifest = self.bytes(&mpath, self.get(&mpath))?;
        let expected = serde_json::from_slice::<serde_json::Value>(&manifest)
            .ok()
            .and_then(|m| m.get("weights_sha256")?.as_str().map(str::to_owned))
            .ok_or_else(|| RegistryError::Protocol {
                url: format!("{}{mpath}", self.base),
                message: "the manifest has no weights_sha256".into(),
            })?;
        let wpath = format!("{prefix}/{WEIGHTS}");
        let weights = self.bytes(&wpath, self.get(&wpath))?;
        let actual = sha256_hex(&weights);
        if actual != expected {
            return Err(RegistryError::Checksum { expected, actual });
        }
        let info = CachedVersion {
            version,
            server: self.base.clone(),
            downloaded_at: now_ms(),
        };
        Ok(cache.store(info, &manifest, &weights)?)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
