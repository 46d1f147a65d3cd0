//! A server's model registry: versions, checked downloads into the offline cache. The
//! calls go through [`inkset_client`] (blocking; the app calls it from worker threads).
//!
//! * `POST /api/auth/login`: an admin's bearer token.
//! * `GET /api/admin/models?model_kind=recognizer`: versions with aliases and metrics.
//! * `GET /api/admin/models/{id}/artifact/{manifest.json|weights.bpk}`: the artifact.
//! * Without signing in, `GET /api/inference/model/info` and
//!   `/api/inference/model/artifact/{file}` give the production version (when the server
//!   does not require an inference token).

use inkset_client::ClientError;
use inkset_client::blocking::BlockingClient;
use inkset_model::artifact::{MANIFEST, WEIGHTS, sha256_hex};
use inkset_protocol::ml::{ModelVersion, RECOGNIZER};

use crate::cache::{CachedModel, CachedVersion, ModelCache};

/// What went wrong talking to the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 401: a wrong password, or a token that expired.
    #[error("not signed in: {0}; sign in again")]
    Unauthorized(String),
    /// Any other failure of a call: unreachable, refused, unexpected answer.
    #[error(transparent)]
    Client(ClientError),
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

impl From<ClientError> for RegistryError {
    fn from(e: ClientError) -> Self {
        if e.is_unauthorized() {
            Self::Unauthorized(e.message())
        } else {
            Self::Client(e)
        }
    }
}

/// A connection to one server (through [`inkset_client`]).
#[derive(Debug, Clone)]
pub struct Registry {
    api: BlockingClient,
}

impl Registry {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`), not signed in.
    ///
    /// # Errors
    /// [`RegistryError::Client`] with [`ClientError::Url`] for a URL that is not http(s).
    pub fn new(base: &str) -> Result<Self, RegistryError> {
        let client = inkset_client::Client::builder(base)
            .timeout(std::time::Duration::from_secs(300))
            .user_agent(concat!("inkset-workbench/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            api: BlockingClient::new(client)?,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        self.api.base_url()
    }

    /// Whether a token is held.
    pub fn signed_in(&self) -> bool {
        self.api.inner().token().is_some()
    }

    /// Signs in with an admin account.
    ///
    /// # Errors
    /// [`RegistryError::Unauthorized`] for a wrong name or password; transport errors.
    pub fn sign_in(&mut self, username: &str, password: &str) -> Result<(), RegistryError> {
        let (api, _) = self.api.sign_in(username, password)?;
        self.api = api;
        Ok(())
    }

    /// Recognizer versions, newest first, with their aliases and held-out metrics.
    ///
    /// # Errors
    /// [`RegistryError::Unauthorized`] when not signed in or the token expired.
    pub fn models(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        self.models_of(RECOGNIZER)
    }

    /// Versions of a model kind (`recognizer`, `generator`), newest first.
    ///
    /// # Errors
    /// [`RegistryError::Unauthorized`] when not signed in or the token expired.
    pub fn models_of(&self, kind: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        Ok(self.api.models(Some(kind))?.models)
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
        self.fetch(Some(version.id), version.clone(), cache)
    }

    /// Downloads the production recognizer through the public inference routes.
    ///
    /// # Errors
    /// As [`Self::download`]; 404 when no version is in production.
    pub fn download_production(&self, cache: &ModelCache) -> Result<CachedModel, RegistryError> {
        let info = self.api.model_info()?;
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
        self.fetch(None, version, cache)
    }

    /// Downloads the artifact of version `id` (admin route), or of the production version
    /// (`None`, public inference route), checks it and stores it in `cache`.
    fn fetch(
        &self,
        id: Option<uuid::Uuid>,
        version: ModelVersion,
        cache: &ModelCache,
    ) -> Result<CachedModel, RegistryError> {
        let file = |name: &str| match id {
            Some(id) => self.api.model_artifact(id, name),
            None => self.api.production_artifact(name),
        };
        let manifest = file(MANIFEST)?;
        let expected = serde_json::from_slice::<serde_json::Value>(&manifest)
            .ok()
            .and_then(|m| m.get("weights_sha256")?.as_str().map(str::to_owned))
            .ok_or_else(|| RegistryError::Protocol {
                url: match id {
                    Some(id) => {
                        format!("{}/api/admin/models/{id}/artifact/{MANIFEST}", self.base())
                    }
                    None => format!("{}/api/inference/model/artifact/{MANIFEST}", self.base()),
                },
                message: "the manifest has no weights_sha256".into(),
            })?;
        let weights = file(WEIGHTS)?;
        let actual = sha256_hex(&weights);
        if actual != expected {
            return Err(RegistryError::Checksum { expected, actual });
        }
        let info = CachedVersion {
            version,
            server: self.base().to_owned(),
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
