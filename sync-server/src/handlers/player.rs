//! The player API: sessions, uploads, shapes, progress, and login.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use inkset_protocol::api::{
    BatchItemResult, BatchResult, BatchUpload, LoginRequest, LoginResponse, SessionCreated,
    ShapeInfo, UploadReceipt, UserStats,
};
use inkset_protocol::validate::validate;
use inkset_protocol::{Drawing, FieldError, Origin};
use uuid::Uuid;

use super::{RawBody, parse};
use crate::app::AppState;
use crate::auth::{self, Player};
use crate::error::ApiError;
use crate::ingest::IngestError;

/// `POST /api/sessions`: a new anonymous session; the token is shown once.
pub async fn create_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let token = auth::new_token();
    let session_id = Uuid::new_v4();
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect::<String>());
    state
        .db
        .create_session(session_id, &auth::token_hash(&token), user_agent.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated { session_id, token }),
    ))
}

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

fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Conflict(id) => ApiError::Conflict {
            field: "id",
            message: format!("drawing {id} already exists with different content"),
        },
        IngestError::Closed => ApiError::Unavailable("the server is shutting down"),
        IngestError::Storage(msg) => ApiError::Internal(anyhow::anyhow!(msg)),
    }
}

/// `POST /api/drawings`: stores one drawing; 201 with the same body for a repeat.
pub async fn upload(
    State(state): State<AppState>,
    player: Player,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    let drawing: Drawing = parse(&body)?;
    let drawing = accept(&state, player, drawing)?;
    let id = drawing.id;
    let outcome = state
        .ingest
        .submit(drawing, Origin::Api)
        .await
        .map_err(ingest_error)?;
    Ok((
        StatusCode::CREATED,
        Json(UploadReceipt {
            id,
            received_at: outcome.received_at(),
        }),
    ))
}

/// `POST /api/drawings/batch`: stores many drawings; 200 with one result per drawing.
pub async fn upload_batch(
    State(state): State<AppState>,
    player: Player,
    RawBody(body): RawBody,
) -> Result<Json<BatchResult>, ApiError> {
    let batch: BatchUpload = parse(&body)?;
    if batch.drawings.len() > state.limits.max_batch_drawings {
        return Err(ApiError::Invalid(FieldError::new(
            "drawings",
            "too_many",
            format!(
                "at most {} drawings per batch",
                state.limits.max_batch_drawings
            ),
        )));
    }
    let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(batch.drawings.len());
    let mut valid = Vec::new();
    let mut slots = Vec::new();
    for (i, drawing) in batch.drawings.into_iter().enumerate() {
        let id = drawing.id;
        match accept(&state, player, drawing) {
            Ok(d) => {
                valid.push((d, Origin::Api));
                slots.push(i);
                results.push(None);
            }
            Err(e) => {
                let mut detail = e.detail();
                detail.field = detail.field.map(|f| format!("drawings[{i}].{f}"));
                results.push(Some(BatchItemResult {
                    id,
                    status: e.status().as_u16(),
                    received_at: None,
                    error: Some(detail),
                }));
            }
        }
    }
    let ids: Vec<Uuid> = valid.iter().map(|(d, _)| d.id).collect();
    let outcomes = state.ingest.submit_many(valid).await;
    for ((slot, id), outcome) in slots.into_iter().zip(ids).zip(outcomes) {
        results[slot] = Some(match outcome {
            Ok(o) => BatchItemResult {
                id,
                status: StatusCode::CREATED.as_u16(),
                received_at: Some(o.received_at()),
                error: None,
            },
            Err(e) => {
                let e = ingest_error(e);
                let mut detail = e.detail();
                detail.field = detail.field.map(|f| format!("drawings[{slot}].{f}"));
                BatchItemResult {
                    id,
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

/// `GET /api/shapes`: every shape and its round length.
pub async fn shapes(State(state): State<AppState>) -> Result<Json<Vec<ShapeInfo>>, ApiError> {
    Ok(Json(state.db.shapes().await?))
}

/// `GET /api/user/stats`: the session's counts per shape, total and daily streak.
pub async fn user_stats(
    State(state): State<AppState>,
    player: Player,
) -> Result<Json<UserStats>, ApiError> {
    let mut per_shape: BTreeMap<String, u64> = state
        .db
        .shapes()
        .await?
        .into_iter()
        .map(|s| (s.name, 0))
        .collect();
    for (shape, n) in state.db.session_counts(player.session_id).await? {
        per_shape.insert(shape, n);
    }
    let days = state.db.per_day(Some(player.session_id)).await?;
    let today = crate::now_ms() / 86_400_000;
    let mut day = if days.contains_key(&today) {
        today
    } else {
        today - 1
    };
    let mut streak_days = 0;
    while days.contains_key(&day) {
        streak_days += 1;
        day -= 1;
    }
    Ok(Json(UserStats {
        total: per_shape.values().sum(),
        per_shape,
        streak_days,
    }))
}

/// `POST /api/auth/login`: a bearer token for a username and password.
pub async fn login(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<LoginResponse>, ApiError> {
    let req: LoginRequest = parse(&body)?;
    let user = state.db.user_for_login(&req.username).await?;
    // Unknown users are checked against a fixed hash too, so timing does not tell which
    // usernames exist.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = match &user {
        Some((_, h, _)) => h.clone(),
        None => DUMMY
            .get_or_init(|| auth::hash_password("inkset-dummy").unwrap_or_default())
            .clone(),
    };
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &phc))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let Some((user_id, _, _)) = user.filter(|_| ok) else {
        return Err(ApiError::Unauthorized("wrong username or password"));
    };
    let token = auth::new_token();
    let expires_at = crate::now_ms().saturating_add(state.token_ttl_ms);
    state
        .db
        .insert_auth_token(&auth::token_hash(&token), &user_id, expires_at)
        .await?;
    Ok(Json(LoginResponse { token, expires_at }))
}

/// `POST /api/auth/logout`: revokes the bearer login token.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = auth::bearer_token(&headers)?;
    if state.db.revoke_token(&auth::token_hash(token)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Unauthorized("token unknown or already revoked"))
    }
}
