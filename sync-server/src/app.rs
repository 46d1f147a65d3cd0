//! The axum application: shared state and the router.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post};
use inkset_protocol::Limits;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::Admin;
use crate::db::Db;
use crate::error::ApiError;
use crate::handlers::{admin, health, player};
use crate::ingest::Ingest;
use crate::objects::Objects;

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// SQL store.
    pub db: Db,
    /// Object store.
    pub objects: Objects,
    /// Ingest queue.
    pub ingest: Ingest,
    /// Validation limits.
    pub limits: Limits,
    /// Names of the known shapes (refreshed when an admin adds one).
    pub shapes: Arc<RwLock<HashSet<String>>>,
    /// Lifetime of login tokens, ms.
    pub token_ttl_ms: i64,
    /// Player sessions by token hash, so uploads skip a SQL lookup. Sessions are never
    /// revoked, so an entry cannot go stale; the map is cleared when it grows past
    /// [`SESSION_CACHE_ENTRIES`].
    pub session_cache: Arc<RwLock<HashMap<String, uuid::Uuid>>>,
}

/// Most player sessions kept in [`AppState::session_cache`] (about 100 bytes each).
pub const SESSION_CACHE_ENTRIES: usize = 100_000;

impl AppState {
    /// Builds the state and loads the shape names.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn new(
        db: Db,
        objects: Objects,
        ingest: Ingest,
        token_ttl_secs: u64,
    ) -> Result<Self, sqlx::Error> {
        let state = Self {
            db,
            objects,
            ingest,
            limits: Limits::DEFAULT,
            shapes: Arc::default(),
            token_ttl_ms: i64::try_from(token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            session_cache: Arc::default(),
        };
        state.reload_shapes().await?;
        Ok(state)
    }

    /// Reloads the shape names from SQL.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn reload_shapes(&self) -> Result<(), sqlx::Error> {
        let names: HashSet<String> = self
            .db
            .shapes()
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        if let Ok(mut set) = self.shapes.write() {
            *set = names;
        }
        Ok(())
    }

    /// Whether `name` is a known shape.
    pub fn is_known_shape(&self, name: &str) -> bool {
        self.shapes.read().is_ok_and(|s| s.contains(name))
    }
}

/// Every `/api/admin/*` route: method, path, handler. The router mounts exactly these behind
/// the admin check, and tests enumerate them from here.
pub fn admin_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/api/admin/stats", get(admin::stats)),
        (
            Method::GET,
            "/api/admin/drawings",
            get(admin::list_drawings),
        ),
        (
            Method::GET,
            "/api/admin/drawings/{id}",
            get(admin::get_drawing),
        ),
        (
            Method::DELETE,
            "/api/admin/drawings/{id}",
            delete(admin::remove_drawing),
        ),
        (
            Method::POST,
            "/api/admin/drawings/{id}/flag",
            post(admin::flag_drawing),
        ),
        (
            Method::POST,
            "/api/admin/drawings/{id}/unflag",
            post(admin::unflag_drawing),
        ),
        (Method::POST, "/api/admin/drawings/bulk", post(admin::bulk)),
        (Method::POST, "/api/admin/shapes", post(admin::add_shape)),
    ]
}

async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let admin = <Admin as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await?;
    parts.extensions.insert(admin);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    let mut admin = Router::new();
    for (_, path, route) in admin_routes() {
        admin = admin.route(path, route);
    }
    let admin = admin
        .layer(DefaultBodyLimit::max(limits.max_batch_body_bytes))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/api/sessions", post(player::create_session))
        .route(
            "/api/drawings",
            post(player::upload).layer(DefaultBodyLimit::max(limits.max_drawing_body_bytes)),
        )
        .route(
            "/api/drawings/batch",
            post(player::upload_batch).layer(DefaultBodyLimit::max(limits.max_batch_body_bytes)),
        )
        .route("/api/shapes", get(player::shapes))
        .route("/api/user/stats", get(player::user_stats))
        .route("/api/auth/login", post(player::login))
        .route("/api/auth/logout", post(player::logout))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let matched = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", axum::extract::MatchedPath::as_str);
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("http", method = %req.method(), route = matched, request_id = id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
