//! Imports and exports: Quick, Draw! import through the same validation and ingest path as
//! uploads, exports in every format, and the background export jobs of the admin API.
//!
//! * [`exports`]: background export jobs (`/api/admin/exports`); [`parquet`] writes the
//!   Parquet format.
//! * [`handlers`]: `POST /api/admin/import` and the export routes.
//! * [`releases`]: versioned dataset releases (`/api/admin/releases`), with their
//!   [`datasheet`].

pub mod datasheet;
pub mod exports;
pub mod generate;
pub mod handlers;
pub mod parquet;
pub mod releases;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use inkset_protocol::Drawing;
use inkset_protocol::quickdraw::{Record, format_timestamp_ms};
use inkset_protocol::validate::{check_word, normalize_word, validate};
use inkset_protocol::{Limits, Origin};

use crate::drawings::ingest::{IngestError, Outcome};
use crate::drawings::segments::{SegmentCursor, decode_frame};
use crate::state::AppState;
use inkset_protocol::api::DrawingFilter;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Files read.
    pub files: usize,
    /// Non-empty lines read.
    pub records: u64,
    /// Drawings stored by this import.
    pub stored: u64,
    /// Drawings that were stored before, identical.
    pub already_present: u64,
    /// Stored drawings per shape (this import's, new or not).
    pub per_shape: BTreeMap<String, u64>,
    /// Rejected records per reason.
    pub rejected: BTreeMap<String, u64>,
    /// The first rejected records, `file:line: reason`.
    pub examples: Vec<String>,
    /// Words written otherwise than Inkset stores them (case, spaces, Unicode form; see
    /// `inkset_protocol::validate::normalize_word`), as `"written" -> stored`, with counts.
    pub renamed_words: BTreeMap<String, u64>,
}

impl ImportReport {
    /// Records rejected in all.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Human-readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} files, {} records: {} stored, {} already present, {} rejected\n",
            self.files,
            self.records,
            self.stored,
            self.already_present,
            self.rejected_total()
        );
        for (shape, n) in &self.per_shape {
            s.push_str(&format!("  accepted {shape}: {n}\n"));
        }
        for (reason, n) in &self.rejected {
            s.push_str(&format!("  rejected {n}: {reason}\n"));
        }
        for (renamed, n) in &self.renamed_words {
            s.push_str(&format!("  word {renamed}: {n}\n"));
        }
        for e in &self.examples {
            s.push_str(&format!("  e.g. {e}\n"));
        }
        s
    }
}

/// Every `.ndjson` file under `paths` (files as given, directories walked), sorted.
///
/// # Errors
/// When a path cannot be read.
pub fn ndjson_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    Ok(inkset_protocol::quickdraw::ndjson_files(paths)?)
}

const IMPORT_BATCH: usize = 2_000;

/// Imports Quick, Draw! ndjson (raw or simplified) files or directories.
///
/// With `distractors`, a record whose word is not a shape registers that word as a
/// distractor (drawings of "not a shape" that train the recognizer's `unknown` class) and is
/// stored; without, it is rejected. `progress` is called with bytes read so far after each
/// batch.
///
/// # Errors
/// When a file cannot be read; bad records are counted, not fatal.
pub async fn import(
    state: &AppState,
    paths: &[PathBuf],
    distractors: bool,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ImportReport> {
    let files = ndjson_files(paths)?;
    let mut report = ImportReport {
        files: files.len(),
        ..ImportReport::default()
    };
    let mut bytes_read = 0u64;
    for file in &files {
        let reader = std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| file.display().to_string())?,
        );
        import_reader(
            state,
            &file.display().to_string(),
            reader,
            distractors,
            &mut report,
            &mut bytes_read,
            &mut progress,
        )
        .await?;
    }
    Ok(report)
}

/// Imports the ndjson lines of `reader` (named `label` in rejection messages) into
/// `report`; see [`import`].
///
/// Text: UTF-8, with or without a byte-order mark; lines end in `\n` or `\r\n`, the last
/// one possibly without. A line that is not UTF-8 (a Windows-1252 or Latin-1 line among
/// UTF-8 ones) is rejected with its line number like any other bad line, and the rest is
/// read on. A UTF-16 file (byte-order mark `FF FE` or `FE FF`) is rejected as a whole,
/// saying so. Words are matched and stored as `normalize_word` gives them and must pass
/// `check_word` (both `inkset_protocol::validate`).
///
/// # Errors
/// When `reader` fails; bad records are counted, not fatal.
pub async fn import_reader(
    state: &AppState,
    label: &str,
    mut reader: impl BufRead,
    distractors: bool,
    report: &mut ImportReport,
    bytes_read: &mut u64,
    progress: &mut impl FnMut(u64),
) -> anyhow::Result<()> {
    let mut pending = Vec::new();
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("{label}:{}", n + 1))?;
        if read == 0 {
            break;
        }
        n += 1;
        *bytes_read += read as u64;
        let at = format!("{label}:{n}");
        let mut bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if n == 1 {
            if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
                report.records += 1;
                reject(
                    report,
                    &at,
                    "the file is UTF-16 text (byte-order mark at its start): convert it to \
                     UTF-8"
                        .to_owned(),
                );
                break;
            }
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let line = match std::str::from_utf8(bytes) {
            Ok(line) => line,
            Err(_) => {
                report.records += 1;
                reject(
                    report,
                    &at,
                    "the line is not UTF-8 text (Windows-1252 or Latin-1?): the file must be \
                     UTF-8"
                        .to_owned(),
                );
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        report.records += 1;
        let parsed = Record::parse_line(line).and_then(|mut r| {
            let word = normalize_word(&r.word);
            check_word(&word, &Limits::DEFAULT)?;
            if word != r.word {
                *report
                    .renamed_words
                    .entry(format!("{:?} -> {word}", r.word))
                    .or_default() += 1;
                r.word = word;
            }
            Ok(r)
        });
        if distractors
            && let Ok(r) = &parsed
            && !state.is_known_shape(&r.word)
            && !state.is_distractor(&r.word)
        {
            state.db.add_distractor(&r.word).await?;
            state.reload_shapes().await?;
        }
        let checked = parsed.and_then(|r| {
            let d = r.into_drawing();
            validate(&d, Origin::Import, &Limits::DEFAULT, |s| {
                state.is_known_shape(s) || state.is_distractor(s)
            })
            .map(|()| d)
        });
        match checked {
            Ok(d) => pending.push((at, d)),
            Err(e) => reject(report, &at, e.to_string()),
        }
        if pending.len() >= IMPORT_BATCH {
            submit(state, &mut pending, report).await;
            progress(*bytes_read);
        }
    }
    submit(state, &mut pending, report).await;
    progress(*bytes_read);
    Ok(())
}

fn reject(report: &mut ImportReport, at: &str, reason: String) {
    if report.examples.len() < 5 {
        report.examples.push(format!("{at}: {reason}"));
    }
    *report.rejected.entry(reason).or_default() += 1;
}

async fn submit(state: &AppState, pending: &mut Vec<(String, Drawing)>, report: &mut ImportReport) {
    let batch = std::mem::take(pending);
    let (ats, drawings): (Vec<String>, Vec<_>) = batch.into_iter().unzip();
    let shapes: Vec<String> = drawings.iter().map(|d| d.shape.clone()).collect();
    let results = state
        .ingest
        .submit_many(
            drawings.into_iter().map(|d| (d, Origin::Import)).collect(),
            None,
        )
        .await;
    for ((at, shape), result) in ats.into_iter().zip(shapes).zip(results) {
        match result {
            Ok(outcome) => {
                match outcome {
                    Outcome::Stored { .. } => report.stored += 1,
                    Outcome::AlreadyStored { .. } => report.already_present += 1,
                }
                *report.per_shape.entry(shape).or_default() += 1;
            }
            Err(IngestError::Conflict(id)) => reject(
                report,
                &at,
                format!("id: drawing {id} (same key_id) is stored with other content"),
            ),
            Err(e) => reject(report, &at, e.to_string()),
        }
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Quick, Draw! raw ndjson (`[[x[], y[], t[]], ...]`).
    Quickdraw,
    /// Quick, Draw! simplified ndjson (Google's preprocessing, `[[x[], y[]], ...]`).
    QuickdrawSimplified,
    /// Inkset's API drawing format, one JSON object per line (lossless).
    Jsonl,
}

/// Rows of record locations read per query by [`for_each_drawing`]: about 1 MB of
/// memory, whatever the number of drawings.
pub const LOCATION_PAGE: usize = 10_000;

/// Calls `f` with every drawing matching `filter` (id, server receive time in ms, the
/// drawing), oldest first, reading each segment once; the locations are paged by keyset,
/// [`LOCATION_PAGE`] at a time. Drawings received while it runs are included when they
/// sort after the current page (pass `filter.to` to bound a snapshot). Stops at the first
/// error of `f`.
///
/// # Errors
/// When storage fails or a record cannot be decoded, or `f` fails.
pub async fn for_each_drawing(
    state: &AppState,
    filter: &DrawingFilter,
    mut f: impl FnMut(uuid::Uuid, i64, Drawing) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut segments = SegmentCursor::new();
    let mut count = 0;
    let mut after = None;
    loop {
        let page = state
            .db
            .locations_page(filter, None, after, LOCATION_PAGE)
            .await?;
        let full = page.len() == LOCATION_PAGE;
        after = page.last().map(|(id, t, _)| (*t, *id));
        for (id, received_at, loc) in page {
            let drawing = segments
                .read(&state.objects, &loc)
                .await
                .with_context(|| format!("reading drawing {id}"))?;
            f(id, received_at, drawing)?;
            count += 1;
        }
        if !full {
            return Ok(count);
        }
    }
}

/// Drawings handed to one encoder at a time by [`encoded_stream`]: about 2 MB of lines.
pub const ENCODE_BATCH: usize = 1_024;

/// Writes one drawing's part of a stream into the buffer (its ndjson line with the
/// newline, say): the drawing's id, its server receive time (ms since the Unix epoch) and
/// the drawing.
pub type Encoder =
    dyn Fn(uuid::Uuid, i64, &Drawing, &mut Vec<u8>) -> anyhow::Result<()> + Send + Sync;

/// Records of one segment, in stream order, with the segment's bytes.
struct Batch {
    key: String,
    segment: Bytes,
    /// (drawing id, received_at ms, byte offset, length) of each record.
    records: Vec<(uuid::Uuid, i64, u64, u64)>,
}

/// Every drawing matching `filter` (and, when `words` is given, of one of those shapes or
/// distractor words), oldest first, each turned into bytes by `encode`: the stream of a
/// training snapshot or an export, in chunks of up to [`ENCODE_BATCH`] drawings.
///
/// One task pages the record locations by keyset ([`LOCATION_PAGE`] rows a query) and
/// fetches each segment once, whole; decoding and `encode` run on the blocking pool, as
/// many batches at once as the machine has cores, and the chunks come out in order. Memory
/// is bounded: a page of locations and a few segments and chunks. The stream ends with an
/// error at the first segment or record that cannot be read, or the first error of
/// `encode`; it stops reading when dropped.
pub fn encoded_stream(
    state: AppState,
    filter: DrawingFilter,
    words: Option<Vec<String>>,
    encode: Arc<Encoder>,
) -> impl Stream<Item = anyhow::Result<Bytes>> + Send + 'static {
    let encoders = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let (tx, rx) = tokio::sync::mpsc::channel::<anyhow::Result<Batch>>(encoders * 2);
    tokio::spawn(async move {
        if let Err(e) = read_batches(&state, &filter, words.as_deref(), &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
        .map(move |batch| {
            let encode = encode.clone();
            async move {
                let batch = batch?;
                tokio::task::spawn_blocking(move || encode_batch(&batch, &*encode))
                    .await
                    .context("encoding task failed")?
            }
        })
        .buffered(encoders)
}

/// Sends the batches of [`encoded_stream`]; stops early (`Ok`) when the receiver is gone.
async fn read_batches(
    state: &AppState,
    filter: &DrawingFilter,
    words: Option<&[String]>,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Batch>>,
) -> anyhow::Result<()> {
    let mut after = None;
    let mut batch: Option<Batch> = None;
    loop {
        let page = state
            .db
            .locations_page(filter, words, after, LOCATION_PAGE)
            .await?;
        let full = page.len() == LOCATION_PAGE;
        after = page.last().map(|(id, t, _)| (*t, *id));
        for (id, received_at, loc) in page {
            let fits = batch
                .as_ref()
                .is_some_and(|b| b.key == loc.segment_key && b.records.len() < ENCODE_BATCH);
            if !fits {
                let segment = match batch.take() {
                    Some(b) => {
                        let same = (b.key == loc.segment_key).then(|| b.segment.clone());
                        if tx.send(Ok(b)).await.is_err() {
                            return Ok(());
                        }
                        same
                    }
                    None => None,
                };
                let segment = match segment {
                    Some(s) => s,
                    None => state
                        .objects
                        .get(&loc.segment_key)
                        .await
                        .with_context(|| format!("reading segment {}", loc.segment_key))?,
                };
                batch = Some(Batch {
                    key: loc.segment_key.clone(),
                    segment,
                    records: Vec::with_capacity(ENCODE_BATCH),
                });
            }
            if let Some(b) = batch.as_mut() {
                b.records.push((id, received_at, loc.offset, loc.length));
            }
        }
        if !full {
            break;
        }
    }
    if let Some(b) = batch {
        let _ = tx.send(Ok(b)).await;
    }
    Ok(())
}

/// Decodes a batch's records and encodes them into one chunk.
fn encode_batch(batch: &Batch, encode: &Encoder) -> anyhow::Result<Bytes> {
    let mut out = Vec::with_capacity(batch.records.len() * 2_048);
    for &(id, received_at, offset, length) in &batch.records {
        let frame = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(length).ok())
            .and_then(|(start, n)| batch.segment.get(start..start.checked_add(n)?))
            .with_context(|| {
                format!(
                    "record of drawing {id} at {offset}+{length} lies outside segment {}",
                    batch.key
                )
            })?;
        let drawing = decode_frame(frame)
            .with_context(|| format!("decoding drawing {id} of segment {}", batch.key))?;
        encode(id, received_at, &drawing, &mut out)?;
    }
    Ok(Bytes::from(out))
}

/// Writes every drawing matching `filter` to `out`, oldest first; returns how many.
///
/// # Errors
/// When storage or `out` fails.
pub async fn export(
    state: &AppState,
    filter: &DrawingFilter,
    format: ExportFormat,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    let encode = move |_id, received_at, drawing: &Drawing, buf: &mut Vec<u8>| {
        match format {
            ExportFormat::Jsonl => {
                serde_json::to_writer(&mut *buf, drawing)?;
                buf.push(b'\n');
            }
            ExportFormat::Quickdraw | ExportFormat::QuickdrawSimplified => {
                let fallback = drawing
                    .source
                    .is_none()
                    .then(|| format_timestamp_ms(received_at));
                let rec = Record::from_drawing(drawing, fallback);
                if format == ExportFormat::QuickdrawSimplified {
                    rec.simplified().write_line(buf);
                } else {
                    rec.write_line(buf);
                }
            }
        }
        counted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    };
    let mut chunks = std::pin::pin!(encoded_stream(
        state.clone(),
        filter.clone(),
        None,
        Arc::new(encode)
    ));
    while let Some(chunk) = chunks.next().await {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    Ok(count.load(Ordering::Relaxed))
}
