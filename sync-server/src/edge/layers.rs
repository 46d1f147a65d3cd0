//! tower-http layers of the whole API: CORS, security headers and request timeouts.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::HttpSettings;

/// Routes that move large bodies or long streams, and get
/// [`HttpSettings::streaming_timeout_secs`] instead of the request timeout.
pub const STREAMING_ROUTES: &[&str] = &[
    "/api/admin/import",
    // Cutting a release decodes every drawing in it once (the sources of the manifest).
    "/api/admin/releases",
    "/api/admin/exports/{id}/download",
    "/api/worker/jobs/{id}/data",
    "/api/worker/jobs/{id}/weights",
    "/api/worker/jobs/{id}/complete",
];

/// The timeout of a route: a 408 once it has run this long (body read included).
pub fn timeout(http: &HttpSettings, path: &str) -> TimeoutLayer {
    let secs = if STREAMING_ROUTES.contains(&path) {
        http.streaming_timeout_secs
    } else {
        http.request_timeout_secs
    };
    TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(secs.max(1)),
    )
}

/// CORS for the configured origins: the methods and headers the API uses, `x-request-id`
/// and `Retry-After` readable by scripts. Origins that do not parse as header values are
/// skipped with a warning.
pub fn cors(http: &HttpSettings) -> CorsLayer {
    let origins = if http.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(http.cors_origins.iter().filter_map(|o| {
            HeaderValue::from_str(o)
                .inspect_err(|_| tracing::warn!(origin = %o, "CORS origin is not a header value"))
                .ok()
        }))
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("inference-header-content-length"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("inference-header-content-length"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The security headers every answer carries: no MIME sniffing, no referrer, not framed,
/// and `Cache-Control: no-store` unless the handler set its own caching (tokens and player
/// data must not sit in shared caches).
pub fn secure(router: Router) -> Router {
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}
