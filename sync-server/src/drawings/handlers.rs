//! `POST /api/drawings` and `POST /api/drawings/batch`: a player session's uploads.

use crate::drawings::ingest::IngestError;
use crate::error::ApiError;
use crate::http::{RawBody, parse};
use crate::players::auth::Player;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use inkset_protocol::api::{BatchItemResult, BatchResult, BatchUpload, UploadReceipt};
use inkset_protocol::validate::validate;
use inkset_protocol::{Drawing, FieldError, Origin};
use uuid::Uuid;

/// Checks one uploaded drawing and binds it to the uploading session.
fn accept(state: &AppState, player: Player, mut drawing: Drawing) -> Result<Drawing, ApiError> {
    match drawing.session_id {
        Some(s) if s != player.session_id => {
            return Err(ApiError::Invalid(FieldError::new(
                "session_id",
                "mismatch",
                "session_id differs from the session of the bearer token",
            )));
        }
        _ => drawing.session_id = Some(player.session_id),
    }
    validate(&drawing, Origin::Api, &state.limits, |s| {
        state.is_known_shape(s)
    })
    .map_err(ApiError::Invalid)?;
    Ok(drawing)
}

/// Counts a refused upload by its error code (`inkset_drawings_rejected_total`).
fn rejected(e: &ApiError) {
    metrics::counter!(crate::observe::DRAWINGS_REJECTED, "reason" => e.detail().code).increment(1);
}

fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Conflict(id) => ApiError::Conflict {
            field: "id",
            message: format!("drawing {id} already exists with different content"),
        },
        IngestError::Closed => ApiError::Unavailable("the server is shutting down"),
        IngestError::Overloaded => ApiError::Overloaded {
            message: e.to_string(),
            retry_after_secs: 1,
        },
        IngestError::Storage(msg) => ApiError::Internal(anyhow::anyhow!(msg)),
    }
}

/// `POST /api/drawings`: stores one drawing; 201 with the same body for a repeat.
#[utoipa::path(post, path = "/api/drawings", tag = "drawings", request_body = Drawing, responses((status = 201, description = "Stored durably (also for a repeat of the same drawing)", body = UploadReceipt), (status = 409, description = "A different drawing with that id exists", body = inkset_protocol::api::ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    player: Player,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    let drawing = parse::<Drawing>(&body)
        .and_then(|d| accept(&state, player, d))
        .inspect_err(rejected)?;
    let id = drawing.id;
    let outcome = state
        .ingest
        .submit(drawing, Origin::Api)
        .await
        .map_err(ingest_error)
        .inspect_err(rejected)?;
    state.quality_wake.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(UploadReceipt {
            id,
            received_at: outcome.received_at(),
        }),
    ))
}

/// The envelope of a batch with each drawing left unparsed, so one drawing that does not
/// parse (an unknown field, a fractional timestamp) is refused on its own.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch<'a> {
    #[serde(borrow)]
    drawings: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    sent_at: Option<i64>,
}

/// A drawing's `id`, read from a drawing that does not parse as a whole.
#[derive(serde::Deserialize)]
struct IdOnly {
    id: Uuid,
}

/// One drawing of a batch: parsed, or the error it would get alone and its id if readable.
type Parsed = Result<Drawing, (Option<Uuid>, ApiError)>;

/// Each drawing of a batch body: parsed, or the error it would get alone (its field named
/// `drawings[i].<path>`) and its id when that much can be read.
fn parse_batch(body: &[u8]) -> Result<(Vec<Parsed>, Option<i64>), ApiError> {
    // Fast path: the whole batch parses.
    if let Ok(batch) = serde_json::from_slice::<BatchUpload>(body) {
        return Ok((batch.drawings.into_iter().map(Ok).collect(), batch.sent_at));
    }
    // The envelope must parse: without it there is no list of drawings to answer for.
    let raw: RawBatch<'_> = parse(body)?;
    let drawings = raw
        .drawings
        .iter()
        .enumerate()
        .map(|(i, d)| {
            parse::<Drawing>(d.get().as_bytes()).map_err(|e| {
                let id = serde_json::from_str::<IdOnly>(d.get()).ok().map(|x| x.id);
                (id, prefixed(e, i))
            })
        })
        .collect();
    Ok((drawings, raw.sent_at))
}

/// `e` with its field named inside a batch: `drawings[i].<field>`.
fn prefixed(e: ApiError, i: usize) -> ApiError {
    match e {
        ApiError::BadRequest(mut f) => {
            f.field = if f.field == "body" {
                format!("drawings[{i}]")
            } else {
                format!("drawings[{i}].{}", f.field)
            };
            ApiError::BadRequest(f)
        }
        ApiError::Invalid(mut f) => {
            f.field = format!("drawings[{i}].{}", f.field);
            ApiError::Invalid(f)
        }
        other => other,
    }
}

/// `POST /api/drawings/batch`: stores many drawings; 200 with one result per drawing, in
/// order. A drawing that does not parse or validate is refused on its own (its result names
/// the field, `drawings[i].<path>`); the others are stored.
#[utoipa::path(post, path = "/api/drawings/batch", tag = "drawings", request_body = BatchUpload, responses((status = 200, description = "One result per drawing, in order: stored, or refused with its field and reason", body = BatchResult)))]
pub async fn upload_batch(
    State(state): State<AppState>,
    player: Player,
    RawBody(body): RawBody,
) -> Result<Json<BatchResult>, ApiError> {
    let (drawings, sent_at) = parse_batch(&body)?;
    if drawings.len() > state.limits.max_batch_drawings {
        return Err(ApiError::Invalid(FieldError::new(
            "drawings",
            "too_many",
            format!(
                "at most {} drawings per batch",
                state.limits.max_batch_drawings
            ),
        )));
    }
    let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(drawings.len());
    let mut valid = Vec::new();
    let mut slots = Vec::new();
    for (i, drawing) in drawings.into_iter().enumerate() {
        let checked = drawing.and_then(|d| {
            let id = d.id;
            accept(&state, player, d).map_err(|e| (Some(id), prefixed(e, i)))
        });
        match checked {
            Ok(d) => {
                valid.push((d, Origin::Api));
                slots.push(i);
                results.push(None);
            }
            Err((id, e)) => {
                rejected(&e);
                results.push(Some(BatchItemResult {
                    id,
                    status: e.status().as_u16(),
                    received_at: None,
                    error: Some(e.detail()),
                }));
            }
        }
    }
    let ids: Vec<Uuid> = valid.iter().map(|(d, _)| d.id).collect();
    let clock_offset_ms = sent_at.map(|sent| crate::now_ms().saturating_sub(sent));
    let outcomes = state.ingest.submit_many(valid, clock_offset_ms).await;
    state.quality_wake.notify_one();
    for ((slot, id), outcome) in slots.into_iter().zip(ids).zip(outcomes) {
        results[slot] = Some(match outcome {
            Ok(o) => BatchItemResult {
                id: Some(id),
                status: StatusCode::CREATED.as_u16(),
                received_at: Some(o.received_at()),
                error: None,
            },
            Err(e) => {
                let e = ingest_error(e);
                rejected(&e);
                let mut detail = e.detail();
                detail.field = detail.field.map(|f| format!("drawings[{slot}].{f}"));
                BatchItemResult {
                    id: Some(id),
                    status: e.status().as_u16(),
                    received_at: None,
                    error: Some(detail),
                }
            }
        });
    }
    Ok(Json(BatchResult {
        results: results.into_iter().flatten().collect(),
    }))
}
