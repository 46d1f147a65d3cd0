//! The player API: sessions, uploads, shapes, progress, and login.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use inkset_protocol::api::{
    BatchItemResult, BatchResult, BatchUpload, LoginRequest, LoginResponse, PlayerAccount,
    SessionCreated, ShapeInfo, UploadReceipt, UserStats,
};
use inkset_protocol::validate::validate;
use inkset_protocol::{Drawing, FieldError, Origin};
use uuid::Uuid;

use super::{RawBody, parse};
use crate::app::AppState;
use crate::auth::{self, Player};
use crate::error::ApiError;
use crate::ingest::IngestError;
use crate::progress;

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
    state.quality_wake.notify_one();
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
    let clock_offset_ms = batch
        .sent_at
        .map(|sent| crate::now_ms().saturating_sub(sent));
    let outcomes = state.ingest.submit_many(valid, clock_offset_ms).await;
    state.quality_wake.notify_one();
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

/// Query of `GET /api/user/stats`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// The player's time zone: minutes east of UTC (`-new Date().getTimezoneOffset()`),
    /// within -840..=840. Default 0.
    #[serde(default)]
    pub utc_offset_min: Option<i32>,
}

/// `GET /api/user/stats`: the player's counts per shape, total, streaks and achievements
/// (see [`UserStats`]).
pub async fn user_stats(
    State(state): State<AppState>,
    player: Player,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserStats>, ApiError> {
    let Query(query) = query.map_err(|e| super::admin::query_error(&e))?;
    let offset_min = query.utc_offset_min.unwrap_or(0);
    if !(-840..=840).contains(&offset_min) {
        return Err(ApiError::Invalid(FieldError::new(
            "utc_offset_min",
            "out_of_range",
            "utc_offset_min must be within -840..=840 minutes east of UTC",
        )));
    }
    let offset_ms = i64::from(offset_min) * 60_000;
    let mut per_shape: BTreeMap<String, u64> = state
        .db
        .shapes()
        .await?
        .into_iter()
        .map(|s| (s.name, 0))
        .collect();
    for (shape, n) in state.db.player_counts(player.session_id).await? {
        per_shape.insert(shape, n);
    }
    let days = state.db.player_days(player.session_id, offset_ms).await?;
    let today = (crate::now_ms() + offset_ms).div_euclid(86_400_000);
    let (streak_days, longest_streak_days) = progress::streaks(&days, today);
    let account = state.db.session_account(player.session_id).await?;
    Ok(Json(UserStats {
        total: per_shape.values().sum(),
        achievements: progress::achievements(&per_shape, longest_streak_days),
        per_shape,
        streak_days,
        longest_streak_days,
        days_active: u32::try_from(days.len()).unwrap_or(u32::MAX),
        today: progress::day_label(today),
        username: account.map(|(_, name)| name),
    }))
}

/// Checks a new account's username and password, naming the field at fault.
fn check_credentials(req: &LoginRequest) -> Result<(), ApiError> {
    let name = &req.username;
    if !(3..=32).contains(&name.chars().count())
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ApiError::Invalid(FieldError::new(
            "username",
            "invalid",
            "username must be 3 to 32 letters, digits, '_', '-' or '.'",
        )));
    }
    if !(8..=256).contains(&req.password.chars().count()) {
        return Err(ApiError::Invalid(FieldError::new(
            "password",
            "invalid",
            "password must be 8 to 256 characters",
        )));
    }
    Ok(())
}

async fn account_token(
    state: &AppState,
    user_id: &str,
    username: String,
) -> Result<PlayerAccount, ApiError> {
    let token = auth::new_token();
    let expires_at = crate::now_ms().saturating_add(state.token_ttl_ms);
    state
        .db
        .insert_auth_token(&auth::token_hash(&token), user_id, expires_at)
        .await?;
    Ok(PlayerAccount {
        username,
        token,
        expires_at,
    })
}

/// `POST /api/auth/signup` (session bearer): creates a player account (argon2id hash) and
/// links the calling session to it; 409 naming `username` when the name is taken.
pub async fn signup(
    State(state): State<AppState>,
    player: Player,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<PlayerAccount>), ApiError> {
    let req: LoginRequest = parse(&body)?;
    check_credentials(&req)?;
    let password = req.password;
    let phc = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing failed: {e}")))?;
    let Some(user_id) = state
        .db
        .create_player(player.session_id, &req.username, &phc)
        .await?
    else {
        return Err(ApiError::Conflict {
            field: "username",
            message: format!("username {:?} is taken", req.username),
        });
    };
    let account = account_token(&state, &user_id, req.username).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Checks a username and password; the user id and role when they match.
async fn check_login(state: &AppState, req: LoginRequest) -> Result<(String, String), ApiError> {
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
    user.filter(|_| ok)
        .map(|(id, _, role)| (id, role))
        .ok_or(ApiError::Unauthorized("wrong username or password"))
}

/// `POST /api/auth/link` (session bearer): signs a player in on this device, linking the
/// calling session to the account so progress follows them; 401 on a wrong password.
pub async fn link(
    State(state): State<AppState>,
    player: Player,
    RawBody(body): RawBody,
) -> Result<Json<PlayerAccount>, ApiError> {
    let req: LoginRequest = parse(&body)?;
    let username = req.username.clone();
    let (user_id, role) = check_login(&state, req).await?;
    if role != "player" {
        return Err(ApiError::Invalid(FieldError::new(
            "username",
            "not_a_player",
            "admin accounts cannot be linked to a player session",
        )));
    }
    state.db.link_session(player.session_id, &user_id).await?;
    Ok(Json(account_token(&state, &user_id, username).await?))
}

/// `POST /api/auth/login`: a bearer token for a username and password.
pub async fn login(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<LoginResponse>, ApiError> {
    let req: LoginRequest = parse(&body)?;
    let (user_id, _) = check_login(&state, req).await?;
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
