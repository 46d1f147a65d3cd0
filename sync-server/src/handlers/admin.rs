//! The admin read and curation API. Every route here is mounted behind the admin check
//! (see [`crate::app::admin_routes`]).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use inkset_protocol::FieldError;
use inkset_protocol::api::{
    AdminStats, BulkAction, BulkRequest, BulkResult, DayCount, DrawingDetail, DrawingPage,
    FlagRequest, NewShape, QualityHistogram, ShapeInfo,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{RawBody, parse};
use crate::app::AppState;
use crate::auth::Admin;
use crate::db::DrawingFilter;
use crate::error::ApiError;
use crate::ingest::decode_frame;

/// `GET /api/admin/stats`.
pub async fn stats(State(state): State<AppState>) -> Result<Json<AdminStats>, ApiError> {
    let mut per_shape: BTreeMap<String, u64> = BTreeMap::new();
    let mut flagged_per_shape: BTreeMap<String, u64> = BTreeMap::new();
    for s in state.db.shapes().await? {
        per_shape.insert(s.name.clone(), 0);
        flagged_per_shape.insert(s.name, 0);
    }
    let (counts, removed) = state.db.shape_counts().await?;
    for (shape, flagged, n) in counts {
        *per_shape.entry(shape.clone()).or_default() += n;
        if flagged {
            *flagged_per_shape.entry(shape).or_default() += n;
        }
    }
    let (bins, unscored) = state.db.quality_histogram().await?;
    let per_day = state
        .db
        .per_day(None)
        .await?
        .into_iter()
        .map(|(day, count)| DayCount {
            day: day_name(day),
            count,
        })
        .collect();
    Ok(Json(AdminStats {
        total: per_shape.values().sum(),
        flagged: flagged_per_shape.values().sum(),
        per_shape,
        flagged_per_shape,
        removed,
        quality: QualityHistogram { bins, unscored },
        per_day,
        contributing_sessions: state.db.contributing_sessions().await?,
        contributing_players: state.db.contributing_players().await?,
        per_device: state.db.count_by("device").await?,
        per_pointer_types: state.db.count_by("pointer_types").await?,
        time_to_first_point: time_histogram(&state.db.prompt_times().await?),
    }))
}

/// Bins of [`inkset_protocol::api::TimeHistogram`], ms.
const PROMPT_BOUNDS_MS: [u64; 6] = [500, 1_000, 2_000, 3_000, 5_000, 10_000];

/// The histogram of ascending durations (ms).
fn time_histogram(sorted: &[i64]) -> inkset_protocol::api::TimeHistogram {
    let mut counts = vec![0u64; PROMPT_BOUNDS_MS.len() + 1];
    for &t in sorted {
        let t = u64::try_from(t).unwrap_or(0);
        let bin = PROMPT_BOUNDS_MS
            .iter()
            .position(|&b| t < b)
            .unwrap_or(PROMPT_BOUNDS_MS.len());
        counts[bin] += 1;
    }
    let pick = |q: f64| {
        (!sorted.is_empty()).then(|| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((sorted.len() - 1) as f64 * q).round() as usize;
            u64::try_from(sorted[i]).unwrap_or(0)
        })
    };
    inkset_protocol::api::TimeHistogram {
        bounds_ms: PROMPT_BOUNDS_MS.to_vec(),
        counts,
        median_ms: pick(0.5),
        p90_ms: pick(0.9),
    }
}

fn day_name(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// Paging part of the query of `GET /api/admin/drawings` (the filter part is a
/// [`DrawingFilter`], read from the same query string).
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<usize>,
}

pub(crate) fn query_error(e: &axum::extract::rejection::QueryRejection) -> ApiError {
    let text = e.body_text();
    // axum says "Failed to deserialize query string: <param>: <why>".
    let field = text
        .split_once("query string: ")
        .and_then(|(_, rest)| rest.split_once(':'))
        .map_or("query", |(name, _)| name)
        .trim()
        .to_owned();
    ApiError::BadRequest(FieldError::new(field, "invalid", text))
}

fn parse_cursor(cursor: &str) -> Result<(i64, Uuid), ApiError> {
    let bad = || {
        ApiError::BadRequest(FieldError::new(
            "cursor",
            "invalid",
            "cursor must be a next_cursor value from a previous page",
        ))
    };
    let (at, id) = cursor.split_once('_').ok_or_else(bad)?;
    Ok((
        at.parse().map_err(|_| bad())?,
        Uuid::parse_str(id).map_err(|_| bad())?,
    ))
}

/// `GET /api/admin/drawings`: newest first, cursor-paginated.
pub async fn list_drawings(
    State(state): State<AppState>,
    filter: Result<Query<DrawingFilter>, axum::extract::rejection::QueryRejection>,
    page: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DrawingPage>, ApiError> {
    let Query(params) = filter.map_err(|e| query_error(&e))?;
    let Query(page) = page.map_err(|e| query_error(&e))?;
    for (name, value) in [
        ("quality_min", params.quality_min),
        ("quality_max", params.quality_max),
    ] {
        if value.is_some_and(|q| !(0.0..=1.0).contains(&q)) {
            return Err(ApiError::Invalid(FieldError::new(
                name,
                "out_of_range",
                format!("{name} must be within 0..=1"),
            )));
        }
    }
    if let (Some(lo), Some(hi)) = (params.quality_min, params.quality_max)
        && lo > hi
    {
        return Err(ApiError::Invalid(FieldError::new(
            "quality_max",
            "out_of_range",
            "quality_max must not be below quality_min",
        )));
    }
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from > to
    {
        return Err(ApiError::Invalid(FieldError::new(
            "to",
            "out_of_range",
            "to must not be before from",
        )));
    }
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid(FieldError::new(
            "limit",
            "out_of_range",
            "limit must be within 1..=1000",
        )));
    }
    if let Some(o) = &params.origin
        && o != "api"
        && o != "import"
    {
        return Err(ApiError::Invalid(FieldError::new(
            "origin",
            "invalid",
            "origin must be api or import",
        )));
    }
    let cursor = page.cursor.as_deref().map(parse_cursor).transpose()?;
    let mut drawings = state.db.list_drawings(&params, cursor, limit + 1).await?;
    let next_cursor = if drawings.len() > limit {
        drawings.truncate(limit);
        drawings
            .last()
            .map(|d| format!("{}_{}", d.received_at, d.id))
    } else {
        None
    };
    Ok(Json(DrawingPage {
        drawings,
        next_cursor,
    }))
}

/// The `{id}` of a route; a 400 naming `id` when it is not a UUID.
pub struct DrawingId(pub Uuid);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for DrawingId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|e| ApiError::BadRequest(FieldError::new("id", "invalid", e.body_text())))
    }
}

fn check_reason(reason: Option<&str>) -> Result<(), ApiError> {
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::Invalid(FieldError::new(
            "reason",
            "too_long",
            "reason must be at most 500 characters",
        )));
    }
    Ok(())
}

/// `GET /api/admin/drawings/{id}`: metadata and the full drawing.
pub async fn get_drawing(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<Json<DrawingDetail>, ApiError> {
    let (summary, loc) = state
        .db
        .drawing_location(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no drawing {id}")))?;
    let frame = state
        .objects
        .get_range(&loc.segment_key, loc.offset, loc.length)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let drawing = decode_frame(&frame)?;
    Ok(Json(DrawingDetail { summary, drawing }))
}

async fn curate_one(
    state: &AppState,
    id: Uuid,
    action: BulkAction,
    reason: Option<&str>,
) -> Result<Json<BulkResult>, ApiError> {
    if !state.db.drawing_exists(id).await? {
        return Err(ApiError::NotFound(format!("no drawing {id}")));
    }
    let affected = state.db.curate(&[id], action, reason).await?;
    tracing::info!(%id, ?action, affected, "curation");
    Ok(Json(BulkResult { affected }))
}

/// `POST /api/admin/drawings/{id}/flag` with an optional `{"reason"}`.
pub async fn flag_drawing(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
    RawBody(body): RawBody,
) -> Result<Json<BulkResult>, ApiError> {
    let req: FlagRequest = if body.is_empty() {
        FlagRequest::default()
    } else {
        parse(&body)?
    };
    check_reason(req.reason.as_deref())?;
    curate_one(&state, id, BulkAction::Flag, req.reason.as_deref()).await
}

/// `PUT /api/admin/drawings/{id}/quality` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityOverride {
    /// The admin's score in 0..=1; `null` returns the drawing to the automatic score.
    pub score: Option<f64>,
}

/// `PUT /api/admin/drawings/{id}/quality`: an admin's quality score, kept over automatic
/// rescoring (`{"score": null}` gives the drawing back to the scorer; see
/// `inkset_server::quality`).
pub async fn override_quality(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let req: QualityOverride = parse(&body)?;
    if req
        .score
        .is_some_and(|q| !q.is_finite() || !(0.0..=1.0).contains(&q))
    {
        return Err(ApiError::Invalid(FieldError::new(
            "score",
            "out_of_range",
            "score must be within 0..=1 (or null for the automatic score)",
        )));
    }
    if !state.db.override_quality(id, req.score).await? {
        return Err(ApiError::NotFound(format!("no drawing {id}")));
    }
    if req.score.is_none() {
        state.quality_wake.notify_one();
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/drawings/{id}/unflag`.
pub async fn unflag_drawing(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<Json<BulkResult>, ApiError> {
    curate_one(&state, id, BulkAction::Unflag, None).await
}

/// `DELETE /api/admin/drawings/{id}`: removes the drawing from listings, stats, exports and
/// training; its record stays in storage for audit.
pub async fn remove_drawing(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<Json<BulkResult>, ApiError> {
    curate_one(&state, id, BulkAction::Remove, None).await
}

/// `POST /api/admin/drawings/bulk`: flag, unflag or remove up to 10,000 drawings.
pub async fn bulk(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    RawBody(body): RawBody,
) -> Result<Json<BulkResult>, ApiError> {
    let req: BulkRequest = parse(&body)?;
    check_reason(req.reason.as_deref())?;
    if req.ids.len() > 10_000 {
        return Err(ApiError::Invalid(FieldError::new(
            "ids",
            "too_many",
            "at most 10,000 ids per request",
        )));
    }
    let affected = state
        .db
        .curate(&req.ids, req.action, req.reason.as_deref())
        .await?;
    tracing::info!(admin = %admin.user_id, action = ?req.action, affected, "bulk curation");
    Ok(Json(BulkResult { affected }))
}

/// `POST /api/admin/shapes`: adds a shape players can be prompted for.
pub async fn add_shape(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<ShapeInfo>), ApiError> {
    let req: NewShape = parse(&body)?;
    let valid_name = !req.name.is_empty()
        && req.name.len() <= state.limits.max_shape_name_bytes
        && req
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        return Err(ApiError::Invalid(FieldError::new(
            "name",
            "invalid",
            "name must be 1..=64 of a-z, 0-9 and _",
        )));
    }
    let round_seconds = req.round_seconds.unwrap_or(20);
    if !(3..=600).contains(&round_seconds) {
        return Err(ApiError::Invalid(FieldError::new(
            "round_seconds",
            "out_of_range",
            "round_seconds must be within 3..=600",
        )));
    }
    let display_name = req.display_name.unwrap_or_else(|| req.name.clone());
    if display_name.trim().is_empty() || display_name.chars().count() > 64 {
        return Err(ApiError::Invalid(FieldError::new(
            "display_name",
            "invalid",
            "display_name must be 1..=64 characters",
        )));
    }
    if !state
        .db
        .add_shape(&req.name, &display_name, round_seconds)
        .await?
    {
        return Err(ApiError::Conflict {
            field: "name",
            message: format!("shape {} exists", req.name),
        });
    }
    state.reload_shapes().await?;
    Ok((
        StatusCode::CREATED,
        Json(ShapeInfo {
            name: req.name,
            display_name,
            round_seconds,
            enabled: true,
        }),
    ))
}

/// Query of `POST /api/admin/import`.
#[derive(Debug, Default, Deserialize)]
pub struct ImportQuery {
    /// Store records whose word is not a shape as distractors instead of rejecting them.
    #[serde(default)]
    pub distractors: bool,
}

/// `POST /api/admin/import?distractors=bool`: imports a Quick, Draw! ndjson body (raw or
/// simplified, one drawing a line); answers the import report (stored, already present,
/// rejected with reasons).
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
