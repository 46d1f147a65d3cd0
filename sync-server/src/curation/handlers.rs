//! The admin read and curation API: `/api/admin/stats` and `/api/admin/drawings...`. Every
//! route here is mounted behind the admin check (see [`crate::app::admin_routes`]).

use crate::curation::sql::{Cursor, DrawingFilter, Guarded};
use crate::drawings::segments;
use crate::drawings::sql::RecordLocation;
use crate::error::ApiError;
use crate::http::{RawBody, parse};
use crate::players::auth::Admin;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use inkset_protocol::FieldError;
use inkset_protocol::api::{
    AdminStats, BulkAction, BulkRequest, BulkResult, DayCount, DrawingCount, DrawingDetail,
    DrawingPage, DrawingSort, DrawingSummary, FlagRequest, QualityHistogram,
};
use inkset_protocol::quickdraw::Record;
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// `GET /api/admin/stats`: read from the summary tables (`crate::curation::tallies`), so
/// it costs the same at a thousand drawings as at millions.
#[utoipa::path(get, path = "/api/admin/stats", tag = "curation", responses((status = 200, description = "Counts per shape, device and day; quality and time histograms", body = AdminStats)))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<AdminStats>, ApiError> {
    let mut per_shape: BTreeMap<String, u64> = BTreeMap::new();
    let mut flagged_per_shape: BTreeMap<String, u64> = BTreeMap::new();
    for s in state.db.shapes().await? {
        per_shape.insert(s.name.clone(), 0);
        flagged_per_shape.insert(s.name, 0);
    }
    let tally = state.db.tally_stats().await?;
    for ((shape, flagged), n) in tally.per_shape {
        *per_shape.entry(shape.clone()).or_default() += n;
        if flagged {
            *flagged_per_shape.entry(shape).or_default() += n;
        }
    }
    let mut bins = vec![0u64; 10];
    let mut unscored = 0;
    for (bin, n) in tally.per_quality_bin {
        match usize::try_from(bin) {
            Ok(b) if b < 10 => bins[b] += n,
            _ => unscored += n,
        }
    }
    let per_day = tally
        .per_day
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
        removed: tally.removed,
        quality: QualityHistogram { bins, unscored },
        per_day,
        contributing_sessions: tally.contributing_sessions,
        contributing_players: tally.contributing_players,
        per_device: tally.per_device,
        per_pointer_types: tally.per_pointer_types,
        time_to_first_point: time_histogram(&tally.prompt_times),
    }))
}

/// Bins of [`inkset_protocol::api::TimeHistogram`], ms.
const PROMPT_BOUNDS_MS: [u64; 6] = [500, 1_000, 2_000, 3_000, 5_000, 10_000];

/// The histogram of durations given as `(ms, how many)`, ascending by ms. The median and
/// p90 are the values at rank `round((n - 1) * q)` of the n durations in order.
fn time_histogram(sorted: &[(i64, u64)]) -> inkset_protocol::api::TimeHistogram {
    let mut counts = vec![0u64; PROMPT_BOUNDS_MS.len() + 1];
    for &(t, n) in sorted {
        let t = u64::try_from(t).unwrap_or(0);
        let bin = PROMPT_BOUNDS_MS
            .iter()
            .position(|&b| t < b)
            .unwrap_or(PROMPT_BOUNDS_MS.len());
        counts[bin] += n;
    }
    let total: u64 = sorted.iter().map(|&(_, n)| n).sum();
    let pick = |q: f64| {
        (total > 0).then(|| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let rank = ((total - 1) as f64 * q).round() as u64;
            let mut seen = 0;
            let value = sorted
                .iter()
                .find(|&&(_, n)| {
                    seen += n;
                    seen > rank
                })
                .map_or(0, |&(t, _)| t);
            u64::try_from(value).unwrap_or(0)
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

/// Keys of `GET /api/admin/drawings` that page and order (the rest are the filter's).
const PAGE_KEYS: [&str; 4] = ["cursor", "limit", "sort", "thumbnails"];

/// Keys of a [`DrawingFilter`] in a query string.
const FILTER_KEYS: [&str; 15] = [
    "shape",
    "flagged",
    "quality_min",
    "quality_max",
    "from",
    "to",
    "session",
    "player",
    "contributor_quality_min",
    "device",
    "origin",
    "verdict",
    "guess",
    "include_removed",
    "release",
];

/// Paging part of the query of `GET /api/admin/drawings`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// `next_cursor` of the previous page (same `sort`).
    pub cursor: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<usize>,
    /// Order (default newest first).
    #[serde(default)]
    pub sort: DrawingSort,
    /// Send each drawing's simplified strokes (`DrawingSummary::thumbnail`).
    #[serde(default)]
    pub thumbnails: bool,
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

/// Parses `pairs` (one query string's) into `T`; an error names the parameter at fault.
pub(crate) fn from_pairs<T: serde::de::DeserializeOwned>(
    pairs: &[(String, String)],
) -> Result<T, ApiError> {
    let encode = |p: &[(String, String)]| serde_urlencoded::to_string(p).unwrap_or_default();
    serde_urlencoded::from_str(&encode(pairs)).map_err(|e| {
        // Find the parameter: the first that fails on its own.
        let field = pairs
            .iter()
            .find(|p| serde_urlencoded::from_str::<T>(&encode(std::slice::from_ref(p))).is_err())
            .map_or_else(|| "query".to_owned(), |(k, _)| k.clone());
        ApiError::BadRequest(FieldError::new(
            field.clone(),
            "invalid",
            format!("query parameter {field}: {e}"),
        ))
    })
}

/// Splits a raw query string into the filter and the paging parameters, refusing unknown
/// parameters by name.
pub fn parse_list_query(raw: Option<&str>) -> Result<(DrawingFilter, PageParams), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(FieldError::new("query", "invalid", e.to_string())))?;
    let (page, filter): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|(k, _)| PAGE_KEYS.contains(&k.as_str()));
    if let Some((k, _)) = filter
        .iter()
        .find(|(k, _)| !FILTER_KEYS.contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(FieldError::new(
            k.clone(),
            "unknown_parameter",
            format!(
                "unknown query parameter {k:?}; known: {}, {}",
                FILTER_KEYS.join(", "),
                PAGE_KEYS.join(", ")
            ),
        )));
    }
    let filter: DrawingFilter = from_pairs(&filter)?;
    validate_filter(&filter, "")?;
    Ok((filter, from_pairs(&page)?))
}

/// Checks a filter's values; errors name the field, after `prefix` (`"filter."` in bodies).
///
/// # Errors
/// [`ApiError::Invalid`] naming the first bad field.
pub fn validate_filter(f: &DrawingFilter, prefix: &str) -> Result<(), ApiError> {
    let bad = |name: &str, message: String| {
        ApiError::Invalid(FieldError::new(
            format!("{prefix}{name}"),
            "out_of_range",
            message,
        ))
    };
    for (name, value) in [
        ("quality_min", f.quality_min),
        ("quality_max", f.quality_max),
        ("contributor_quality_min", f.contributor_quality_min),
    ] {
        if value.is_some_and(|q| !q.is_finite() || !(0.0..=1.0).contains(&q)) {
            return Err(bad(name, format!("{name} must be within 0..=1")));
        }
    }
    if let (Some(lo), Some(hi)) = (f.quality_min, f.quality_max)
        && lo > hi
    {
        return Err(bad(
            "quality_max",
            "quality_max must not be below quality_min".into(),
        ));
    }
    if let (Some(from), Some(to)) = (f.from, f.to)
        && from > to
    {
        return Err(bad("to", "to must not be before from".into()));
    }
    if let Some(r) = &f.release {
        inkset_protocol::api::check_release_name(r, &format!("{prefix}release"))
            .map_err(ApiError::Invalid)?;
    }
    if let Some(o) = &f.origin
        && o != "api"
        && o != "import"
    {
        return Err(bad("origin", "origin must be api or import".into()));
    }
    if let Some(d) = &f.device
        && !["mouse", "touch", "pen", "none"].contains(&d.as_str())
    {
        return Err(bad(
            "device",
            "device must be mouse, touch, pen or none".into(),
        ));
    }
    Ok(())
}

/// `GET /api/admin/drawings`: one page of the drawings matching the filter, in `sort`
/// order, cursor-paginated; `thumbnails=true` adds each drawing's simplified strokes.
#[utoipa::path(get, path = "/api/admin/drawings", tag = "curation", params(DrawingFilter, PageParams), responses((status = 200, description = "One page of drawings, newest first unless `sort` says otherwise", body = DrawingPage)))]
pub async fn list_drawings(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DrawingPage>, ApiError> {
    let (params, page) = parse_list_query(raw.as_deref())?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid(FieldError::new(
            "limit",
            "out_of_range",
            "limit must be within 1..=1000",
        )));
    }
    let cursor = page
        .cursor
        .as_deref()
        .map(|c| {
            Cursor::parse(page.sort, c).ok_or_else(|| {
                ApiError::BadRequest(FieldError::new(
                    "cursor",
                    "invalid",
                    "cursor must be a next_cursor value from a previous page of the same sort",
                ))
            })
        })
        .transpose()?;
    let mut rows = state
        .db
        .list_drawings(&params, page.sort, cursor, limit + 1)
        .await?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .and_then(|(d, _)| Cursor::after(page.sort, d))
            .map(|c| c.encode())
    } else {
        None
    };
    if page.thumbnails {
        add_thumbnails(&state, &mut rows).await?;
    }
    Ok(Json(DrawingPage {
        drawings: rows.into_iter().map(|(d, _)| d).collect(),
        next_cursor,
    }))
}

/// Fills `thumbnail` of each row from its stored record, reading each segment's ranges in
/// one request.
async fn add_thumbnails(
    state: &AppState,
    rows: &mut [(DrawingSummary, RecordLocation)],
) -> Result<(), ApiError> {
    let locs: Vec<&RecordLocation> = rows.iter().map(|(_, loc)| loc).collect();
    let drawings = segments::read_many(&state.objects, &locs).await?;
    // Simplifying strokes (Ramer-Douglas-Peucker) is CPU work: off the async workers.
    let thumbnails =
        tokio::task::spawn_blocking(move || drawings.iter().map(thumbnail).collect::<Vec<_>>())
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    for ((summary, _), t) in rows.iter_mut().zip(thumbnails) {
        summary.thumbnail = Some(t);
    }
    Ok(())
}

/// Google's simplified strokes of a drawing (0..=255 integers), as thumbnail polylines.
pub fn thumbnail(drawing: &inkset_protocol::Drawing) -> Vec<[Vec<u8>; 2]> {
    let simplified = Record::from_drawing(drawing, None).simplified();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let byte = |v: &f64| v.round().clamp(0.0, 255.0) as u8;
    simplified
        .drawing
        .iter()
        .map(|s| {
            [
                s.x.iter().map(byte).collect(),
                s.y.iter().map(byte).collect(),
            ]
        })
        .collect()
}

/// `GET /api/admin/drawings/count`: how many drawings match the filter (the query string
/// of the list, without paging).
#[utoipa::path(get, path = "/api/admin/drawings/count", tag = "curation", params(DrawingFilter), responses((status = 200, description = "How many drawings match", body = DrawingCount)))]
pub async fn count_drawings(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DrawingCount>, ApiError> {
    let (filter, page) = parse_list_query(raw.as_deref())?;
    if page.cursor.is_some() || page.limit.is_some() {
        return Err(ApiError::BadRequest(FieldError::new(
            "cursor",
            "invalid",
            "count takes the filter only",
        )));
    }
    Ok(Json(DrawingCount {
        count: state.db.count_drawings(&filter).await?,
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
#[utoipa::path(get, path = "/api/admin/drawings/{id}", tag = "curation", params(("id" = Uuid, Path, description = "The drawing's id")), responses((status = 200, description = "The drawing with its strokes, scores and flags", body = DrawingDetail), (status = 404, description = "No drawing with that id", body = inkset_protocol::api::ErrorBody)))]
pub async fn get_drawing(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<Json<DrawingDetail>, ApiError> {
    let (summary, loc) = state
        .db
        .drawing_location(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no drawing {id}")))?;
    let drawing = segments::read_at(&state.objects, &loc).await?;
    Ok(Json(DrawingDetail {
        summary,
        pressure_above_nominal: drawing.pressure_above_nominal(),
        drawing,
    }))
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
#[utoipa::path(post, path = "/api/admin/drawings/{id}/flag", tag = "curation", params(("id" = Uuid, Path, description = "The drawing's id")), request_body = FlagRequest, responses((status = 200, description = "Flagged", body = BulkResult)))]
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
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityOverride {
    /// The admin's score in 0..=1; `null` returns the drawing to the automatic score.
    pub score: Option<f64>,
}

/// `PUT /api/admin/drawings/{id}/quality`: an admin's quality score, kept over automatic
/// rescoring (`{"score": null}` gives the drawing back to the scorer; see
/// `inkset_server::quality`).
#[utoipa::path(put, path = "/api/admin/drawings/{id}/quality", tag = "curation", params(("id" = Uuid, Path, description = "The drawing's id")), request_body = QualityOverride, responses((status = 204, description = "Score set (or given back to the scorer)"), (status = 404, description = "No drawing with that id", body = inkset_protocol::api::ErrorBody)))]
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
#[utoipa::path(post, path = "/api/admin/drawings/{id}/unflag", tag = "curation", params(("id" = Uuid, Path, description = "The drawing's id")), responses((status = 200, description = "Unflagged", body = BulkResult)))]
pub async fn unflag_drawing(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<Json<BulkResult>, ApiError> {
    curate_one(&state, id, BulkAction::Unflag, None).await
}

/// `DELETE /api/admin/drawings/{id}`: removes the drawing from listings, stats, exports and
/// training; its record stays in storage for audit.
#[utoipa::path(delete, path = "/api/admin/drawings/{id}", tag = "curation", params(("id" = Uuid, Path, description = "The drawing's id")), responses((status = 200, description = "Removed (kept in storage, left out of training and exports)", body = BulkResult)))]
pub async fn remove_drawing(
    State(state): State<AppState>,
    DrawingId(id): DrawingId,
) -> Result<Json<BulkResult>, ApiError> {
    curate_one(&state, id, BulkAction::Remove, None).await
}

/// `POST /api/admin/drawings/bulk`: flag, unflag or remove up to 10,000 drawings by id, or
/// every drawing matching a filter.
#[utoipa::path(post, path = "/api/admin/drawings/bulk", tag = "curation", request_body = BulkRequest, responses((status = 200, description = "How many drawings changed", body = BulkResult), (status = 409, description = "The filter matches another number of drawings than `expected_count`", body = inkset_protocol::api::ErrorBody)))]
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
    let affected = match &req.filter {
        Some(_) if !req.ids.is_empty() => {
            return Err(ApiError::Invalid(FieldError::new(
                "filter",
                "conflict",
                "give ids or filter, not both",
            )));
        }
        Some(filter) => {
            validate_filter(filter, "filter.")?;
            match state
                .db
                .curate_filter(
                    filter,
                    req.action,
                    req.reason.as_deref(),
                    req.expected_count,
                )
                .await?
            {
                Guarded::Done(n) => n,
                Guarded::CountDiffers(now) => {
                    return Err(ApiError::Conflict {
                        field: "expected_count",
                        message: format!(
                            "the filter now matches {now} drawings, not the {} confirmed; \
                             nothing was changed",
                            req.expected_count.unwrap_or_default()
                        ),
                    });
                }
            }
        }
        None if req.expected_count.is_some() => {
            return Err(ApiError::Invalid(FieldError::new(
                "expected_count",
                "invalid",
                "expected_count goes with filter, not ids",
            )));
        }
        None => {
            state
                .db
                .curate(&req.ids, req.action, req.reason.as_deref())
                .await?
        }
    };
    tracing::info!(admin = %admin.user_id, action = ?req.action, affected, "bulk curation");
    Ok(Json(BulkResult { affected }))
}
