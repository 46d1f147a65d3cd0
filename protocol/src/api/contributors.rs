//! Contributor quality (`GET /api/admin/contributors`): per player account and anonymous
//! session, drawings, quality, flags, agreement with the production recognizer and speed,
//! and why the junk detection marks one for review.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who a contributor is: a signed-in player (all the sessions linked to the account) or an
/// anonymous session (a session that no account claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContributorKind {
    /// A player account.
    Player,
    /// An anonymous session.
    Session,
}

/// Direction of a sort.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Largest first (default).
    #[default]
    Desc,
    /// Smallest first.
    Asc,
}

/// Query of `GET /api/admin/contributors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct ContributorQuery {
    /// Only players or only anonymous sessions (default both).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ContributorKind>,
    /// The column to order by (default drawings).
    pub sort: ContributorSort,
    /// Largest or smallest first (default largest).
    pub order: SortOrder,
    /// Only contributors marked for review.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub marked: bool,
    /// Page size, 1..=1000 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Contributors to skip (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Order of `GET /api/admin/contributors`. Contributors without the sorted value (no scored
/// drawing, one drawing only, ...) come last in either direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContributorSort {
    /// Most drawings first (default).
    #[default]
    Drawings,
    /// [`Contributor::mean_quality`].
    MeanQuality,
    /// [`Contributor::flagged_share`].
    FlaggedShare,
    /// [`Contributor::model_agreement`].
    ModelAgreement,
    /// [`Contributor::drawings_per_minute`].
    DrawingsPerMinute,
    /// [`Contributor::mean_time_to_first_point_ms`].
    TimeToFirstPoint,
    /// [`Contributor::last_drawn_at`].
    LastDrawn,
}

/// Why a contributor is marked for review (never acted on by itself: an admin decides).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum ReviewReason {
    /// Many drawings a minute, with a low mean quality: the pattern of scribbling through
    /// the prompts.
    FastAndLowQuality {
        /// Their drawings per minute.
        drawings_per_minute: f64,
        /// Their mean quality score.
        mean_quality: f64,
    },
    /// Most of their drawings are flagged.
    MostlyFlagged {
        /// Their flagged share, 0..=1.
        flagged_share: f64,
    },
    /// The production recognizer rarely sees the prompted shape in their drawings.
    ModelDisagrees {
        /// Their agreement with the production recognizer, 0..=1.
        model_agreement: f64,
    },
}

/// One contributor's numbers, over their drawings that are not removed (the `removed` count
/// aside). Times are ms since the Unix epoch on the server-corrected drawing clock
/// (`drawn_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contributor {
    /// [`ContributorKind::Player`] or [`ContributorKind::Session`].
    pub kind: ContributorKind,
    /// The account's id, or the session's.
    pub id: Uuid,
    /// The account's username (players only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Sessions that contributed (1 for a session).
    pub sessions: u64,
    /// Drawings not removed.
    pub drawings: u64,
    /// Drawings removed by an admin.
    pub removed: u64,
    /// Drawings (not removed) that are flagged.
    pub flagged: u64,
    /// `flagged / drawings`, 0..=1; `None` without drawings.
    pub flagged_share: Option<f64>,
    /// Drawings with a quality score.
    pub scored: u64,
    /// Mean quality score of the scored drawings, 0..=1 (`None`: none scored).
    pub mean_quality: Option<f64>,
    /// Drawings the production recognizer has judged (stored verdict).
    pub judged: u64,
    /// Share of the judged drawings whose recognizer answer is the prompted shape, 0..=1.
    pub model_agreement: Option<f64>,
    /// `(drawings - 1)` per minute between the first and the last drawing (`None` for one
    /// drawing, or all at one instant).
    pub drawings_per_minute: Option<f64>,
    /// Mean time from the prompt being shown to the first point, ms (client clock; `None`
    /// when no drawing reported it).
    pub mean_time_to_first_point_ms: Option<f64>,
    /// First drawing, ms since the Unix epoch.
    pub first_drawn_at: i64,
    /// Last drawing, ms since the Unix epoch.
    pub last_drawn_at: i64,
    /// Why the automatic junk detection marks this contributor for review (empty: not
    /// marked). Thresholds are the server's `[contributors]` settings.
    pub review: Vec<ReviewReason>,
}

/// `GET /api/admin/contributors` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContributorList {
    /// One page, in the asked order.
    pub contributors: Vec<Contributor>,
    /// Contributors matching the query (all pages).
    pub total: u64,
    /// Of those, how many are marked for review.
    pub marked_for_review: u64,
}
