//! Request and response bodies of the HTTP API (`/api/...`). Times are ms since the Unix
//! epoch on the server's clock unless a field says otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::drawing::Drawing;

mod contributors;
mod prompts;
mod releases;
pub use contributors::*;
pub use prompts::*;
pub use releases::*;

/// The error envelope of every non-2xx answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_json`, `conflict`, `unauthorized`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field's path (`strokes[3].points[17].x`) when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `POST /api/sessions` answer: a new anonymous player session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionCreated {
    /// The session's id.
    pub session_id: Uuid,
    /// Bearer token for the player API; shown once, stored hashed.
    pub token: String,
    /// When the token stops working, ms since the Unix epoch (server clock); absent from
    /// servers that predate session expiry.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// An account, as `GET /api/admin/users` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserAccount {
    /// Its id.
    pub id: String,
    /// Its username.
    pub username: String,
    /// `admin` or `player`.
    pub role: String,
    /// When it was created, ms since the Unix epoch.
    pub created_at: i64,
    /// Disabled accounts cannot sign in and their tokens are revoked.
    pub disabled: bool,
    /// Login tokens neither expired nor revoked.
    pub live_tokens: u64,
    /// Player sessions linked to it, neither expired nor revoked.
    pub live_sessions: u64,
}

/// `POST /api/admin/users/{username}/{disable,revoke-tokens}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokensRevoked {
    /// The account.
    pub username: String,
    /// Whether it is disabled now.
    pub disabled: bool,
    /// Login tokens revoked by this call.
    pub tokens: u64,
    /// Player sessions revoked by this call.
    pub sessions: u64,
}

/// `POST /api/drawings` answer (201), identical for a repeated upload of the same drawing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadReceipt {
    /// The drawing's id.
    pub id: Uuid,
    /// When the server first stored it, ms since the Unix epoch (server clock).
    pub received_at: i64,
}

/// `POST /api/drawings/batch` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchUpload {
    /// The drawings, at most `Limits::max_batch_drawings`.
    pub drawings: Vec<Drawing>,
    /// The client's clock when it sent the batch, ms since the Unix epoch. The server
    /// takes `its receive time - sent_at` as the device clock's offset and dates each
    /// drawing at `first point timestamp + offset` (never later than its receive time), so
    /// streaks count the day a drawing was made, offline or with a wrong device clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
}

/// `POST /api/drawings/batch` answer (200): one result per drawing, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchResult {
    /// One entry per uploaded drawing.
    pub results: Vec<BatchItemResult>,
}

/// The outcome of one drawing of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchItemResult {
    /// The drawing's id; `None` only for a drawing whose `id` itself could not be read
    /// (results are in the order of the uploaded drawings).
    pub id: Option<Uuid>,
    /// The HTTP status the drawing would have got alone (201, 409, 422, ...).
    pub status: u16,
    /// Set when stored (now or before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<i64>,
    /// Set when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// One entry of `GET /api/shapes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShapeInfo {
    /// Wire name, e.g. `circle`.
    pub name: String,
    /// Name shown to players.
    pub display_name: String,
    /// Seconds a round lasts.
    pub round_seconds: u32,
    /// Whether players are prompted for it.
    pub enabled: bool,
}

/// `POST /api/admin/shapes` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShape {
    /// Wire name: lowercase ASCII letters, digits and `_`, 1..=64 bytes.
    #[schema(pattern = "^[a-z0-9_]{1,64}$")]
    pub name: String,
    /// Name shown to players, 1..=64 characters (defaults to `name`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    /// Seconds a round lasts, 3..=600 (default 20).
    #[serde(default)]
    #[schema(minimum = 3, maximum = 600)]
    pub round_seconds: Option<u32>,
}

/// `GET /api/user/stats` answer: the player's progress. For a session linked to an account
/// (`POST /api/auth/signup` or `/api/auth/link`) it covers every session of that account,
/// so progress follows the player across devices.
///
/// Days are the player's local days (`?utc_offset_min=`, minutes east of UTC, default 0)
/// on server-corrected time: each drawing is dated by its first point's client timestamp
/// plus the device clock's offset measured at upload (see `BatchUpload::sent_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserStats {
    /// Drawings stored per prompt shape name (removed ones not counted).
    pub per_shape: BTreeMap<String, u64>,
    /// All drawings stored.
    pub total: u64,
    /// Consecutive days with a drawing, ending today or yesterday.
    pub streak_days: u32,
    /// The longest run of consecutive days with a drawing.
    #[serde(default)]
    pub longest_streak_days: u32,
    /// Days with at least one drawing.
    #[serde(default)]
    pub days_active: u32,
    /// Today in the player's time zone, `YYYY-MM-DD` (server clock).
    #[serde(default)]
    pub today: String,
    /// The signed-in account, when the session is linked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Every achievement, unlocked or not, in display order.
    #[serde(default)]
    pub achievements: Vec<Achievement>,
}

/// One achievement of [`UserStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Achievement {
    /// Stable id, e.g. `streak-7`.
    pub id: String,
    /// Short title shown to the player.
    pub title: String,
    /// What it takes.
    pub description: String,
    /// Progress so far (capped at `goal`).
    pub progress: u64,
    /// What unlocks it.
    pub goal: u64,
    /// `progress >= goal`.
    pub unlocked: bool,
}

/// `POST /api/auth/signup` and `POST /api/auth/link` answer: the player account the calling
/// session now belongs to, and a bearer token for the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlayerAccount {
    /// Account name.
    pub username: String,
    /// Bearer token of the account (`POST /api/auth/logout` revokes it).
    pub token: String,
    /// When the token stops working, ms since the Unix epoch.
    pub expires_at: i64,
}

/// `POST /api/auth/login` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Account name: 3 to 32 letters, digits, `_`, `-` or `.` (checked at sign-up).
    #[schema(min_length = 3, max_length = 32)]
    pub username: String,
    /// Password, 8 to 256 characters (checked at sign-up), compared with the account's
    /// argon2id hash.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// `POST /api/auth/login` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Bearer token.
    pub token: String,
    /// When it stops working, ms since the Unix epoch.
    pub expires_at: i64,
}

/// `GET /api/admin/stats` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminStats {
    /// Stored drawings (not removed) per shape name; every known shape is present.
    pub per_shape: BTreeMap<String, u64>,
    /// Flagged drawings (not removed) per shape name.
    pub flagged_per_shape: BTreeMap<String, u64>,
    /// Stored drawings, not removed.
    pub total: u64,
    /// Flagged drawings, not removed.
    pub flagged: u64,
    /// Removed drawings.
    pub removed: u64,
    /// Quality score histogram over 0..=1 in 10 equal bins, plus the unscored count.
    pub quality: QualityHistogram,
    /// Drawings received per UTC day (server clock), oldest first.
    pub per_day: Vec<DayCount>,
    /// Player sessions that have stored at least one drawing.
    pub contributing_sessions: u64,
    /// Player accounts (signed in on at least one device) with at least one drawing.
    #[serde(default)]
    pub contributing_players: u64,
    /// Stored drawings per input device class (`mouse`, `touch`, `pen`; `none` for imports).
    #[serde(default)]
    pub per_device: BTreeMap<String, u64>,
    /// Stored drawings per set of reported pointer types (`mouse`, `pen,touch`, ...; `none`
    /// for imports), which shows webviews that report pen or touch as mouse.
    #[serde(default)]
    pub per_pointer_types: BTreeMap<String, u64>,
    /// Time from prompt shown to first point (client clock) of player drawings.
    #[serde(default)]
    pub time_to_first_point: TimeHistogram,
}

/// A distribution of durations in ms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeHistogram {
    /// Upper bounds of the bins, ms (exclusive); the last bin is everything above the last
    /// bound: `[0, 500)`, `[500, 1000)`, ... `[10000, ∞)`.
    pub bounds_ms: Vec<u64>,
    /// Counts per bin (`bounds_ms.len() + 1` entries).
    pub counts: Vec<u64>,
    /// Median, ms (`None` without data).
    pub median_ms: Option<u64>,
    /// 90th percentile, ms.
    pub p90_ms: Option<u64>,
}

/// Quality score distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QualityHistogram {
    /// Counts in `[0.0, 0.1)`, `[0.1, 0.2)`, ..., `[0.9, 1.0]`.
    pub bins: Vec<u64>,
    /// Drawings without a score yet.
    pub unscored: u64,
}

/// Drawings received on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayCount {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Drawings received that day.
    pub count: u64,
}

/// One row of `GET /api/admin/drawings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrawingSummary {
    /// Drawing id.
    pub id: Uuid,
    /// Shape name.
    pub shape: String,
    /// Player session, if uploaded through the API.
    pub session_id: Option<Uuid>,
    /// `api` or `import`.
    pub origin: String,
    /// Server receive time, ms since the Unix epoch.
    pub received_at: i64,
    /// First point's client timestamp (ms since the epoch for uploads; ms since the first
    /// point, so 0 or close, for imports).
    pub client_started_at: Option<i64>,
    /// Strokes in the drawing.
    pub stroke_count: u32,
    /// Points in the drawing.
    pub point_count: u32,
    /// `mouse`, `touch` or `pen` for uploads.
    pub device: Option<String>,
    /// Quality score in 0..=1, once computed.
    pub quality_score: Option<f64>,
    /// Whether an admin flagged it.
    pub flagged: bool,
    /// The reason given when it was flagged.
    pub flag_reason: Option<String>,
    /// When it was removed (ms since the epoch), if it was.
    pub removed_at: Option<i64>,
    /// Quick, Draw! `key_id` of imported drawings, as a string.
    pub source_key_id: Option<String>,
    /// The production recognizer's top answer when it last scored the drawing (a class
    /// name, possibly `unknown`); `None` before scoring or without a recognizer.
    #[serde(default)]
    pub model_guess: Option<String>,
    /// That answer's probability, in 0..=1.
    #[serde(default)]
    pub model_confidence: Option<f64>,
    /// The drawing's strokes simplified by Google's Quick, Draw! recipe (scaled into
    /// 0..=255, Ramer-Douglas-Peucker with epsilon 2): one `[x[], y[]]` per stroke. Sent
    /// only when the list is asked `thumbnails=true`, for vector thumbnails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<Vec<[Vec<u8>; 2]>>,
}

/// What the production recognizer made of a drawing, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Its top answer is the prompted shape.
    Agrees,
    /// Its top answer is another class (or `unknown`).
    Disagrees,
    /// Not judged (no recognizer in production when it was scored, or not scored yet).
    Unjudged,
}

/// Which drawings a list, count, bulk curation or export covers. Every field is optional
/// and they combine with AND; removed drawings are left out unless `include_removed`.
/// As a query string: `shape=circle&quality_max=0.3&flagged=false&from=...`.
#[derive(
    Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DrawingFilter {
    /// Only this shape (or distractor word).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// Only flagged (`true`) or unflagged (`false`) drawings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    /// Quality score at least this, 0..=1 (unscored drawings are left out when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_min: Option<f64>,
    /// Quality score at most this, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_max: Option<f64>,
    /// Received at or after this, ms since the Unix epoch (server clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// Received before this, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// Only this player session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Uuid>,
    /// Only the drawings of this player account (every session linked to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<Uuid>,
    /// Leave out the drawings of contributors whose mean quality score is below this, 0..=1
    /// (see [`Contributor`]: a player account, or an anonymous session; drawings without a
    /// session, such as imports, are kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contributor_quality_min: Option<f64>,
    /// Only this input device class: `mouse`, `touch`, `pen`, or `none` (imports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Only `api` or `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Only drawings the production recognizer agrees or disagrees with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Only drawings whose recognizer answer is this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guess: Option<String>,
    /// Include removed drawings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_removed: bool,
    /// Only the drawings of this dataset release ([`Release`]), removed ones included: a
    /// release never changes once cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

/// Order of `GET /api/admin/drawings`. Quality and confidence orders leave out drawings
/// without a score or an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DrawingSort {
    /// Newest received first (default).
    #[default]
    Newest,
    /// Oldest received first.
    Oldest,
    /// Lowest quality score first (the review queue).
    QualityAsc,
    /// Highest quality score first.
    QualityDesc,
    /// Least confident recognizer answer first.
    ConfidenceAsc,
    /// Most confident recognizer answer first.
    ConfidenceDesc,
}

/// `GET /api/admin/drawings/count` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrawingCount {
    /// Drawings matching the filter.
    pub count: u64,
}

/// `GET /api/admin/drawings` answer: one page in the requested order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrawingPage {
    /// The rows.
    pub drawings: Vec<DrawingSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/admin/drawings/:id` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrawingDetail {
    /// Row metadata.
    pub summary: DrawingSummary,
    /// The full drawing, exactly as accepted.
    pub drawing: Drawing,
    /// Whether a point's pressure is above the nominal 0..=1 (stored as the device reported
    /// it; [`Drawing::pressure_above_nominal`]).
    #[serde(default)]
    pub pressure_above_nominal: bool,
}

/// `POST /api/admin/drawings/:id/flag` body (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagRequest {
    /// Why it was flagged, at most 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a bulk curation request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BulkAction {
    /// Flag.
    Flag,
    /// Unflag.
    Unflag,
    /// Remove (kept in storage, never shown or trained on again).
    Remove,
}

/// `POST /api/admin/drawings/bulk` body: the drawings are `ids`, or every drawing matching
/// `filter` (exactly one of the two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The action.
    pub action: BulkAction,
    /// The drawings, at most 10,000.
    #[serde(default)]
    pub ids: Vec<Uuid>,
    /// Every drawing this filter matches (any number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<DrawingFilter>,
    /// With `filter` only: how many drawings the admin confirmed (what
    /// `GET /api/admin/drawings/count` gave for the filter). When the filter matches a
    /// different number by the time the request runs, nothing is changed and the answer is a
    /// 409 naming `expected_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_count: Option<u64>,
    /// Reason recorded with a flag.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Answer of curation requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkResult {
    /// Rows changed.
    pub affected: u64,
}

/// `GET /health/ready` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` when every check passed.
    pub status: String,
    /// Each dependency and whether it answered.
    pub checks: BTreeMap<String, String>,
}

/// Export formats of `POST /api/admin/exports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// Quick, Draw! raw ndjson (`[[x[], y[], t[]], ...]` per line), per the dataset's README.
    QuickdrawRaw,
    /// Quick, Draw! simplified ndjson (scaled to 0..=255, RDP epsilon 2, no timing).
    QuickdrawSimplified,
    /// PNG rasters from the shared rasterizer (`inkset_model::raster`, the pixels a model
    /// sees), 8-bit grayscale with ink 255 on 0, in a POSIX tar archive:
    /// `<shape>/<id>.png` plus `labels.csv` (`file,shape,id`).
    Png,
    /// Sketch-RNN stroke-3, one JSON object per line: `{"id", "word", "strokes"}` with
    /// `strokes` as `[[dx, dy, pen_lifted], ...]` offsets in the simplified 0..=255 space
    /// (`pen_lifted` 1 on a stroke's last point), as Sketch-RNN's data loader reads.
    Stroke3,
    /// Apache Parquet (zstd), one row per drawing, which pandas, DuckDB, Polars and Hugging
    /// Face `datasets` read directly: `id`, `word`, `key_id`, `countrycode`, `timestamp`,
    /// `recognized` and `source` as in the Quick, Draw! raw export, `received_at`
    /// (timestamp, ms, UTC), and `strokes`: a list of `{x: [f64], y: [f64], t: [i64]}`
    /// structs, the raw export's strokes (`t` ms since the first point; null for drawings
    /// stored without timing).
    Parquet,
}

impl ExportFormat {
    /// The file name extension of the download.
    pub fn extension(self) -> &'static str {
        match self {
            Self::QuickdrawRaw | Self::QuickdrawSimplified | Self::Stroke3 => "ndjson",
            Self::Png => "tar",
            Self::Parquet => "parquet",
        }
    }
}

/// `POST /api/admin/exports` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartExport {
    /// The file format.
    pub format: ExportFormat,
    /// Which drawings (default: every drawing not removed).
    #[serde(default)]
    pub filter: DrawingFilter,
    /// Raster side in pixels for [`ExportFormat::Png`], 8..=512 (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raster_size: Option<u32>,
}

/// State of an export job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Writing.
    Running,
    /// Done; the file can be downloaded.
    Completed,
    /// Failed; `error` says why.
    Failed,
}

/// An export job (`GET /api/admin/exports/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportJob {
    /// Its id.
    pub id: Uuid,
    /// Format.
    pub format: ExportFormat,
    /// The filter it was asked with.
    pub filter: DrawingFilter,
    /// State.
    pub status: ExportStatus,
    /// Drawings to write (known once the job has listed them).
    pub total: u64,
    /// Drawings written so far.
    pub done: u64,
    /// Size of the finished file, bytes.
    pub bytes: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Started, ms since the Unix epoch.
    pub created_at: i64,
    /// Finished, ms since the Unix epoch.
    pub finished_at: Option<i64>,
    /// File name offered for the download, e.g. `inkset-circle-quickdraw_raw.ndjson`.
    pub file_name: String,
}

/// `GET /api/admin/exports` answer, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportList {
    /// Jobs.
    pub exports: Vec<ExportJob>,
}
