//! SQL of curation and statistics: the [`DrawingFilter`] as SQL, keyset cursors, lists and
//! counts, bulk changes guarded by a confirmed count, the dashboard's aggregates, and the
//! quality score's rows.

use crate::now_ms;
pub use inkset_protocol::api::DrawingFilter;
use inkset_protocol::api::DrawingSummary;
use inkset_protocol::api::{DrawingSort, Verdict};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{Arg, Db, query_with};
use crate::drawings::sql::{RecordLocation, location_from_row};

/// One drawing's automatic score and the recognizer's answer (see `crate::curation::quality`).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The drawing.
    pub id: Uuid,
    /// Quality score, 0..=1.
    pub score: f64,
    /// The recognizer's top class, `None` without a recognizer.
    pub guess: Option<String>,
    /// Its probability, 0..=1.
    pub confidence: Option<f64>,
}

/// Outcome of a bulk change guarded by the count the admin confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Made; this many rows changed.
    Done(u64),
    /// Not made: the filter now matches this many drawings.
    CountDiffers(u64),
}

/// SQL of a [`DrawingFilter`].
pub trait FilterSql {
    /// Appends `AND ...` clauses for this filter (`$N` placeholders numbered after the
    /// arguments already in `args`), pushing their arguments.
    fn push_sql(&self, sql: &mut String, args: &mut Vec<Arg>);
}

impl FilterSql for DrawingFilter {
    fn push_sql(&self, sql: &mut String, args: &mut Vec<Arg>) {
        let mut add = |clause: &str, arg: Arg, sql: &mut String| {
            args.push(arg);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        // A release never changes: its removed drawings stay in it.
        if !self.include_removed && self.release.is_none() {
            sql.push_str(" AND removed_at IS NULL");
        }
        if let Some(r) = &self.release {
            add(
                " AND id IN (SELECT rd.drawing_id FROM release_drawings rd \
                 JOIN releases r ON r.id = rd.release_id WHERE r.name = ?)",
                Arg::Text(r.clone()),
                sql,
            );
        }
        if let Some(s) = &self.shape {
            add(" AND shape = ?", Arg::Text(s.clone()), sql);
        }
        // A literal, not a parameter: both planners then use the partial index of flagged
        // drawings (`drawings_flagged`).
        if let Some(f) = self.flagged {
            sql.push_str(if f {
                " AND flagged = 1"
            } else {
                " AND flagged = 0"
            });
        }
        if let Some(q) = self.quality_min {
            add(" AND quality_score >= ?", Arg::Float(q), sql);
        }
        if let Some(q) = self.quality_max {
            add(" AND quality_score <= ?", Arg::Float(q), sql);
        }
        if let Some(t) = self.from {
            add(" AND received_at >= ?", Arg::Int(t), sql);
        }
        if let Some(t) = self.to {
            add(" AND received_at < ?", Arg::Int(t), sql);
        }
        if let Some(s) = self.session {
            add(" AND session_id = ?", Arg::Text(s.to_string()), sql);
        }
        if let Some(p) = self.player {
            add(
                " AND session_id IN (SELECT id FROM sessions WHERE user_id = ?)",
                Arg::Text(p.to_string()),
                sql,
            );
        }
        if let Some(q) = self.contributor_quality_min {
            // A contributor is the account of a linked session, or the session itself.
            add(
                &format!(
                    " AND (session_id IS NULL OR session_id NOT IN (\
                     SELECT s.id FROM sessions s WHERE {key} IN (\
                     SELECT {key2} FROM drawings d2 JOIN sessions s2 ON s2.id = d2.session_id \
                     WHERE d2.removed_at IS NULL AND d2.quality_score IS NOT NULL \
                     GROUP BY {key2} HAVING AVG(d2.quality_score) < ?)))",
                    key = crate::curation::contributors::CONTRIBUTOR_KEY_S,
                    key2 = crate::curation::contributors::CONTRIBUTOR_KEY_S2,
                ),
                Arg::Float(q),
                sql,
            );
        }
        match self.device.as_deref() {
            None => {}
            Some("none") => sql.push_str(" AND device IS NULL"),
            Some(d) => add(" AND device = ?", Arg::Text(d.to_owned()), sql),
        }
        if let Some(o) = &self.origin {
            add(" AND origin = ?", Arg::Text(o.clone()), sql);
        }
        match self.verdict {
            None => {}
            Some(Verdict::Agrees) => sql.push_str(" AND model_guess = shape"),
            Some(Verdict::Disagrees) => {
                sql.push_str(" AND model_guess IS NOT NULL AND model_guess <> shape");
            }
            Some(Verdict::Unjudged) => sql.push_str(" AND model_guess IS NULL"),
        }
        if let Some(g) = &self.guess {
            add(" AND model_guess = ?", Arg::Text(g.clone()), sql);
        }
    }
}

/// A position in a sorted drawing list: the sort column's value and the id of the last
/// row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cursor {
    /// `received_at` (newest and oldest orders).
    Time(i64, Uuid),
    /// `quality_score` or `model_confidence`.
    Score(f64, Uuid),
}

impl Cursor {
    /// The `next_cursor` text: `<value>_<id>`.
    pub fn encode(&self) -> String {
        match self {
            Self::Time(t, id) => format!("{t}_{id}"),
            Self::Score(v, id) => format!("{v}_{id}"),
        }
    }

    /// The cursor after `row` in `sort` order (`None` when the row has no sort value).
    pub fn after(sort: DrawingSort, row: &DrawingSummary) -> Option<Self> {
        match sort {
            DrawingSort::Newest | DrawingSort::Oldest => Some(Self::Time(row.received_at, row.id)),
            DrawingSort::QualityAsc | DrawingSort::QualityDesc => {
                row.quality_score.map(|q| Self::Score(q, row.id))
            }
            DrawingSort::ConfidenceAsc | DrawingSort::ConfidenceDesc => {
                row.model_confidence.map(|c| Self::Score(c, row.id))
            }
        }
    }

    /// Parses [`Self::encode`]'s text for `sort`; `None` when malformed.
    pub fn parse(sort: DrawingSort, text: &str) -> Option<Self> {
        let (value, id) = text.split_once('_')?;
        let id = Uuid::parse_str(id).ok()?;
        match sort {
            DrawingSort::Newest | DrawingSort::Oldest => Some(Self::Time(value.parse().ok()?, id)),
            _ => value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| Self::Score(v, id)),
        }
    }
}

pub(crate) const SUMMARY_COLUMNS: &str = "id, shape, session_id, origin, received_at, client_started_at, \
     stroke_count, point_count, device, quality_score, flagged, flag_reason, removed_at, \
     source_key_id, model_guess, model_confidence";

pub(crate) fn summary_from_row(row: &AnyRow) -> Result<DrawingSummary, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let session: Option<String> = row.try_get("session_id")?;
    let parse = |s: &str| Uuid::parse_str(s).map_err(|e| sqlx::Error::Decode(Box::new(e)));
    Ok(DrawingSummary {
        id: parse(&id)?,
        shape: row.try_get("shape")?,
        session_id: session.as_deref().map(parse).transpose()?,
        origin: row.try_get("origin")?,
        received_at: row.try_get("received_at")?,
        client_started_at: row.try_get("client_started_at")?,
        stroke_count: u32::try_from(row.try_get::<i64, _>("stroke_count")?).unwrap_or(u32::MAX),
        point_count: u32::try_from(row.try_get::<i64, _>("point_count")?).unwrap_or(u32::MAX),
        device: row.try_get("device")?,
        quality_score: row.try_get("quality_score")?,
        flagged: row.try_get::<i64, _>("flagged")? != 0,
        flag_reason: row.try_get("flag_reason")?,
        removed_at: row.try_get("removed_at")?,
        source_key_id: row.try_get("source_key_id")?,
        model_guess: row.try_get("model_guess")?,
        model_confidence: row.try_get("model_confidence")?,
        thumbnail: None,
    })
}

impl Db {
    /// One page of drawings matching `filter` in `sort` order after `cursor` (the last row
    /// of the previous page), with where each record is stored.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn list_drawings(
        &self,
        filter: &DrawingFilter,
        sort: DrawingSort,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Vec<(DrawingSummary, RecordLocation)>, sqlx::Error> {
        let mut sql = format!(
            "SELECT {SUMMARY_COLUMNS}, segment_key, segment_offset, segment_length \
             FROM drawings WHERE 1 = 1"
        );
        let mut args = Vec::new();
        filter.push_sql(&mut sql, &mut args);
        let (column, descending) = match sort {
            DrawingSort::Newest => ("received_at", true),
            DrawingSort::Oldest => ("received_at", false),
            DrawingSort::QualityAsc => ("quality_score", false),
            DrawingSort::QualityDesc => ("quality_score", true),
            DrawingSort::ConfidenceAsc => ("model_confidence", false),
            DrawingSort::ConfidenceDesc => ("model_confidence", true),
        };
        if column != "received_at" {
            sql.push_str(&format!(" AND {column} IS NOT NULL"));
        }
        let value = match cursor {
            Some(Cursor::Time(t, id)) => Some((Arg::Int(t), id)),
            Some(Cursor::Score(v, id)) => Some((Arg::Float(v), id)),
            None => None,
        };
        if let Some((value, id)) = value {
            args.push(value);
            args.push(Arg::Text(id.to_string()));
            let (a, b) = (args.len() - 1, args.len());
            let cmp = if descending { '<' } else { '>' };
            sql.push_str(&format!(
                " AND ({column} {cmp} ${a} OR ({column} = ${a} AND id {cmp} ${b}))"
            ));
        }
        let dir = if descending { "DESC" } else { "ASC" };
        sql.push_str(&format!(
            " ORDER BY {column} {dir}, id {dir} LIMIT {}",
            limit.min(10_000)
        ));
        let rows = query_with(&sql, &args).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok((summary_from_row(row)?, location_from_row(row)?)))
            .collect()
    }

    /// How many drawings match `filter`: from the summary tables when the filter keeps to
    /// what they count ([`Db::tally_counts_by_shape`]), else by counting the rows.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn count_drawings(&self, filter: &DrawingFilter) -> Result<u64, sqlx::Error> {
        if let Some(per_shape) = self.tally_counts_by_shape(filter).await? {
            return Ok(per_shape.values().sum());
        }
        let mut sql = String::from("SELECT COUNT(*) AS n FROM drawings WHERE 1 = 1");
        let mut args = Vec::new();
        filter.push_sql(&mut sql, &mut args);
        let row = query_with(&sql, &args).fetch_one(&self.pool).await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// Flags, unflags or removes every drawing matching `filter` (removed drawings are
    /// never touched again); returns how many changed.
    ///
    /// With `expected`, the change is made only if the filter matches exactly that many
    /// drawings ([`Self::count_drawings`]'s count) in the same statement's snapshot;
    /// otherwise nothing changes and the answer is [`Guarded::CountDiffers`].
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn curate_filter(
        &self,
        filter: &DrawingFilter,
        action: inkset_protocol::api::BulkAction,
        reason: Option<&str>,
        expected: Option<u64>,
    ) -> Result<Guarded, sqlx::Error> {
        use inkset_protocol::api::BulkAction;
        let now = now_ms();
        let (mut args, set) = match action {
            BulkAction::Flag => (
                vec![Arg::Int(now), Arg::OptText(reason.map(str::to_owned))],
                "flagged = 1, flagged_at = $1, flag_reason = $2",
            ),
            BulkAction::Unflag => (
                vec![Arg::Int(now)],
                "flagged = 0, flagged_at = $1, flag_reason = NULL",
            ),
            BulkAction::Remove => (vec![Arg::Int(now)], "removed_at = $1"),
        };
        let mut sql = format!("UPDATE drawings SET {set} WHERE removed_at IS NULL");
        if action == BulkAction::Unflag {
            sql.push_str(" AND flagged = 1");
        }
        filter.push_sql(&mut sql, &mut args);
        if let Some(n) = expected {
            // One statement: the count and the rows changed come from one snapshot.
            sql.push_str(" AND (SELECT COUNT(*) FROM drawings WHERE 1 = 1");
            filter.push_sql(&mut sql, &mut args);
            args.push(Arg::Int(i64::try_from(n).unwrap_or(i64::MAX)));
            sql.push_str(&format!(") = ${}", args.len()));
        }
        // Several rows in one statement: PostgreSQL may end it as a deadlock's victim
        // against another multi-row write; then it runs again.
        let affected = self
            .retrying(|| query_with(&sql, &args).execute(&self.pool))
            .await?
            .rows_affected();
        if affected == 0
            && let Some(n) = expected
        {
            let now = self.count_drawings(filter).await?;
            if now != n {
                return Ok(Guarded::CountDiffers(now));
            }
        }
        Ok(Guarded::Done(affected))
    }

    /// Sets `flagged` (with a reason) or marks removed; returns rows changed.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn curate(
        &self,
        ids: &[Uuid],
        action: inkset_protocol::api::BulkAction,
        reason: Option<&str>,
    ) -> Result<u64, sqlx::Error> {
        use inkset_protocol::api::BulkAction;
        let mut affected = 0;
        let now = now_ms();
        for chunk in ids.chunks(self.max_in_list()) {
            let mut args = match action {
                BulkAction::Flag => vec![Arg::Int(now), Arg::OptText(reason.map(str::to_owned))],
                BulkAction::Unflag | BulkAction::Remove => vec![Arg::Int(now)],
            };
            let set = match action {
                BulkAction::Flag => format!(
                    "flagged = 1, flagged_at = {}, flag_reason = {}",
                    self.placeholders(1, 1),
                    self.placeholders(2, 1)
                ),
                BulkAction::Unflag => format!(
                    "flagged = 0, flagged_at = {}, flag_reason = NULL",
                    self.placeholders(1, 1)
                ),
                BulkAction::Remove => format!("removed_at = {}", self.placeholders(1, 1)),
            };
            // Flagging again updates the reason; unflagging touches flagged rows only.
            let guard = match action {
                BulkAction::Unflag => " AND flagged = 1",
                BulkAction::Flag | BulkAction::Remove => "",
            };
            let start = args.len() + 1;
            args.extend(chunk.iter().map(|id| Arg::Text(id.to_string())));
            let sql = format!(
                "UPDATE drawings SET {set} WHERE id IN ({}) AND removed_at IS NULL{guard}",
                self.placeholders(start, chunk.len())
            );
            affected += self
                .retrying(|| query_with(&sql, &args).execute(&self.pool))
                .await?
                .rows_affected();
        }
        Ok(affected)
    }

    /// Drawings whose automatic quality score is missing or came from another recognizer
    /// than `model_key` (`none`, or the production model's id), not overridden by an admin
    /// and not removed: up to `limit`, newest first, with their record locations.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn quality_due(
        &self,
        model_key: &str,
        limit: usize,
    ) -> Result<Vec<(Uuid, RecordLocation)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, segment_key, segment_offset, segment_length FROM drawings \
             WHERE (quality_model_id IS NULL OR quality_model_id <> $1) \
             AND removed_at IS NULL \
             ORDER BY received_at DESC LIMIT $2",
        )
        .bind(model_key)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok((
                    Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    RecordLocation {
                        segment_key: r.try_get("segment_key")?,
                        offset: u64::try_from(r.try_get::<i64, _>("segment_offset")?).unwrap_or(0),
                        length: u64::try_from(r.try_get::<i64, _>("segment_length")?).unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    /// Stores automatic quality scores computed with `model_key` (rows an admin overrode in
    /// the meantime keep the admin's score).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn set_quality(&self, scores: &[Scored], model_key: &str) -> Result<(), sqlx::Error> {
        // One batch in one transaction; PostgreSQL may pick it as a deadlock's victim against
        // a bulk curation touching the same rows, and then it runs again.
        self.retrying(move || async move {
            let mut tx = self.begin_write().await?;
            for s in scores {
                // The recognizer's answer is kept even under an admin's score override.
                sqlx::query(
                    "UPDATE drawings SET quality_score = CASE WHEN quality_override = 0 THEN $1 \
                     ELSE quality_score END, quality_model_id = $2, model_guess = $3, \
                     model_confidence = $4 WHERE id = $5",
                )
                .bind(s.score)
                .bind(model_key)
                .bind(s.guess.as_deref())
                .bind(s.confidence)
                .bind(s.id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
        .await
    }

    /// An admin's quality score for a drawing (`Some`), or back to the automatic score
    /// (`None`: rescored by the next round). Returns whether the drawing exists.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn override_quality(
        &self,
        id: Uuid,
        score: Option<f64>,
    ) -> Result<bool, sqlx::Error> {
        let done = match score {
            Some(q) => {
                sqlx::query(
                    "UPDATE drawings SET quality_score = $1, quality_override = 1 \
                     WHERE id = $2 AND removed_at IS NULL",
                )
                .bind(q)
                .bind(id.to_string())
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE drawings SET quality_override = 0, quality_model_id = NULL \
                     WHERE id = $1 AND removed_at IS NULL",
                )
                .bind(id.to_string())
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }
}
