//! Summary tables of the drawings: the dashboard, the counts and the training plan read them
//! instead of every drawing row (issue "Scale and durability", item 4).
//!
//! The tables and the triggers that keep them are in `migrations/sqlite/0008_tallies.sql`
//! and `migrations/postgres/0008_tallies.sql`; every write of a drawing row (ingest, import,
//! curation, quality scores) updates them in its own transaction, so a reader sees counts
//! exactly as consistent as the rows themselves.
//!
//! * `drawing_counts`: drawings per UTC day of receipt, shape, origin, device, pointer types,
//!   flagged, removed and quality bin (see [`quality_bin`]).
//! * `prompt_time_counts`: drawings per exact prompt-to-first-point time (ms) and removed.
//! * `session_drawing_counts`: drawings per session (removed ones included).
//!
//! On PostgreSQL the first two are written as append-only deltas (`*_deltas`), so that
//! concurrent ingest transactions never queue on one hot count row; [`Db::fold_tally_deltas`]
//! moves them into the counts (every second, [`spawn_folder`]). Readers always add the
//! deltas to the counts in one statement, so folding never changes an answer. On SQLite the
//! triggers add to the counts directly and the delta tables stay empty.

use std::collections::BTreeMap;
use std::time::Duration;

use inkset_protocol::api::DrawingFilter;
use sqlx::Row;
use tokio::sync::watch;

use crate::curation::sql::FilterSql;
use crate::db::{Arg, Backend, Db, query_with};

/// Milliseconds per UTC day: a drawing's tally day is `received_at / DAY_MS`.
pub const DAY_MS: i64 = 86_400_000;

/// The quality bin of a score as the tallies and the dashboard's histogram count it: `-1`
/// unscored, `b` in `0..=9` for scores in `[b/10, (b+1)/10)` (9 includes 1.0).
pub fn quality_bin(score: Option<f64>) -> i64 {
    match score {
        None => -1,
        Some(q) => (1..10)
            .rev()
            .find(|&b| q >= f64::from(b) / 10.0)
            .map_or(0, i64::from),
    }
}

/// The latest time the tallies split into days, ms (2^50: the year 37,648); later or
/// negative bounds count the rows.
const MAX_TIME_MS: i64 = 1 << 50;

/// The drawing counts (counts and pending deltas) as one table expression.
const COUNTS: &str = "(SELECT day, shape, origin, device, pointer_types, flagged, removed, \
     quality_bin, n FROM drawing_counts UNION ALL SELECT day, shape, origin, device, \
     pointer_types, flagged, removed, quality_bin, n FROM drawing_count_deltas)";

/// Every stored drawing's counted facts, summed: what the dashboard shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TallyStats {
    /// Drawings not removed per `(shape, flagged)`.
    pub per_shape: BTreeMap<(String, bool), u64>,
    /// Removed drawings.
    pub removed: u64,
    /// Drawings not removed per quality bin ([`quality_bin`]; -1 unscored).
    pub per_quality_bin: BTreeMap<i64, u64>,
    /// Drawings not removed per UTC day number (days since the Unix epoch).
    pub per_day: BTreeMap<i64, u64>,
    /// Drawings not removed per device (`none` when not reported).
    pub per_device: BTreeMap<String, u64>,
    /// Drawings not removed per pointer-type set (`none` when not reported).
    pub per_pointer_types: BTreeMap<String, u64>,
    /// Drawings not removed per prompt-to-first-point time (ms), ascending.
    pub prompt_times: Vec<(i64, u64)>,
    /// Sessions with at least one drawing (removed ones included).
    pub contributing_sessions: u64,
    /// Accounts whose sessions have at least one drawing.
    pub contributing_players: u64,
}

fn count(row: &sqlx::any::AnyRow) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "none".into() } else { s }
}

/// How the edges of a `[from, to)` time range outside whole tally days are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edge {
    /// Rows received in `[from, to)` of `drawings`...
    from: i64,
    to: i64,
    /// ...added (+1) to or taken (-1) from the whole days' counts.
    sign: i64,
}

/// The tally days `[first, end)` and the edges that make `[from, to)` exact: each partial
/// day is either added from the rows, or counted whole and its outside part taken away,
/// whichever reads fewer rows (by position in the day; the future has no rows).
fn split_days(from: Option<i64>, to: Option<i64>, now: i64) -> (Option<(i64, i64)>, Vec<Edge>) {
    let mut edges = Vec::new();
    let first = from.map(|f| {
        let day = f.div_euclid(DAY_MS);
        let start = day * DAY_MS;
        if f == start {
            day
        } else if f - start < DAY_MS / 2 {
            edges.push(Edge {
                from: start,
                to: f,
                sign: -1,
            });
            day
        } else {
            edges.push(Edge {
                from: f,
                to: start + DAY_MS,
                sign: 1,
            });
            day + 1
        }
    });
    let end = to.map(|t| {
        let day = t.div_euclid(DAY_MS);
        let start = day * DAY_MS;
        if t == start {
            day
        } else if t >= now || t - start >= DAY_MS / 2 {
            edges.push(Edge {
                from: t,
                to: start + DAY_MS,
                sign: -1,
            });
            day + 1
        } else {
            edges.push(Edge {
                from: start,
                to: t,
                sign: 1,
            });
            day
        }
    });
    let days = match (first, end) {
        (None, None) => None,
        (f, e) => Some((f.unwrap_or(i64::MIN), e.unwrap_or(i64::MAX))),
    };
    (days, edges)
}

/// Appends the tally clauses of `filter` (`AND ...`, columns of [`COUNTS`]); `false` when
/// the filter uses a fact the tallies do not keep (a session, the model's verdict or guess,
/// a quality bound between bins).
fn push_tally_filter(filter: &DrawingFilter, sql: &mut String, args: &mut Vec<Arg>) -> bool {
    if filter.session.is_some()
        || filter.player.is_some()
        || filter.contributor_quality_min.is_some()
        || filter.release.is_some()
        || filter.verdict.is_some()
        || filter.guess.is_some()
    {
        return false;
    }
    let mut add = |clause: &str, arg: Arg, sql: &mut String| {
        args.push(arg);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if !filter.include_removed {
        sql.push_str(" AND removed = 0");
    }
    if let Some(s) = &filter.shape {
        add(" AND shape = ?", Arg::Text(s.clone()), sql);
    }
    if let Some(f) = filter.flagged {
        sql.push_str(if f {
            " AND flagged = 1"
        } else {
            " AND flagged = 0"
        });
    }
    match filter.device.as_deref() {
        None => {}
        Some("none") => sql.push_str(" AND device = ''"),
        Some(d) => add(" AND device = ?", Arg::Text(d.to_owned()), sql),
    }
    if let Some(o) = &filter.origin {
        add(" AND origin = ?", Arg::Text(o.clone()), sql);
    }
    if let Some(q) = filter.quality_min {
        let tenths = (q * 10.0).round();
        if q <= 0.0 {
            sql.push_str(" AND quality_bin >= 0");
        } else if q > 1.0 {
            sql.push_str(" AND 1 = 0");
        } else if tenths / 10.0 == q && tenths < 10.0 {
            // Bins start at tenths: `score >= k/10` is exactly `bin >= k` (not for 1.0,
            // which bin 9 holds with the rest of [0.9, 1]).
            #[allow(clippy::cast_possible_truncation)]
            let k = tenths as i64;
            sql.push_str(&format!(" AND quality_bin >= {k}"));
        } else {
            return false;
        }
    }
    if let Some(q) = filter.quality_max {
        if q >= 1.0 {
            sql.push_str(" AND quality_bin >= 0");
        } else if q < 0.0 {
            sql.push_str(" AND 1 = 0");
        } else {
            return false;
        }
    }
    true
}

impl Db {
    /// The dashboard's counts from the summary tables: one read of a few thousand rows
    /// (distinct days x shapes x devices x bins), whatever the number of drawings.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn tally_stats(&self) -> Result<TallyStats, sqlx::Error> {
        let mut out = TallyStats::default();
        // One statement, one small answer: each dimension summed in SQL (a few dozen rows),
        // not the cube of every combination (tens of thousands at a million drawings).
        let rows = sqlx::query(&format!(
            "WITH t AS {COUNTS} \
             SELECT 'shape' AS dim, shape AS k, flagged AS f, removed AS r, \
             CAST(SUM(n) AS BIGINT) AS n FROM t GROUP BY shape, flagged, removed \
             UNION ALL SELECT 'quality', CAST(quality_bin AS TEXT), 0, 0, CAST(SUM(n) AS BIGINT) \
             FROM t WHERE removed = 0 GROUP BY quality_bin \
             UNION ALL SELECT 'day', CAST(day AS TEXT), 0, 0, CAST(SUM(n) AS BIGINT) \
             FROM t WHERE removed = 0 GROUP BY day \
             UNION ALL SELECT 'device', device, 0, 0, CAST(SUM(n) AS BIGINT) \
             FROM t WHERE removed = 0 GROUP BY device \
             UNION ALL SELECT 'pointer_types', pointer_types, 0, 0, CAST(SUM(n) AS BIGINT) \
             FROM t WHERE removed = 0 GROUP BY pointer_types"
        ))
        .fetch_all(self.pool())
        .await?;
        let number = |k: &str| {
            k.parse::<i64>()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        for r in &rows {
            let n = count(r)?;
            if n == 0 {
                continue;
            }
            let dim: String = r.try_get("dim")?;
            let k: String = r.try_get("k")?;
            match dim.as_str() {
                "shape" if r.try_get::<i64, _>("r")? != 0 => out.removed += n,
                "shape" => {
                    let flagged = r.try_get::<i64, _>("f")? != 0;
                    *out.per_shape.entry((k, flagged)).or_default() += n;
                }
                "quality" => *out.per_quality_bin.entry(number(&k)?).or_default() += n,
                "day" => *out.per_day.entry(number(&k)?).or_default() += n,
                "device" => *out.per_device.entry(none_if_empty(k)).or_default() += n,
                _ => *out.per_pointer_types.entry(none_if_empty(k)).or_default() += n,
            }
        }
        let rows = sqlx::query(
            "SELECT ms, CAST(SUM(n) AS BIGINT) AS n FROM (SELECT ms, removed, n FROM \
             prompt_time_counts UNION ALL SELECT ms, removed, n FROM prompt_time_deltas) t \
             WHERE removed = 0 GROUP BY ms HAVING SUM(n) > 0 ORDER BY ms",
        )
        .fetch_all(self.pool())
        .await?;
        out.prompt_times = rows
            .iter()
            .map(|r| Ok((r.try_get("ms")?, count(r)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        out.contributing_sessions = count(
            &sqlx::query("SELECT COUNT(*) AS n FROM session_drawing_counts WHERE n > 0")
                .fetch_one(self.pool())
                .await?,
        )?;
        out.contributing_players = count(
            &sqlx::query(
                "SELECT COUNT(DISTINCT s.user_id) AS n FROM session_drawing_counts c \
                 JOIN sessions s ON s.id = c.session_id \
                 WHERE c.n > 0 AND s.user_id IS NOT NULL",
            )
            .fetch_one(self.pool())
            .await?,
        )?;
        Ok(out)
    }

    /// Drawings matching `filter` per shape, from the summary tables plus, where the
    /// filter's time range cuts a day, that day's rows (one statement, one snapshot).
    /// `None` when the filter uses a fact the tallies do not keep (see
    /// [`Db::count_drawings`], which then counts the rows).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn tally_counts_by_shape(
        &self,
        filter: &DrawingFilter,
    ) -> Result<Option<BTreeMap<String, u64>>, sqlx::Error> {
        // A lower quality bound inside a bin (0.55): the bins above it from the tallies, and
        // the rows of its own bin at or above it (one bin's index range).
        let original = filter;
        let (filter, quality_edge) = match filter.quality_min {
            Some(q) if q > 0.0 && q < 0.9 && (q * 10.0).round() / 10.0 != q => {
                let upper = ((q * 10.0).floor() + 1.0) / 10.0;
                let whole_bins = DrawingFilter {
                    quality_min: Some(upper),
                    ..filter.clone()
                };
                (whole_bins, Some(upper))
            }
            _ => (filter.clone(), None),
        };
        let filter = &filter;
        let mut args = Vec::new();
        let mut tally = String::new();
        if !push_tally_filter(filter, &mut tally, &mut args) {
            return Ok(None);
        }
        // Times far outside any receipt (a client may send i64::MAX) are left to the rows:
        // day arithmetic on them would overflow.
        if [filter.from, filter.to]
            .iter()
            .flatten()
            .any(|t| !(0..=MAX_TIME_MS).contains(t))
        {
            return Ok(None);
        }
        let (days, edges) = split_days(filter.from, filter.to, crate::now_ms());
        if let Some((first, end)) = days {
            if first >= end {
                // Less than a day between the bounds: the rows themselves.
                return Ok(None);
            }
            if first > i64::MIN {
                args.push(Arg::Int(first));
                tally.push_str(&format!(" AND day >= ${}", args.len()));
            }
            if end < i64::MAX {
                args.push(Arg::Int(end));
                tally.push_str(&format!(" AND day < ${}", args.len()));
            }
        }
        let mut sql = format!(
            "SELECT shape, CAST(SUM(n) AS BIGINT) AS n FROM (SELECT shape, n FROM {COUNTS} t \
             WHERE 1 = 1{tally}"
        );
        for edge in edges {
            let part = DrawingFilter {
                from: Some(edge.from),
                to: Some(edge.to),
                ..filter.clone()
            };
            sql.push_str(&format!(
                " UNION ALL SELECT shape, {} * COUNT(*) AS n FROM drawings WHERE 1 = 1",
                edge.sign
            ));
            part.push_sql(&mut sql, &mut args);
            sql.push_str(" GROUP BY shape");
        }
        if let Some(upper) = quality_edge {
            sql.push_str(" UNION ALL SELECT shape, COUNT(*) AS n FROM drawings WHERE 1 = 1");
            original.push_sql(&mut sql, &mut args);
            args.push(Arg::Float(upper));
            sql.push_str(&format!(
                " AND quality_score < ${} GROUP BY shape",
                args.len()
            ));
        }
        sql.push_str(") c GROUP BY shape");
        let mut out = BTreeMap::new();
        for r in query_with(&sql, &args).fetch_all(self.pool()).await? {
            let n = count(&r)?;
            if n > 0 {
                out.insert(r.try_get("shape")?, n);
            }
        }
        Ok(Some(out))
    }

    /// Moves the pending deltas into the counts (PostgreSQL; nothing to do on SQLite), in
    /// one transaction, adding in key order so that two replicas folding at once take their
    /// row locks in the same order. Returns how many delta rows were folded.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn fold_tally_deltas(&self) -> Result<u64, sqlx::Error> {
        if self.backend() != Backend::Postgres {
            return Ok(0);
        }
        self.retrying(|| async {
            let mut tx = self.begin_write().await?;
            let counts = sqlx::query(
                "WITH moved AS (DELETE FROM drawing_count_deltas RETURNING *), \
                 summed AS (SELECT day, shape, origin, device, pointer_types, flagged, removed, \
                 quality_bin, SUM(n) AS n FROM moved \
                 GROUP BY day, shape, origin, device, pointer_types, flagged, removed, quality_bin) \
                 INSERT INTO drawing_counts AS c (day, shape, origin, device, pointer_types, \
                 flagged, removed, quality_bin, n) \
                 SELECT day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n \
                 FROM summed ORDER BY day, shape, origin, device, pointer_types, flagged, \
                 removed, quality_bin \
                 ON CONFLICT (day, shape, origin, device, pointer_types, flagged, removed, \
                 quality_bin) DO UPDATE SET n = c.n + EXCLUDED.n",
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let times = sqlx::query(
                "WITH moved AS (DELETE FROM prompt_time_deltas RETURNING *), \
                 summed AS (SELECT ms, removed, SUM(n) AS n FROM moved GROUP BY ms, removed) \
                 INSERT INTO prompt_time_counts AS c (ms, removed, n) \
                 SELECT ms, removed, n FROM summed ORDER BY ms, removed \
                 ON CONFLICT (ms, removed) DO UPDATE SET n = c.n + EXCLUDED.n",
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(counts + times)
        })
        .await
    }
}

/// Folds the PostgreSQL tally deltas every `interval` until `stop` (nothing on SQLite).
pub fn spawn_folder(db: Db, interval: Duration, mut stop: watch::Receiver<bool>) {
    if db.backend() != Backend::Postgres {
        return;
    }
    tokio::spawn(async move {
        loop {
            if let Err(e) = db.fold_tally_deltas().await {
                tracing::warn!(error = %e, "folding the tally deltas failed; retried next pass");
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_bins_match_the_histogram() {
        assert_eq!(quality_bin(None), -1);
        assert_eq!(quality_bin(Some(0.0)), 0);
        assert_eq!(quality_bin(Some(0.099)), 0);
        assert_eq!(quality_bin(Some(0.1)), 1);
        assert_eq!(quality_bin(Some(0.55)), 5);
        assert_eq!(quality_bin(Some(0.9)), 9);
        assert_eq!(quality_bin(Some(1.0)), 9);
    }

    #[test]
    fn whole_days_need_no_edges() {
        let (days, edges) = split_days(Some(3 * DAY_MS), Some(5 * DAY_MS), 10 * DAY_MS);
        assert_eq!(days, Some((3, 5)));
        assert!(edges.is_empty());
        assert_eq!(split_days(None, None, 0), (None, vec![]));
    }

    #[test]
    fn partial_days_are_added_or_taken_away() {
        let now = 10 * DAY_MS;
        // Early in its day: count the day, take away its start. Late: add its end.
        let (days, edges) = split_days(Some(3 * DAY_MS + 1_000), None, now);
        assert_eq!(days, Some((3, i64::MAX)));
        assert_eq!(
            edges,
            vec![Edge {
                from: 3 * DAY_MS,
                to: 3 * DAY_MS + 1_000,
                sign: -1
            }]
        );
        let (days, edges) = split_days(Some(4 * DAY_MS - 1_000), None, now);
        assert_eq!(days, Some((4, i64::MAX)));
        assert_eq!(edges[0].sign, 1);
        // `to` at or after now: the rest of the day is empty, so it is taken away.
        let (days, edges) = split_days(None, Some(now + 5), now);
        assert_eq!(days, Some((i64::MIN, 11)));
        assert_eq!(
            edges,
            vec![Edge {
                from: now + 5,
                to: 11 * DAY_MS,
                sign: -1
            }]
        );
        // Early in a past day: add its start.
        let (_, edges) = split_days(None, Some(2 * DAY_MS + 5), now);
        assert_eq!(
            edges,
            vec![Edge {
                from: 2 * DAY_MS,
                to: 2 * DAY_MS + 5,
                sign: 1
            }]
        );
    }
}
