//! The inference API (`/api/inference/*`) and the same model over the Open Inference
//! Protocol v2 REST API (`/v2/*`, as specified by KServe and implemented by Triton).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use inkset_model::raster::polylines;
use inkset_protocol::FieldError;
use inkset_protocol::ml::{
    Classification, ClassifyRequest, GenerateRequest, Generated, ModelInfo, OipInferRequest,
    OipInferResponse, OipModelMetadata, OipOutput, OipTensorMetadata, RECOGNIZER,
};
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
pub async fn classify(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<Classification>, ApiError> {
    let started = Instant::now();
    let req: ClassifyRequest = parse(&body)?;
    validate_strokes(&req.strokes, req.canvas, false, &state.limits).map_err(ApiError::Invalid)?;
    let model = served(&state)?;
    let lines = polylines(&req.strokes);
    let n = model.classifier.input_size();
    let mut raster = vec![0.0f32; n * n];
    model
        .classifier
        .rasterize_into(&lines, &mut raster)
        .map_err(|e| {
            ApiError::Invalid(FieldError::new("strokes", "not_a_drawing", e.to_string()))
        })?;
    let probs = state
        .inference
        .run(model.clone(), raster, 1)
        .await
        .map_err(ApiError::Internal)?
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

/// Namespace of generated drawings' ids (UUID v5 of model, shape, seed, temperature and
/// point cap), so a repeated request names the same drawing.
const GENERATED_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6a1f_3c2e_9b7d_4e10_8a55_2f0c_1d3b_7e91);

/// `POST /api/inference/generate`: a drawing of `shape` from the production generator at
/// `temperature` with `seed` (same request, same version: same strokes), checked by the
/// same validation as an imported drawing.
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
    let _slot = state.generation.slot().await.map_err(ApiError::Internal)?;
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
pub async fn model_artifact(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let model = served(&state)?;
    crate::registry::handlers::artifact_file(&state, model.model_id, &file).await
}

/// An Open Inference Protocol error: `{"error": "<message>"}` with its status.
fn oip_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// `GET /v2/health/live`.
pub async fn v2_live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "live": true }))
}

/// `GET /v2/health/ready`: 200 when the model is loaded, 503 otherwise.
pub async fn v2_ready(State(state): State<AppState>) -> Response {
    let ready = state.inference.current().is_some();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({ "ready": ready }))).into_response()
}

/// An Open Inference Protocol error answer.
pub struct OipError(StatusCode, String);

impl IntoResponse for OipError {
    fn into_response(self) -> Response {
        oip_error(self.0, self.1)
    }
}

fn model_for(state: &AppState, name: &str) -> Result<Arc<Served>, OipError> {
    if name != RECOGNIZER {
        return Err(OipError(
            StatusCode::NOT_FOUND,
            format!("unknown model {name:?}; this server serves {RECOGNIZER:?}"),
        ));
    }
    state.inference.current().ok_or_else(|| {
        OipError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no production recognizer is loaded yet".into(),
        )
    })
}

fn metadata(model: &Served) -> OipModelMetadata {
    let n = i64::try_from(model.classifier.input_size()).unwrap_or(32);
    let k = i64::try_from(model.classifier.manifest.classes.len()).unwrap_or(0);
    OipModelMetadata {
        name: RECOGNIZER.into(),
        versions: vec![model.version.to_string()],
        platform: "burn".into(),
        inputs: vec![OipTensorMetadata {
            name: "raster".into(),
            datatype: "FP32".into(),
            shape: vec![-1, 1, n, n],
        }],
        outputs: vec![OipTensorMetadata {
            name: "probabilities".into(),
            datatype: "FP32".into(),
            shape: vec![-1, k],
        }],
    }
}

/// `GET /v2/models/{name}`: metadata (`raster` `[-1, 1, N, N]` FP32 in, `probabilities`
/// `[-1, classes]` FP32 out; class names in `parameters.classes` of the answer's outputs).
pub async fn v2_model(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match model_for(&state, &name) {
        Ok(m) => {
            let mut meta = serde_json::to_value(metadata(&m)).unwrap_or_default();
            meta["parameters"] = serde_json::json!({ "classes": m.classifier.manifest.classes });
            Json(meta).into_response()
        }
        Err(r) => r.into_response(),
    }
}

/// `GET /v2/models/{name}/ready`.
pub async fn v2_model_ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match model_for(&state, &name) {
        Ok(_) => Json(serde_json::json!({ "name": name, "ready": true })).into_response(),
        Err(r) => r.into_response(),
    }
}

fn flatten(value: &serde_json::Value, out: &mut Vec<f32>) -> Result<(), String> {
    match value {
        serde_json::Value::Array(items) => {
            for v in items {
                flatten(v, out)?;
            }
            Ok(())
        }
        serde_json::Value::Number(n) => {
            let v = n.as_f64().ok_or("a number out of range")?;
            #[allow(clippy::cast_possible_truncation)]
            let f = v as f32;
            if !f.is_finite() {
                return Err(format!("{v} is not a finite FP32 value"));
            }
            out.push(f);
            Ok(())
        }
        other => Err(format!("FP32 data must be numbers, found {other}")),
    }
}

/// `POST /v2/models/{name}/infer`: one `raster` input, FP32, shape `[batch, 1, N, N]`
/// (`batch` 1..=1024); answers `probabilities` `[batch, classes]` FP32. A wrong name,
/// datatype, shape or element count is a 400 saying what was expected.
pub async fn v2_infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let model = match model_for(&state, &name) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    let req: OipInferRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return oip_error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    let n = model.classifier.input_size();
    let expected = format!("[batch, 1, {n}, {n}]");
    let [input] = req.inputs.as_slice() else {
        return oip_error(
            StatusCode::BAD_REQUEST,
            format!(
                "expected exactly 1 input (\"raster\", FP32, {expected}), got {}",
                req.inputs.len()
            ),
        );
    };
    if input.name != "raster" {
        return oip_error(
            StatusCode::BAD_REQUEST,
            format!("unexpected input {:?}; expected \"raster\"", input.name),
        );
    }
    if input.datatype != "FP32" {
        return oip_error(
            StatusCode::BAD_REQUEST,
            format!(
                "input \"raster\" has datatype {:?}; expected \"FP32\"",
                input.datatype
            ),
        );
    }
    let shape_ok = input.shape.len() == 4
        && input.shape[0] >= 1
        && input.shape[0] <= 1024
        && input.shape[1] == 1
        && input.shape[2] == i64::try_from(n).unwrap_or(-1)
        && input.shape[3] == i64::try_from(n).unwrap_or(-1);
    if !shape_ok {
        return oip_error(
            StatusCode::BAD_REQUEST,
            format!(
                "input \"raster\" has shape {:?}; expected {expected} with batch 1..=1024",
                input.shape
            ),
        );
    }
    if let Some(outputs) = &req.outputs
        && let Some(o) = outputs.iter().find(|o| o.name != "probabilities")
    {
        return oip_error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown output {:?}; this model has \"probabilities\"",
                o.name
            ),
        );
    }
    let batch = usize::try_from(input.shape[0]).unwrap_or(1);
    let mut data = Vec::with_capacity(batch * n * n);
    if let Err(e) = flatten(&input.data, &mut data) {
        return oip_error(StatusCode::BAD_REQUEST, format!("input \"raster\": {e}"));
    }
    if data.len() != batch * n * n {
        return oip_error(
            StatusCode::BAD_REQUEST,
            format!(
                "input \"raster\" has {} values; shape {:?} needs {}",
                data.len(),
                input.shape,
                batch * n * n
            ),
        );
    }
    let probs = match state.inference.run(model.clone(), data, batch).await {
        Ok(p) => p,
        Err(e) => return oip_error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    let k = model.classifier.manifest.classes.len();
    Json(OipInferResponse {
        model_name: RECOGNIZER.into(),
        model_version: model.version.to_string(),
        id: req.id,
        outputs: vec![OipOutput {
            name: "probabilities".into(),
            shape: vec![
                i64::try_from(batch).unwrap_or(0),
                i64::try_from(k).unwrap_or(0),
            ],
            datatype: "FP32".into(),
            data: serde_json::json!(probs.into_iter().flatten().collect::<Vec<f32>>()),
        }],
    })
    .into_response()
}
