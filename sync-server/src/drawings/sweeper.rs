//! Orphaned segments: objects that ingest wrote and made durable but whose rows were never
//! committed.
//!
//! Ingest writes a segment (and, on the local directory, fsyncs it) before the SQL
//! transaction that inserts its `segments` row and its drawing rows; only the commit makes
//! a drawing acknowledged. A process killed between the two, or a commit that fails, leaves
//! an object nothing references: harmless (no drawing of it was acknowledged, and readers
//! only follow rows), but it takes space. The sweeper finds objects under `segments/` older
//! than a grace period that have no `segments` row and deletes them.
//!
//! The grace period must exceed the longest a commit can take after its segment was
//! written (default 15 minutes, against commits of milliseconds): a segment that another
//! replica has just written and is committing is never swept. On the local directory, the
//! object store's staging files of writes cut short (`<key>#<n>`) are swept too.
//!
//! Each pass lists only the day folders (`segments/YYYY/MM/DD/`) that can hold new orphans:
//! from the day before the newest committed segment's on the first pass after a start (a
//! crash leaves its orphans after the last commit), then yesterday and today; a full
//! listing is [`Scope::All`] (`inkset-server sweep --all`).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use tokio::sync::watch;

use crate::db::{Arg, Db, query_with};
use crate::objects::Objects;

/// The key prefix of every segment.
pub const SEGMENT_PREFIX: &str = "segments";

/// Why a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Listing or deleting objects failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Reading the `segments` table failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Reading the local directory's staging files failed.
    #[error("local directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Which day folders a sweep lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every segment.
    All,
    /// Day folders from this day (UTC) to today.
    Since(time::Date),
}

/// What a sweep found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Segment objects listed (older than the grace period or not).
    pub listed: u64,
    /// Unreferenced segments older than the grace period, staging files included.
    pub orphans: u64,
    /// Their size, bytes.
    pub orphan_bytes: u64,
    /// How many of them were deleted (0 on a dry run).
    pub deleted: u64,
    /// Their keys (the first [`MAX_LISTED_KEYS`]); staging files by their path under
    /// the directory store.
    pub orphan_keys: Vec<String>,
}

/// Most orphan keys a [`SweepReport`] names.
pub const MAX_LISTED_KEYS: usize = 10_000;

/// Finds (and unless `dry_run`, deletes) the orphaned segments of `scope` older than
/// `grace`.
///
/// # Errors
/// [`SweepError`] when listing, the SQL lookup or a delete fails; what was deleted before
/// stays deleted.
pub async fn sweep(
    db: &Db,
    objects: &Objects,
    scope: Scope,
    grace: Duration,
    dry_run: bool,
) -> Result<SweepReport, SweepError> {
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = SweepReport::default();
    let mut candidates: Vec<(String, u64)> = Vec::new();
    for prefix in prefixes(scope) {
        let mut listing = objects.store().list(Some(&ObjectPath::from(prefix)));
        while let Some(meta) = listing.try_next().await? {
            report.listed += 1;
            if SystemTime::from(meta.last_modified) <= cutoff {
                candidates.push((meta.location.to_string(), meta.size));
            }
        }
    }
    let known = known_segments(db, candidates.iter().map(|(k, _)| k.as_str())).await?;
    for (key, size) in candidates {
        if known.contains(&key) {
            continue;
        }
        report.orphans += 1;
        report.orphan_bytes += size;
        if report.orphan_keys.len() < MAX_LISTED_KEYS {
            report.orphan_keys.push(key.clone());
        }
        if !dry_run {
            match objects
                .store()
                .delete(&ObjectPath::from(key.as_str()))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => report.deleted += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    if let Some(root) = objects.local_root() {
        sweep_staging(root, cutoff, dry_run, &mut report)?;
    }
    Ok(report)
}

/// The listing prefixes of `scope`.
fn prefixes(scope: Scope) -> Vec<String> {
    match scope {
        Scope::All => vec![SEGMENT_PREFIX.to_owned()],
        Scope::Since(first) => {
            let today = time::OffsetDateTime::now_utc().date();
            let mut day = first.min(today);
            let mut out = Vec::new();
            while day <= today {
                out.push(day_prefix(day));
                match day.next_day() {
                    Some(next) => day = next,
                    None => break,
                }
            }
            out
        }
    }
}

/// `segments/YYYY/MM/DD`, the folder ingest writes a day's segments to.
pub fn day_prefix(day: time::Date) -> String {
    format!(
        "{SEGMENT_PREFIX}/{:04}/{:02}/{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The keys among `keys` that have a `segments` row.
async fn known_segments<'a>(
    db: &Db,
    keys: impl Iterator<Item = &'a str>,
) -> Result<HashSet<String>, sqlx::Error> {
    let keys: Vec<&str> = keys.collect();
    let mut known = HashSet::new();
    for chunk in keys.chunks(db.max_in_list()) {
        let sql = format!(
            "SELECT object_key FROM segments WHERE object_key IN ({})",
            db.placeholders(1, chunk.len())
        );
        let args: Vec<Arg> = chunk.iter().map(|k| Arg::Text((*k).to_owned())).collect();
        for row in query_with(&sql, &args).fetch_all(db.pool()).await? {
            known.insert(sqlx::Row::try_get::<String, _>(&row, "object_key")?);
        }
    }
    Ok(known)
}

/// The day of the newest committed segment (UTC), if any.
async fn newest_segment_day(db: &Db) -> Result<Option<time::Date>, sqlx::Error> {
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(created_at) FROM segments")
        .fetch_one(db.pool())
        .await?;
    Ok(newest.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .ok()
            .map(time::OffsetDateTime::date)
    }))
}

/// One sweep as the CLI runs it: every day's segments with `all`, else the days from the
/// one before the newest committed segment's.
///
/// # Errors
/// As [`sweep`].
pub async fn sweep_once(
    db: &Db,
    objects: &Objects,
    all: bool,
    grace: Duration,
    dry_run: bool,
) -> Result<SweepReport, SweepError> {
    let scope = if all {
        Scope::All
    } else {
        let today = time::OffsetDateTime::now_utc().date();
        let from = newest_segment_day(db).await?.unwrap_or(today).min(today);
        Scope::Since(from.previous_day().unwrap_or(from))
    };
    sweep(db, objects, scope, grace, dry_run).await
}

/// The object store's staging files (`<name>#<digits>`) under the directory store's
/// `segments/` older than `cutoff`, added to `report`.
fn sweep_staging(
    root: &std::path::Path,
    cutoff: SystemTime,
    dry_run: bool,
    report: &mut SweepReport,
) -> std::io::Result<()> {
    let mut stack = vec![root.join(SEGMENT_PREFIX)];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let staging =
                name.to_str()
                    .and_then(|n| n.rsplit_once('#'))
                    .is_some_and(|(stem, suffix)| {
                        !stem.is_empty()
                            && !suffix.is_empty()
                            && suffix.bytes().all(|b| b.is_ascii_digit())
                    });
            if !staging || meta.modified()? > cutoff {
                continue;
            }
            report.orphans += 1;
            report.orphan_bytes += meta.len();
            if report.orphan_keys.len() < MAX_LISTED_KEYS {
                let path = entry.path();
                let key = path.strip_prefix(root).unwrap_or(&path);
                report.orphan_keys.push(key.display().to_string());
            }
            if !dry_run {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => report.deleted += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.deleted += 1,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}

/// Sweeps every `interval` until `stop`, orphans older than `grace`; logs and counts what
/// it deleted (`inkset_orphan_segments_deleted_total`). Each pass lists from the day before
/// the newest committed segment's (first pass) or yesterday (later ones) to today.
pub fn spawn(
    db: Db,
    objects: Objects,
    interval: Duration,
    grace: Duration,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let pass = if first {
                sweep_once(&db, &objects, false, grace, false).await
            } else {
                let today = time::OffsetDateTime::now_utc().date();
                let since = today.previous_day().unwrap_or(today);
                sweep(&db, &objects, Scope::Since(since), grace, false).await
            };
            match pass {
                Ok(r) => {
                    first = false;
                    metrics::counter!(crate::observe::ORPHAN_SEGMENTS_DELETED).increment(r.deleted);
                    if r.orphans > 0 {
                        tracing::info!(
                            orphans = r.orphans,
                            deleted = r.deleted,
                            bytes = r.orphan_bytes,
                            "orphaned segments swept"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "orphan sweep failed; retried next pass"),
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
}
