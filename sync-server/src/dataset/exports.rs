//! Background dataset exports (`/api/admin/exports`): Quick, Draw! raw and simplified
//! ndjson, PNG rasters of the shared rasterizer in a tar archive, Sketch-RNN stroke-3, and
//! Apache Parquet ([`crate::dataset::parquet`]).
//!
//! A job writes to a temporary file while it reports progress (`done` of `total`
//! drawings, stored every [`PROGRESS_EVERY`]), then uploads the file to the object store
//! under `exports/<id>.<ext>` in parts, so no request waits for it and no size is too
//! large; the download streams it back. A job running when the server stops is marked
//! failed at the next start.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use inkset_protocol::Drawing;
use inkset_protocol::api::{DrawingFilter, ExportFormat, ExportJob, ExportStatus};
use inkset_protocol::quickdraw::{Record, format_timestamp_ms};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, WriteMultipart};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::Db;
use crate::now_ms;
use crate::state::AppState;

/// How often a running job stores its progress.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Default PNG raster side, px.
pub const DEFAULT_RASTER: u32 = 64;
/// Bytes per uploaded part.
const PART: usize = 8 << 20;

fn format_name(f: ExportFormat) -> &'static str {
    match f {
        ExportFormat::QuickdrawRaw => "quickdraw_raw",
        ExportFormat::QuickdrawSimplified => "quickdraw_simplified",
        ExportFormat::Png => "png",
        ExportFormat::Stroke3 => "stroke3",
        ExportFormat::Parquet => "parquet",
    }
}

fn parse_format(s: &str) -> Option<ExportFormat> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// The download's file name: `inkset-<shape, else release, else all>-<format>.<ext>`, with
/// every character
/// of the shape outside `[A-Za-z0-9_-]` (quotes, CR/LF, non-ASCII: anything that could not
/// sit in a `Content-Disposition` header as is) replaced by `_`, at most 64 of them.
pub fn file_name(format: ExportFormat, filter: &DrawingFilter) -> String {
    let shape: String = filter
        .shape
        .as_deref()
        .or(filter.release.as_deref())
        .unwrap_or("all")
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "inkset-{shape}-{}.{}",
        format_name(format),
        format.extension()
    )
}

fn job_from_row(r: &AnyRow) -> Result<ExportJob, sqlx::Error> {
    let decode = |e: String| sqlx::Error::Decode(e.into());
    let id: String = r.try_get("id")?;
    let format: String = r.try_get("format")?;
    let format = parse_format(&format).ok_or_else(|| decode(format!("format {format}")))?;
    let filter: String = r.try_get("filter")?;
    let filter: DrawingFilter = serde_json::from_str(&filter).map_err(|e| decode(e.to_string()))?;
    let status: String = r.try_get("status")?;
    let status = match status.as_str() {
        "running" => ExportStatus::Running,
        "completed" => ExportStatus::Completed,
        _ => ExportStatus::Failed,
    };
    let n = |c: &str| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(r.try_get::<i64, _>(c)?).unwrap_or(0))
    };
    Ok(ExportJob {
        id: Uuid::parse_str(&id).map_err(|e| decode(e.to_string()))?,
        file_name: file_name(format, &filter),
        format,
        filter,
        status,
        total: n("total")?,
        done: n("done")?,
        bytes: r
            .try_get::<Option<i64>, _>("bytes")?
            .and_then(|b| u64::try_from(b).ok()),
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

const COLUMNS: &str =
    "id, format, filter, status, total, done, bytes, error, created_at, finished_at";

/// One export job.
///
/// # Errors
/// On SQL failure.
pub async fn job(db: &Db, id: Uuid) -> Result<Option<ExportJob>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM export_jobs WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(job_from_row).transpose()
}

/// The latest `limit` export jobs, newest first.
///
/// # Errors
/// On SQL failure.
pub async fn jobs(db: &Db, limit: i64) -> Result<Vec<ExportJob>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM export_jobs ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(job_from_row).collect()
}

/// The object key of a completed job's file.
///
/// # Errors
/// On SQL failure.
pub async fn object_key(db: &Db, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    let row =
        sqlx::query("SELECT object_key FROM export_jobs WHERE id = $1 AND status = 'completed'")
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    row.map(|r| r.try_get("object_key"))
        .transpose()
        .map(Option::flatten)
}

/// Marks jobs left running by a previous process as failed.
///
/// # Errors
/// On SQL failure.
pub async fn fail_interrupted(db: &Db) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE export_jobs SET status = 'failed', finished_at = $1, \
         error = 'interrupted: the server stopped while the export ran; start it again' \
         WHERE status = 'running'",
    )
    .bind(now_ms())
    .execute(db.pool())
    .await?
    .rows_affected())
}

/// Creates an export job and starts it in the background; returns it as first stored.
///
/// # Errors
/// On SQL failure.
pub async fn start(
    state: &AppState,
    format: ExportFormat,
    filter: DrawingFilter,
    raster_size: Option<u32>,
    created_by: Option<&str>,
) -> anyhow::Result<ExportJob> {
    let id = Uuid::new_v4();
    // A snapshot: drawings received from now on are not part of this export (the stored
    // filter stays the admin's).
    let mut snapshot = filter.clone();
    let now = now_ms();
    snapshot.to = Some(filter.to.map_or(now, |t| t.min(now)));
    let total = state.db.count_drawings(&snapshot).await?;
    sqlx::query(
        "INSERT INTO export_jobs (id, format, filter, raster_size, status, total, done, \
         created_by, created_at) VALUES ($1, $2, $3, $4, 'running', $5, 0, $6, $7)",
    )
    .bind(id.to_string())
    .bind(format_name(format))
    .bind(serde_json::to_string(&filter)?)
    .bind(raster_size.map(i64::from))
    .bind(i64::try_from(total).unwrap_or(i64::MAX))
    .bind(created_by)
    .bind(now_ms())
    .execute(state.db.pool())
    .await?;
    let task_state = state.clone();
    let size = raster_size.unwrap_or(DEFAULT_RASTER);
    tokio::spawn(async move {
        let db = task_state.db.clone();
        let done = Arc::new(AtomicU64::new(0));
        let ticker = {
            let (db, done) = (db.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PROGRESS_EVERY).await;
                    let n = i64::try_from(done.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
                    let _ = sqlx::query(
                        "UPDATE export_jobs SET done = $1 WHERE id = $2 AND status = 'running'",
                    )
                    .bind(n)
                    .bind(id.to_string())
                    .execute(db.pool())
                    .await;
                }
            })
        };
        let result = run(&task_state, id, format, &snapshot, size, &done).await;
        ticker.abort();
        let written = i64::try_from(done.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        let update = match &result {
            Ok((key, bytes)) => sqlx::query(
                "UPDATE export_jobs SET status = 'completed', done = $1, total = $1, bytes = $2, \
                 object_key = $3, finished_at = $4 WHERE id = $5",
            )
            .bind(written)
            .bind(i64::try_from(*bytes).unwrap_or(i64::MAX))
            .bind(key.clone())
            .bind(now_ms())
            .bind(id.to_string()),
            Err(e) => sqlx::query(
                "UPDATE export_jobs SET status = 'failed', done = $1, error = $2, \
                 finished_at = $3 WHERE id = $4",
            )
            .bind(written)
            .bind(format!("{e:#}"))
            .bind(now_ms())
            .bind(id.to_string()),
        };
        match &result {
            Ok((key, bytes)) => tracing::info!(%id, key, bytes, written, "export done"),
            Err(e) => tracing::warn!(%id, error = format!("{e:#}"), "export failed"),
        }
        if let Err(e) = update.execute(db.pool()).await {
            tracing::error!(%id, error = %e, "cannot store the export's outcome");
        }
    });
    job(&state.db, id)
        .await?
        .context("the export job vanished after insert")
}

/// One drawing as Sketch-RNN stroke-3 `[dx, dy, pen_lifted]` rows, in the simplified
/// Quick, Draw! space (0..=255 integers): the first row is the offset from the origin.
pub fn stroke3(drawing: &Drawing) -> Vec<[i32; 3]> {
    let rec = Record::from_drawing(drawing, None).simplified();
    let mut rows = Vec::new();
    let (mut px, mut py) = (0i32, 0i32);
    for s in &rec.drawing {
        let n = s.x.len().min(s.y.len());
        for i in 0..n {
            #[allow(clippy::cast_possible_truncation)]
            let (x, y) = (s.x[i].round() as i32, s.y[i].round() as i32);
            rows.push([x - px, y - py, i32::from(i + 1 == n)]);
            (px, py) = (x, y);
        }
    }
    rows
}

/// An 8-bit grayscale PNG of `raster` (`size * size` values in 0..=1, row-major).
///
/// # Errors
/// When encoding fails.
pub fn png(raster: &[f32], size: u32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, size, size);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pixels: Vec<u8> = raster
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    w.write_image_data(&pixels)?;
    w.finish()?;
    Ok(out)
}

enum Sink {
    Lines(BufWriter<std::fs::File>),
    Parquet(Box<crate::dataset::parquet::ParquetSink>),
    Tar {
        tar: tar::Builder<BufWriter<std::fs::File>>,
        labels: Box<csv::Writer<Vec<u8>>>,
    },
}

/// Bytes of a shape name kept as they are in an archive path; the rest is percent-encoded.
const PATH_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b' ')
    .remove(b'_')
    .remove(b'-');

/// The PNG archive's directory for a shape: its name with every byte outside
/// `A-Z a-z 0-9 space _ -` percent-encoded (`a,b` is `a%2Cb`, `../x` is `%2E%2E%2Fx`), so no
/// stored name can make a path separator, a `.` or `..` component, an absolute path or a
/// control character, and distinct names stay distinct.
fn archive_dir(shape: &str) -> String {
    percent_encoding::utf8_percent_encode(shape, PATH_KEEP).to_string()
}

fn tar_append(
    tar: &mut tar::Builder<BufWriter<std::fs::File>>,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(u64::try_from(now_ms() / 1000).unwrap_or(0));
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)?;
    Ok(())
}

/// Writes the file, then uploads it; returns its object key and size.
async fn run(
    state: &AppState,
    id: Uuid,
    format: ExportFormat,
    filter: &DrawingFilter,
    raster_size: u32,
    done: &AtomicU64,
) -> anyhow::Result<(String, u64)> {
    let file = tempfile::NamedTempFile::new().context("creating the export's temporary file")?;
    let writer = BufWriter::new(file.reopen()?);
    let mut sink = match format {
        ExportFormat::Png => Sink::Tar {
            tar: tar::Builder::new(writer),
            labels: {
                // RFC 4180: a cell with a comma, quote or line break is quoted.
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(["file", "shape", "id"])?;
                Box::new(w)
            },
        },
        ExportFormat::Parquet => {
            Sink::Parquet(Box::new(crate::dataset::parquet::ParquetSink::new(writer)))
        }
        _ => Sink::Lines(writer),
    };
    crate::dataset::for_each_drawing(state, filter, |drawing_id, received_at, drawing| {
        off_the_async_workers(|| {
            write_one(
                &mut sink,
                format,
                raster_size,
                drawing_id,
                received_at,
                &drawing,
            )
        })?;
        done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
    .await?;
    finish(state, id, format, sink, file).await
}

/// Runs CPU work (simplifying, rasterizing, compressing one drawing) where it cannot hold
/// up the runtime's async workers: on a multi-threaded runtime the worker hands its other
/// tasks to the rest first (`block_in_place`); elsewhere (a test's single-threaded
/// runtime) it just runs.
fn off_the_async_workers<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Appends one drawing to the export being written.
fn write_one(
    sink: &mut Sink,
    format: ExportFormat,
    raster_size: u32,
    drawing_id: Uuid,
    received_at: i64,
    drawing: &Drawing,
) -> anyhow::Result<()> {
    {
        match (sink, format) {
            (Sink::Parquet(p), _) => p.push(drawing_id, received_at, drawing)?,
            (Sink::Lines(out), ExportFormat::QuickdrawRaw | ExportFormat::QuickdrawSimplified) => {
                let rec = Record::from_drawing(drawing, Some(format_timestamp_ms(received_at)));
                let line = if format == ExportFormat::QuickdrawSimplified {
                    rec.simplified().to_line()
                } else {
                    rec.to_line()
                };
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
            (Sink::Lines(out), _) => {
                let line = serde_json::json!({
                    "id": drawing_id,
                    "word": drawing.shape,
                    "strokes": stroke3(drawing),
                });
                serde_json::to_writer(&mut *out, &line)?;
                out.write_all(b"\n")?;
            }
            (Sink::Tar { tar, labels }, _) => {
                let lines = inkset_model::raster::polylines(&drawing.strokes);
                match inkset_model::raster::rasterize(&lines, raster_size) {
                    Ok(raster) => {
                        let name = format!("{}/{drawing_id}.png", archive_dir(&drawing.shape));
                        tar_append(tar, &name, &png(&raster, raster_size)?)?;
                        let id = drawing_id.to_string();
                        labels.write_record([
                            name.as_str(),
                            drawing.shape.as_str(),
                            id.as_str(),
                        ])?;
                    }
                    Err(e) => tracing::warn!(%drawing_id, error = %e, "not rasterized"),
                }
            }
        }
    }
    Ok(())
}

/// Closes the export file and uploads it; its object key and size.
async fn finish(
    state: &AppState,
    id: Uuid,
    format: ExportFormat,
    sink: Sink,
    file: tempfile::NamedTempFile,
) -> anyhow::Result<(String, u64)> {
    match sink {
        Sink::Lines(mut out) => out.flush()?,
        Sink::Parquet(p) => p.finish()?,
        Sink::Tar { mut tar, labels } => {
            let labels = labels.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
            tar_append(&mut tar, "labels.csv", &labels)?;
            tar.into_inner()?.flush()?;
        }
    }
    let key = format!("exports/{id}.{}", format.extension());
    let bytes = upload(state, &key, file.path()).await?;
    Ok((key, bytes))
}

/// Uploads a local file in parts.
async fn upload(state: &AppState, key: &str, path: &std::path::Path) -> anyhow::Result<u64> {
    use tokio::io::AsyncReadExt;
    let store = state.objects.store();
    let upload = store
        .put_multipart(&ObjectPath::from(key))
        .await
        .with_context(|| format!("starting the upload of {key}"))?;
    let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
        parts.wait_for_capacity(4).await?;
        parts.write(&buf[..n]);
    }
    parts
        .finish()
        .await
        .with_context(|| format!("finishing the upload of {key}"))?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::archive_dir;

    #[test]
    fn archive_paths_cannot_escape_or_collide() {
        for (shape, dir) in [
            ("circle", "circle"),
            ("hot air balloon", "hot air balloon"),
            ("t-shirt", "t-shirt"),
            ("a,b", "a%2Cb"),
            ("up/down", "up%2Fdown"),
            ("../x", "%2E%2E%2Fx"),
            ("/abs", "%2Fabs"),
            ("..", "%2E%2E"),
            ("tab\there", "tab%09here"),
            ("cœur", "c%C5%93ur"),
        ] {
            assert_eq!(archive_dir(shape), dir, "{shape}");
        }
        assert_ne!(archive_dir("a/b"), archive_dir("a%2Fb"));
    }
}
