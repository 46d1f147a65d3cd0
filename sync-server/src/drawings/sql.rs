//! The drawing rows: one per drawing, with where its record is in a segment.

use crate::now_ms;
use inkset_protocol::api::DrawingFilter;
use inkset_protocol::api::DrawingSummary;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use uuid::Uuid;

use crate::curation::sql::FilterSql;
use crate::curation::sql::{SUMMARY_COLUMNS, summary_from_row};
use crate::db::{Arg, Db, query_with};

/// One drawing row to insert.
#[derive(Debug, Clone)]
pub struct NewDrawingRow {
    /// Drawing id.
    pub id: Uuid,
    /// Shape name.
    pub shape: String,
    /// Uploading session.
    pub session_id: Option<Uuid>,
    /// `api` or `import`.
    pub origin: &'static str,
    /// Server receive time, ms.
    pub received_at: i64,
    /// First point's timestamp.
    pub client_started_at: Option<i64>,
    /// Duration, ms.
    pub duration_ms: Option<i64>,
    /// Device class.
    pub device: Option<&'static str>,
    /// Strokes.
    pub stroke_count: i64,
    /// Points.
    pub point_count: i64,
    /// Segment byte offset of the framed record.
    pub segment_offset: i64,
    /// Framed record length.
    pub segment_length: i64,
    /// sha256 of the record, hex.
    pub content_hash: String,
    /// Quick, Draw! key_id.
    pub source_key_id: Option<String>,
    /// Quick, Draw! recognized, 0/1.
    pub source_recognized: Option<i64>,
    /// Quick, Draw! countrycode.
    pub source_countrycode: Option<String>,
    /// Quick, Draw! timestamp, µs since the epoch.
    pub source_timestamp_us: Option<i64>,
    /// Server-corrected time of the first point, ms (see `BatchUpload::sent_at`).
    pub drawn_at: i64,
    /// The on-device guess: recognised, 0/1.
    pub guess_recognized: Option<i64>,
    /// The on-device guess: the prompted shape's probability.
    pub guess_confidence: Option<f64>,
    /// The on-device guess: recognizer version.
    pub guess_model_version: Option<i64>,
    /// Distinct reported pointer types of the strokes, sorted, comma-separated.
    pub pointer_types: Option<String>,
    /// Time from the prompt to the first point, ms.
    pub prompt_to_first_point_ms: Option<i64>,
}

/// What is stored under an id already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// sha256 of the stored record.
    pub content_hash: String,
    /// When it was stored.
    pub received_at: i64,
}

/// Where a drawing's record is.
#[derive(Debug, Clone)]
pub struct RecordLocation {
    /// Segment object key.
    pub segment_key: String,
    /// Offset of the framed record.
    pub offset: u64,
    /// Length of the framed record.
    pub length: u64,
}

pub(crate) fn location_from_row(row: &AnyRow) -> Result<RecordLocation, sqlx::Error> {
    Ok(RecordLocation {
        segment_key: row.try_get("segment_key")?,
        offset: u64::try_from(row.try_get::<i64, _>("segment_offset")?).unwrap_or(0),
        length: u64::try_from(row.try_get::<i64, _>("segment_length")?).unwrap_or(0),
    })
}

impl Db {
    /// What is stored under each of `ids` already.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn existing(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Existing>, sqlx::Error> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(self.max_in_list()) {
            let sql = format!(
                "SELECT id, content_hash, received_at FROM drawings WHERE id IN ({})",
                self.placeholders(1, chunk.len())
            );
            let args: Vec<Arg> = chunk.iter().map(|id| Arg::Text(id.to_string())).collect();
            for row in query_with(&sql, &args).fetch_all(&self.pool).await? {
                let id: String = row.try_get("id")?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    out.insert(
                        id,
                        Existing {
                            content_hash: row.try_get("content_hash")?,
                            received_at: row.try_get("received_at")?,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Inserts a segment and its drawings in one transaction. Rows whose id exists already
    /// are skipped; the ids actually inserted are returned.
    ///
    /// # Errors
    /// On SQL failure; nothing is inserted then.
    pub async fn insert_segment(
        &self,
        segment_key: &str,
        byte_count: i64,
        rows: &[NewDrawingRow],
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        const COLUMNS: usize = 24;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO segments (object_key, drawing_count, byte_count, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(segment_key)
        .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
        .bind(byte_count)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let mut inserted = Vec::with_capacity(rows.len());
        // Multi-row INSERTs: one round trip per 1,000 rows (18,000 parameters, within both
        // servers' limits).
        for chunk in rows.chunks(1_000) {
            let mut sql = String::from(
                "INSERT INTO drawings (id, shape, session_id, origin, received_at, \
                 client_started_at, duration_ms, device, stroke_count, point_count, segment_key, \
                 segment_offset, segment_length, content_hash, source_key_id, source_recognized, \
                 source_countrycode, source_timestamp_us, drawn_at, guess_recognized, \
                 guess_confidence, guess_model_version, pointer_types, \
                 prompt_to_first_point_ms) VALUES ",
            );
            let mut args = Vec::with_capacity(chunk.len() * COLUMNS);
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                sql.push_str(&self.placeholders(i * COLUMNS + 1, COLUMNS));
                sql.push(')');
                args.extend([
                    Arg::Text(r.id.to_string()),
                    Arg::Text(r.shape.clone()),
                    Arg::OptText(r.session_id.map(|s| s.to_string())),
                    Arg::Text(r.origin.to_owned()),
                    Arg::Int(r.received_at),
                    Arg::OptInt(r.client_started_at),
                    Arg::OptInt(r.duration_ms),
                    Arg::OptText(r.device.map(str::to_owned)),
                    Arg::Int(r.stroke_count),
                    Arg::Int(r.point_count),
                    Arg::Text(segment_key.to_owned()),
                    Arg::Int(r.segment_offset),
                    Arg::Int(r.segment_length),
                    Arg::Text(r.content_hash.clone()),
                    Arg::OptText(r.source_key_id.clone()),
                    Arg::OptInt(r.source_recognized),
                    Arg::OptText(r.source_countrycode.clone()),
                    Arg::OptInt(r.source_timestamp_us),
                    Arg::Int(r.drawn_at),
                    Arg::OptInt(r.guess_recognized),
                    Arg::OptFloat(r.guess_confidence),
                    Arg::OptInt(r.guess_model_version),
                    Arg::OptText(r.pointer_types.clone()),
                    Arg::OptInt(r.prompt_to_first_point_ms),
                ]);
            }
            sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
            for row in query_with(&sql, &args).fetch_all(&mut *tx).await? {
                let id: String = row.try_get("id")?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    inserted.push(id);
                }
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Where the record of a drawing is, and its summary.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn drawing_location(
        &self,
        id: Uuid,
    ) -> Result<Option<(DrawingSummary, RecordLocation)>, sqlx::Error> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, segment_key, segment_offset, segment_length \
             FROM drawings WHERE id = $1"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((summary_from_row(&row)?, location_from_row(&row)?)))
    }

    /// One page of record locations of the drawings matching `filter`, oldest first
    /// (`received_at`, then `id`), after the keyset position `after` (the last row of the
    /// previous page): at most `limit` rows of `(id, received_at ms, location)`. Rows of one
    /// segment come together, so a reader keeping the last segment reads each once. Used
    /// by exports and training data snapshots, which page through any number of drawings
    /// in bounded memory. `words`, when given, keeps only drawings of those shapes or
    /// distractor words (a training snapshot's classes, read in one pass); an empty list
    /// keeps none.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn locations_page(
        &self,
        filter: &DrawingFilter,
        words: Option<&[String]>,
        after: Option<(i64, Uuid)>,
        limit: usize,
    ) -> Result<Vec<(Uuid, i64, RecordLocation)>, sqlx::Error> {
        let mut sql = String::from(
            "SELECT id, received_at, segment_key, segment_offset, segment_length FROM drawings \
             WHERE 1 = 1",
        );
        let mut args = Vec::new();
        if let Some((t, id)) = after {
            args.push(Arg::Int(t));
            args.push(Arg::Text(id.to_string()));
            // A row value: both planners turn it into one range of the (received_at, id)
            // index (SQLite read `a > x OR (a = x AND b > y)` as two ranges and sorted).
            sql.push_str(" AND (received_at, id) > ($1, $2)");
        }
        filter.push_sql(&mut sql, &mut args);
        match words {
            None => {}
            Some([]) => sql.push_str(" AND 1 = 0"),
            Some(words) => {
                // `shape || ''`, not `shape`: the planner must not pick the shape index,
                // which would sort every matching row for each page; the rows come in
                // (received_at, id) order from its index, the words filtered on the way.
                sql.push_str(" AND shape || '' IN (");
                for (i, w) in words.iter().enumerate() {
                    args.push(Arg::Text(w.clone()));
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("${}", args.len()));
                }
                sql.push(')');
            }
        }
        args.push(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY received_at, id LIMIT ${}", args.len()));
        let rows = query_with(&sql, &args).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok((
                    Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    r.try_get("received_at")?,
                    RecordLocation {
                        segment_key: r.try_get("segment_key")?,
                        offset: u64::try_from(r.try_get::<i64, _>("segment_offset")?).unwrap_or(0),
                        length: u64::try_from(r.try_get::<i64, _>("segment_length")?).unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    /// Whether a drawing with this id exists (removed or not).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn drawing_exists(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("SELECT id FROM drawings WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }
}
