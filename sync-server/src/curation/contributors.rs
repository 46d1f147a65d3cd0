//! Contributor quality: per player account and per anonymous session, how many drawings,
//! their mean quality score, the share flagged, agreement with the production recognizer
//! and the speed signals (drawings a minute, time from prompt to first point), and the
//! automatic junk detection that marks contributors for an admin's review. It never
//! changes a drawing by itself: flagging or removing all of a contributor's drawings is
//! the bulk action (`POST /api/admin/drawings/bulk` with a `player` or `session` filter).
//!
//! A contributor is the account of a session linked to one (every session of that account
//! together), or otherwise the session itself. Drawings without a session (imports) have
//! no contributor.

use std::cmp::Ordering;

use axum::Json;
use axum::extract::{RawQuery, State};
use inkset_protocol::FieldError;
use inkset_protocol::api::{
    Contributor, ContributorKind, ContributorList, ContributorQuery, ContributorSort, ReviewReason,
    SortOrder,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiError;
use crate::state::AppState;

/// SQL of a contributor's key over `sessions s`: the linked account, or the session.
pub const CONTRIBUTOR_KEY_S: &str = "COALESCE(s.user_id, s.id)";
/// The same over `sessions s2`.
pub const CONTRIBUTOR_KEY_S2: &str = "COALESCE(s2.user_id, s2.id)";

/// Thresholds of the automatic junk detection (`[contributors]` in the settings). A
/// contributor with at least `review_min_drawings` drawings is marked for review when
/// any rule holds; marks are recomputed on every read, so they follow curation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ContributorSettings {
    /// Fewer drawings than this are never marked (too little to judge).
    pub review_min_drawings: u64,
    /// "Fast and low quality": at least this many drawings a minute ...
    pub fast_drawings_per_minute: f64,
    /// ... with a mean quality score below this. A round lasts up to 20 s (the shapes'
    /// `round_seconds`) and the real Quick, Draw! drawings in `../shared/data` take a few
    /// seconds each, so a player who draws what is asked manages a few a minute; tapping
    /// through the prompts gives far more, at scores near 0.
    pub low_mean_quality: f64,
    /// "Mostly flagged": at least this share of the drawings flagged.
    pub flagged_share: f64,
    /// "Model disagrees": the production recognizer sees the prompted shape in less than
    /// this share of the judged drawings (with at least `review_min_drawings` judged).
    pub model_agreement_below: f64,
}

impl Default for ContributorSettings {
    fn default() -> Self {
        Self {
            review_min_drawings: 10,
            fast_drawings_per_minute: 8.0,
            low_mean_quality: 0.3,
            flagged_share: 0.5,
            model_agreement_below: 0.2,
        }
    }
}

impl ContributorSettings {
    /// Why `c` is marked for review under these thresholds (empty: not marked).
    pub fn review(&self, c: &Contributor) -> Vec<ReviewReason> {
        let mut out = Vec::new();
        if c.drawings < self.review_min_drawings {
            return out;
        }
        if let (Some(rate), Some(q)) = (c.drawings_per_minute, c.mean_quality)
            && rate >= self.fast_drawings_per_minute
            && q < self.low_mean_quality
        {
            out.push(ReviewReason::FastAndLowQuality {
                drawings_per_minute: rate,
                mean_quality: q,
            });
        }
        if let Some(share) = c.flagged_share
            && share >= self.flagged_share
        {
            out.push(ReviewReason::MostlyFlagged {
                flagged_share: share,
            });
        }
        if c.judged >= self.review_min_drawings
            && let Some(a) = c.model_agreement
            && a < self.model_agreement_below
        {
            out.push(ReviewReason::ModelDisagrees { model_agreement: a });
        }
        out
    }
}

/// Ratio `n / d`, `None` when `d` is 0.
#[allow(clippy::cast_precision_loss)]
fn share(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn count(row: &sqlx::any::AnyRow, name: &str) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
}

impl Db {
    /// Every contributor's numbers, in no particular order, without review marks.
    ///
    /// One grouped scan of the drawings that have a session (imports have none).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn contributors(&self) -> Result<Vec<Contributor>, sqlx::Error> {
        // COUNT and CAST keep the types the same on both backends (PostgreSQL's SUM and AVG
        // of BIGINT are NUMERIC).
        let sql = format!(
            "SELECT {key} AS contributor, \
             CAST(MAX(CASE WHEN s.user_id IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS is_player, \
             MAX(u.username) AS username, \
             COUNT(DISTINCT s.id) AS sessions, \
             COUNT(CASE WHEN d.removed_at IS NULL THEN 1 END) AS drawings, \
             COUNT(d.removed_at) AS removed, \
             COUNT(CASE WHEN d.removed_at IS NULL AND d.flagged = 1 THEN 1 END) AS flagged, \
             COUNT(CASE WHEN d.removed_at IS NULL THEN d.quality_score END) AS scored, \
             AVG(CASE WHEN d.removed_at IS NULL THEN CAST(d.quality_score AS DOUBLE PRECISION) END) \
                 AS mean_quality, \
             COUNT(CASE WHEN d.removed_at IS NULL THEN d.model_guess END) AS judged, \
             COUNT(CASE WHEN d.removed_at IS NULL AND d.model_guess = d.shape THEN 1 END) AS agreed, \
             AVG(CASE WHEN d.removed_at IS NULL \
                 THEN CAST(d.prompt_to_first_point_ms AS DOUBLE PRECISION) END) AS mean_ttfp, \
             MIN(CASE WHEN d.removed_at IS NULL THEN COALESCE(d.drawn_at, d.received_at) END) \
                 AS first_live, \
             MAX(CASE WHEN d.removed_at IS NULL THEN COALESCE(d.drawn_at, d.received_at) END) \
                 AS last_live, \
             MIN(COALESCE(d.drawn_at, d.received_at)) AS first_any, \
             MAX(COALESCE(d.drawn_at, d.received_at)) AS last_any \
             FROM drawings d JOIN sessions s ON s.id = d.session_id \
             LEFT JOIN users u ON u.id = s.user_id \
             GROUP BY {key}",
            key = CONTRIBUTOR_KEY_S
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get("contributor")?;
            let Ok(id) = Uuid::parse_str(&key) else {
                tracing::warn!(contributor = %key, "a session or account id is not a UUID");
                continue;
            };
            let player = row.try_get::<i64, _>("is_player")? == 1;
            let drawings = count(&row, "drawings")?;
            let flagged = count(&row, "flagged")?;
            let judged = count(&row, "judged")?;
            let first_live: Option<i64> = row.try_get("first_live")?;
            let last_live: Option<i64> = row.try_get("last_live")?;
            let first: i64 = first_live.map_or_else(|| row.try_get("first_any"), Ok)?;
            let last: i64 = last_live.map_or_else(|| row.try_get("last_any"), Ok)?;
            #[allow(clippy::cast_precision_loss)]
            let drawings_per_minute = (drawings >= 2 && last > first)
                .then(|| (drawings - 1) as f64 / ((last - first) as f64 / 60_000.0));
            out.push(Contributor {
                kind: if player {
                    ContributorKind::Player
                } else {
                    ContributorKind::Session
                },
                id,
                username: if player {
                    row.try_get("username")?
                } else {
                    None
                },
                sessions: count(&row, "sessions")?,
                drawings,
                removed: count(&row, "removed")?,
                flagged,
                flagged_share: share(flagged, drawings),
                scored: count(&row, "scored")?,
                mean_quality: row.try_get("mean_quality")?,
                judged,
                model_agreement: share(count(&row, "agreed")?, judged),
                drawings_per_minute,
                mean_time_to_first_point_ms: row.try_get("mean_ttfp")?,
                first_drawn_at: first,
                last_drawn_at: last,
                review: Vec::new(),
            });
        }
        Ok(out)
    }
}

/// The value `sort` orders by (`None` sorts last).
#[allow(clippy::cast_precision_loss)]
fn sort_key(c: &Contributor, sort: ContributorSort) -> Option<f64> {
    match sort {
        ContributorSort::Drawings => Some(c.drawings as f64),
        ContributorSort::MeanQuality => c.mean_quality,
        ContributorSort::FlaggedShare => c.flagged_share,
        ContributorSort::ModelAgreement => c.model_agreement,
        ContributorSort::DrawingsPerMinute => c.drawings_per_minute,
        ContributorSort::TimeToFirstPoint => c.mean_time_to_first_point_ms,
        ContributorSort::LastDrawn => Some(c.last_drawn_at as f64),
    }
}

/// Orders `list` by `sort` in `order`, contributors without a value last, ties by id.
pub fn sort_contributors(list: &mut [Contributor], sort: ContributorSort, order: SortOrder) {
    list.sort_by(|a, b| {
        let by_value = match (sort_key(a, sort), sort_key(b, sort)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if order == SortOrder::Desc {
                    o.reverse()
                } else {
                    o
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_value.then_with(|| a.id.cmp(&b.id))
    });
}

/// Largest page of `GET /api/admin/contributors`.
pub const MAX_PAGE: usize = 1000;

/// `GET /api/admin/contributors`: contributors with their quality and speed numbers and
/// review marks, sorted by any of them, offset-paginated.
#[utoipa::path(get, path = "/api/admin/contributors", tag = "curation", params(ContributorQuery), responses((status = 200, description = "One page of contributors and the totals", body = ContributorList)))]
pub async fn list_contributors(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ContributorList>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(FieldError::new("query", "invalid", e.to_string())))?;
    let q: ContributorQuery = crate::curation::handlers::from_pairs(&pairs)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::Invalid(FieldError::new(
            "limit",
            "out_of_range",
            format!("limit must be within 1..={MAX_PAGE}"),
        )));
    }
    Ok(Json(
        contributor_page(&state.db, &state.contributors, &q, limit).await?,
    ))
}

/// One page of contributors for `q` (see [`list_contributors`]).
///
/// # Errors
/// On SQL failure.
pub async fn contributor_page(
    db: &Db,
    settings: &ContributorSettings,
    q: &ContributorQuery,
    limit: usize,
) -> Result<ContributorList, sqlx::Error> {
    let mut all = db.contributors().await?;
    for c in &mut all {
        c.review = settings.review(c);
    }
    all.retain(|c| q.kind.is_none_or(|k| k == c.kind) && (!q.marked || !c.review.is_empty()));
    let marked = all.iter().filter(|c| !c.review.is_empty()).count() as u64;
    sort_contributors(&mut all, q.sort, q.order);
    let total = all.len() as u64;
    let skip = usize::try_from(q.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let contributors = all.into_iter().skip(skip).take(limit).collect();
    Ok(ContributorList {
        contributors,
        total,
        marked_for_review: marked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contributor(drawings: u64) -> Contributor {
        Contributor {
            kind: ContributorKind::Session,
            id: Uuid::new_v4(),
            username: None,
            sessions: 1,
            drawings,
            removed: 0,
            flagged: 0,
            flagged_share: share(0, drawings),
            scored: drawings,
            mean_quality: Some(0.8),
            judged: drawings,
            model_agreement: Some(0.9),
            drawings_per_minute: Some(3.0),
            mean_time_to_first_point_ms: Some(900.0),
            first_drawn_at: 0,
            last_drawn_at: 60_000,
            review: Vec::new(),
        }
    }

    #[test]
    fn marks_fast_low_quality_and_mostly_flagged_contributors_only_with_enough_drawings() {
        let s = ContributorSettings::default();
        let honest = contributor(40);
        assert!(s.review(&honest).is_empty());
        let scribbler = Contributor {
            drawings_per_minute: Some(20.0),
            mean_quality: Some(0.1),
            ..contributor(40)
        };
        assert_eq!(
            s.review(&scribbler),
            vec![ReviewReason::FastAndLowQuality {
                drawings_per_minute: 20.0,
                mean_quality: 0.1
            }]
        );
        // Fast but good, or slow and bad: not this rule.
        let fast_good = Contributor {
            drawings_per_minute: Some(20.0),
            ..contributor(40)
        };
        assert!(s.review(&fast_good).is_empty());
        let flagged = Contributor {
            flagged: 30,
            flagged_share: Some(0.75),
            model_agreement: Some(0.1),
            ..contributor(40)
        };
        assert_eq!(s.review(&flagged).len(), 2);
        // Too few drawings to judge.
        let few = Contributor {
            drawings_per_minute: Some(20.0),
            mean_quality: Some(0.1),
            ..contributor(3)
        };
        assert!(s.review(&few).is_empty());
    }

    #[test]
    fn sorts_either_way_with_missing_values_last() {
        let mut list = vec![
            Contributor {
                mean_quality: None,
                ..contributor(1)
            },
            Contributor {
                mean_quality: Some(0.2),
                ..contributor(2)
            },
            Contributor {
                mean_quality: Some(0.9),
                ..contributor(3)
            },
        ];
        sort_contributors(&mut list, ContributorSort::MeanQuality, SortOrder::Desc);
        let q: Vec<_> = list.iter().map(|c| c.mean_quality).collect();
        assert_eq!(q, vec![Some(0.9), Some(0.2), None]);
        sort_contributors(&mut list, ContributorSort::MeanQuality, SortOrder::Asc);
        let q: Vec<_> = list.iter().map(|c| c.mean_quality).collect();
        assert_eq!(q, vec![Some(0.2), Some(0.9), None]);
        sort_contributors(&mut list, ContributorSort::Drawings, SortOrder::Asc);
        let n: Vec<_> = list.iter().map(|c| c.drawings).collect();
        assert_eq!(n, vec![1, 2, 3]);
    }
}
