//! The router: every route of the HTTP API in one place, the admin and inference guards,
//! and the middleware (request ids, access log spans).

use crate::edge;
use crate::edge::rate_limit::{self, RouteClass};
use crate::error::ApiError;
use crate::players::auth::{Admin, Identity, bearer_token, identify, wrong_role};
use crate::state::{AppState, MAX_IMPORT_BODY_BYTES, MAX_WEIGHTS_BYTES};
use crate::{curation, dataset, drawings, health, inference, players, registry, shapes, training};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use tower::util::MapRequestLayer;
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

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
        (
            Method::GET,
            "/api/admin/users",
            get(players::handlers::list_users),
        ),
        (
            Method::POST,
            "/api/admin/users/{username}/disable",
            post(players::handlers::disable_user),
        ),
        (
            Method::POST,
            "/api/admin/users/{username}/enable",
            post(players::handlers::enable_user),
        ),
        (
            Method::POST,
            "/api/admin/users/{username}/revoke-tokens",
            post(players::handlers::revoke_user_tokens),
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

/// When `inference.require_token` is set: an admin login token, a player account token or a
/// player session token (401 without one, 403 for a worker token).
async fn require_inference_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.inference_settings.require_token {
        let token = bearer_token(request.headers()).map_err(|_| {
            ApiError::Unauthorized(
                "inference needs an admin token, a player account token or a player session token",
            )
        })?;
        match identify(&state, token).await? {
            Some(Identity::Admin { .. } | Identity::Account { .. } | Identity::Session { .. }) => {}
            Some(other) => {
                return Err(wrong_role(
                    "an admin, player account or player session token",
                    &other,
                ));
            }
            None => return Err(ApiError::Unauthorized("token unknown, expired or revoked")),
        }
    }
    Ok(next.run(request).await)
}

/// Unknown routes: the Open Inference Protocol's error form under `/v2`, the API's
/// elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path == "/v2" || path.starts_with("/v2/") {
        return inference::oip::not_found(path);
    }
    ApiError::NotFound("no such route".into()).into_response()
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path == "/v2" || path.starts_with("/v2/") {
        return inference::oip::OipError(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed on {path}"),
        )
        .into_response();
    }
    ApiError::MethodNotAllowed.into_response()
}

/// The whole HTTP API: the routes, each with its timeout
/// ([`edge::layers::timeout`]), rate limits by route class, the admin and inference guards,
/// then for every answer CORS, security headers, request ids and the access log span.
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    let http = state.http.clone();
    let timed =
        |path: &str, route: MethodRouter<AppState>| route.layer(edge::layers::timeout(&http, path));
    let rate = |class: RouteClass| {
        middleware::from_fn_with_state((state.rate_limits.clone(), class), rate_limit::limit)
    };
    let mut admin = Router::new();
    for (_, path, route) in admin_routes() {
        admin = admin.route(path, timed(path, route));
    }
    let admin = admin
        .layer(DefaultBodyLimit::max(limits.max_batch_body_bytes))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin))
        .route_layer(rate(RouteClass::Admin));
    let worker_routes: [(&str, MethodRouter<AppState>); 7] = [
        ("/api/worker/claim", post(training::worker_api::claim)),
        (
            "/api/worker/jobs/{id}/data",
            get(training::worker_api::data),
        ),
        (
            "/api/worker/jobs/{id}/heartbeat",
            post(training::worker_api::heartbeat),
        ),
        (
            "/api/worker/jobs/{id}/weights",
            put(training::worker_api::upload_weights)
                .layer(DefaultBodyLimit::max(MAX_WEIGHTS_BYTES)),
        ),
        (
            "/api/worker/jobs/{id}/complete",
            post(training::worker_api::complete).layer(DefaultBodyLimit::max(MAX_WEIGHTS_BYTES)),
        ),
        (
            "/api/worker/jobs/{id}/fail",
            post(training::worker_api::fail),
        ),
        (
            "/api/worker/jobs/{id}/release",
            post(training::worker_api::release),
        ),
    ];
    let mut worker = Router::new();
    for (path, route) in worker_routes {
        worker = worker.route(path, timed(path, route));
    }
    let inference_paths: [(&str, MethodRouter<AppState>); 13] = [
        (
            "/api/inference/classify",
            post(inference::handlers::classify)
                .layer(DefaultBodyLimit::max(limits.max_drawing_body_bytes)),
        ),
        (
            "/api/inference/model/info",
            get(inference::handlers::model_info),
        ),
        (
            "/api/inference/generate",
            post(inference::handlers::generate),
        ),
        (
            "/api/inference/model/artifact/{file}",
            get(inference::handlers::model_artifact),
        ),
        ("/v2", get(inference::oip::server_metadata)),
        ("/v2/health/live", get(inference::oip::live)),
        ("/v2/health/ready", get(inference::oip::ready)),
        ("/v2/models/{name}", get(inference::oip::model)),
        (
            "/v2/models/{name}/ready",
            get(inference::oip::model_is_ready),
        ),
        // The handler reads the body itself, within a limit derived from the model.
        ("/v2/models/{name}/infer", post(inference::oip::infer)),
        (
            "/v2/models/{name}/versions/{version}",
            get(inference::oip::model_version),
        ),
        (
            "/v2/models/{name}/versions/{version}/ready",
            get(inference::oip::model_version_is_ready),
        ),
        (
            "/v2/models/{name}/versions/{version}/infer",
            post(inference::oip::infer_version),
        ),
    ];
    let mut inference_routes = Router::new();
    for (path, route) in inference_paths {
        inference_routes = inference_routes.route(path, timed(path, route));
    }
    let inference_routes = inference_routes
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_inference_token,
        ))
        .route_layer(rate(RouteClass::Inference));
    let sessions = Router::new()
        .route(
            "/api/sessions",
            timed("/api/sessions", post(players::handlers::create_session)),
        )
        .route_layer(rate(RouteClass::Sessions));
    let auth = Router::new()
        .route(
            "/api/auth/login",
            timed("/api/auth/login", post(players::handlers::login)),
        )
        .route(
            "/api/auth/signup",
            timed("/api/auth/signup", post(players::handlers::signup)),
        )
        .route(
            "/api/auth/link",
            timed("/api/auth/link", post(players::handlers::link)),
        )
        .route_layer(rate(RouteClass::Auth));
    let uploads = Router::new()
        .route(
            "/api/drawings",
            timed(
                "/api/drawings",
                post(drawings::handlers::upload)
                    .layer(DefaultBodyLimit::max(limits.max_drawing_body_bytes)),
            ),
        )
        .route(
            "/api/drawings/batch",
            timed(
                "/api/drawings/batch",
                post(drawings::handlers::upload_batch)
                    .layer(DefaultBodyLimit::max(limits.max_batch_body_bytes)),
            ),
        )
        .route_layer(rate(RouteClass::Uploads));
    let request_id = HeaderName::from_static("x-request-id");
    let api = Router::new()
        .route("/api/shapes", timed("/api/shapes", get(shapes::shapes)))
        .route(
            "/api/user/stats",
            timed("/api/user/stats", get(players::handlers::user_stats)),
        )
        .route(
            "/api/auth/logout",
            timed("/api/auth/logout", post(players::handlers::logout)),
        )
        .route("/health/live", get(health::live))
        .route("/health/ready", timed("/health/ready", get(health::ready)))
        .merge(sessions)
        .merge(auth)
        .merge(uploads)
        .merge(admin)
        .merge(worker)
        .merge(inference_routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    edge::layers::secure(api)
        .layer(edge::layers::cors(&http))
        .layer(middleware::from_fn(crate::observe::track))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            // One access-log line per request at INFO: method, route, request id (span
            // fields), status and latency (the response event).
            TraceLayer::new_for_http()
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                )
                .make_span_with(|req: &Request| {
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
                }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(MapRequestLayer::new(crate::observe::sanitize_request_id))
}
