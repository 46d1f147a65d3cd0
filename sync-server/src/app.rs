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

/// Who may call a route: the credential its guard or extractor asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no token.
    Public,
    /// A player: a session token, or a player account's login token.
    Player,
    /// An admin login token (`/api/admin/*`; 403 for a valid token of another role).
    Admin,
    /// A worker token (`/api/worker/*`).
    Worker,
    /// Anyone, unless `inference.require_token` is set: then an admin, player account or
    /// player session token.
    Inference,
}

/// One route of the HTTP API: its method, path (axum syntax, `{param}`), who may call it,
/// its rate-limit class and its handler. [`router`] mounts exactly these, and the OpenAPI
/// document ([`crate::openapi`]) is checked against them.
pub struct ApiRoute {
    /// HTTP method.
    pub method: Method,
    /// Path, with `{name}` parameters.
    pub path: &'static str,
    /// The credential it needs.
    pub access: Access,
    /// Its rate-limit class; `None`: not rate limited.
    pub class: Option<RouteClass>,
    /// The handler, with any route-specific body limit.
    pub route: MethodRouter<AppState>,
}

/// Every route of the API, in documentation order. Body limits come from `limits` (the
/// settings' `[limits]`).
pub fn routes(limits: &inkset_protocol::Limits) -> Vec<ApiRoute> {
    use Access::{Admin, Inference, Player, Public, Worker};
    let r = |method: Method,
             path: &'static str,
             access: Access,
             class: Option<RouteClass>,
             route: MethodRouter<AppState>| ApiRoute {
        method,
        path,
        access,
        class,
        route,
    };
    let admin = Some(RouteClass::Admin);
    let inference = Some(RouteClass::Inference);
    let drawing_limit = DefaultBodyLimit::max(limits.max_drawing_body_bytes);
    let batch_limit = DefaultBodyLimit::max(limits.max_batch_body_bytes);
    let weights_limit = DefaultBodyLimit::max(MAX_WEIGHTS_BYTES);
    vec![
        r(Method::GET, "/health/live", Public, None, get(health::live)),
        r(
            Method::GET,
            "/health/ready",
            Public,
            None,
            get(health::ready),
        ),
        r(
            Method::GET,
            "/api/openapi.json",
            Public,
            None,
            get(crate::openapi::serve),
        ),
        r(
            Method::GET,
            "/api/shapes",
            Public,
            None,
            get(shapes::shapes),
        ),
        r(
            Method::POST,
            "/api/sessions",
            Public,
            Some(RouteClass::Sessions),
            post(players::handlers::create_session),
        ),
        r(
            Method::POST,
            "/api/auth/login",
            Public,
            Some(RouteClass::Auth),
            post(players::handlers::login),
        ),
        r(
            Method::POST,
            "/api/auth/signup",
            Player,
            Some(RouteClass::Auth),
            post(players::handlers::signup),
        ),
        r(
            Method::POST,
            "/api/auth/link",
            Player,
            Some(RouteClass::Auth),
            post(players::handlers::link),
        ),
        // Any kind of token: it revokes itself.
        r(
            Method::POST,
            "/api/auth/logout",
            Player,
            None,
            post(players::handlers::logout),
        ),
        r(
            Method::GET,
            "/api/prompts",
            Player,
            Some(RouteClass::Uploads),
            get(crate::prompts::next_prompts),
        ),
        r(
            Method::GET,
            "/api/user/stats",
            Player,
            None,
            get(players::handlers::user_stats),
        ),
        r(
            Method::POST,
            "/api/drawings",
            Player,
            Some(RouteClass::Uploads),
            post(drawings::handlers::upload).layer(drawing_limit),
        ),
        r(
            Method::POST,
            "/api/drawings/batch",
            Player,
            Some(RouteClass::Uploads),
            post(drawings::handlers::upload_batch).layer(batch_limit),
        ),
        r(
            Method::GET,
            "/api/admin/stats",
            Admin,
            admin,
            get(curation::handlers::stats),
        ),
        r(
            Method::GET,
            "/api/admin/drawings",
            Admin,
            admin,
            get(curation::handlers::list_drawings),
        ),
        r(
            Method::GET,
            "/api/admin/drawings/count",
            Admin,
            admin,
            get(curation::handlers::count_drawings),
        ),
        r(
            Method::GET,
            "/api/admin/drawings/{id}",
            Admin,
            admin,
            get(curation::handlers::get_drawing),
        ),
        r(
            Method::DELETE,
            "/api/admin/drawings/{id}",
            Admin,
            admin,
            delete(curation::handlers::remove_drawing),
        ),
        r(
            Method::POST,
            "/api/admin/drawings/{id}/flag",
            Admin,
            admin,
            post(curation::handlers::flag_drawing),
        ),
        r(
            Method::POST,
            "/api/admin/drawings/{id}/unflag",
            Admin,
            admin,
            post(curation::handlers::unflag_drawing),
        ),
        r(
            Method::PUT,
            "/api/admin/drawings/{id}/quality",
            Admin,
            admin,
            put(curation::handlers::override_quality),
        ),
        r(
            Method::POST,
            "/api/admin/drawings/bulk",
            Admin,
            admin,
            post(curation::handlers::bulk),
        ),
        r(
            Method::GET,
            "/api/admin/prompts",
            Admin,
            admin,
            get(crate::prompts::prompt_plan),
        ),
        r(
            Method::GET,
            "/api/admin/contributors",
            Admin,
            admin,
            get(curation::contributors::list_contributors),
        ),
        r(
            Method::POST,
            "/api/admin/shapes",
            Admin,
            admin,
            post(shapes::add_shape),
        ),
        r(
            Method::POST,
            "/api/admin/exports",
            Admin,
            admin,
            post(dataset::handlers::start_export),
        ),
        r(
            Method::GET,
            "/api/admin/exports",
            Admin,
            admin,
            get(dataset::handlers::list_exports),
        ),
        r(
            Method::GET,
            "/api/admin/exports/{id}",
            Admin,
            admin,
            get(dataset::handlers::get_export),
        ),
        r(
            Method::POST,
            "/api/admin/releases",
            Admin,
            admin,
            post(dataset::releases::cut_release),
        ),
        r(
            Method::GET,
            "/api/admin/releases",
            Admin,
            admin,
            get(dataset::releases::list_releases),
        ),
        r(
            Method::GET,
            "/api/admin/releases/{name}",
            Admin,
            admin,
            get(dataset::releases::get_release),
        ),
        r(
            Method::GET,
            "/api/admin/releases/{name}/diff/{other}",
            Admin,
            admin,
            get(dataset::releases::diff_release),
        ),
        r(
            Method::GET,
            "/api/admin/exports/{id}/download",
            Admin,
            admin,
            get(dataset::handlers::download_export),
        ),
        r(
            Method::POST,
            "/api/admin/import",
            Admin,
            admin,
            post(dataset::handlers::import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES)),
        ),
        r(
            Method::POST,
            "/api/admin/training/start",
            Admin,
            admin,
            post(training::handlers::start),
        ),
        r(
            Method::POST,
            "/api/admin/training/plan",
            Admin,
            admin,
            post(training::handlers::plan),
        ),
        r(
            Method::GET,
            "/api/admin/training",
            Admin,
            admin,
            get(training::handlers::list_jobs),
        ),
        r(
            Method::GET,
            "/api/admin/training/{id}",
            Admin,
            admin,
            get(training::handlers::get_job),
        ),
        r(
            Method::POST,
            "/api/admin/training/{id}/cancel",
            Admin,
            admin,
            post(training::handlers::cancel),
        ),
        r(
            Method::GET,
            "/api/admin/models",
            Admin,
            admin,
            get(registry::handlers::list_models),
        ),
        r(
            Method::GET,
            "/api/admin/models/compare",
            Admin,
            admin,
            get(registry::handlers::compare),
        ),
        r(
            Method::GET,
            "/api/admin/models/{id}",
            Admin,
            admin,
            get(registry::handlers::get_model),
        ),
        r(
            Method::GET,
            "/api/admin/models/{id}/artifact/{file}",
            Admin,
            admin,
            get(registry::handlers::model_artifact),
        ),
        r(
            Method::POST,
            "/api/admin/models/{id}/activate",
            Admin,
            admin,
            post(registry::handlers::activate),
        ),
        r(
            Method::PUT,
            "/api/admin/aliases/{model_kind}/{alias}",
            Admin,
            admin,
            put(registry::handlers::set_alias),
        ),
        r(
            Method::GET,
            "/api/admin/aliases/history",
            Admin,
            admin,
            get(registry::handlers::alias_history),
        ),
        r(
            Method::POST,
            "/api/admin/worker-tokens",
            Admin,
            admin,
            post(training::handlers::create_worker_token),
        ),
        r(
            Method::GET,
            "/api/admin/worker-tokens",
            Admin,
            admin,
            get(training::handlers::list_worker_tokens),
        ),
        r(
            Method::DELETE,
            "/api/admin/worker-tokens/{id}",
            Admin,
            admin,
            delete(training::handlers::revoke_worker_token),
        ),
        r(
            Method::GET,
            "/api/admin/users",
            Admin,
            admin,
            get(players::handlers::list_users),
        ),
        r(
            Method::POST,
            "/api/admin/users/{username}/disable",
            Admin,
            admin,
            post(players::handlers::disable_user),
        ),
        r(
            Method::POST,
            "/api/admin/users/{username}/enable",
            Admin,
            admin,
            post(players::handlers::enable_user),
        ),
        r(
            Method::POST,
            "/api/admin/users/{username}/revoke-tokens",
            Admin,
            admin,
            post(players::handlers::revoke_user_tokens),
        ),
        r(
            Method::POST,
            "/api/worker/claim",
            Worker,
            None,
            post(training::worker_api::claim),
        ),
        r(
            Method::GET,
            "/api/worker/jobs/{id}/data",
            Worker,
            None,
            get(training::worker_api::data),
        ),
        r(
            Method::POST,
            "/api/worker/jobs/{id}/heartbeat",
            Worker,
            None,
            post(training::worker_api::heartbeat),
        ),
        r(
            Method::PUT,
            "/api/worker/jobs/{id}/weights",
            Worker,
            None,
            put(training::worker_api::upload_weights).layer(weights_limit),
        ),
        r(
            Method::POST,
            "/api/worker/jobs/{id}/complete",
            Worker,
            None,
            post(training::worker_api::complete).layer(weights_limit),
        ),
        r(
            Method::POST,
            "/api/worker/jobs/{id}/fail",
            Worker,
            None,
            post(training::worker_api::fail),
        ),
        r(
            Method::POST,
            "/api/worker/jobs/{id}/release",
            Worker,
            None,
            post(training::worker_api::release),
        ),
        r(
            Method::POST,
            "/api/inference/classify",
            Inference,
            inference,
            post(inference::handlers::classify).layer(drawing_limit),
        ),
        r(
            Method::GET,
            "/api/inference/model/info",
            Inference,
            inference,
            get(inference::handlers::model_info),
        ),
        r(
            Method::POST,
            "/api/inference/generate",
            Inference,
            inference,
            post(inference::handlers::generate),
        ),
        r(
            Method::GET,
            "/api/inference/model/artifact/{file}",
            Inference,
            inference,
            get(inference::handlers::model_artifact),
        ),
        r(
            Method::GET,
            "/v2",
            Inference,
            inference,
            get(inference::oip::server_metadata),
        ),
        r(
            Method::GET,
            "/v2/health/live",
            Inference,
            inference,
            get(inference::oip::live),
        ),
        r(
            Method::GET,
            "/v2/health/ready",
            Inference,
            inference,
            get(inference::oip::ready),
        ),
        r(
            Method::GET,
            "/v2/models/{name}",
            Inference,
            inference,
            get(inference::oip::model),
        ),
        r(
            Method::GET,
            "/v2/models/{name}/ready",
            Inference,
            inference,
            get(inference::oip::model_is_ready),
        ),
        // The handler reads the body itself, within a limit derived from the model.
        r(
            Method::POST,
            "/v2/models/{name}/infer",
            Inference,
            inference,
            post(inference::oip::infer),
        ),
        r(
            Method::GET,
            "/v2/models/{name}/versions/{version}",
            Inference,
            inference,
            get(inference::oip::model_version),
        ),
        r(
            Method::GET,
            "/v2/models/{name}/versions/{version}/ready",
            Inference,
            inference,
            get(inference::oip::model_version_is_ready),
        ),
        r(
            Method::POST,
            "/v2/models/{name}/versions/{version}/infer",
            Inference,
            inference,
            post(inference::oip::infer_version),
        ),
    ]
}

/// Every `/api/admin/*` route: method, path, handler (the [`Access::Admin`] rows of
/// [`routes`]). Tests enumerate them from here.
pub fn admin_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    routes(&inkset_protocol::Limits::default())
        .into_iter()
        .filter(|r| r.access == Access::Admin)
        .map(|r| (r.method, r.path, r.route))
        .collect()
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
) -> Response {
    if state.inference_settings.require_token {
        let path = request.uri().path().to_owned();
        let refused = match bearer_token(request.headers()) {
            Err(_) => Some(ApiError::Unauthorized(
                "inference needs an admin token, a player account token or a player session token",
            )),
            Ok(token) => match identify(&state, token).await {
                Ok(Some(
                    Identity::Admin { .. } | Identity::Account { .. } | Identity::Session { .. },
                )) => None,
                Ok(Some(other)) => Some(wrong_role(
                    "an admin, player account or player session token",
                    &other,
                )),
                Ok(None) => Some(ApiError::Unauthorized("token unknown, expired or revoked")),
                Err(e) => Some(e),
            },
        };
        if let Some(error) = refused {
            return inference::oip::guard_error(&path, error);
        }
    }
    next.run(request).await
}

/// Unknown routes: the Open Inference Protocol's error form under `/v2`, the API's
/// elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if inference::oip::is_oip_path(path) {
        return inference::oip::not_found(path);
    }
    ApiError::NotFound("no such route".into()).into_response()
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if inference::oip::is_oip_path(path) {
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
    let http = state.http.clone();
    let mut api = Router::new();
    for ApiRoute {
        path,
        access,
        class,
        route,
        ..
    } in routes(&state.limits)
    {
        let mut route = route.layer(edge::layers::timeout(&http, path));
        route = match access {
            Access::Admin => route
                .layer(DefaultBodyLimit::max(state.limits.max_batch_body_bytes))
                .route_layer(middleware::from_fn_with_state(state.clone(), require_admin)),
            Access::Inference => route.route_layer(middleware::from_fn_with_state(
                state.clone(),
                require_inference_token,
            )),
            // Player and worker handlers check their token in their extractors.
            Access::Public | Access::Player | Access::Worker => route,
        };
        if let Some(class) = class {
            route = route.route_layer(middleware::from_fn_with_state(
                (state.rate_limits.clone(), class),
                rate_limit::limit,
            ));
        }
        // Two rows of one path (GET and DELETE of a drawing) merge into one route.
        api = api.route(path, route);
    }
    let request_id = HeaderName::from_static("x-request-id");
    let api = api
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
