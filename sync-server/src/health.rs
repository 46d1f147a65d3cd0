//! `GET /health/live` and `GET /health/ready`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use inkset_protocol::api::Readiness;

use crate::state::AppState;

/// Liveness: the process answers.
pub async fn live() -> Json<Readiness> {
    Json(Readiness {
        status: "ok".into(),
        checks: BTreeMap::new(),
    })
}

/// Readiness: the SQL store and the object store answer (503 otherwise).
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut checks = BTreeMap::new();
    let db = state.db.ping().await;
    checks.insert(
        "database".to_owned(),
        db.as_ref()
            .map_or_else(|e| format!("error: {e}"), |()| "ok".into()),
    );
    let objects = state.objects.ping().await;
    checks.insert(
        "object_store".to_owned(),
        objects
            .as_ref()
            .map_or_else(|e| format!("error: {e}"), |()| "ok".into()),
    );
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
