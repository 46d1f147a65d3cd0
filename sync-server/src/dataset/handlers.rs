//! `POST /api/admin/import` and the export routes (`/api/admin/exports...`).

use crate::curation::handlers::{DrawingId, query_error, validate_filter};
use crate::error::ApiError;
use crate::http::{RawBody, parse};
use crate::players::auth::Admin;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use inkset_protocol::FieldError;
use inkset_protocol::api::{ExportFormat, ExportJob, ExportList, StartExport};
use serde::Deserialize;

/// Query of `POST /api/admin/import`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Store records whose word is not a shape as distractors instead of rejecting them.
    #[serde(default)]
    pub distractors: bool,
}

/// `POST /api/admin/import?distractors=bool`: imports a Quick, Draw! ndjson body (raw or
/// simplified, one drawing a line); answers the import report (stored, already present,
/// rejected with reasons).
#[utoipa::path(post, path = "/api/admin/import", tag = "dataset", params(ImportQuery), request_body(content = String, content_type = "application/x-ndjson", description = "Quick, Draw! ndjson, raw or simplified format (one drawing a line), per the dataset's README"), responses((status = 200, description = "What was stored, already present or rejected, with reasons", body = crate::dataset::ImportReport)))]
pub async fn import(
    State(state): State<AppState>,
    q: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    RawBody(body): RawBody,
) -> Result<Json<crate::dataset::ImportReport>, ApiError> {
    let Query(q) = q.map_err(|e| query_error(&e))?;
    let mut report = crate::dataset::ImportReport {
        files: 1,
        ..Default::default()
    };
    let mut bytes = 0;
    crate::dataset::import_reader(
        &state,
        "body",
        std::io::Cursor::new(&body[..]),
        q.distractors,
        &mut report,
        &mut bytes,
        &mut |_| {},
    )
    .await
    .map_err(ApiError::Internal)?;
    Ok(Json(report))
}

/// `POST /api/admin/exports`: starts a background export of the drawings matching a filter
/// (202 with the job; poll `GET /api/admin/exports/{id}`, then download).
#[utoipa::path(post, path = "/api/admin/exports", tag = "dataset", request_body = StartExport, responses((status = 202, description = "The export job, queued", body = ExportJob)))]
pub async fn start_export(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<ExportJob>), ApiError> {
    let req: StartExport = parse(&body)?;
    validate_filter(&req.filter, "filter.")?;
    if req.raster_size.is_some_and(|s| !(8..=512).contains(&s)) {
        return Err(ApiError::Invalid(FieldError::new(
            "raster_size",
            "out_of_range",
            "raster_size must be within 8..=512",
        )));
    }
    if req.raster_size.is_some() && req.format != ExportFormat::Png {
        return Err(ApiError::Invalid(FieldError::new(
            "raster_size",
            "not_applicable",
            "raster_size applies to the png format only",
        )));
    }
    let job = crate::dataset::exports::start(
        &state,
        req.format,
        req.filter,
        req.raster_size,
        Some(&admin.user_id),
    )
    .await
    .map_err(ApiError::Internal)?;
    tracing::info!(id = %job.id, format = ?job.format, total = job.total, "export started");
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// `GET /api/admin/exports`: the latest 100 exports, newest first.
#[utoipa::path(get, path = "/api/admin/exports", tag = "dataset", responses((status = 200, description = "Export jobs, newest first", body = ExportList)))]
pub async fn list_exports(State(state): State<AppState>) -> Result<Json<ExportList>, ApiError> {
    Ok(Json(ExportList {
        exports: crate::dataset::exports::jobs(&state.db, 100).await?,
    }))
}

/// `GET /api/admin/exports/{id}`: status and progress.
#[utoipa::path(get, path = "/api/admin/exports/{id}", tag = "dataset", params(("id" = uuid::Uuid, Path, description = "The export's id")), responses((status = 200, description = "The export job", body = ExportJob), (status = 404, description = "No export with that id", body = inkset_protocol::api::ErrorBody)))]
pub async fn get_export(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<Json<ExportJob>, ApiError> {
    crate::dataset::exports::job(&state.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no export {id}")))
}

/// `GET /api/admin/exports/{id}/download`: the finished file, streamed from the object
/// store (409 while the export runs or when it failed).
#[utoipa::path(get, path = "/api/admin/exports/{id}/download", tag = "dataset", params(("id" = uuid::Uuid, Path, description = "The export's id")), responses((status = 200, description = "The export file: ndjson (Quick, Draw! raw or simplified, or Inkset's drawing JSON), or a tar of PNG rasters", content((crate::openapi::Binary = "application/x-ndjson"), (crate::openapi::Binary = "application/x-tar"), (crate::openapi::Binary = "application/vnd.apache.parquet"))), (status = 404, description = "No export with that id", body = inkset_protocol::api::ErrorBody), (status = 409, description = "The export has not finished", body = inkset_protocol::api::ErrorBody)))]
pub async fn download_export(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<axum::response::Response, ApiError> {
    let job = crate::dataset::exports::job(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no export {id}")))?;
    let key = crate::dataset::exports::object_key(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            field: "id",
            message: format!("export {id} is {:?}, not completed", job.status),
        })?;
    let got = object_store::ObjectStoreExt::get(
        state.objects.store().as_ref(),
        &object_store::path::Path::from(key),
    )
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let size = got.meta.size;
    let content_type = match job.format {
        ExportFormat::Png => "application/x-tar",
        ExportFormat::Parquet => "application/vnd.apache.parquet",
        _ => "application/x-ndjson",
    };
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .header(axum::http::header::CONTENT_LENGTH, size)
        .header(
            axum::http::header::CONTENT_DISPOSITION,
            // Names stored before file names were sanitised may hold anything: clean again.
            format!(
                "attachment; filename=\"{}\"",
                job.file_name
                    .chars()
                    .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' {
                        c
                    } else {
                        '_'
                    })
                    .collect::<String>()
            ),
        )
        .body(axum::body::Body::from_stream(got.into_stream()))
        .map_err(|e| ApiError::Internal(e.into()))
}
