//! Inference and registry downloads: the served model's answers and its artifact files.

use std::time::Duration;

use inkset_protocol::ml::{Classification, ClassifyRequest, GenerateRequest, Generated, ModelInfo};
use reqwest::Method;
use uuid::Uuid;

use crate::{Client, ClientError, Idempotent};

/// Artifact downloads may be large: they get this long instead of the client's timeout.
const ARTIFACT_TIMEOUT: Duration = Duration::from_secs(300);

impl Client {
    /// `GET /api/inference/model/info`: the served `production` recognizer.
    ///
    /// # Errors
    /// [`ClientError`]; 503 when no model is served yet.
    pub async fn model_info(&self) -> Result<ModelInfo, ClientError> {
        self.get("/api/inference/model/info").await
    }

    /// `GET /api/inference/model/artifact/{file}`: a file of the served recognizer's
    /// artifact (`manifest.json` or `weights.bpk`), as bytes.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn production_artifact(&self, file: &str) -> Result<Vec<u8>, ClientError> {
        let path = format!("/api/inference/model/artifact/{file}");
        self.bytes(Idempotent::Yes, |c| {
            c.request(Method::GET, &path).timeout(ARTIFACT_TIMEOUT)
        })
        .await
    }

    /// `GET /api/admin/models/{id}/artifact/{file}` (admin): a file of any version's
    /// artifact, as bytes.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn model_artifact(&self, id: Uuid, file: &str) -> Result<Vec<u8>, ClientError> {
        let path = format!("/api/admin/models/{id}/artifact/{file}");
        self.bytes(Idempotent::Yes, |c| {
            c.request(Method::GET, &path).timeout(ARTIFACT_TIMEOUT)
        })
        .await
    }

    /// `POST /api/inference/classify`: the production recognizer's answer for strokes.
    ///
    /// # Errors
    /// [`ClientError`]; a 422 names the stroke field that is out of bounds.
    pub async fn classify(&self, req: &ClassifyRequest) -> Result<Classification, ClientError> {
        self.call(
            Idempotent::Yes,
            Method::POST,
            "/api/inference/classify",
            req,
        )
        .await
    }

    /// `POST /api/inference/generate`: strokes of a shape from the production generator.
    ///
    /// # Errors
    /// [`ClientError`]; 503 when no generator is served.
    pub async fn generate(&self, req: &GenerateRequest) -> Result<Generated, ClientError> {
        self.call(
            Idempotent::Yes,
            Method::POST,
            "/api/inference/generate",
            req,
        )
        .await
    }
}
