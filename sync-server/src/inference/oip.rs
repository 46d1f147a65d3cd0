//! The served recognizer over the Open Inference Protocol v2 REST API, as KServe specifies
//! it and Triton implements it (<https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/>):
//! health, server and model metadata, versioned routes, `infer` with JSON data or the binary
//! tensor extension (Triton's `binary_tensor_data`: a JSON header whose length is in the
//! `Inference-Header-Content-Length` header, then each binary tensor's raw little-endian
//! bytes in order), and errors as `{"error": "<message>"}`.
//!
//! `infer` checks the declared name, datatype, shape and batch before it reads any tensor
//! data: the JSON header is parsed with the data left as unparsed text, so a request is
//! refused (400) without materialising its values, and the body is refused (413) past a
//! limit derived from the served model's input ([`body_limit`]).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use inkset_protocol::ml::{
    OipErrorBody, OipLive, OipModelMetadata, OipModelReady, OipReady, OipServerMetadata,
    OipTensorMetadata, RECOGNIZER,
};
use inkset_protocol::oip::{HEADER_LENGTH, parse_infer};

use crate::error::ApiError;
use crate::inference::recognizer::Served;
use crate::state::AppState;

/// Most rasters in one `infer` request.
pub const MAX_BATCH: usize = 1024;

/// Longest JSON text of one FP32 value (`-1.23456789e-38,` is 16 bytes; whitespace and
/// nesting brackets allowed for).
const JSON_BYTES_PER_VALUE: usize = 24;

/// The largest `infer` body for a model with `n` x `n` rasters: [`MAX_BATCH`] rasters as
/// JSON numbers plus 64 KiB of header. Binary requests are smaller (4 bytes a value).
pub fn body_limit(n: usize) -> usize {
    MAX_BATCH * n * n * JSON_BYTES_PER_VALUE + (64 << 10)
}

/// An Open Inference Protocol error answer: `{"error": "<message>"}` with its status.
#[derive(Debug)]
pub struct OipError(pub StatusCode, pub String);

impl IntoResponse for OipError {
    fn into_response(self) -> Response {
        (self.0, Json(OipErrorBody { error: self.1 })).into_response()
    }
}

fn bad(message: impl Into<String>) -> OipError {
    OipError(StatusCode::BAD_REQUEST, message.into())
}

/// Whether `path` is one of the protocol's (`/v2`, `/v2/...`).
pub fn is_oip_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// An error of a guard that runs before the handlers (the token check, a rate limit):
/// in the protocol's error form under `/v2`, with the same status and `Retry-After`; in
/// the API's form elsewhere.
pub fn guard_error(path: &str, error: ApiError) -> Response {
    if !is_oip_path(path) {
        return error.into_response();
    }
    let retry_after = error.retry_after_secs();
    let mut response = OipError(error.status(), error.to_string()).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Answers a route under `/v2` that does not exist, in the protocol's error form.
pub fn not_found(path: &str) -> Response {
    OipError(StatusCode::NOT_FOUND, format!("no route {path}")).into_response()
}

/// `GET /v2`: server metadata.
#[utoipa::path(get, path = "/v2", tag = "oip", responses((status = 200, description = "Server metadata", body = OipServerMetadata)))]
pub async fn server_metadata() -> Json<OipServerMetadata> {
    Json(OipServerMetadata {
        name: "inkset".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        extensions: vec!["binary_tensor_data".into()],
    })
}

/// `GET /v2/health/live`.
#[utoipa::path(get, path = "/v2/health/live", tag = "oip", responses((status = 200, description = "The server answers", body = OipLive)))]
pub async fn live() -> Json<OipLive> {
    Json(OipLive { live: true })
}

/// `GET /v2/health/ready`: 200 when the model is loaded, 503 otherwise.
#[utoipa::path(get, path = "/v2/health/ready", tag = "oip", responses((status = 200, description = "A model is loaded", body = OipReady), (status = 503, description = "No model is loaded yet", body = OipReady)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.inference.current().is_some();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(OipReady { ready })).into_response()
}

/// The served recognizer if `name` (and `version`, when given) name it.
fn model_for(state: &AppState, name: &str, version: Option<&str>) -> Result<Arc<Served>, OipError> {
    if name != RECOGNIZER {
        return Err(OipError(
            StatusCode::NOT_FOUND,
            format!("unknown model {name:?}; this server serves {RECOGNIZER:?}"),
        ));
    }
    let served = state.inference.current().ok_or_else(|| {
        OipError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no production recognizer is loaded yet".into(),
        )
    })?;
    if let Some(v) = version
        && v != served.version.to_string()
    {
        return Err(OipError(
            StatusCode::NOT_FOUND,
            format!(
                "model {name:?} has no version {v:?} loaded; version {} is served",
                served.version
            ),
        ));
    }
    Ok(served)
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
        parameters: Some(serde_json::json!({ "classes": model.classifier.manifest.classes })),
    }
}

fn model_metadata(state: &AppState, name: &str, version: Option<&str>) -> Response {
    match model_for(state, name, version) {
        Ok(m) => Json(metadata(&m)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v2/models/{name}`: metadata (`raster` `[-1, 1, N, N]` FP32 in, `probabilities`
/// `[-1, classes]` FP32 out; class names in `parameters.classes`).
#[utoipa::path(get, path = "/v2/models/{name}", tag = "oip", params(("name" = String, Path, description = "`recognizer`")), responses((status = 200, description = "The model's inputs, outputs and classes", body = OipModelMetadata), (status = 404, description = "No such model", body = OipErrorBody), (status = 503, description = "No model is loaded yet", body = OipErrorBody)))]
pub async fn model(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    model_metadata(&state, &name, None)
}

/// `GET /v2/models/{name}/versions/{version}`: the same for the served version only.
#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}", tag = "oip", params(("name" = String, Path, description = "`recognizer`"), ("version" = String, Path, description = "The served registry version")), responses((status = 200, description = "The model's inputs, outputs and classes", body = OipModelMetadata), (status = 404, description = "No such model or version", body = OipErrorBody), (status = 503, description = "No model is loaded yet", body = OipErrorBody)))]
pub async fn model_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    model_metadata(&state, &name, Some(&version))
}

fn model_ready(state: &AppState, name: &str, version: Option<&str>) -> Response {
    match model_for(state, name, version) {
        Ok(_) => Json(OipModelReady {
            name: name.to_owned(),
            ready: true,
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v2/models/{name}/ready`.
#[utoipa::path(get, path = "/v2/models/{name}/ready", tag = "oip", params(("name" = String, Path, description = "`recognizer`")), responses((status = 200, description = "The model can serve", body = OipModelReady), (status = 404, description = "No such model", body = OipErrorBody), (status = 503, description = "No model is loaded yet", body = OipErrorBody)))]
pub async fn model_is_ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    model_ready(&state, &name, None)
}

/// `GET /v2/models/{name}/versions/{version}/ready`.
#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}/ready", tag = "oip", params(("name" = String, Path, description = "`recognizer`"), ("version" = String, Path, description = "The served registry version")), responses((status = 200, description = "The version can serve", body = OipModelReady), (status = 404, description = "No such model or version", body = OipErrorBody), (status = 503, description = "No model is loaded yet", body = OipErrorBody)))]
pub async fn model_version_is_ready(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    model_ready(&state, &name, Some(&version))
}

/// `POST /v2/models/{name}/infer`.
#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = "oip", params(("name" = String, Path, description = "`recognizer`")), request_body(content((inkset_protocol::ml::OipInferRequest = "application/json"), (crate::openapi::Binary = "application/octet-stream")), description = "JSON, or the binary tensor extension: a JSON header of `Inference-Header-Content-Length` bytes, then raw little-endian FP32"), responses((status = 200, description = "Probabilities, JSON or binary (binary when the request asked for it)", content((inkset_protocol::ml::OipInferResponse = "application/json"), (crate::openapi::Binary = "application/octet-stream"))), (status = 400, description = "Wrong name, datatype, shape or batch; malformed body", body = OipErrorBody), (status = 404, description = "No such model", body = OipErrorBody), (status = 413, description = "Larger than the served model allows", body = OipErrorBody), (status = 503, description = "No model is loaded yet, or the batcher is full", body = OipErrorBody)))]
pub async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    run_infer(&state, &name, None, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v2/models/{name}/versions/{version}/infer`.
#[utoipa::path(post, path = "/v2/models/{name}/versions/{version}/infer", tag = "oip", params(("name" = String, Path, description = "`recognizer`"), ("version" = String, Path, description = "The served registry version")), request_body(content((inkset_protocol::ml::OipInferRequest = "application/json"), (crate::openapi::Binary = "application/octet-stream")), description = "As for `/v2/models/{name}/infer`"), responses((status = 200, description = "Probabilities, JSON or binary", content((inkset_protocol::ml::OipInferResponse = "application/json"), (crate::openapi::Binary = "application/octet-stream"))), (status = 400, description = "Wrong name, datatype, shape or batch; malformed body", body = OipErrorBody), (status = 404, description = "No such model or version", body = OipErrorBody), (status = 413, description = "Larger than the served model allows", body = OipErrorBody), (status = 503, description = "No model is loaded yet, or the batcher is full", body = OipErrorBody)))]
pub async fn infer_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    request: Request,
) -> Response {
    run_infer(&state, &name, Some(&version), request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn run_infer(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    request: Request,
) -> Result<Response, OipError> {
    let model = model_for(state, name, version)?;
    let n = model.classifier.input_size();
    let limit = body_limit(n);
    let too_large = || {
        OipError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request is larger than {limit} bytes ({MAX_BATCH} rasters of {n} x {n} as \
                 JSON numbers)"
            ),
        )
    };
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|l| l > limit) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let header_len = header_length(&parts.headers)?;
    // Parsing up to tens of MiB of numbers is CPU work: off the async workers.
    let req = tokio::task::spawn_blocking(move || parse_infer(&body, header_len, n, MAX_BATCH))
        .await
        .map_err(|e| OipError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| bad(e.0))?;
    let (batch, data, binary_output) = (req.batch, req.values, req.binary_output);
    let probs = state
        .inference
        .run(model.clone(), data, batch)
        .await
        .map_err(|e| match e {
            crate::inference::recognizer::RunError::Overloaded(_) => {
                OipError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            crate::inference::recognizer::RunError::Stopped => {
                OipError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        })?;
    let k = model.classifier.manifest.classes.len();
    let values: Vec<f32> = probs.into_iter().flatten().collect();
    let shape = [
        i64::try_from(batch).unwrap_or(0),
        i64::try_from(k).unwrap_or(0),
    ];
    let mut output = serde_json::json!({
        "name": "probabilities",
        "datatype": "FP32",
        "shape": shape,
    });
    let mut answer = serde_json::json!({
        "model_name": RECOGNIZER,
        "model_version": model.version.to_string(),
    });
    if let Some(id) = &req.id {
        answer["id"] = serde_json::json!(id);
    }
    if !binary_output {
        output["data"] = serde_json::json!(values);
        answer["outputs"] = serde_json::json!([output]);
        return Ok(Json(answer).into_response());
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    output["parameters"] = serde_json::json!({ "binary_data_size": bytes.len() });
    answer["outputs"] = serde_json::json!([output]);
    let mut body = serde_json::to_vec(&answer)
        .map_err(|e| OipError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let json_len = body.len();
    body.extend_from_slice(&bytes);
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(HEADER_LENGTH, HeaderValue::from(json_len));
    Ok(response)
}

/// The JSON header's length of a binary request (`Inference-Header-Content-Length`).
fn header_length(headers: &HeaderMap) -> Result<Option<usize>, OipError> {
    let Some(v) = headers.get(HEADER_LENGTH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map(Some)
        .ok_or_else(|| bad(format!("{HEADER_LENGTH} must be a byte count")))
}
