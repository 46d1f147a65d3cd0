//! `GET /health/live` and `GET /health/ready`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use inkset_protocol::api::Readiness;

use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "The process answers", body = Readiness)))]
pub async fn live() -> Json<Readiness> {
    Json(Readiness {
        status: "ok".into(),
        checks: BTreeMap::new(),
    })
}

/// Readiness: the SQL store and the object store answer (503 otherwise). Each check is
/// `ok` or `unavailable`; the error text itself is logged, and shown only to a caller with
/// an admin token (it can name hosts, paths and users).
#[utoipa::path(get, path = "/health/ready", tag = "health", responses((status = 200, description = "The SQL store and the object store answer", body = Readiness), (status = 503, description = "A store is down; error text only for an admin token", body = Readiness)))]
pub async fn ready(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> (StatusCode, Json<Readiness>) {
    let db = state.db.ping().await.map_err(|e| e.to_string());
    let objects = state.objects.ping().await.map_err(|e| e.to_string());
    let admin = match crate::players::auth::bearer_token(&headers) {
        Ok(token) => matches!(
            crate::players::auth::identify(&state, token).await,
            Ok(Some(crate::players::auth::Identity::Admin { .. }))
        ),
        Err(_) => false,
    };
    let mut checks = BTreeMap::new();
    for (name, result) in [("database", &db), ("object_store", &objects)] {
        let shown = match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => {
                tracing::warn!(check = name, error = %e, "readiness check failed");
                if admin {
                    format!("unavailable: {e}")
                } else {
                    "unavailable".to_owned()
                }
            }
        };
        checks.insert(name.to_owned(), shown);
    }
    let ok = db.is_ok() && objects.is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ok { "ok" } else { "unavailable" }.into(),
            checks,
        }),
    )
}
