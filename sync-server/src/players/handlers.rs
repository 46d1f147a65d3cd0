//! The player API: sessions, progress, sign-up, login, linking and logout.

use crate::edge::client::ClientAddr;
use crate::error::ApiError;
use crate::http::{RawBody, parse};
use crate::players::auth::{self, Admin, Player};
use crate::players::progress;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use inkset_protocol::FieldError;
use inkset_protocol::api::{
    LoginRequest, LoginResponse, PlayerAccount, SessionCreated, TokensRevoked, UserAccount,
    UserStats,
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// `POST /api/sessions`: a new anonymous session; the token is shown once.
#[utoipa::path(post, path = "/api/sessions", tag = "players", responses((status = 201, description = "A new anonymous player session and its bearer token", body = SessionCreated)))]
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
    let expires_at = crate::now_ms().saturating_add(state.session_ttl_ms);
    state
        .db
        .create_session(
            session_id,
            &auth::token_hash(&token),
            user_agent.as_deref(),
            expires_at,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            session_id,
            token,
            expires_at: Some(expires_at),
        }),
    ))
}

/// Query of `GET /api/user/stats`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// The player's time zone: minutes east of UTC (`-new Date().getTimezoneOffset()`),
    /// within -840..=840. Default 0.
    #[serde(default)]
    #[param(minimum = -840, maximum = 840)]
    pub utc_offset_min: Option<i32>,
}

/// `GET /api/user/stats`: the player's counts per shape, total, streaks and achievements
/// (see [`UserStats`]).
#[utoipa::path(get, path = "/api/user/stats", tag = "players", params(StatsQuery), responses((status = 200, description = "The player's counts per shape, streaks and achievements", body = UserStats)))]
pub async fn user_stats(
    State(state): State<AppState>,
    player: Player,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserStats>, ApiError> {
    let Query(query) = query.map_err(|e| crate::curation::handlers::query_error(&e))?;
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
#[utoipa::path(post, path = "/api/auth/signup", tag = "players", request_body = LoginRequest, responses((status = 201, description = "The account, linked to the calling session", body = PlayerAccount), (status = 409, description = "The username is taken, or the session has an account", body = inkset_protocol::api::ErrorBody)))]
pub async fn signup(
    State(state): State<AppState>,
    player: Player,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<PlayerAccount>), ApiError> {
    let req: LoginRequest = parse(&body)?;
    check_credentials(&req)?;
    let password = req.password;
    let phc = state
        .login
        .hash(move || auth::hash_password(&password))
        .await?
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

/// Checks a username and password; the user id and role when they match. Attempts go
/// through the login throttle: refused while the username or the address backs off, hashed
/// in a bounded pool, failures counted.
async fn check_login(
    state: &AppState,
    client: ClientAddr,
    req: LoginRequest,
) -> Result<(String, String), ApiError> {
    let address = client.key();
    state.login.check(&req.username, &address)?;
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
    let ok = state
        .login
        .hash(move || auth::verify_password(&password, &phc))
        .await?;
    match user.filter(|_| ok) {
        Some((id, _, role)) => {
            state.login.succeeded(&req.username);
            Ok((id, role))
        }
        None => {
            state.login.failed(&req.username, &address);
            Err(ApiError::Unauthorized("wrong username or password"))
        }
    }
}

/// `POST /api/auth/link` (session bearer): signs a player in on this device, linking the
/// calling session to the account so progress follows them; 401 on a wrong password.
#[utoipa::path(post, path = "/api/auth/link", tag = "players", request_body = LoginRequest, responses((status = 200, description = "The calling session now belongs to the account", body = PlayerAccount)))]
pub async fn link(
    State(state): State<AppState>,
    player: Player,
    client: ClientAddr,
    RawBody(body): RawBody,
) -> Result<Json<PlayerAccount>, ApiError> {
    let req: LoginRequest = parse(&body)?;
    let username = req.username.clone();
    let (user_id, role) = check_login(&state, client, req).await?;
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
#[utoipa::path(post, path = "/api/auth/login", tag = "players", request_body = LoginRequest, responses((status = 200, description = "A bearer token (admin or player account)", body = LoginResponse), (status = 401, description = "Wrong username or password, or the account is disabled", body = inkset_protocol::api::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    RawBody(body): RawBody,
) -> Result<Json<LoginResponse>, ApiError> {
    let req: LoginRequest = parse(&body)?;
    let (user_id, _) = check_login(&state, client, req).await?;
    let token = auth::new_token();
    let expires_at = crate::now_ms().saturating_add(state.token_ttl_ms);
    state
        .db
        .insert_auth_token(&auth::token_hash(&token), &user_id, expires_at)
        .await?;
    Ok(Json(LoginResponse { token, expires_at }))
}

/// `POST /api/auth/logout`: revokes the bearer token, whatever its kind (admin or player
/// login token, player session, worker token); 401 when it is unknown or already revoked.
#[utoipa::path(post, path = "/api/auth/logout", tag = "players", responses((status = 204, description = "The calling token is revoked")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = auth::bearer_token(&headers)?;
    let hash = auth::token_hash(token);
    let revoked = if state.db.revoke_token(&hash).await? {
        true
    } else if state.db.revoke_session(&hash).await? {
        state.sessions.evict(&hash);
        true
    } else {
        token.starts_with("iw_") && state.db.revoke_worker_secret(token).await?
    };
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Unauthorized("token unknown or already revoked"))
    }
}

/// `GET /api/admin/users`: every account with its live token and session counts.
#[utoipa::path(get, path = "/api/admin/users", tag = "access", responses((status = 200, description = "Accounts (admins and players) with their state", body = Vec<UserAccount>)))]
pub async fn list_users(State(state): State<AppState>) -> Result<Json<Vec<UserAccount>>, ApiError> {
    Ok(Json(state.db.users().await?))
}

async fn revoke(
    state: &AppState,
    admin: &Admin,
    username: &str,
    disabled: Option<bool>,
) -> Result<Json<TokensRevoked>, ApiError> {
    let Some((tokens, sessions)) = state.db.revoke_user(username, disabled).await? else {
        return Err(ApiError::NotFound(format!("no account {username:?}")));
    };
    if sessions > 0 {
        state.sessions.clear();
    }
    tracing::info!(
        admin = %admin.user_id,
        username,
        ?disabled,
        tokens,
        sessions,
        "account tokens revoked"
    );
    let disabled = state
        .db
        .users()
        .await?
        .into_iter()
        .find(|u| u.username == username)
        .is_some_and(|u| u.disabled);
    Ok(Json(TokensRevoked {
        username: username.to_owned(),
        disabled,
        tokens,
        sessions,
    }))
}

/// `POST /api/admin/users/{username}/disable`: the account can no longer sign in; every
/// login token and every session linked to it is revoked.
#[utoipa::path(post, path = "/api/admin/users/{username}/disable", tag = "access", params(("username" = String, Path, description = "The account's username")), responses((status = 200, description = "Disabled; its tokens are revoked", body = TokensRevoked), (status = 404, description = "No such account", body = inkset_protocol::api::ErrorBody), (status = 409, description = "An admin cannot disable their own account", body = inkset_protocol::api::ErrorBody)))]
pub async fn disable_user(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Path(username): Path<String>,
) -> Result<Json<TokensRevoked>, ApiError> {
    if admin_username(&state, &admin).await?.as_deref() == Some(username.as_str()) {
        return Err(ApiError::Conflict {
            field: "username",
            message: "an admin cannot disable their own account".into(),
        });
    }
    revoke(&state, &admin, &username, Some(true)).await
}

/// `POST /api/admin/users/{username}/enable`: the account can sign in again (its revoked
/// tokens stay revoked).
#[utoipa::path(post, path = "/api/admin/users/{username}/enable", tag = "access", params(("username" = String, Path, description = "The account's username")), responses((status = 200, description = "Enabled", body = TokensRevoked), (status = 404, description = "No such account", body = inkset_protocol::api::ErrorBody)))]
pub async fn enable_user(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Path(username): Path<String>,
) -> Result<Json<TokensRevoked>, ApiError> {
    revoke(&state, &admin, &username, Some(false)).await
}

/// `POST /api/admin/users/{username}/revoke-tokens`: every login token and linked session
/// of the account is revoked; the account stays enabled.
#[utoipa::path(post, path = "/api/admin/users/{username}/revoke-tokens", tag = "access", params(("username" = String, Path, description = "The account's username")), responses((status = 200, description = "Every token of the account is revoked", body = TokensRevoked), (status = 404, description = "No such account", body = inkset_protocol::api::ErrorBody)))]
pub async fn revoke_user_tokens(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Path(username): Path<String>,
) -> Result<Json<TokensRevoked>, ApiError> {
    revoke(&state, &admin, &username, None).await
}

async fn admin_username(state: &AppState, admin: &Admin) -> Result<Option<String>, ApiError> {
    Ok(state
        .db
        .users()
        .await?
        .into_iter()
        .find(|u| u.id == admin.user_id)
        .map(|u| u.username))
}

/// Deletes expired and long-revoked tokens every `auth.purge_interval_secs` (a week of
/// grace, so a "token expired" answer stays accurate for a while), until `stop` is set.
pub fn spawn_purge(state: &AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let db = state.db.clone();
    let every = std::time::Duration::from_secs(state.auth.purge_interval_secs.max(1));
    tokio::spawn(async move {
        const GRACE_MS: i64 = 7 * 86_400_000;
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            match db.purge_tokens(GRACE_MS).await {
                Ok((0, 0)) => {}
                Ok((tokens, sessions)) => {
                    tracing::info!(tokens, sessions, "expired and revoked tokens purged");
                }
                Err(e) => tracing::warn!(error = %e, "token purge failed"),
            }
        }
    });
}
