//! The admin's training routes: plan and start a job, list and follow jobs, cancel, and
//! worker tokens.

use crate::error::ApiError;
use crate::http::{RawBody, invalid, parse};
use crate::players::auth::Admin;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use inkset_model::dataset::UNKNOWN;
use inkset_protocol::FieldError;
use inkset_protocol::ml::{
    DataPlan, GENERATOR, JobCreated, JobList, JobStatus, NewWorkerToken, PlanPreview,
    StartTraining, TrainingJob, WorkerToken,
};
use std::collections::BTreeMap;
use uuid::Uuid;

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
    if let Some(release) = &config.release
        && state.db.release(release).await?.is_none()
    {
        return Err(invalid(
            "config.release",
            "unknown_release",
            format!("no release named {release:?} (GET /api/admin/releases lists them)"),
        ));
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

/// `POST /api/admin/training/plan`: what `start` would do with the same body (classes,
/// drawings per class, warnings, or why it could not run), without queueing a job.
#[utoipa::path(post, path = "/api/admin/training/plan", tag = "training", request_body = StartTraining, responses((status = 200, description = "What `start` would do with the same body", body = PlanPreview)))]
pub async fn plan(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<PlanPreview>, ApiError> {
    let req: StartTraining = parse(&body)?;
    req.config.check().map_err(ApiError::Invalid)?;
    let (plan, warnings, error) = plan_job(&state, &req.config).await?;
    Ok(Json(PlanPreview {
        plan,
        warnings,
        error,
    }))
}

/// `POST /api/admin/training/start`: queues a job (201 `{"id", ...}`).
#[utoipa::path(post, path = "/api/admin/training/start", tag = "training", request_body = StartTraining, responses((status = 201, description = "The job, queued for a trainer", body = JobCreated)))]
pub async fn start(
    State(state): State<AppState>,
    admin: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    let req: StartTraining = parse(&body)?;
    let c = &req.config;
    c.check().map_err(ApiError::Invalid)?;
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

pub(crate) fn job_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::BadRequest(FieldError::new("id", "invalid_id", "id must be a UUID")))
}

/// `GET /api/admin/training/{id}`: status, curve, logs, metrics, model id.
#[utoipa::path(get, path = "/api/admin/training/{id}", tag = "training", params(("id" = Uuid, Path, description = "The job's id")), responses((status = 200, description = "The job with its curve, logs and lease", body = TrainingJob), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody)))]
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
#[utoipa::path(get, path = "/api/admin/training", tag = "training", responses((status = 200, description = "Jobs, newest first", body = JobList)))]
pub async fn list_jobs(State(state): State<AppState>) -> Result<Json<JobList>, ApiError> {
    Ok(Json(JobList {
        jobs: state.db.jobs(200).await?,
    }))
}

/// `POST /api/admin/training/{id}/cancel`: cancels a pending or running job (the trainer
/// learns it at its next heartbeat and stops); 409 when it has already ended.
#[utoipa::path(post, path = "/api/admin/training/{id}/cancel", tag = "training", params(("id" = Uuid, Path, description = "The job's id")), responses((status = 200, description = "The job, cancelled", body = TrainingJob), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The job has finished", body = inkset_protocol::api::ErrorBody)))]
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
    if let Some(job) = state.db.job(id).await? {
        job_ended(&job.model_kind, "cancelled", job.started_at);
    }
    state
        .db
        .job_detail(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no training job {id}")))
}

/// `POST /api/admin/worker-tokens` `{"name", "expires_in_days"?}`: a new worker token
/// (secret shown once), expiring after `expires_in_days` (1..=3650) or the server's
/// `auth.worker_token_ttl_days`.
#[utoipa::path(post, path = "/api/admin/worker-tokens", tag = "access", request_body = NewWorkerToken, responses((status = 201, description = "The token; its secret is shown only here", body = WorkerToken)))]
pub async fn create_worker_token(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<WorkerToken>), ApiError> {
    let req: NewWorkerToken = parse(&body)?;
    if req.name.trim().is_empty() || req.name.len() > 100 {
        return Err(invalid("name", "invalid", "name must be 1 to 100 bytes"));
    }
    if let Some(days) = req.expires_in_days
        && !(1..=3650).contains(&days)
    {
        return Err(invalid(
            "expires_in_days",
            "out_of_range",
            "expires_in_days must be within 1..=3650",
        ));
    }
    let days = req
        .expires_in_days
        .map(u64::from)
        .or(state.auth.worker_token_ttl_days);
    let expires_at = worker_token_expiry(days);
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_worker_token(&req.name, expires_at).await?),
    ))
}

/// The expiry of a worker token living `days` from now (ms since the Unix epoch); `None`
/// for no expiry.
pub fn worker_token_expiry(days: Option<u64>) -> Option<i64> {
    days.map(|d| {
        crate::now_ms()
            .saturating_add(i64::try_from(d.saturating_mul(86_400_000)).unwrap_or(i64::MAX))
    })
}

/// `GET /api/admin/worker-tokens`: every token, without secrets.
#[utoipa::path(get, path = "/api/admin/worker-tokens", tag = "access", responses((status = 200, description = "Worker tokens, without secrets", body = Vec<WorkerToken>)))]
pub async fn list_worker_tokens(
    State(state): State<AppState>,
) -> Result<Json<Vec<WorkerToken>>, ApiError> {
    Ok(Json(state.db.worker_tokens().await?))
}

/// `DELETE /api/admin/worker-tokens/{id}`: revokes it (its trainer's next call is a 401).
#[utoipa::path(delete, path = "/api/admin/worker-tokens/{id}", tag = "access", params(("id" = Uuid, Path, description = "The worker token's id")), responses((status = 204, description = "Revoked"), (status = 404, description = "No such token", body = inkset_protocol::api::ErrorBody)))]
pub async fn revoke_worker_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.db.revoke_worker_token(&id).await? == 0 {
        return Err(ApiError::NotFound(format!("no live worker token {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Counts an ended job and its duration from its first claim
/// (`inkset_training_jobs_total`, `inkset_training_job_duration_seconds`).
pub fn job_ended(kind: &str, outcome: &'static str, started_at: Option<i64>) {
    let labels = [("kind", kind.to_owned()), ("outcome", outcome.to_owned())];
    metrics::counter!(crate::observe::TRAINING_JOBS, &labels).increment(1);
    if let Some(started) = started_at {
        #[allow(clippy::cast_precision_loss)]
        let secs = crate::now_ms().saturating_sub(started).max(0) as f64 / 1000.0;
        metrics::histogram!(crate::observe::TRAINING_DURATION, &labels).record(secs);
    }
}
