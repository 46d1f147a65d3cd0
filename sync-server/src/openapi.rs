//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json`.
//!
//! Generated from the code: each handler's `#[utoipa::path]` gives its success answers and
//! the errors particular to it, the wire types' `ToSchema` derives (in `inkset-protocol`)
//! give the bodies, and [`Conventions`] adds what the route table ([`crate::app::routes`])
//! knows of every route: who may call it (the bearer scheme), and the error answers that
//! the guards, limits and timeouts in front of every handler can give. A test checks that
//! the document and the route table list the same operations.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use inkset_protocol::api::ErrorBody;
use inkset_protocol::ml::OipErrorBody;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use crate::app::{Access, routes};

/// A byte stream in the document (`type: string, format: binary`): export files, model
/// artifacts, training data streams, binary tensors.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

/// The API's operations, schemas and tags (see the module docs).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Inkset API",
        description = "Collects drawings from players, curates them, trains recognizer and \
            generator models on them, and serves those models (Inkset's own inference API and \
            the Open Inference Protocol v2 under `/v2`). Times are ms since the Unix epoch, \
            server clock, unless a field says otherwise. Errors are `{\"error\": {\"code\", \
            \"message\", \"field\"?}}`, and `{\"error\": \"...\"}` under `/v2`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        crate::health::live,
        crate::health::ready,
        serve,
        crate::shapes::shapes,
        crate::players::handlers::create_session,
        crate::players::handlers::login,
        crate::players::handlers::signup,
        crate::players::handlers::link,
        crate::players::handlers::logout,
        crate::players::handlers::user_stats,
        crate::drawings::handlers::upload,
        crate::drawings::handlers::upload_batch,
        crate::curation::handlers::stats,
        crate::curation::handlers::list_drawings,
        crate::curation::handlers::count_drawings,
        crate::curation::handlers::get_drawing,
        crate::curation::handlers::remove_drawing,
        crate::curation::handlers::flag_drawing,
        crate::curation::handlers::unflag_drawing,
        crate::curation::handlers::override_quality,
        crate::curation::handlers::bulk,
        crate::curation::contributors::list_contributors,
        crate::prompts::next_prompts,
        crate::prompts::prompt_plan,
        crate::shapes::add_shape,
        crate::dataset::releases::cut_release,
        crate::dataset::releases::list_releases,
        crate::dataset::releases::get_release,
        crate::dataset::releases::diff_release,
        crate::dataset::handlers::start_export,
        crate::dataset::handlers::list_exports,
        crate::dataset::handlers::get_export,
        crate::dataset::handlers::download_export,
        crate::dataset::handlers::import,
        crate::training::handlers::start,
        crate::training::handlers::plan,
        crate::training::handlers::list_jobs,
        crate::training::handlers::get_job,
        crate::training::handlers::cancel,
        crate::registry::handlers::list_models,
        crate::registry::handlers::compare,
        crate::registry::handlers::get_model,
        crate::registry::handlers::model_artifact,
        crate::registry::handlers::activate,
        crate::registry::handlers::set_alias,
        crate::registry::handlers::alias_history,
        crate::training::handlers::create_worker_token,
        crate::training::handlers::list_worker_tokens,
        crate::training::handlers::revoke_worker_token,
        crate::players::handlers::list_users,
        crate::players::handlers::disable_user,
        crate::players::handlers::enable_user,
        crate::players::handlers::revoke_user_tokens,
        crate::training::worker_api::claim,
        crate::training::worker_api::data,
        crate::training::worker_api::heartbeat,
        crate::training::worker_api::upload_weights,
        crate::training::worker_api::complete,
        crate::training::worker_api::fail,
        crate::training::worker_api::release,
        crate::inference::handlers::classify,
        crate::inference::handlers::model_info,
        crate::inference::handlers::generate,
        crate::inference::handlers::model_artifact,
        crate::inference::oip::server_metadata,
        crate::inference::oip::live,
        crate::inference::oip::ready,
        crate::inference::oip::model,
        crate::inference::oip::model_is_ready,
        crate::inference::oip::infer,
        crate::inference::oip::model_version,
        crate::inference::oip::model_version_is_ready,
        crate::inference::oip::infer_version,
    ),
    // Schemas reached only through query parameters are not collected by themselves.
    components(schemas(
        ErrorBody,
        OipErrorBody,
        inkset_protocol::api::DrawingSort,
        inkset_protocol::api::ContributorSort,
        inkset_protocol::api::ContributorKind,
        inkset_protocol::api::SortOrder,
        inkset_protocol::api::PromptPolicy
    )),
    modifiers(&Conventions),
    tags(
        (name = "health", description = "Liveness, readiness and this document"),
        (name = "players", description = "Sessions, accounts, shapes to draw and progress"),
        (name = "drawings", description = "Uploads of drawings (idempotent by drawing id)"),
        (name = "curation", description = "Statistics, browsing, flags, quality and shapes"),
        (name = "dataset", description = "Quick, Draw! imports and dataset exports"),
        (name = "training", description = "Training jobs"),
        (name = "registry", description = "Model versions, aliases and comparisons"),
        (name = "access", description = "Accounts, their tokens and worker tokens"),
        (name = "worker", description = "The trainer protocol: claim, lease, data, weights"),
        (name = "inference", description = "Recognition and generation with the served models"),
        (name = "oip", description = "Open Inference Protocol v2 (KServe, Triton clients)"),
    ),
)]
pub struct ApiDoc;

/// The document as served: JSON, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the OpenAPI document failed: {e}\"}}"))
});

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /api/openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
pub async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// What every route has in common, from the route table: the bearer scheme where a token is
/// needed, and the answers of the layers in front of the handlers (malformed requests, too
/// large bodies, tokens, rate limits, timeouts, storage failures, shutdown). An answer a
/// handler documents itself is kept.
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token (`POST /api/sessions`), a login token \
                         (`POST /api/auth/login`) or a worker token \
                         (`POST /api/admin/worker-tokens`)",
                    ))
                    .build(),
            ),
        );
        for route in routes(&inkset_protocol::Limits::DEFAULT) {
            let Some(item) = doc.paths.paths.get_mut(route.path) else {
                continue;
            };
            let method = match route.method.as_str() {
                "GET" => HttpMethod::Get,
                "POST" => HttpMethod::Post,
                "PUT" => HttpMethod::Put,
                "DELETE" => HttpMethod::Delete,
                _ => continue,
            };
            let op = match method {
                HttpMethod::Get => item.get.as_mut(),
                HttpMethod::Post => item.post.as_mut(),
                HttpMethod::Put => item.put.as_mut(),
                HttpMethod::Delete => item.delete.as_mut(),
                _ => None,
            };
            if let Some(op) = op {
                annotate(op, route.path, route.access, route.class.is_some());
            }
        }
    }
}

fn annotate(op: &mut Operation, path: &str, access: Access, rate_limited: bool) {
    let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
    op.security = match access {
        Access::Public => None,
        Access::Player | Access::Admin | Access::Worker => Some(vec![bearer]),
        // Optional: only with `inference.require_token`.
        Access::Inference => Some(vec![SecurityRequirement::default(), bearer]),
    };
    let oip = crate::inference::oip::is_oip_path(path);
    let has_body = op.request_body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut add = |status: &str, description: &str, body: bool, retry_after: bool| {
        if op.responses.responses.contains_key(status) {
            return;
        }
        let mut response = ResponseBuilder::new().description(description);
        if body {
            let schema = if oip { "OipErrorBody" } else { "ErrorBody" };
            response = response.content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            );
        }
        if retry_after {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(1)),
                    ))
                    .description(Some("Seconds to wait before retrying (RFC 9110 10.2.3)"))
                    .build(),
            );
        }
        op.responses
            .responses
            .insert(status.to_owned(), response.build().into());
    };
    if has_body || has_params {
        add(
            "400",
            "The body, the query or a path parameter is malformed; `error.field` names it",
            true,
            false,
        );
        add(
            "422",
            "A value breaks a validation rule; `error.field` names it",
            true,
            false,
        );
    }
    match access {
        Access::Public => {}
        Access::Inference => {
            add(
                "401",
                "With `inference.require_token`: no token, or an unknown, expired or revoked one",
                true,
                false,
            );
            add(
                "403",
                "With `inference.require_token`: a worker token",
                true,
                false,
            );
        }
        Access::Player | Access::Admin | Access::Worker => {
            add(
                "401",
                "No token, or an unknown, expired or revoked one",
                true,
                false,
            );
            add(
                "403",
                "A valid token of a role this route does not serve",
                true,
                false,
            );
        }
    }
    if path.contains('{') {
        add("404", "Nothing at that path parameter", true, false);
    }
    add(
        "408",
        "The request outlasted the route's timeout (`http.request_timeout_secs`; \
         `http.streaming_timeout_secs` for imports, downloads and the worker's data and weights)",
        false,
        false,
    );
    if has_body {
        add(
            "413",
            "The body is larger than this route accepts",
            true,
            false,
        );
    }
    if rate_limited {
        add(
            "429",
            "Past this route class's rate limit (`[rate_limits]`), or a login back-off",
            true,
            true,
        );
    }
    add(
        "500",
        "Storage failed; the details are logged, not returned",
        true,
        false,
    );
    add(
        "503",
        "The server is shutting down, or a queue is full",
        true,
        true,
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let mut ops = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ] {
                if op.is_some() {
                    ops.insert((method.to_owned(), path.clone()));
                }
            }
        }
        ops
    }

    #[test]
    fn the_document_lists_exactly_the_routes_of_the_router() {
        let routed: BTreeSet<(String, String)> = routes(&inkset_protocol::Limits::DEFAULT)
            .into_iter()
            .map(|r| (r.method.to_string(), r.path.to_owned()))
            .collect();
        let documented = documented();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the document: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "documented operations with no route: {unrouted:?}"
        );
        assert!(routed.len() > 60, "{} routes", routed.len());
    }

    #[test]
    fn every_operation_documents_success_and_errors_and_guarded_ones_need_a_token() {
        let doc = document();
        for route in routes(&inkset_protocol::Limits::DEFAULT) {
            let item = &doc.paths.paths[route.path];
            let op = match route.method.as_str() {
                "GET" => item.get.as_ref(),
                "POST" => item.post.as_ref(),
                "PUT" => item.put.as_ref(),
                "DELETE" => item.delete.as_ref(),
                _ => None,
            }
            .unwrap_or_else(|| panic!("{} {} is not documented", route.method, route.path));
            let statuses: Vec<&str> = op.responses.responses.keys().map(String::as_str).collect();
            assert!(
                statuses.iter().any(|s| s.starts_with('2')),
                "{} {}: no success answer in {statuses:?}",
                route.method,
                route.path
            );
            for needed in ["408", "500", "503"] {
                assert!(
                    statuses.contains(&needed),
                    "{} {}: no {needed}",
                    route.method,
                    route.path
                );
            }
            let guarded = !matches!(route.access, Access::Public);
            assert_eq!(
                op.security.is_some(),
                guarded,
                "{} {}: security",
                route.method,
                route.path
            );
            if guarded {
                assert!(statuses.contains(&"401") && statuses.contains(&"403"));
            }
            if route.class.is_some() {
                assert!(
                    statuses.contains(&"429"),
                    "{} {}: no 429",
                    route.method,
                    route.path
                );
            }
            assert!(
                op.description.is_some() || op.summary.is_some(),
                "{} {}: no doc",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn every_referenced_schema_is_defined() {
        let json = serde_json::to_value(document()).expect("document serializes");
        let schemas = json["components"]["schemas"]
            .as_object()
            .expect("components.schemas");
        let text = json.to_string();
        let mut missing = BTreeSet::new();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            if !schemas.contains_key(name) {
                missing.insert(name.to_owned());
            }
        }
        assert!(
            missing.is_empty(),
            "referenced but not defined: {missing:?}"
        );
        for name in [
            "Drawing",
            "ErrorBody",
            "OipErrorBody",
            "OipInferRequest",
            "TrainingConfig",
        ] {
            assert!(schemas.contains_key(name), "{name} is not in the document");
        }
    }
}
