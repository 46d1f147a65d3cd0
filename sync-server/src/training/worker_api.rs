//! The worker protocol (`/api/worker/...`, a worker token): claim a job with a lease, stream
//! its data snapshot, heartbeat, upload the weights, complete, fail or release. Every call
//! after the claim names its attempt; a call for an attempt that no longer holds the lease
//! is a 409, and a call from another worker token than the one that claimed the attempt is
//! a 403.

use std::sync::Arc;

use crate::error::ApiError;
use crate::http::{RawBody, invalid, parse};
use crate::inference::recognizer::artifact_prefix;
use crate::players::auth::{bearer_token, identify, wrong_role};
use crate::state::AppState;
use crate::training::handlers::job_id;
use crate::training::sql::{LeaseCheck, training_filter};
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use inkset_model::dataset::shapes_of;
use inkset_model::inference::Classifier;
use inkset_protocol::FieldError;
use inkset_protocol::ml::{
    ClaimRequest, ClaimedJob, CompleteJob, FailJob, GENERATOR, Heartbeat, HeartbeatAck,
    ModelVersion, PRODUCTION, RECOGNIZER, ReleaseJob,
};
use inkset_protocol::quickdraw::Record;
use serde::Deserialize;
use uuid::Uuid;

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
        if let Some((token_id, name)) = state.db.worker_for_token(token).await? {
            return Ok(Self { token_id, name });
        }
        match identify(state, token).await? {
            Some(other) => Err(wrong_role("a worker token", &other)),
            None => Err(ApiError::Unauthorized(
                "worker token unknown, expired or revoked",
            )),
        }
    }
}

/// Refuses a call for `attempt` of job `id` from a worker token other than the one that
/// claimed that attempt (403). Attempts are numbered per claim and the claiming token is
/// stored with the number, so the check cannot race a new claim: a newer claim has a newer
/// number, and the call is then refused by the lease check (409) instead.
async fn claimed_by(
    state: &AppState,
    worker: &Worker,
    id: Uuid,
    attempt: u64,
) -> Result<(), ApiError> {
    match state.db.lease_token(id).await? {
        Some((current, token)) if current == attempt && token != worker.token_id => {
            Err(ApiError::Forbidden(format!(
                "attempt {attempt} of job {id} was claimed with another worker token"
            )))
        }
        _ => Ok(()),
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
#[utoipa::path(post, path = "/api/worker/claim", tag = "worker", request_body = ClaimRequest, responses((status = 200, description = "A job and its lease", body = ClaimedJob), (status = 204, description = "No job is waiting")))]
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
        .claim_job(&owner, worker.token_id, &req.model_kinds, lease_ms)
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
#[utoipa::path(get, path = "/api/worker/jobs/{id}/data", tag = "worker", params(("id" = Uuid, Path, description = "The job's id"), AttemptQuery), responses((status = 200, description = "The job's data snapshot as Quick, Draw! raw ndjson (one drawing a line)", content_type = "application/x-ndjson", body = crate::openapi::Binary), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The lease is lost, or the job is not running", body = inkset_protocol::api::ErrorBody)))]
pub async fn data(
    State(state): State<AppState>,
    worker: Worker,
    Path(id): Path<String>,
    q: Result<Query<AttemptQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let Query(q) = q.map_err(|e| attempt_error(&e))?;
    claimed_by(&state, &worker, id, q.attempt).await?;
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
    // One pass over the snapshot for all its words, oldest first (each segment read once).
    let filter = training_filter(&job.config, None, job.plan.snapshot_at);
    let encode = |_id, received_at, d: &inkset_protocol::Drawing, buf: &mut Vec<u8>| {
        // An imported drawing keeps its own timestamp: the receive time is only formatted
        // for the others.
        let fallback = d
            .source
            .is_none()
            .then(|| inkset_protocol::quickdraw::format_timestamp_ms(received_at));
        Record::from_drawing(d, fallback).write_line(buf);
        Ok(())
    };
    let stream = crate::dataset::encoded_stream(state, filter, Some(words), Arc::new(encode))
        .map(|chunk| chunk.map_err(|e| std::io::Error::other(format!("{e:#}"))));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /api/worker/jobs/{id}/heartbeat`: renews the lease, stores progress; answers
/// `cancel: true` for a cancelled job and 409 when the attempt lost the lease.
#[utoipa::path(post, path = "/api/worker/jobs/{id}/heartbeat", tag = "worker", params(("id" = Uuid, Path, description = "The job's id")), request_body = Heartbeat, responses((status = 200, description = "The lease is extended; `cancel` says whether to stop", body = HeartbeatAck), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The lease is lost, or the job is not running", body = inkset_protocol::api::ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let id = job_id(&id)?;
    let beat: Heartbeat = parse(&body)?;
    claimed_by(&state, &worker, id, beat.attempt).await?;
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
#[utoipa::path(put, path = "/api/worker/jobs/{id}/weights", tag = "worker", params(("id" = Uuid, Path, description = "The job's id"), AttemptQuery), request_body(content = crate::openapi::Binary, content_type = "application/octet-stream", description = "The trained weights, burnpack format"), responses((status = 204, description = "Stored"), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The lease is lost, or the job is not running", body = inkset_protocol::api::ErrorBody)))]
pub async fn upload_weights(
    State(state): State<AppState>,
    worker: Worker,
    Path(id): Path<String>,
    q: Result<Query<AttemptQuery>, axum::extract::rejection::QueryRejection>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    let Query(q) = q.map_err(|e| attempt_error(&e))?;
    claimed_by(&state, &worker, id, q.attempt).await?;
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
#[utoipa::path(post, path = "/api/worker/jobs/{id}/complete", tag = "worker", params(("id" = Uuid, Path, description = "The job's id")), request_body = CompleteJob, responses((status = 200, description = "The registered model version", body = ModelVersion), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The lease is lost, the job is not running, or no weights were uploaded", body = inkset_protocol::api::ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<ModelVersion>, ApiError> {
    let id = job_id(&id)?;
    let req: CompleteJob = parse(&body)?;
    claimed_by(&state, &worker, id, req.attempt).await?;
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
        .register_model(crate::registry::sql::NewModel {
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
    tracing::info!(job = %id, model = %model_id, version, "model version registered");
    crate::training::handlers::job_ended(&job.model_kind, "completed", job.started_at);
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
#[utoipa::path(post, path = "/api/worker/jobs/{id}/release", tag = "worker", params(("id" = Uuid, Path, description = "The job's id")), request_body = ReleaseJob, responses((status = 204, description = "The job is pending again"), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The lease is lost, or the job is not running", body = inkset_protocol::api::ErrorBody)))]
pub async fn release(
    State(state): State<AppState>,
    worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    let req: ReleaseJob = parse(&body)?;
    claimed_by(&state, &worker, id, req.attempt).await?;
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
#[utoipa::path(post, path = "/api/worker/jobs/{id}/fail", tag = "worker", params(("id" = Uuid, Path, description = "The job's id")), request_body = FailJob, responses((status = 204, description = "The job is failed"), (status = 404, description = "No such job", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The lease is lost, or the job is not running", body = inkset_protocol::api::ErrorBody)))]
pub async fn fail(
    State(state): State<AppState>,
    worker: Worker,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    let req: FailJob = parse(&body)?;
    claimed_by(&state, &worker, id, req.attempt).await?;
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
    if let Some(job) = state.db.job(id).await? {
        crate::training::handlers::job_ended(&job.model_kind, "failed", job.started_at);
    }
    Ok(StatusCode::NO_CONTENT)
}
