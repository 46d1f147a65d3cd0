//! Volume made from real drawings (`inkset-server generate`): fills a store with as many
//! drawings as a scale test needs, each a real one from `../shared/data` (Quick, Draw! raw
//! and the derived sets with timing), shifted and re-timed, stored through the import path
//! (validation, word rules and group commit exactly as for a real import).
//!
//! Variant `i` of a run with seed `s` is deterministic: real drawing `i mod n` (in the
//! order the files list them), shifted right and down by up to `max_shift` px (whole
//! pixels, so the Quick, Draw! integer form is kept), its timing scaled by 0.8–1.25, dated
//! within the `days` days before [`ANCHOR_MS`] (the record's `timestamp`; the receive time
//! is the real one), with `key_id` `2^62 + s * 2^40 + i`: a rerun with the same seed stores
//! nothing twice (same ids, same content), another seed adds new drawings.

use std::io::Write;
use std::path::Path;

use inkset_protocol::quickdraw::{Record, format_timestamp_ms};
use rand::{Rng, SeedableRng};

use crate::dataset::{ImportReport, import_reader};
use crate::state::AppState;

/// The end of the dated period, ms since the Unix epoch (2026-01-01T00:00:00Z): fixed, so a
/// variant is the same whenever it is generated.
pub const ANCHOR_MS: i64 = 1_767_225_600_000;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    /// Drawings to store.
    pub count: u64,
    /// Run seed: the same seed gives the same drawings (and ids).
    pub seed: u64,
    /// Largest shift right and down, px.
    pub max_shift: u32,
    /// Records dated within this many days before [`ANCHOR_MS`].
    pub days: u32,
    /// Drawings handed to ingest at a time.
    pub batch: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            count: 1_000_000,
            seed: 1,
            max_shift: 64,
            days: 90,
            batch: 20_000,
        }
    }
}

/// The real timed drawings under `data`: `quickdraw/raw/*.ndjson` and `derived/*.ndjson`,
/// in file and line order.
///
/// # Errors
/// When a folder cannot be read or holds no record.
pub fn real_records(data: &Path) -> anyhow::Result<Vec<Record>> {
    let dirs = [data.join("quickdraw/raw"), data.join("derived")];
    let files = inkset_protocol::quickdraw::ndjson_files(&dirs)?;
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        out.extend(text.lines().filter_map(|l| Record::parse_line(l).ok()));
    }
    anyhow::ensure!(!out.is_empty(), "no records under {}", data.display());
    Ok(out)
}

/// Variant `i` of `real` (see the module's documentation).
pub fn variant(real: &Record, i: u64, options: &GenerateOptions) -> Record {
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed ^ i.wrapping_mul(0x9E37_79B9));
    let dx = f64::from(rng.random_range(0..=options.max_shift));
    let dy = f64::from(rng.random_range(0..=options.max_shift));
    let scale: f64 = rng.random_range(0.8..=1.25);
    let back_ms = rng.random_range(0..=i64::from(options.days) * 86_400_000);
    let mut r = real.clone();
    for s in &mut r.drawing {
        for x in &mut s.x {
            *x += dx;
        }
        for y in &mut s.y {
            *y += dy;
        }
        if let Some(t) = &mut s.t {
            for t in t.iter_mut() {
                // Rounded: times stay whole milliseconds.
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                let scaled = (*t as f64 * scale).round() as i64;
                *t = scaled;
            }
        }
    }
    r.key_id = (1 << 62) + (options.seed << 40) + i;
    r.timestamp = Some(format_timestamp_ms(ANCHOR_MS - back_ms));
    r.source = Some("inkset-generate".into());
    r
}

/// Spreads the receive times of the drawings imported in `[start, end]` (ms, server clock)
/// evenly over the `days` days before [`ANCHOR_MS`] by their rank in receive order (a group
/// commit stamps its whole batch with one time; the rank spreads those too), so segments
/// stay in receive order, as in a store filled over months; `drawn_at` follows. One
/// statement, so the summary tables move with it. Returns how many drawings moved.
///
/// # Errors
/// On SQL failure.
pub async fn backdate(db: &crate::db::Db, start: i64, end: i64, days: u32) -> anyhow::Result<u64> {
    let period = i64::from(days) * 86_400_000;
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM drawings \
         WHERE origin = 'import' AND received_at >= $1 AND received_at <= $2",
    )
    .bind(start)
    .bind(end)
    .fetch_one(db.pool())
    .await
    .map(|r| sqlx::Row::get(&r, "n"))?;
    // One statement, safe to repeat: a running server's tally folder may make PostgreSQL
    // end it as a deadlock's victim (seen in CI), and then it runs again.
    let done = db
        .retrying(|| {
            sqlx::query(
                "UPDATE drawings SET received_at = $1 + ranked.r * $2 / $3, \
                 drawn_at = $1 + ranked.r * $2 / $3 \
                 FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY received_at, id) - 1 AS r \
                       FROM drawings \
                       WHERE origin = 'import' AND received_at >= $4 AND received_at <= $5) \
                       ranked \
                 WHERE drawings.id = ranked.id",
            )
            .bind(ANCHOR_MS - period)
            .bind(period)
            .bind(n.max(1))
            .bind(start)
            .bind(end)
            .execute(db.pool())
        })
        .await?;
    Ok(done.rows_affected())
}

/// Stores `options.count` variants of `real` through the import path; `progress` gets the
/// count handed to ingest so far.
///
/// # Errors
/// When storing fails (rejected variants are counted in the report, not errors).
pub async fn generate(
    state: &AppState,
    real: std::sync::Arc<Vec<Record>>,
    options: &GenerateOptions,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ImportReport> {
    anyhow::ensure!(!real.is_empty(), "no real drawings to vary");
    let mut report = ImportReport::default();
    let mut bytes_read = 0u64;
    let mut done = 0u64;
    let batch = options.batch.max(1) as u64;
    let n = real.len() as u64;
    while done < options.count {
        let take = batch.min(options.count - done);
        let lines = tokio::task::spawn_blocking({
            let real = real.clone();
            let options = *options;
            move || -> std::io::Result<Vec<u8>> {
                let mut out = Vec::new();
                for i in done..done + take {
                    let r = variant(&real[usize::try_from(i % n).unwrap_or(0)], i, &options);
                    out.write_all(r.to_line().as_bytes())?;
                    out.write_all(b"\n")?;
                }
                Ok(out)
            }
        })
        .await??;
        import_reader(
            state,
            "generated",
            std::io::Cursor::new(lines),
            true,
            &mut report,
            &mut bytes_read,
            &mut |_| {},
        )
        .await?;
        done += take;
        progress(done);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_shifted_retimed_distinct_and_reproducible() {
        let real = real_records(&inkset_testkit::shared_data()).unwrap();
        let options = GenerateOptions::default();
        let mut ids = std::collections::HashSet::new();
        for i in 0..2_000u64 {
            let original = &real[usize::try_from(i).unwrap() % real.len()];
            let v = variant(original, i, &options);
            assert_eq!(v, variant(original, i, &options), "reproducible");
            assert!(ids.insert(v.drawing_id()), "ids are distinct");
            assert_eq!(v.word, original.word);
            let (dx, dy) = (
                v.drawing[0].x[0] - original.drawing[0].x[0],
                v.drawing[0].y[0] - original.drawing[0].y[0],
            );
            for (s, o) in v.drawing.iter().zip(&original.drawing) {
                assert_eq!(s.x.len(), o.x.len());
                for (a, b) in s.x.iter().zip(&o.x) {
                    assert!(
                        (a - b - dx).abs() < 1e-9 && (-1e-9..=64.0 + 1e-9).contains(&dx),
                        "{a} {b} {dx}"
                    );
                }
                for (a, b) in s.y.iter().zip(&o.y) {
                    assert!((a - b - dy).abs() < 1e-9 && (-1e-9..=64.0 + 1e-9).contains(&dy));
                }
                if let (Some(t), Some(ot)) = (&s.t, &o.t) {
                    for (a, b) in t.iter().zip(ot) {
                        #[allow(clippy::cast_precision_loss)]
                        let (a, b) = (*a as f64, *b as f64);
                        assert!(a >= b * 0.8 - 1.0 && a <= b * 1.25 + 1.0, "{a} from {b}");
                    }
                }
            }
            assert_eq!(Record::parse_line(&v.to_line()).unwrap(), v, "a valid line");
        }
        let other = GenerateOptions { seed: 2, ..options };
        assert_ne!(
            variant(&real[0], 0, &other).drawing_id(),
            variant(&real[0], 0, &options).drawing_id(),
            "another seed, other ids"
        );
    }
}
