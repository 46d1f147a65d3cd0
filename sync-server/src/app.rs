//! The router: every route of the HTTP API in one place, the admin and inference guards,
//! and the middleware (request ids, access log spans).

use crate::error::ApiError;
use crate::players::auth::{Admin, Player};
use crate::state::{AppState, MAX_IMPORT_BODY_BYTES, MAX_OIP_BODY_BYTES, MAX_WEIGHTS_BYTES};
use crate::{curation, dataset, drawings, health, inference, players, registry, shapes, training};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post, put};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Every `/api/admin/*` route: method, path, handler. The router mounts exactly these behind
/// the admin check, and tests enumerate them from here.
pub fn admin_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (
            Method::GET,
            "/api/admin/stats",
            get(curation::handlers::stats),
        ),
        (
            Method::GET,
            "/api/admin/drawings",
            get(curation::handlers::list_drawings),
        ),
        (
            Method::GET,
            "/api/admin/drawings/count",
            get(curation::handlers::count_drawings),
        ),
        (
            Method::GET,
            "/api/admin/drawings/{id}",
            get(curation::handlers::get_drawing),
        ),
        (
            Method::DELETE,
            "/api/admin/drawings/{id}",
            delete(curation::handlers::remove_drawing),
        ),
        (
            Method::POST,
            "/api/admin/drawings/{id}/flag",
            post(curation::handlers::flag_drawing),
        ),
        (
            Method::POST,
            "/api/admin/drawings/{id}/unflag",
            post(curation::handlers::unflag_drawing),
        ),
        (
            Method::PUT,
            "/api/admin/drawings/{id}/quality",
            put(curation::handlers::override_quality),
        ),
        (
            Method::POST,
            "/api/admin/drawings/bulk",
            post(curation::handlers::bulk),
        ),
        (Method::POST, "/api/admin/shapes", post(shapes::add_shape)),
        (
            Method::POST,
            "/api/admin/exports",
            post(dataset::handlers::start_export),
        ),
        (
            Method::GET,
            "/api/admin/exports",
            get(dataset::handlers::list_exports),
        ),
        (
            Method::GET,
            "/api/admin/exports/{id}",
            get(dataset::handlers::get_export),
        ),
        (
            Method::GET,
            "/api/admin/exports/{id}/download",
            get(dataset::handlers::download_export),
        ),
        (
            Method::POST,
            "/api/admin/import",
            post(dataset::handlers::import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES)),
        ),
        (
            Method::POST,
            "/api/admin/training/start",
            post(training::handlers::start),
        ),
        (
            Method::POST,
            "/api/admin/training/plan",
            post(training::handlers::plan),
        ),
        (
            Method::GET,
            "/api/admin/training",
            get(training::handlers::list_jobs),
        ),
        (
            Method::GET,
            "/api/admin/training/{id}",
            get(training::handlers::get_job),
        ),
        (
            Method::POST,
            "/api/admin/training/{id}/cancel",
            post(training::handlers::cancel),
        ),
        (
            Method::GET,
            "/api/admin/models",
            get(registry::handlers::list_models),
        ),
        (
            Method::GET,
            "/api/admin/models/compare",
            get(registry::handlers::compare),
        ),
        (
            Method::GET,
            "/api/admin/models/{id}",
            get(registry::handlers::get_model),
        ),
        (
            Method::GET,
            "/api/admin/models/{id}/artifact/{file}",
            get(registry::handlers::model_artifact),
        ),
        (
            Method::POST,
            "/api/admin/models/{id}/activate",
            post(registry::handlers::activate),
        ),
        (
            Method::PUT,
            "/api/admin/aliases/{model_kind}/{alias}",
            put(registry::handlers::set_alias),
        ),
        (
            Method::GET,
            "/api/admin/aliases/history",
            get(registry::handlers::alias_history),
        ),
        (
            Method::POST,
            "/api/admin/worker-tokens",
            post(training::handlers::create_worker_token),
        ),
        (
            Method::GET,
            "/api/admin/worker-tokens",
            get(training::handlers::list_worker_tokens),
        ),
        (
            Method::DELETE,
            "/api/admin/worker-tokens/{id}",
            delete(training::handlers::revoke_worker_token),
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
        .route("/api/worker/claim", post(training::worker_api::claim))
        .route(
            "/api/worker/jobs/{id}/data",
            get(training::worker_api::data),
        )
        .route(
            "/api/worker/jobs/{id}/heartbeat",
            post(training::worker_api::heartbeat),
        )
        .route(
            "/api/worker/jobs/{id}/weights",
            put(training::worker_api::upload_weights)
                .layer(DefaultBodyLimit::max(MAX_WEIGHTS_BYTES)),
        )
        .route(
            "/api/worker/jobs/{id}/complete",
            post(training::worker_api::complete).layer(DefaultBodyLimit::max(MAX_WEIGHTS_BYTES)),
        )
        .route(
            "/api/worker/jobs/{id}/fail",
            post(training::worker_api::fail),
        )
        .route(
            "/api/worker/jobs/{id}/release",
            post(training::worker_api::release),
        );
    let inference_routes = Router::new()
        .route(
            "/api/inference/classify",
            post(inference::handlers::classify)
                .layer(DefaultBodyLimit::max(limits.max_drawing_body_bytes)),
        )
        .route(
            "/api/inference/model/info",
            get(inference::handlers::model_info),
        )
        .route(
            "/api/inference/generate",
            post(inference::handlers::generate),
        )
        .route(
            "/api/inference/model/artifact/{file}",
            get(inference::handlers::model_artifact),
        )
        .route("/v2/health/live", get(inference::handlers::v2_live))
        .route("/v2/health/ready", get(inference::handlers::v2_ready))
        .route("/v2/models/{name}", get(inference::handlers::v2_model))
        .route(
            "/v2/models/{name}/ready",
            get(inference::handlers::v2_model_ready),
        )
        .route(
            "/v2/models/{name}/infer",
            post(inference::handlers::v2_infer).layer(DefaultBodyLimit::max(MAX_OIP_BODY_BYTES)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_inference_token,
        ));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/api/sessions", post(players::handlers::create_session))
        .route(
            "/api/drawings",
            post(drawings::handlers::upload)
                .layer(DefaultBodyLimit::max(limits.max_drawing_body_bytes)),
        )
        .route(
            "/api/drawings/batch",
            post(drawings::handlers::upload_batch)
                .layer(DefaultBodyLimit::max(limits.max_batch_body_bytes)),
        )
        .route("/api/shapes", get(shapes::shapes))
        .route("/api/user/stats", get(players::handlers::user_stats))
        .route("/api/auth/login", post(players::handlers::login))
        .route("/api/auth/signup", post(players::handlers::signup))
        .route("/api/auth/link", post(players::handlers::link))
        .route("/api/auth/logout", post(players::handlers::logout))
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
