//! The inference API (`/api/inference/*`); the same model over the Open Inference Protocol
//! is in [`super::oip`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use inkset_model::raster::polylines;
use inkset_protocol::FieldError;
use inkset_protocol::ml::{Classification, ClassifyRequest, GenerateRequest, Generated, ModelInfo};
use inkset_protocol::validate::{Origin, validate, validate_strokes};

use crate::error::ApiError;
use crate::http::{RawBody, parse};
use crate::inference::recognizer::Served;
use crate::state::AppState;

fn served(state: &AppState) -> Result<Arc<Served>, ApiError> {
    state.inference.current().ok_or(ApiError::Unavailable(
        "no production recognizer yet: train one and activate it \
         (POST /api/admin/training/start, then POST /api/admin/models/{id}/activate)",
    ))
}

/// `POST /api/inference/classify`: label (a shape or `unknown`), confidence, every class's
/// probability, the model version and the server-side latency.
#[utoipa::path(post, path = "/api/inference/classify", tag = "inference", request_body = ClassifyRequest, responses((status = 200, description = "Probabilities per class from the production recognizer", body = Classification), (status = 503, description = "No recognizer is served yet, or the batcher is full (with Retry-After)", body = inkset_protocol::api::ErrorBody)))]
pub async fn classify(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<Classification>, ApiError> {
    let started = Instant::now();
    let req: ClassifyRequest = parse(&body)?;
    // Pending from here to the answer (or an error below): while it is, batches formed for
    // other requests wait for more.
    let pending = state.inference.pending();
    // Validating and rasterizing a drawing of ordinary size takes tens of microseconds
    // (BENCHMARKS.md, the workbench's rasterize p50 0.056 ms): it is done here on the async
    // worker, where two hops to the blocking pool cost more than the work under load (issue
    // 18's serving profile). Large drawings still go to the blocking pool.
    let points: usize = req.strokes.iter().map(|s| s.points.len()).sum();
    let inline = points <= INLINE_RASTER_POINTS;
    let limits = state.limits;
    let req = if inline {
        validate_strokes(&req.strokes, req.canvas, false, &limits).map_err(ApiError::Invalid)?;
        req
    } else {
        tokio::task::spawn_blocking(move || {
            validate_strokes(&req.strokes, req.canvas, false, &limits).map(|()| req)
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Invalid)?
    };
    let model = served(&state)?;
    let raster = if inline {
        raster_for(&req, &model)?
    } else {
        let m = model.clone();
        tokio::task::spawn_blocking(move || raster_for(&req, &m))
            .await
            .map_err(|e| ApiError::Internal(e.into()))??
    };
    let probs = pending
        .run(model.clone(), raster, 1)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let decision = model.classifier.decide(&probs);
    let classes = &model.classifier.manifest.classes;
    Ok(Json(Classification {
        label: decision.label,
        confidence: decision.confidence,
        probabilities: classes
            .iter()
            .cloned()
            .zip(probs)
            .collect::<BTreeMap<_, _>>(),
        model_version: model.version,
        model_id: model.model_id,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}

/// Drawings with at most this many points are validated and rasterized on the async worker
/// (well under 100 us); larger ones on the blocking pool.
const INLINE_RASTER_POINTS: usize = 2_000;

/// Rasterizes a validated classify request for `model`: `[N * N]` f32 in 0..=1, N the
/// model's input size.
fn raster_for(req: &ClassifyRequest, model: &Served) -> Result<Vec<f32>, ApiError> {
    let lines = polylines(&req.strokes);
    // Relative to the canvas when there is one: the tap rule is scale-free.
    #[allow(clippy::cast_possible_truncation)]
    let side = req.canvas.map(|c| c.width.max(c.height) as f32);
    let n = model.classifier.input_size();
    let mut raster = vec![0.0f32; n * n];
    inkset_model::raster::check_on_canvas(&lines, side)
        .and_then(|()| model.classifier.rasterize_into(&lines, &mut raster))
        .map_err(|e| {
            ApiError::Invalid(FieldError::new("strokes", "not_a_drawing", e.to_string()))
        })?;
    Ok(raster)
}

/// Namespace of generated drawings' ids (UUID v5 of model, shape, seed, temperature and
/// point cap), so a repeated request names the same drawing.
const GENERATED_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6a1f_3c2e_9b7d_4e10_8a55_2f0c_1d3b_7e91);

/// `POST /api/inference/generate`: a drawing of `shape` from the production generator at
/// `temperature` with `seed` (same request, same version: same strokes), checked by the
/// same validation as an imported drawing.
#[utoipa::path(post, path = "/api/inference/generate", tag = "inference", request_body = GenerateRequest, responses((status = 200, description = "Strokes drawn by the production generator", body = Generated), (status = 503, description = "No generator is served yet, or every slot is busy (with Retry-After)", body = inkset_protocol::api::ErrorBody)))]
pub async fn generate(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<Generated>, ApiError> {
    let req: GenerateRequest = parse(&body)?;
    let invalid = |field: &str, code: &'static str, msg: String| {
        ApiError::Invalid(FieldError::new(field, code, msg))
    };
    if !(req.temperature.is_finite() && req.temperature > 0.0 && req.temperature <= 2.0) {
        return Err(invalid(
            "temperature",
            "out_of_range",
            format!("temperature must be within (0, 2], got {}", req.temperature),
        ));
    }
    if !(2..=1000).contains(&req.max_points) {
        return Err(invalid(
            "max_points",
            "out_of_range",
            format!("max_points must be within 2..=1000, got {}", req.max_points),
        ));
    }
    let served = state.generation.current().ok_or(ApiError::Unavailable(
        "no production generator yet: train one (POST /api/admin/training/start with \
         {\"config\": {\"model_kind\": \"generator\"}})",
    ))?;
    let class = served
        .generator
        .class_index(&req.shape)
        .map_err(|e| invalid("shape", "unknown_shape", e.to_string()))?;
    let _slot = state.generation.slot().await?;
    let started = Instant::now();
    let (g, temperature, seed, max_points) =
        (served.clone(), req.temperature, req.seed, req.max_points);
    let strokes = tokio::task::spawn_blocking(move || {
        let steps = g
            .generator
            .sample(&[(class, seed)], temperature, max_points)
            .map(|mut v| v.pop().unwrap_or_default());
        steps.map(|s| inkset_model::generator::to_quickdraw(&s, g.generator.manifest.scale))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| invalid("temperature", "out_of_range", e.to_string()))?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let key = format!(
        "{}/{}/{}/{}/{}",
        served.model_id,
        req.shape,
        req.seed,
        req.temperature.to_bits(),
        req.max_points
    );
    let id = uuid::Uuid::new_v5(&GENERATED_NAMESPACE, key.as_bytes());
    let mut drawing = inkset_model::generator::to_drawing(
        &req.shape,
        strokes,
        inkset_protocol::quickdraw::api_key_id(id),
        format!(
            "inkset generator v{} ({}), seed {}, temperature {}",
            served.version, served.model_id, req.seed, req.temperature
        ),
    );
    drawing.id = id;
    validate(&drawing, Origin::Import, &state.limits, |s| {
        state.is_known_shape(s)
    })
    .map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "the generated drawing fails validation at {}: {}",
            e.field,
            e.message
        ))
    })?;
    Ok(Json(Generated {
        drawing,
        model_version: served.version,
        model_id: served.model_id,
        latency_ms,
    }))
}

/// `GET /api/inference/model/info`: the served version, its classes, input and metrics.
#[utoipa::path(get, path = "/api/inference/model/info", tag = "inference", responses((status = 200, description = "The served recognizer: version, classes, input size, metrics", body = ModelInfo), (status = 503, description = "No recognizer is served yet", body = inkset_protocol::api::ErrorBody)))]
pub async fn model_info(State(state): State<AppState>) -> Result<Json<ModelInfo>, ApiError> {
    let model = served(&state)?;
    let m = &model.classifier.manifest;
    Ok(Json(ModelInfo {
        model_id: model.model_id,
        model_kind: m.model_kind.clone(),
        version: model.version,
        classes: m.classes.clone(),
        input_size: m.input.size,
        rasterizer_version: m.rasterizer_version,
        unknown_threshold: m.unknown_threshold,
        backend: state.inference.backend_name(),
        max_batch: state.inference.max_batch(),
        metrics: m
            .metrics
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
    }))
}

/// `GET /api/inference/model/artifact/{file}`: the served version's `manifest.json` or
/// `weights.bpk` (for on-device inference in the game and the workbench).
#[utoipa::path(get, path = "/api/inference/model/artifact/{file}", tag = "inference", params(("file" = String, Path, description = "`manifest.json` or `weights.bpk`")), responses((status = 200, description = "The served recognizer's file", content((crate::openapi::Binary = "application/octet-stream"), (serde_json::Value = "application/json"))), (status = 404, description = "No such file", body = inkset_protocol::api::ErrorBody), (status = 503, description = "No recognizer is served yet", body = inkset_protocol::api::ErrorBody)))]
pub async fn model_artifact(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let model = served(&state)?;
    crate::registry::handlers::artifact_file(&state, model.model_id, &file).await
}
