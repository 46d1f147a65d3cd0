//! Request and response bodies of the model pipeline: training jobs (`/api/admin/training`),
//! the trainer worker protocol (`/api/worker/...`), the model registry
//! (`/api/admin/models`, aliases), the inference API (`/api/inference/...`) and the Open
//! Inference Protocol v2 REST API (`/v2/...`, the KServe / Triton "predict protocol v2").
//!
//! Times are ms since the Unix epoch, server clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::drawing::{Canvas, Stroke};

mod config;
pub use config::{TrainingConfig, TrainingDefaults};

/// The recognizer model kind (the default).
pub const RECOGNIZER: &str = "recognizer";
/// The shape generator model kind (a class-conditional Sketch-RNN decoder).
pub const GENERATOR: &str = "generator";
/// Every model kind a training job can train.
pub const MODEL_KINDS: [&str; 2] = [RECOGNIZER, GENERATOR];
/// The alias inference serves.
pub const PRODUCTION: &str = "production";

/// `POST /api/admin/training/start` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTraining {
    /// The job's settings.
    #[serde(default)]
    pub config: TrainingConfig,
}

/// Status of a training job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a trainer.
    Pending,
    /// Held by a trainer's lease.
    Running,
    /// Finished; `model_id` is the registered version.
    Completed,
    /// Failed; `error` says why.
    Failed,
    /// Cancelled by an admin.
    Cancelled,
}

impl JobStatus {
    /// The SQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the SQL spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Completed, failed or cancelled.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// Which drawings a job uses, resolved when it is created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataPlan {
    /// Classes in output order (the shapes, then `unknown` when distractors are used).
    pub classes: Vec<String>,
    /// Usable drawings per class at creation (flagged and removed ones excluded).
    pub counts: BTreeMap<String, u64>,
    /// The snapshot bound: only drawings received before this are used, ms.
    pub snapshot_at: i64,
}

/// `POST /api/admin/training/start` answer (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobCreated {
    /// The job.
    pub id: Uuid,
    /// `pending`, or `failed` when a required shape has no drawings.
    pub status: JobStatus,
    /// The resolved data plan.
    pub plan: DataPlan,
    /// Shapes left out and similar notes.
    pub warnings: Vec<String>,
}

/// `POST /api/admin/training/plan` answer: what `start` would do with the same body,
/// without queueing anything (the start dialog shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanPreview {
    /// Classes and drawings per class the job would use now.
    pub plan: DataPlan,
    /// Shapes left out and similar notes.
    pub warnings: Vec<String>,
    /// Why the job could not run, if it could not.
    pub error: Option<String>,
}

/// One point of a training curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgressPoint {
    /// Optimizer steps so far (1-based).
    pub step: u64,
    /// 1-based epoch.
    pub epoch: u32,
    /// `step` (one optimizer step) or `epoch` (end of an epoch).
    pub kind: String,
    /// Cross-entropy: of the step's batch, or the epoch's mean.
    pub loss: f64,
    /// Top-1 accuracy of the step's batch, or of the epoch's (augmented) training batches.
    pub accuracy: f64,
    /// Held-out accuracy (recognizer epoch points only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Held-out reconstruction loss (generator epoch points only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    /// Training samples/s over the epoch so far.
    pub samples_per_sec: f64,
}

/// A line of a job's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobLog {
    /// When, ms.
    pub at: i64,
    /// `info`, `warning` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// The trainer holding a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lease {
    /// The worker's name.
    pub owner: String,
    /// When the lease ends unless renewed, ms.
    pub expires_at: i64,
    /// The claim number this lease belongs to (1 for the first claim).
    pub attempt: u64,
}

/// `GET /api/admin/training/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingJob {
    /// The job.
    pub id: Uuid,
    /// Its status.
    pub status: JobStatus,
    /// The model kind.
    pub model_kind: String,
    /// The settings as given.
    pub config: TrainingConfig,
    /// The data it uses.
    pub plan: DataPlan,
    /// When it was created, ms.
    pub created_at: i64,
    /// When a trainer first claimed it, ms.
    pub started_at: Option<i64>,
    /// When it ended, ms.
    pub finished_at: Option<i64>,
    /// Claims so far.
    pub attempts: u64,
    /// The current lease while running.
    pub lease: Option<Lease>,
    /// Training curve of the current (or last) attempt, oldest first.
    pub progress: Vec<ProgressPoint>,
    /// Log lines (claims, lease expiries, warnings), oldest first.
    pub logs: Vec<JobLog>,
    /// Held-out evaluation of the result (the manifest's `metrics`).
    pub metrics: Option<serde_json::Value>,
    /// The registered model version.
    pub model_id: Option<Uuid>,
    /// Why it failed.
    pub error: Option<String>,
}

/// `GET /api/admin/training` answer, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobList {
    /// Jobs without their curves and logs.
    pub jobs: Vec<TrainingJob>,
}

/// `POST /api/worker/claim` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The worker's name (shown as the lease owner).
    pub worker: String,
    /// Model kinds it can train.
    #[serde(default = "default_kinds")]
    pub model_kinds: Vec<String>,
}

fn default_kinds() -> Vec<String> {
    vec![RECOGNIZER.into()]
}

/// A claimed job (`POST /api/worker/claim` answer 200; 204 when there is none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimedJob {
    /// The job.
    pub id: Uuid,
    /// The claim number; every later call for this job names it, and calls with an older
    /// attempt are refused with 409 (the lease moved on).
    pub attempt: u64,
    /// The model kind.
    pub model_kind: String,
    /// The settings.
    pub config: TrainingConfig,
    /// The data plan.
    pub plan: DataPlan,
    /// Lease end, ms.
    pub lease_expires_at: i64,
    /// Lease length; heartbeat well within it, seconds.
    pub lease_secs: u64,
}

/// `POST /api/worker/jobs/{id}/heartbeat` body: renews the lease and reports progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The claim number.
    pub attempt: u64,
    /// Curve points since the last heartbeat.
    #[serde(default)]
    pub progress: Vec<ProgressPoint>,
    /// Log lines since the last heartbeat: (`info`|`warning`, text).
    #[serde(default)]
    pub logs: Vec<(String, String)>,
}

/// Heartbeat answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatAck {
    /// New lease end, ms.
    pub lease_expires_at: i64,
    /// The job was cancelled: stop and call nothing else.
    pub cancel: bool,
}

/// `POST /api/worker/jobs/{id}/complete` body, after the weights were uploaded with
/// `PUT /api/worker/jobs/{id}/weights?attempt=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteJob {
    /// The claim number.
    pub attempt: u64,
    /// The artifact manifest (`inkset_model::artifact::Manifest` as JSON); its
    /// `weights_sha256` must match the uploaded weights.
    pub manifest: serde_json::Value,
}

/// `POST /api/worker/jobs/{id}/fail` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailJob {
    /// The claim number.
    pub attempt: u64,
    /// What went wrong.
    pub error: String,
}

/// `POST /api/worker/jobs/{id}/release` body: the worker gives the job back unfinished
/// (it is shutting down); the job returns to the queue at once instead of waiting for its
/// lease to expire. The attempt's progress is kept in the job's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseJob {
    /// The claim number.
    pub attempt: u64,
    /// Why, for the job's log (at most 1,000 characters).
    pub reason: String,
}

/// One registered model version (immutable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelVersion {
    /// Its id.
    pub id: Uuid,
    /// `recognizer`.
    pub model_kind: String,
    /// 1, 2, ... per model kind.
    pub version: u64,
    /// The job that trained it.
    pub job_id: Option<Uuid>,
    /// When it was registered, ms.
    pub created_at: i64,
    /// Aliases pointing at it now.
    pub aliases: Vec<String>,
    /// Output classes.
    pub classes: Vec<String>,
    /// Held-out accuracy.
    pub accuracy: Option<f64>,
    /// The manifest's held-out evaluation (accuracy, per class, confusion matrix).
    pub metrics: Option<serde_json::Value>,
}

/// `GET /api/admin/models` answer, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelList {
    /// Versions.
    pub models: Vec<ModelVersion>,
}

/// `PUT /api/admin/aliases/{model_kind}/{alias}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    /// The version the alias moves to.
    pub model_id: Uuid,
}

/// One alias move (the history is append-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AliasMove {
    /// Model kind.
    pub model_kind: String,
    /// Alias.
    pub alias: String,
    /// 1, 2, ... per (kind, alias).
    pub seq: u64,
    /// Where it points now.
    pub model_id: Uuid,
    /// Where it pointed before.
    pub previous_model_id: Option<Uuid>,
    /// The admin who moved it.
    pub moved_by: Option<String>,
    /// When, ms.
    pub moved_at: i64,
}

/// `GET /api/admin/aliases/history` answer, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AliasHistory {
    /// Moves.
    pub moves: Vec<AliasMove>,
}

/// Per-class numbers of two versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClassDelta {
    /// Class.
    pub class: String,
    /// Recall of `a` (None when `a` lacks the class).
    pub recall_a: Option<f64>,
    /// Recall of `b`.
    pub recall_b: Option<f64>,
    /// Precision of `a`.
    pub precision_a: Option<f64>,
    /// Precision of `b`.
    pub precision_b: Option<f64>,
    /// `recall_b - recall_a` when both have the class.
    pub recall_delta: Option<f64>,
    /// Drawings of the class evaluated.
    pub support: u64,
}

/// A drawing the two versions disagree on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Disagreement {
    /// The drawing.
    pub drawing_id: Uuid,
    /// Its shape.
    pub shape: String,
    /// `a`'s answer and confidence.
    pub label_a: String,
    /// `a`'s confidence.
    pub confidence_a: f32,
    /// `b`'s answer.
    pub label_b: String,
    /// `b`'s confidence.
    pub confidence_b: f32,
}

/// `GET /api/admin/models/compare?a=ID&b=ID` answer. Both versions are evaluated on the
/// same drawings: the held-out split (by source record) of the stored, unflagged drawings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comparison {
    /// Version `a`.
    pub a: ModelVersion,
    /// Version `b`.
    pub b: ModelVersion,
    /// Drawings evaluated.
    pub evaluated: u64,
    /// Top-1 accuracy of `a` on them.
    pub accuracy_a: f64,
    /// Top-1 accuracy of `b` on them.
    pub accuracy_b: f64,
    /// Per class, the union of both class lists.
    pub per_class: Vec<ClassDelta>,
    /// Confusion matrix of `a` on them: `[truth][answer]` counts over `classes`.
    #[serde(default)]
    pub confusion_a: Vec<Vec<u64>>,
    /// Confusion matrix of `b`, same layout.
    #[serde(default)]
    pub confusion_b: Vec<Vec<u64>>,
    /// Row and column order of the confusion matrices: the union of both class lists.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Drawings `a` gets right and `b` wrong (at most 100).
    pub a_right_b_wrong: Vec<Disagreement>,
    /// Drawings `b` gets right and `a` wrong (at most 100).
    pub b_right_a_wrong: Vec<Disagreement>,
}

/// `POST /api/inference/classify` body: a drawing in the API format. Only `strokes` (and
/// `canvas`, when given) are read; the other drawing fields are allowed and ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClassifyRequest {
    /// The strokes, as in [`crate::drawing::Drawing`].
    pub strokes: Vec<Stroke>,
    /// The canvas, as in [`crate::drawing::Drawing`].
    #[serde(default)]
    pub canvas: Option<Canvas>,
}

/// `POST /api/inference/generate` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// The shape to draw (one the production generator was trained on).
    pub shape: String,
    /// Sampling temperature in (0, 2]: lower is tidier, higher more varied (Sketch-RNN's
    /// tau). Default 0.5.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Seed of the sampler: the same shape, temperature, seed and model version give the
    /// same strokes. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// At most this many points, 2..=1000 (the model's own cap also applies). Default 250.
    #[serde(default = "default_max_points")]
    pub max_points: usize,
}

fn default_temperature() -> f32 {
    0.5
}

fn default_max_points() -> usize {
    250
}

/// `POST /api/inference/generate` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Generated {
    /// The drawing, in the API's format: a 256 x 256 canvas, points in 0..=255 (the longer
    /// side spans it, as Quick, Draw!'s simplified data), no timing; `source.origin` names
    /// the generator version, seed and temperature.
    pub drawing: crate::drawing::Drawing,
    /// The generator version that drew it.
    pub model_version: u64,
    /// Its id.
    pub model_id: Uuid,
    /// Time spent sampling, ms.
    pub latency_ms: f64,
}

/// `POST /api/inference/classify` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Classification {
    /// A shape, or `unknown`.
    pub label: String,
    /// How sure the answer is, 0..=1: the answer's softmax probability; for an `unknown`
    /// decided by the threshold rule (best shape below `unknown_threshold`), 1 minus that
    /// shape's probability.
    pub confidence: f32,
    /// Softmax probability of every class.
    pub probabilities: BTreeMap<String, f32>,
    /// The version that answered.
    pub model_version: u64,
    /// Its id.
    pub model_id: Uuid,
    /// Server time from request parsed to answer ready, ms.
    pub latency_ms: f64,
}

/// `GET /api/inference/model/info` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelInfo {
    /// The served version.
    pub model_id: Uuid,
    /// Model kind.
    pub model_kind: String,
    /// Version number.
    pub version: u64,
    /// Classes in output order.
    pub classes: Vec<String>,
    /// Raster side N: input is `[batch, 1, N, N]` f32 in 0..=1.
    pub input_size: usize,
    /// Rasterizer version.
    pub rasterizer_version: u32,
    /// A drawing whose best shape probability is below this is `unknown`.
    pub unknown_threshold: f32,
    /// The burn backend serving it (`cpu` or `wgpu`).
    pub backend: String,
    /// Largest micro-batch.
    pub max_batch: usize,
    /// Held-out evaluation from the manifest.
    pub metrics: Option<serde_json::Value>,
}

/// Open Inference Protocol: tensor metadata (`$metadata_tensor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipTensorMetadata {
    /// Tensor name.
    pub name: String,
    /// Data type, e.g. `FP32`.
    pub datatype: String,
    /// Shape; `-1` is a variable dimension.
    pub shape: Vec<i64>,
}

/// Open Inference Protocol: `GET /v2/models/{name}` answer (`$metadata_model_response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipModelMetadata {
    /// Model name.
    pub name: String,
    /// Available versions.
    pub versions: Vec<String>,
    /// Framework.
    pub platform: String,
    /// Inputs.
    pub inputs: Vec<OipTensorMetadata>,
    /// Outputs.
    pub outputs: Vec<OipTensorMetadata>,
    /// Model parameters; Inkset's recognizer gives its class names in output order as
    /// `{"classes": [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// Open Inference Protocol: `GET /v2` answer (`$metadata_server_response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipServerMetadata {
    /// Server name (`inkset`).
    pub name: String,
    /// Server version (the crate's).
    pub version: String,
    /// Protocol extensions supported, e.g. `binary_tensor_data`.
    pub extensions: Vec<String>,
}

/// Open Inference Protocol: `GET /v2/health/live` answer (`$live_server_response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipLive {
    /// Always `true` from a server that answers.
    pub live: bool,
}

/// Open Inference Protocol: `GET /v2/health/ready` answer (`$ready_server_response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipReady {
    /// Whether a model is loaded and inference can be served.
    pub ready: bool,
}

/// Open Inference Protocol: `GET /v2/models/{name}/ready` answer (`$ready_model_response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipModelReady {
    /// The model's name.
    pub name: String,
    /// Whether it can serve `infer` now.
    pub ready: bool,
}

/// Open Inference Protocol: every error answer under `/v2` (`$inference_error_response`):
/// `{"error": "<message>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipErrorBody {
    /// What went wrong.
    pub error: String,
}

/// Open Inference Protocol: one input tensor (`$request_input`). `data` is row-major, flat
/// or nested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipInput {
    /// Tensor name.
    pub name: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// Data type.
    pub datatype: String,
    /// Optional parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// Values.
    pub data: serde_json::Value,
}

/// Open Inference Protocol: a requested output (`$request_output`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipRequestedOutput {
    /// Tensor name.
    pub name: String,
    /// Optional parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// Open Inference Protocol: `POST /v2/models/{name}/infer` body (`$inference_request`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipInferRequest {
    /// Echoed in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Optional parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// Inputs.
    pub inputs: Vec<OipInput>,
    /// Outputs wanted (default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<OipRequestedOutput>>,
}

/// Open Inference Protocol: one output tensor (`$response_output`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipOutput {
    /// Tensor name.
    pub name: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// Data type.
    pub datatype: String,
    /// Row-major values.
    pub data: serde_json::Value,
}

/// Open Inference Protocol: `POST /v2/models/{name}/infer` answer (`$inference_response`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OipInferResponse {
    /// Model name.
    pub model_name: String,
    /// Version that answered.
    pub model_version: String,
    /// The request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Outputs.
    pub outputs: Vec<OipOutput>,
}

/// `POST /api/admin/worker-tokens` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkerToken {
    /// A name for the trainer host: not blank, at most 100 bytes.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Lifetime in days (1..=3650); absent: the server's `auth.worker_token_ttl_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// A worker token (the secret is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerToken {
    /// Its id (for revocation).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The bearer secret; only in the creation answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When it was created, ms.
    pub created_at: i64,
    /// When it was revoked, ms.
    pub revoked_at: Option<i64>,
    /// When it stops working, ms since the Unix epoch (server clock); `None`: never.
    #[serde(default)]
    pub expires_at: Option<i64>,
}
