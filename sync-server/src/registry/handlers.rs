//! The registry's routes: list and read versions, download artifacts, activate a version,
//! move aliases and read their history, compare two versions.

use crate::error::ApiError;
use crate::http::{RawBody, invalid, parse};
use crate::players::auth::Admin;
use crate::state::AppState;
use crate::training::handlers::job_id;
use crate::training::sql::training_filter;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use inkset_model::dataset::{Split, UNKNOWN, shapes_of};
use inkset_model::inference::Classifier;
use inkset_protocol::FieldError;
use inkset_protocol::ml::{
    AliasHistory, AliasMove, ClassDelta, Comparison, Disagreement, GENERATOR, ModelList,
    ModelVersion, PRODUCTION, RECOGNIZER, SetAlias,
};
use inkset_protocol::quickdraw::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Query of the model list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KindQuery {
    /// Only this model kind.
    pub model_kind: Option<String>,
    /// Only this alias (history).
    pub alias: Option<String>,
}

/// `GET /api/admin/models`: registered versions with their metrics, newest first.
#[utoipa::path(get, path = "/api/admin/models", tag = "registry", params(KindQuery), responses((status = 200, description = "Registered versions with their metrics, newest first", body = ModelList)))]
pub async fn list_models(
    State(state): State<AppState>,
    q: Result<Query<KindQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ModelList>, ApiError> {
    let Query(q) = q.map_err(|e| crate::curation::handlers::query_error(&e))?;
    Ok(Json(ModelList {
        models: state
            .db
            .models(q.model_kind.as_deref())
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect(),
    }))
}

/// `GET /api/admin/models/{id}` answer: a registered version and its full manifest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelWithManifest {
    /// The version as listed.
    pub model: ModelVersion,
    /// Its artifact manifest (`manifest.json`: classes, input size, training config,
    /// metrics), as the trainer wrote it.
    pub manifest: serde_json::Value,
}

/// `GET /api/admin/models/{id}`: the version's full manifest.
#[utoipa::path(get, path = "/api/admin/models/{id}", tag = "registry", params(("id" = Uuid, Path, description = "The model version's id")), responses((status = 200, description = "The version and its manifest", body = ModelWithManifest), (status = 404, description = "No such version", body = inkset_protocol::api::ErrorBody)))]
pub async fn get_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ModelWithManifest>, ApiError> {
    let id = job_id(&id)?;
    let row = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?;
    Ok(Json(ModelWithManifest {
        model: row.version,
        manifest: row.manifest,
    }))
}

/// `GET /api/admin/models/{id}/artifact/{file}`: `manifest.json` or `weights.bpk`.
#[utoipa::path(get, path = "/api/admin/models/{id}/artifact/{file}", tag = "registry", params(("id" = Uuid, Path, description = "The model version's id"), ("file" = String, Path, description = "`manifest.json` or `weights.bpk`")), responses((status = 200, description = "The version's file", content((crate::openapi::Binary = "application/octet-stream"), (serde_json::Value = "application/json"))), (status = 404, description = "No such version or file", body = inkset_protocol::api::ErrorBody)))]
pub async fn model_artifact(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    artifact_file(&state, id, &file).await
}

/// Answers one artifact file of a model version.
///
/// # Errors
/// 404 for an unknown version or file name.
pub async fn artifact_file(state: &AppState, id: Uuid, file: &str) -> Result<Response, ApiError> {
    let row = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?;
    match file {
        inkset_model::artifact::MANIFEST => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            row.manifest.to_string(),
        )
            .into_response()),
        inkset_model::artifact::WEIGHTS => {
            let bytes = state
                .objects
                .get(&format!("{}/{file}", row.artifact_key))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            Ok((
                [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
                bytes,
            )
                .into_response())
        }
        _ => Err(ApiError::NotFound(format!(
            "an artifact has {} and {}",
            inkset_model::artifact::MANIFEST,
            inkset_model::artifact::WEIGHTS
        ))),
    }
}

async fn move_alias(
    state: &AppState,
    admin: &Admin,
    kind: &str,
    alias: &str,
    model_id: Uuid,
) -> Result<AliasMove, ApiError> {
    let row = state
        .db
        .model(model_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {model_id}")))?;
    if row.version.model_kind != kind {
        return Err(invalid(
            "model_id",
            "wrong_kind",
            format!(
                "model {model_id} is a {}, not a {kind}",
                row.version.model_kind
            ),
        ));
    }
    if alias.is_empty()
        || alias.len() > 64
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            "alias",
            "invalid",
            "alias must be 1 to 64 of A-Z a-z 0-9 - _",
        ));
    }
    let m = state
        .db
        .set_alias(kind, alias, model_id, Some(&admin.user_id))
        .await?;
    if kind == RECOGNIZER && alias == PRODUCTION {
        state
            .inference
            .refresh(&state.db, &state.objects)
            .await
            .map_err(ApiError::Internal)?;
    }
    if kind == GENERATOR && alias == PRODUCTION {
        state
            .generation
            .refresh(&state.db, &state.objects)
            .await
            .map_err(ApiError::Internal)?;
    }
    tracing::info!(kind, alias, model = %model_id, "alias moved");
    Ok(m)
}

/// `POST /api/admin/models/{id}/activate`: moves `production` of the version's kind to it;
/// the inference API serves it once this answers.
#[utoipa::path(post, path = "/api/admin/models/{id}/activate", tag = "registry", params(("id" = Uuid, Path, description = "The model version's id")), responses((status = 200, description = "The `production` alias of its kind moved to this version", body = AliasMove), (status = 404, description = "No such version", body = inkset_protocol::api::ErrorBody)))]
pub async fn activate(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<AliasMove>, ApiError> {
    let id = job_id(&id)?;
    let kind = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?
        .version
        .model_kind;
    Ok(Json(
        move_alias(&state, &admin, &kind, PRODUCTION, id).await?,
    ))
}

/// `PUT /api/admin/aliases/{model_kind}/{alias}` with `{"model_id"}`.
#[utoipa::path(put, path = "/api/admin/aliases/{model_kind}/{alias}", tag = "registry", params(("model_kind" = String, Path, description = "`recognizer` or `generator`"), ("alias" = String, Path, description = "Alias name, e.g. `production`, `staging`")), request_body = SetAlias, responses((status = 200, description = "The alias now points at the version", body = AliasMove), (status = 404, description = "No such version", body = inkset_protocol::api::ErrorBody)))]
pub async fn set_alias(
    State(state): State<AppState>,
    admin: Admin,
    Path((kind, alias)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<AliasMove>, ApiError> {
    let req: SetAlias = parse(&body)?;
    Ok(Json(
        move_alias(&state, &admin, &kind, &alias, req.model_id).await?,
    ))
}

/// `GET /api/admin/aliases/history?model_kind=&alias=`: every move, oldest first.
#[utoipa::path(get, path = "/api/admin/aliases/history", tag = "registry", params(KindQuery), responses((status = 200, description = "Alias moves, newest first", body = AliasHistory)))]
pub async fn alias_history(
    State(state): State<AppState>,
    q: Result<Query<KindQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AliasHistory>, ApiError> {
    let Query(q) = q.map_err(|e| crate::curation::handlers::query_error(&e))?;
    Ok(Json(AliasHistory {
        moves: state
            .db
            .alias_history(q.model_kind.as_deref(), q.alias.as_deref())
            .await?,
    }))
}

/// Query of the comparison.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// Version a.
    pub a: Uuid,
    /// Version b.
    pub b: Uuid,
    /// Most drawings evaluated (default 5000).
    pub limit: Option<usize>,
}

async fn load_classifier(
    state: &AppState,
    id: Uuid,
) -> Result<(ModelVersion, Classifier), ApiError> {
    let row = state
        .db
        .model(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?;
    let manifest: inkset_model::artifact::Manifest =
        serde_json::from_value(row.manifest).map_err(|e| ApiError::Internal(e.into()))?;
    let weights = state
        .objects
        .get(&format!(
            "{}/{}",
            row.artifact_key,
            inkset_model::artifact::WEIGHTS
        ))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let c = tokio::task::spawn_blocking(move || {
        Classifier::from_bytes(
            manifest,
            weights.to_vec(),
            inkset_model::backend::Backend::Cpu.device(),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((row.version, c))
}

/// `GET /api/admin/models/compare?a=ID&b=ID`: both versions on the same held-out drawings
/// (test split by source record of the stored, unflagged drawings of their classes).
#[utoipa::path(get, path = "/api/admin/models/compare", tag = "registry", params(CompareQuery), responses((status = 200, description = "Both versions evaluated on the same drawings", body = Comparison), (status = 404, description = "No such version", body = inkset_protocol::api::ErrorBody)))]
pub async fn compare(
    State(state): State<AppState>,
    q: Result<Query<CompareQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Comparison>, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::BadRequest(FieldError::new("query", "invalid_query", e.body_text()))
    })?;
    let (va, a) = load_classifier(&state, q.a).await?;
    let (vb, b) = load_classifier(&state, q.b).await?;
    let limit = q.limit.unwrap_or(5000).clamp(1, 50_000);
    // Every class of either model; distractor words count as `unknown`.
    let mut classes: Vec<String> = a.manifest.classes.clone();
    for c in &b.manifest.classes {
        if !classes.contains(c) {
            classes.push(c.clone());
        }
    }
    let (mut words, with_unknown) = shapes_of(&classes);
    if with_unknown {
        words.extend(state.db.distractor_words().await?);
    }
    let mut drawings: Vec<(Uuid, String, Vec<inkset_model::raster::Polyline>)> = Vec::new();
    let config = inkset_protocol::ml::TrainingConfig::default();
    for w in &words {
        if drawings.len() >= limit {
            break;
        }
        let filter = training_filter(&config, Some(w), i64::MAX);
        crate::dataset::for_each_drawing(&state, &filter, |id, _, d| {
            let key = Record::from_drawing(&d, None).key_id;
            if drawings.len() < limit && Split::of(key) == Split::Test {
                let label = if state.is_distractor(&d.shape) {
                    UNKNOWN.to_owned()
                } else {
                    d.shape.clone()
                };
                drawings.push((id, label, inkset_model::raster::polylines(&d.strokes)));
            }
            Ok(())
        })
        .await
        .map_err(ApiError::Internal)?;
    }
    let result = tokio::task::spawn_blocking(move || {
        let answer = |c: &Classifier| -> Vec<(String, f32)> {
            drawings
                .iter()
                .map(|(_, _, lines)| {
                    c.classify(lines)
                        .map(|(d, _)| (d.label, d.confidence))
                        .unwrap_or_else(|_| (UNKNOWN.to_owned(), 0.0))
                })
                .collect()
        };
        let (ra, rb) = (answer(&a), answer(&b));
        let index = |k: &str| classes.iter().position(|c| c == k);
        let mut confusion_a = vec![vec![0u64; classes.len()]; classes.len()];
        let mut confusion_b = confusion_a.clone();
        let mut per: BTreeMap<&str, [u64; 5]> = BTreeMap::new(); // support, tp_a, pred_a, tp_b, pred_b
        let (mut right_a, mut right_b) = (0u64, 0u64);
        let mut a_not_b = Vec::new();
        let mut b_not_a = Vec::new();
        for (i, ((id, truth, _), (la, ca))) in drawings.iter().zip(&ra).enumerate() {
            per.entry(truth.as_str()).or_default()[0] += 1;
            per.entry(la.as_str()).or_default()[2] += 1;
            let ok_a = la == truth;
            right_a += u64::from(ok_a);
            if ok_a {
                per.entry(truth.as_str()).or_default()[1] += 1;
            }
            let (lb, cb) = &rb[i];
            if let Some(t) = index(truth) {
                if let Some(p) = index(la) {
                    confusion_a[t][p] += 1;
                }
                if let Some(p) = index(lb) {
                    confusion_b[t][p] += 1;
                }
            }
            per.entry(lb.as_str()).or_default()[4] += 1;
            let ok_b = lb == truth;
            right_b += u64::from(ok_b);
            if ok_b {
                per.entry(truth.as_str()).or_default()[3] += 1;
            }
            let d = || Disagreement {
                drawing_id: *id,
                shape: truth.clone(),
                label_a: la.clone(),
                confidence_a: *ca,
                label_b: lb.clone(),
                confidence_b: *cb,
            };
            if ok_a && !ok_b && a_not_b.len() < 100 {
                a_not_b.push(d());
            } else if ok_b && !ok_a && b_not_a.len() < 100 {
                b_not_a.push(d());
            }
        }
        let ratio = |x: u64, y: u64| if y == 0 { 0.0 } else { x as f64 / y as f64 };
        let has = |c: &Classifier, class: &str| c.manifest.classes.iter().any(|k| k == class);
        let per_class = classes
            .iter()
            .map(|class| {
                let p = per.get(class.as_str()).copied().unwrap_or_default();
                let recall_a = has(&a, class).then(|| ratio(p[1], p[0]));
                let recall_b = has(&b, class).then(|| ratio(p[3], p[0]));
                ClassDelta {
                    class: class.clone(),
                    recall_a,
                    recall_b,
                    precision_a: has(&a, class).then(|| ratio(p[1], p[2])),
                    precision_b: has(&b, class).then(|| ratio(p[3], p[4])),
                    recall_delta: recall_a.zip(recall_b).map(|(x, y)| y - x),
                    support: p[0],
                }
            })
            .collect();
        let n = drawings.len() as u64;
        Comparison {
            a: va,
            b: vb,
            evaluated: n,
            accuracy_a: ratio(right_a, n),
            accuracy_b: ratio(right_b, n),
            per_class,
            confusion_a,
            confusion_b,
            classes,
            a_right_b_wrong: a_not_b,
            b_right_a_wrong: b_not_a,
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(result))
}
