//! The axum application: shared state and the router.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post, put};
use inkset_protocol::Limits;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{Admin, Player};
use crate::db::Db;
use crate::error::ApiError;
use crate::handlers::{admin, health, inference, player, training};
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
    /// Names of the prompted shapes (refreshed when an admin adds one).
    pub shapes: Arc<RwLock<HashSet<String>>>,
    /// Distractor words (imported with `--distractors`; train the `unknown` class).
    pub distractors: Arc<RwLock<HashSet<String>>>,
    /// The served model and its micro-batcher.
    pub inference: crate::inference::Inference,
    /// The served shape generator.
    pub generation: crate::generation::Generation,
    /// Settings of training jobs.
    pub training: crate::config::TrainingSettings,
    /// Settings of the inference API.
    pub inference_settings: crate::config::InferenceSettings,
    /// Lifetime of login tokens, ms.
    pub token_ttl_ms: i64,
    /// Player sessions by token hash, so uploads skip a SQL lookup. Sessions are never
    /// revoked, so an entry cannot go stale; the map is cleared when it grows past
    /// [`SESSION_CACHE_ENTRIES`].
    pub session_cache: Arc<RwLock<HashMap<String, uuid::Uuid>>>,
    /// Wakes the quality scorer (new drawings stored).
    pub quality_wake: Arc<tokio::sync::Notify>,
}

/// Largest `POST /api/admin/import` body (ndjson).
pub const MAX_IMPORT_BODY_BYTES: usize = 512 << 20;
/// Largest weights upload and completion body (a recognizer's weights are ~0.3 MB).
pub const MAX_WEIGHTS_BYTES: usize = 256 << 20;
/// Largest Open Inference Protocol request (1024 rasters of 64 x 64 as JSON numbers).
pub const MAX_OIP_BODY_BYTES: usize = 64 << 20;

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
        settings: &crate::config::Settings,
    ) -> Result<Self, sqlx::Error> {
        let token_ttl_secs = settings.token_ttl_secs;
        let state = Self {
            db,
            objects,
            ingest,
            limits: Limits::DEFAULT,
            shapes: Arc::default(),
            distractors: Arc::default(),
            inference: crate::inference::Inference::start(&settings.inference),
            generation: crate::generation::Generation::new(settings.inference.backend),
            training: settings.training.clone(),
            inference_settings: settings.inference.clone(),
            token_ttl_ms: i64::try_from(token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            session_cache: Arc::default(),
            quality_wake: Arc::default(),
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
        let words: HashSet<String> = self.db.distractor_words().await?.into_iter().collect();
        if let Ok(mut set) = self.distractors.write() {
            *set = words;
        }
        Ok(())
    }

    /// Whether `name` is a prompted shape.
    pub fn is_known_shape(&self, name: &str) -> bool {
        self.shapes.read().is_ok_and(|s| s.contains(name))
    }

    /// Whether `name` is a distractor word.
    pub fn is_distractor(&self, name: &str) -> bool {
        self.distractors.read().is_ok_and(|s| s.contains(name))
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
            "/api/admin/drawings/count",
            get(admin::count_drawings),
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
        (
            Method::PUT,
            "/api/admin/drawings/{id}/quality",
            put(admin::override_quality),
        ),
        (Method::POST, "/api/admin/drawings/bulk", post(admin::bulk)),
        (Method::POST, "/api/admin/shapes", post(admin::add_shape)),
        (
            Method::POST,
            "/api/admin/exports",
            post(admin::start_export),
        ),
        (Method::GET, "/api/admin/exports", get(admin::list_exports)),
        (
            Method::GET,
            "/api/admin/exports/{id}",
            get(admin::get_export),
        ),
        (
            Method::GET,
            "/api/admin/exports/{id}/download",
            get(admin::download_export),
        ),
        (
            Method::POST,
            "/api/admin/import",
            post(admin::import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES)),
        ),
        (
            Method::POST,
            "/api/admin/training/start",
            post(training::start),
        ),
        (
            Method::POST,
            "/api/admin/training/plan",
            post(training::plan),
        ),
        (Method::GET, "/api/admin/training", get(training::list_jobs)),
        (
            Method::GET,
            "/api/admin/training/{id}",
            get(training::get_job),
        ),
        (
            Method::POST,
            "/api/admin/training/{id}/cancel",
            post(training::cancel),
        ),
        (Method::GET, "/api/admin/models", get(training::list_models)),
        (
            Method::GET,
            "/api/admin/models/compare",
            get(training::compare),
        ),
        (
            Method::GET,
            "/api/admin/models/{id}",
            get(training::get_model),
        ),
        (
            Method::GET,
            "/api/admin/models/{id}/artifact/{file}",
            get(training::model_artifact),
        ),
        (
            Method::POST,
            "/api/admin/models/{id}/activate",
            post(training::activate),
        ),
        (
            Method::PUT,
            "/api/admin/aliases/{model_kind}/{alias}",
            put(training::set_alias),
        ),
        (
            Method::GET,
            "/api/admin/aliases/history",
            get(training::alias_history),
        ),
        (
            Method::POST,
            "/api/admin/worker-tokens",
            post(training::create_worker_token),
        ),
        (
            Method::GET,
            "/api/admin/worker-tokens",
            get(training::list_worker_tokens),
        ),
        (
            Method::DELETE,
            "/api/admin/worker-tokens/{id}",
            delete(training::revoke_worker_token),
        ),
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

/// When `inference.require_token` is set: an admin login token or a player session token.
async fn require_inference_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.inference_settings.require_token {
        let (mut parts, body) = request.into_parts();
        let admin = <Admin as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await;
        if admin.is_err() {
            <Player as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
            .map_err(|_| {
                ApiError::Unauthorized("inference needs an admin token or a player session token")
            })?;
        }
        return Ok(next.run(Request::from_parts(parts, body)).await);
    }
    Ok(next.run(request).await)
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
    let worker = Router::new()
        .route("/api/worker/claim", post(training::claim))
        .route("/api/worker/jobs/{id}/data", get(training::data))
        .route("/api/worker/jobs/{id}/heartbeat", post(training::heartbeat))
        .route(
            "/api/worker/jobs/{id}/weights",
            put(training::upload_weights).layer(DefaultBodyLimit::max(MAX_WEIGHTS_BYTES)),
        )
        .route(
            "/api/worker/jobs/{id}/complete",
            post(training::complete).layer(DefaultBodyLimit::max(MAX_WEIGHTS_BYTES)),
        )
        .route("/api/worker/jobs/{id}/fail", post(training::fail))
        .route("/api/worker/jobs/{id}/release", post(training::release));
    let inference_routes = Router::new()
        .route(
            "/api/inference/classify",
            post(inference::classify).layer(DefaultBodyLimit::max(limits.max_drawing_body_bytes)),
        )
        .route("/api/inference/model/info", get(inference::model_info))
        .route("/api/inference/generate", post(inference::generate))
        .route(
            "/api/inference/model/artifact/{file}",
            get(inference::model_artifact),
        )
        .route("/v2/health/live", get(inference::v2_live))
        .route("/v2/health/ready", get(inference::v2_ready))
        .route("/v2/models/{name}", get(inference::v2_model))
        .route("/v2/models/{name}/ready", get(inference::v2_model_ready))
        .route(
            "/v2/models/{name}/infer",
            post(inference::v2_infer).layer(DefaultBodyLimit::max(MAX_OIP_BODY_BYTES)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_inference_token,
        ));
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
        .route("/api/auth/signup", post(player::signup))
        .route("/api/auth/link", post(player::link))
        .route("/api/auth/logout", post(player::logout))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(admin)
        .merge(worker)
        .merge(inference_routes)
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
