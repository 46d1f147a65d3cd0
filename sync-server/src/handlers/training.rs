//! Training jobs, the model registry and worker tokens (admin routes), and the trainer
//! worker protocol (`/api/worker/*`, worker tokens).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use inkset_model::dataset::{Split, UNKNOWN, shapes_of};
use inkset_model::inference::Classifier;
use inkset_protocol::FieldError;
use inkset_protocol::ml::{
    AliasHistory, AliasMove, ClaimRequest, ClaimedJob, ClassDelta, Comparison, CompleteJob,
    DataPlan, Disagreement, FailJob, GENERATOR, Heartbeat, HeartbeatAck, JobCreated, JobList,
    JobStatus, MODEL_KINDS, ModelList, ModelVersion, NewWorkerToken, PRODUCTION, PlanPreview,
    RECOGNIZER, ReleaseJob, SetAlias, StartTraining, TrainingJob, WorkerToken,
};
use inkset_protocol::quickdraw::Record;
use serde::Deserialize;
use uuid::Uuid;

use super::{RawBody, parse};
use crate::app::AppState;
use crate::auth::{Admin, bearer_token};
use crate::error::ApiError;
use crate::inference::artifact_prefix;
use crate::jobs::{LeaseCheck, training_filter};

fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid(FieldError::new(field, code, message))
}

/// Resolves a job's classes and counts; returns the plan, warnings and (for a job that
/// cannot run) the error.
async fn plan_job(
    state: &AppState,
    config: &inkset_protocol::ml::TrainingConfig,
) -> Result<(DataPlan, Vec<String>, Option<String>), ApiError> {
    let prompt: Vec<String> = state
        .db
        .shapes()
        .await?
        .into_iter()
        .filter(|s| s.enabled)
        .map(|s| s.name)
        .collect();
    let wanted = match &config.shapes {
        Some(list) => {
            for (i, s) in list.iter().enumerate() {
                if !state.is_known_shape(s) {
                    return Err(invalid(
                        format!("config.shapes[{i}]"),
                        "unknown_shape",
                        format!("{s:?} is not a shape of this server"),
                    ));
                }
            }
            list.clone()
        }
        None => prompt,
    };
    for (i, s) in config.required_shapes.iter().enumerate() {
        if !wanted.contains(s) {
            return Err(invalid(
                format!("config.required_shapes[{i}]"),
                "not_in_shapes",
                format!("{s:?} is required but not among the shapes trained"),
            ));
        }
    }
    let snapshot_at = crate::now_ms();
    let counts: BTreeMap<String, u64> = state
        .db
        .usable_counts(config, snapshot_at)
        .await?
        .into_iter()
        .collect();
    let mut plan = DataPlan {
        snapshot_at,
        ..DataPlan::default()
    };
    let mut warnings = Vec::new();
    let mut missing_required = Vec::new();
    for s in &wanted {
        let n = counts.get(s).copied().unwrap_or(0);
        if n == 0 {
            if config.required_shapes.contains(s) {
                missing_required.push(s.clone());
            } else {
                warnings.push(format!(
                    "shape {s:?} has no usable drawings (unflagged, not removed, within the \
                     filters); it is left out of the model"
                ));
            }
            continue;
        }
        plan.classes.push(s.clone());
        plan.counts.insert(s.clone(), n);
    }
    // A generator learns to draw the shapes only; distractors are a recognizer's business.
    if config.include_unknown && config.model_kind != GENERATOR {
        let distractors: u64 = counts
            .iter()
            .filter(|(w, _)| state.is_distractor(w))
            .map(|(_, n)| n)
            .sum();
        if distractors > 0 {
            plan.classes.push(UNKNOWN.into());
            plan.counts.insert(UNKNOWN.into(), distractors);
        } else {
            warnings.push(
                "no distractor drawings (import some with `inkset-server import --distractors`): \
                 the model has no unknown class and rejects by threshold only"
                    .into(),
            );
        }
    }
    let error = if !missing_required.is_empty() {
        Some(format!(
            "required shapes without usable drawings: {}",
            missing_required.join(", ")
        ))
    } else if config.model_kind == GENERATOR && plan.classes.is_empty() {
        Some("a generator needs at least one shape with drawings".into())
    } else if config.model_kind != GENERATOR && plan.classes.len() < 2 {
        Some(format!(
            "a recognizer needs at least two classes with drawings; usable: {:?}",
            plan.classes
        ))
    } else {
        None
    };
    Ok((plan, warnings, error))
}

/// Checks a config's values; errors name the field.
fn check_config(c: &inkset_protocol::ml::TrainingConfig) -> Result<(), ApiError> {
    if !MODEL_KINDS.contains(&c.model_kind.as_str()) {
        return Err(invalid(
            "config.model_kind",
            "unsupported",
            format!(
                "model_kind {:?} is not trainable here; known: {MODEL_KINDS:?}",
                c.model_kind
            ),
        ));
    }
    if c.epochs.is_some_and(|e| e == 0 || e > 1000) {
        return Err(invalid(
            "config.epochs",
            "out_of_range",
            "epochs must be within 1..=1000",
        ));
    }
    if c.batch_size.is_some_and(|b| b == 0 || b > 4096) {
        return Err(invalid(
            "config.batch_size",
            "out_of_range",
            "batch_size must be within 1..=4096",
        ));
    }
    if c.learning_rate
        .is_some_and(|l| !l.is_finite() || l <= 0.0 || l > 1.0)
    {
        return Err(invalid(
            "config.learning_rate",
            "out_of_range",
            "learning_rate must be within (0, 1]",
        ));
    }
    if c.quality_min.is_some_and(|q| !q.is_finite()) {
        return Err(invalid(
            "config.quality_min",
            "out_of_range",
            "quality_min must be finite",
        ));
    }
    if let (Some(from), Some(to)) = (c.from, c.to)
        && from >= to
    {
        return Err(invalid(
            "config.to",
            "out_of_range",
            "to must be after from",
        ));
    }
    Ok(())
}

/// `POST /api/admin/training/plan`: what `start` would do with the same body (classes,
/// drawings per class, warnings, or why it could not run), without queueing a job.
pub async fn plan(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<PlanPreview>, ApiError> {
    let req: StartTraining = parse(&body)?;
    check_config(&req.config)?;
    let (plan, warnings, error) = plan_job(&state, &req.config).await?;
    Ok(Json(PlanPreview {
        plan,
        warnings,
        error,
    }))
}

/// `POST /api/admin/training/start`: queues a job (201 `{"id", ...}`).
pub async fn start(
    State(state): State<AppState>,
    admin: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    let req: StartTraining = parse(&body)?;
    let c = &req.config;
    check_config(c)?;
    let (plan, warnings, error) = plan_job(&state, c).await?;
    let id = state
        .db
        .create_job(c, &plan, error.as_deref(), Some(&admin.user_id))
        .await?;
    let mut logs: Vec<(String, String)> = warnings
        .iter()
        .map(|w| ("warning".to_owned(), w.clone()))
        .collect();
    if let Some(e) = &error {
        logs.push(("error".into(), e.clone()));
    }
    state.db.append_events(id, 0, &logs, &[]).await?;
    tracing::info!(job = %id, classes = ?plan.classes, "training job queued");
    Ok((
        StatusCode::CREATED,
        Json(JobCreated {
            id,
            status: if error.is_some() {
                JobStatus::Failed
            } else {
                JobStatus::Pending
            },
            plan,
            warnings,
        }),
    ))
}

fn job_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::BadRequest(FieldError::new("id", "invalid_id", "id must be a UUID")))
}

/// `GET /api/admin/training/{id}`: status, curve, logs, metrics, model id.
pub async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TrainingJob>, ApiError> {
    let id = job_id(&id)?;
    state
        .db
        .job_detail(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no training job {id}")))
}

/// `GET /api/admin/training`: the latest 200 jobs, newest first.
pub async fn list_jobs(State(state): State<AppState>) -> Result<Json<JobList>, ApiError> {
    Ok(Json(JobList {
        jobs: state.db.jobs(200).await?,
    }))
}

/// `POST /api/admin/training/{id}/cancel`: cancels a pending or running job (the trainer
/// learns it at its next heartbeat and stops); 409 when it has already ended.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TrainingJob>, ApiError> {
    let id = job_id(&id)?;
    if !state.db.cancel_job(id).await? {
        let job = state
            .db
            .job(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no training job {id}")))?;
        return Err(ApiError::Conflict {
            field: "id",
            message: format!("job {id} has already ended ({})", job.status.as_str()),
        });
    }
    state
        .db
        .append_events(
            id,
            0,
            &[("info".into(), "cancelled by an admin".into())],
            &[],
        )
        .await?;
    state
        .db
        .job_detail(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no training job {id}")))
}

/// Query of the model list.
#[derive(Debug, Default, Deserialize)]
pub struct KindQuery {
    /// Only this model kind.
    pub model_kind: Option<String>,
    /// Only this alias (history).
    pub alias: Option<String>,
}

/// `GET /api/admin/models`: registered versions with their metrics, newest first.
pub async fn list_models(
    State(state): State<AppState>,
    Query(q): Query<KindQuery>,
) -> Result<Json<ModelList>, ApiError> {
    Ok(Json(ModelList {
        models: state
            .db
            .models(q.model_kind.as_deref())
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect(),
    }))
}

/// `GET /api/admin/models/{id}`: the version's full manifest.
pub async fn get_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = job_id(&id)?;
    let row = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?;
    Ok(Json(
        serde_json::json!({ "model": row.version, "manifest": row.manifest }),
    ))
}

/// `GET /api/admin/models/{id}/artifact/{file}`: `manifest.json` or `weights.bpk`.
pub async fn model_artifact(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    artifact_file(&state, id, &file).await
}

/// Answers one artifact file of a model version.
///
/// # Errors
/// 404 for an unknown version or file name.
pub async fn artifact_file(state: &AppState, id: Uuid, file: &str) -> Result<Response, ApiError> {
    let row = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?;
    match file {
        inkset_model::artifact::MANIFEST => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            row.manifest.to_string(),
        )
            .into_response()),
        inkset_model::artifact::WEIGHTS => {
            let bytes = state
                .objects
                .get(&format!("{}/{file}", row.artifact_key))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            Ok((
                [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
                bytes,
            )
                .into_response())
        }
        _ => Err(ApiError::NotFound(format!(
            "an artifact has {} and {}",
            inkset_model::artifact::MANIFEST,
            inkset_model::artifact::WEIGHTS
        ))),
    }
}

async fn move_alias(
    state: &AppState,
    admin: &Admin,
    kind: &str,
    alias: &str,
    model_id: Uuid,
) -> Result<AliasMove, ApiError> {
    let row = state
        .db
        .model(model_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {model_id}")))?;
    if row.version.model_kind != kind {
        return Err(invalid(
            "model_id",
            "wrong_kind",
            format!(
                "model {model_id} is a {}, not a {kind}",
                row.version.model_kind
            ),
        ));
    }
    if alias.is_empty()
        || alias.len() > 64
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            "alias",
            "invalid",
            "alias must be 1 to 64 of A-Z a-z 0-9 - _",
        ));
    }
    let m = state
        .db
        .set_alias(kind, alias, model_id, Some(&admin.user_id))
        .await?;
    if kind == RECOGNIZER && alias == PRODUCTION {
        state
            .inference
            .refresh(&state.db, &state.objects)
            .await
            .map_err(ApiError::Internal)?;
    }
    if kind == GENERATOR && alias == PRODUCTION {
        state
            .generation
            .refresh(&state.db, &state.objects)
            .await
            .map_err(ApiError::Internal)?;
    }
    tracing::info!(kind, alias, model = %model_id, "alias moved");
    Ok(m)
}

/// `POST /api/admin/models/{id}/activate`: moves `production` of the version's kind to it;
/// the inference API serves it once this answers.
pub async fn activate(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<AliasMove>, ApiError> {
    let id = job_id(&id)?;
    let kind = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?
        .version
        .model_kind;
    Ok(Json(
        move_alias(&state, &admin, &kind, PRODUCTION, id).await?,
    ))
}

/// `PUT /api/admin/aliases/{model_kind}/{alias}` with `{"model_id"}`.
pub async fn set_alias(
    State(state): State<AppState>,
    admin: Admin,
    Path((kind, alias)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<AliasMove>, ApiError> {
    let req: SetAlias = parse(&body)?;
    Ok(Json(
        move_alias(&state, &admin, &kind, &alias, req.model_id).await?,
    ))
}

/// `GET /api/admin/aliases/history?model_kind=&alias=`: every move, oldest first.
pub async fn alias_history(
    State(state): State<AppState>,
    Query(q): Query<KindQuery>,
) -> Result<Json<AliasHistory>, ApiError> {
    Ok(Json(AliasHistory {
        moves: state
            .db
            .alias_history(q.model_kind.as_deref(), q.alias.as_deref())
            .await?,
    }))
}

/// Query of the comparison.
#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    /// Version a.
    pub a: Uuid,
    /// Version b.
    pub b: Uuid,
    /// Most drawings evaluated (default 5000).
    pub limit: Option<usize>,
}

async fn load_classifier(
    state: &AppState,
    id: Uuid,
) -> Result<(ModelVersion, Classifier), ApiError> {
    let row = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?;
    let manifest: inkset_model::artifact::Manifest =
        serde_json::from_value(row.manifest).map_err(|e| ApiError::Internal(e.into()))?;
    let weights = state
        .objects
        .get(&format!(
            "{}/{}",
            row.artifact_key,
            inkset_model::artifact::WEIGHTS
        ))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let c = tokio::task::spawn_blocking(move || {
        Classifier::from_bytes(
            manifest,
            weights.to_vec(),
            inkset_model::backend::Backend::Cpu.device(),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((row.version, c))
}

/// `GET /api/admin/models/compare?a=ID&b=ID`: both versions on the same held-out drawings
/// (test split by source record of the stored, unflagged drawings of their classes).
pub async fn compare(
    State(state): State<AppState>,
    q: Result<Query<CompareQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Comparison>, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::BadRequest(FieldError::new("query", "invalid_query", e.body_text()))
    })?;
    let (va, a) = load_classifier(&state, q.a).await?;
    let (vb, b) = load_classifier(&state, q.b).await?;
    let limit = q.limit.unwrap_or(5000).clamp(1, 50_000);
    // Every class of either model; distractor words count as `unknown`.
    let mut classes: Vec<String> = a.manifest.classes.clone();
    for c in &b.manifest.classes {
        if !classes.contains(c) {
            classes.push(c.clone());
        }
    }
    let (mut words, with_unknown) = shapes_of(&classes);
    if with_unknown {
        words.extend(state.db.distractor_words().await?);
    }
    let mut drawings: Vec<(Uuid, String, Vec<inkset_model::raster::Polyline>)> = Vec::new();
    let config = inkset_protocol::ml::TrainingConfig::default();
    for w in &words {
        if drawings.len() >= limit {
            break;
        }
        let filter = training_filter(&config, Some(w), i64::MAX);
        crate::dataset::for_each_drawing(&state, &filter, |id, _, d| {
            let key = Record::from_drawing(&d, None).key_id;
            if drawings.len() < limit && Split::of(key) == Split::Test {
                let label = if state.is_distractor(&d.shape) {
                    UNKNOWN.to_owned()
                } else {
                    d.shape.clone()
                };
                drawings.push((id, label, inkset_model::raster::polylines(&d.strokes)));
            }
            Ok(())
        })
        .await
        .map_err(ApiError::Internal)?;
    }
    let result = tokio::task::spawn_blocking(move || {
        let answer = |c: &Classifier| -> Vec<(String, f32)> {
            drawings
                .iter()
                .map(|(_, _, lines)| {
                    c.classify(lines)
                        .map(|(d, _)| (d.label, d.confidence))
                        .unwrap_or_else(|_| (UNKNOWN.to_owned(), 0.0))
                })
                .collect()
        };
        let (ra, rb) = (answer(&a), answer(&b));
        let index = |k: &str| classes.iter().position(|c| c == k);
        let mut confusion_a = vec![vec![0u64; classes.len()]; classes.len()];
        let mut confusion_b = confusion_a.clone();
        let mut per: BTreeMap<&str, [u64; 5]> = BTreeMap::new(); // support, tp_a, pred_a, tp_b, pred_b
        let (mut right_a, mut right_b) = (0u64, 0u64);
        let mut a_not_b = Vec::new();
        let mut b_not_a = Vec::new();
        for (i, ((id, truth, _), (la, ca))) in drawings.iter().zip(&ra).enumerate() {
            per.entry(truth.as_str()).or_default()[0] += 1;
            per.entry(la.as_str()).or_default()[2] += 1;
            let ok_a = la == truth;
            right_a += u64::from(ok_a);
            if ok_a {
                per.entry(truth.as_str()).or_default()[1] += 1;
            }
            let (lb, cb) = &rb[i];
            if let Some(t) = index(truth) {
                if let Some(p) = index(la) {
                    confusion_a[t][p] += 1;
                }
                if let Some(p) = index(lb) {
                    confusion_b[t][p] += 1;
                }
            }
            per.entry(lb.as_str()).or_default()[4] += 1;
            let ok_b = lb == truth;
            right_b += u64::from(ok_b);
            if ok_b {
                per.entry(truth.as_str()).or_default()[3] += 1;
            }
            let d = || Disagreement {
                drawing_id: *id,
                shape: truth.clone(),
                label_a: la.clone(),
                confidence_a: *ca,
                label_b: lb.clone(),
                confidence_b: *cb,
            };
            if ok_a && !ok_b && a_not_b.len() < 100 {
                a_not_b.push(d());
            } else if ok_b && !ok_a && b_not_a.len() < 100 {
                b_not_a.push(d());
            }
        }
        let ratio = |x: u64, y: u64| if y == 0 { 0.0 } else { x as f64 / y as f64 };
        let has = |c: &Classifier, class: &str| c.manifest.classes.iter().any(|k| k == class);
        let per_class = classes
            .iter()
            .map(|class| {
                let p = per.get(class.as_str()).copied().unwrap_or_default();
                let recall_a = has(&a, class).then(|| ratio(p[1], p[0]));
                let recall_b = has(&b, class).then(|| ratio(p[3], p[0]));
                ClassDelta {
                    class: class.clone(),
                    recall_a,
                    recall_b,
                    precision_a: has(&a, class).then(|| ratio(p[1], p[2])),
                    precision_b: has(&b, class).then(|| ratio(p[3], p[4])),
                    recall_delta: recall_a.zip(recall_b).map(|(x, y)| y - x),
                    support: p[0],
                }
            })
            .collect();
        let n = drawings.len() as u64;
        Comparison {
            a: va,
            b: vb,
            evaluated: n,
            accuracy_a: ratio(right_a, n),
            accuracy_b: ratio(right_b, n),
            per_class,
            confusion_a,
            confusion_b,
            classes,
            a_right_b_wrong: a_not_b,
            b_right_a_wrong: b_not_a,
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(result))
}

/// `POST /api/admin/worker-tokens` `{"name"}`: a new worker token (secret shown once).
pub async fn create_worker_token(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<WorkerToken>), ApiError> {
    let req: NewWorkerToken = parse(&body)?;
    if req.name.trim().is_empty() || req.name.len() > 100 {
        return Err(invalid("name", "invalid", "name must be 1 to 100 bytes"));
    }
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_worker_token(&req.name).await?),
    ))
}

/// `GET /api/admin/worker-tokens`: every token, without secrets.
pub async fn list_worker_tokens(
    State(state): State<AppState>,
) -> Result<Json<Vec<WorkerToken>>, ApiError> {
    Ok(Json(state.db.worker_tokens().await?))
}

/// `DELETE /api/admin/worker-tokens/{id}`: revokes it (its trainer's next call is a 401).
pub async fn revoke_worker_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.db.revoke_worker_token(&id).await? == 0 {
        return Err(ApiError::NotFound(format!("no live worker token {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// An authenticated trainer (`Authorization: Bearer <worker token>`).
#[derive(Debug, Clone)]
pub struct Worker {
    /// Token id.
    pub token_id: Uuid,
    /// Token name.
    pub name: String,
}

impl FromRequestParts<AppState> for Worker {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)?;
        match state.db.worker_for_token(token).await? {
            Some((token_id, name)) => Ok(Self { token_id, name }),
            None => Err(ApiError::Unauthorized("worker token unknown or revoked")),
        }
    }
}

fn lease_error(check: LeaseCheck, id: Uuid) -> ApiError {
    match check {
        LeaseCheck::Missing => ApiError::NotFound(format!("no training job {id}")),
        LeaseCheck::Cancelled => ApiError::Conflict {
            field: "attempt",
            message: format!("job {id} was cancelled"),
        },
        LeaseCheck::Held | LeaseCheck::Lost => ApiError::Conflict {
            field: "attempt",
            message: format!("this attempt no longer holds the lease of job {id}"),
        },
    }
}

/// `POST /api/worker/claim`: the oldest claimable job (200) or nothing (204).
pub async fn claim(
    State(state): State<AppState>,
    worker: Worker,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let req: ClaimRequest = parse(&body)?;
    let lease_secs = state.training.lease_secs.max(1);
    let lease_ms = i64::try_from(lease_secs * 1000).unwrap_or(30_000);
    let owner = format!("{} ({})", req.worker, worker.name);
    let Some((job, previous)) = state
        .db
        .claim_job(&owner, &req.model_kinds, lease_ms)
        .await?
    else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut logs = Vec::new();
    if let Some(prev) = previous {
        logs.push((
            "warning".to_owned(),
            format!(
                "the lease of {prev} (attempt {}) expired; job re-queued",
                job.attempts - 1
            ),
        ));
    }
    logs.push((
        "info".to_owned(),
        format!("claimed by {owner} (attempt {})", job.attempts),
    ));
    state
        .db
        .append_events(job.id, job.attempts, &logs, &[])
        .await?;
    let lease = job.lease.clone();
    Ok(Json(ClaimedJob {
        id: job.id,
        attempt: job.attempts,
        model_kind: job.model_kind,
        config: job.config,
        plan: job.plan,
        lease_expires_at: lease.map_or(0, |l| l.expires_at),
        lease_secs,
    })
    .into_response())
}

/// Query naming the claim.
#[derive(Debug, Deserialize)]
pub struct AttemptQuery {
    /// The claim number.
    pub attempt: u64,
}

fn attempt_error(e: &axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::BadRequest(FieldError::new("attempt", "invalid_query", e.body_text()))
}

async fn held(state: &AppState, id: Uuid, attempt: u64) -> Result<(), ApiError> {
    match state.db.check_lease(id, attempt).await? {
        LeaseCheck::Held => Ok(()),
        other => Err(lease_error(other, id)),
    }
}

/// `GET /api/worker/jobs/{id}/data?attempt=N`: the job's data snapshot, streamed as Quick,
/// Draw! raw ndjson (one drawing a line, `word` = its shape or distractor word).
pub async fn data(
    State(state): State<AppState>,
    _worker: Worker,
    Path(id): Path<String>,
    q: Result<Query<AttemptQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let Query(q) = q.map_err(|e| attempt_error(&e))?;
    held(&state, id, q.attempt).await?;
    let job = state
        .db
        .job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no training job {id}")))?;
    let (mut words, with_unknown) = shapes_of(&job.plan.classes);
    if with_unknown {
        words.extend(state.db.distractor_words().await?);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let st = state.clone();
    tokio::spawn(async move {
        for w in words {
            let filter = training_filter(&job.config, Some(&w), job.plan.snapshot_at);
            let mut buf = Vec::with_capacity(1 << 16);
            let mut chunks = Vec::new();
            let r = crate::dataset::for_each_drawing(&st, &filter, |_, received_at, d| {
                let rec = Record::from_drawing(
                    &d,
                    Some(inkset_protocol::quickdraw::format_timestamp_ms(received_at)),
                );
                buf.extend_from_slice(rec.to_line().as_bytes());
                buf.push(b'\n');
                if buf.len() >= 1 << 16 {
                    chunks.push(Bytes::from(std::mem::take(&mut buf)));
                }
                Ok(())
            })
            .await;
            if !buf.is_empty() {
                chunks.push(Bytes::from(buf));
            }
            for c in chunks {
                if tx.send(Ok(c)).await.is_err() {
                    return;
                }
            }
            if let Err(e) = r {
                let _ = tx.send(Err(std::io::Error::other(format!("{e:#}")))).await;
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /api/worker/jobs/{id}/heartbeat`: renews the lease, stores progress; answers
/// `cancel: true` for a cancelled job and 409 when the attempt lost the lease.
pub async fn heartbeat(
    State(state): State<AppState>,
    _worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let id = job_id(&id)?;
    let beat: Heartbeat = parse(&body)?;
    let lease_ms = i64::try_from(state.training.lease_secs.max(1) * 1000).unwrap_or(30_000);
    match state.db.renew_lease(id, beat.attempt, lease_ms).await? {
        Ok(expires) => {
            state
                .db
                .append_events(id, beat.attempt, &beat.logs, &beat.progress)
                .await?;
            Ok(Json(HeartbeatAck {
                lease_expires_at: expires,
                cancel: false,
            }))
        }
        Err(LeaseCheck::Cancelled) => Ok(Json(HeartbeatAck {
            lease_expires_at: 0,
            cancel: true,
        })),
        Err(other) => Err(lease_error(other, id)),
    }
}

/// `PUT /api/worker/jobs/{id}/weights?attempt=N`: stages the trained weights (Burnpack).
pub async fn upload_weights(
    State(state): State<AppState>,
    _worker: Worker,
    Path(id): Path<String>,
    q: Result<Query<AttemptQuery>, axum::extract::rejection::QueryRejection>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    let Query(q) = q.map_err(|e| attempt_error(&e))?;
    held(&state, id, q.attempt).await?;
    if body.is_empty() {
        return Err(invalid("body", "empty", "the weights are empty"));
    }
    state
        .objects
        .put_durable(&staging_key(id, q.attempt), body)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(StatusCode::NO_CONTENT)
}

fn staging_key(id: Uuid, attempt: u64) -> String {
    format!(
        "staging/jobs/{id}/{attempt}/{}",
        inkset_model::artifact::WEIGHTS
    )
}

/// `POST /api/worker/jobs/{id}/complete`: checks the manifest against the staged weights,
/// writes the artifact under `models/{kind}/{model_id}/` and only then registers the version
/// and completes the job in one SQL transaction: a version is registered whole or not at all.
pub async fn complete(
    State(state): State<AppState>,
    _worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<ModelVersion>, ApiError> {
    let id = job_id(&id)?;
    let req: CompleteJob = parse(&body)?;
    held(&state, id, req.attempt).await?;
    let job = state
        .db
        .job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no training job {id}")))?;
    let kind = req
        .manifest
        .get("model_kind")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(RECOGNIZER)
        .to_owned();
    if kind != job.model_kind {
        return Err(invalid(
            "manifest.model_kind",
            "mismatch",
            format!("the job trains a {}", job.model_kind),
        ));
    }
    let expected_sha = req
        .manifest
        .get("weights_sha256")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let weights = state
        .objects
        .get(&staging_key(id, req.attempt))
        .await
        .map_err(|_| {
            invalid(
                "weights",
                "missing",
                "upload the weights first (PUT .../weights)",
            )
        })?;
    let actual = inkset_model::artifact::sha256_hex(&weights);
    if actual != expected_sha {
        return Err(invalid(
            "manifest.weights_sha256",
            "mismatch",
            format!("the uploaded weights hash to {actual}"),
        ));
    }
    // The weights must load into the manifest's network before anything is registered.
    {
        let (m, w) = (req.manifest.clone(), weights.to_vec());
        let is_generator = kind == GENERATOR;
        tokio::task::spawn_blocking(move || {
            let device = inkset_model::backend::Backend::Cpu.device();
            if is_generator {
                let m: inkset_model::generator::GeneratorManifest =
                    serde_json::from_value(m).map_err(|e| ("manifest", e.to_string()))?;
                inkset_model::generator::ShapeGenerator::from_bytes(m, w, device)
                    .map(|_| ())
                    .map_err(|e| ("weights", e.to_string()))
            } else {
                let m: inkset_model::artifact::Manifest =
                    serde_json::from_value(m).map_err(|e| ("manifest", e.to_string()))?;
                Classifier::from_bytes(m, w, device)
                    .map(|_| ())
                    .map_err(|e| ("weights", e.to_string()))
            }
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|(field, e)| invalid(field, "invalid", e))?;
    }
    let model_id = Uuid::new_v4();
    let prefix = artifact_prefix(&job.model_kind, model_id);
    let put = |name: &str, bytes: Bytes| {
        let key = format!("{prefix}/{name}");
        let objects = state.objects.clone();
        async move { objects.put_durable(&key, bytes).await }
    };
    put(inkset_model::artifact::WEIGHTS, weights)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    put(
        inkset_model::artifact::MANIFEST,
        Bytes::from(serde_json::to_vec_pretty(&req.manifest).unwrap_or_default()),
    )
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let metrics = req.manifest.get("metrics").cloned();
    let Some(version) = state
        .db
        .register_model(crate::jobs::NewModel {
            job: id,
            attempt: req.attempt,
            model_id,
            kind: &job.model_kind,
            artifact_key: &prefix,
            manifest: &req.manifest,
            metrics: metrics.as_ref(),
        })
        .await?
    else {
        return Err(lease_error(
            state.db.check_lease(id, req.attempt).await?,
            id,
        ));
    };
    state
        .db
        .append_events(
            id,
            req.attempt,
            &[(
                "info".into(),
                format!(
                    "registered as {} version {version} ({model_id})",
                    job.model_kind
                ),
            )],
            &[],
        )
        .await?;
    tracing::info!(job = %id, model = %model_id, version, "model version registered");
    // The first version of a kind goes to production by itself (a fresh install has nothing
    // else to serve); every later one waits for an admin. The move is in the history with
    // no admin named.
    if state
        .db
        .alias_target(&job.model_kind, PRODUCTION)
        .await?
        .is_none()
    {
        state
            .db
            .set_alias(&job.model_kind, PRODUCTION, model_id, None)
            .await?;
        if job.model_kind == RECOGNIZER {
            state
                .inference
                .refresh(&state.db, &state.objects)
                .await
                .map_err(ApiError::Internal)?;
        } else if job.model_kind == GENERATOR {
            state
                .generation
                .refresh(&state.db, &state.objects)
                .await
                .map_err(ApiError::Internal)?;
        }
    }
    state
        .db
        .model(model_id)
        .await?
        .map(|m| Json(m.version))
        .ok_or_else(|| ApiError::NotFound(format!("no model {model_id}")))
}

/// `POST /api/worker/jobs/{id}/release`: the worker holding the lease gives the job back
/// (it is shutting down); the job is `pending` again and the next claim takes it without
/// waiting for the lease to expire. 409 naming `attempt` when the lease is no longer held.
pub async fn release(
    State(state): State<AppState>,
    worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    let req: ReleaseJob = parse(&body)?;
    if req.reason.chars().count() > 1000 {
        return Err(invalid(
            "reason",
            "too_long",
            "reason must be at most 1,000 characters",
        ));
    }
    let owner = state
        .db
        .job(id)
        .await?
        .and_then(|j| j.lease)
        .filter(|l| l.attempt == req.attempt)
        .map_or_else(|| worker.name.clone(), |l| l.owner);
    if !state.db.release_job(id, req.attempt).await? {
        return Err(lease_error(
            state.db.check_lease(id, req.attempt).await?,
            id,
        ));
    }
    let message = format!(
        "released by {owner} (attempt {}): {}; job re-queued",
        req.attempt, req.reason
    );
    state
        .db
        .append_events(id, req.attempt, &[("warning".into(), message)], &[])
        .await?;
    tracing::info!(job = %id, attempt = req.attempt, worker = %worker.name, "job released");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/worker/jobs/{id}/fail`: ends the job as failed.
pub async fn fail(
    State(state): State<AppState>,
    _worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    let req: FailJob = parse(&body)?;
    if !state.db.fail_job(id, req.attempt, &req.error).await? {
        return Err(lease_error(
            state.db.check_lease(id, req.attempt).await?,
            id,
        ));
    }
    state
        .db
        .append_events(id, req.attempt, &[("error".into(), req.error)], &[])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
