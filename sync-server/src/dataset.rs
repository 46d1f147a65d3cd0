//! Quick, Draw! import and export, through the same validation and ingest path as uploads.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use inkset_protocol::quickdraw::{Record, format_timestamp_ms};
use inkset_protocol::validate::validate;
use inkset_protocol::{Limits, Origin};

use crate::app::AppState;
use crate::db::DrawingFilter;
use crate::ingest::{IngestError, Outcome, decode_frame};

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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
/// `progress` is called with bytes read so far after each batch.
///
/// # Errors
/// When a file cannot be read; bad records are counted, not fatal.
pub async fn import(
    state: &AppState,
    paths: &[PathBuf],
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
        let mut pending = Vec::new();
        for (n, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("{}:{}", file.display(), n + 1))?;
            bytes_read += line.len() as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            report.records += 1;
            let at = format!("{}:{}", file.display(), n + 1);
            let checked = Record::parse_line(&line).and_then(|r| {
                let d = r.into_drawing();
                validate(&d, Origin::Import, &Limits::DEFAULT, |s| {
                    state.is_known_shape(s)
                })
                .map(|()| d)
            });
            match checked {
                Ok(d) => pending.push((at, d)),
                Err(e) => reject(&mut report, &at, e.to_string()),
            }
            if pending.len() >= IMPORT_BATCH {
                submit(state, &mut pending, &mut report).await;
                progress(bytes_read);
            }
        }
        submit(state, &mut pending, &mut report).await;
        progress(bytes_read);
    }
    Ok(report)
}

fn reject(report: &mut ImportReport, at: &str, reason: String) {
    if report.examples.len() < 5 {
        report.examples.push(format!("{at}: {reason}"));
    }
    *report.rejected.entry(reason).or_default() += 1;
}

async fn submit(
    state: &AppState,
    pending: &mut Vec<(String, inkset_protocol::Drawing)>,
    report: &mut ImportReport,
) {
    let batch = std::mem::take(pending);
    let (ats, drawings): (Vec<String>, Vec<_>) = batch.into_iter().unzip();
    let shapes: Vec<String> = drawings.iter().map(|d| d.shape.clone()).collect();
    let results = state
        .ingest
        .submit_many(drawings.into_iter().map(|d| (d, Origin::Import)).collect())
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
    let locations = state.db.locations(filter).await?;
    let mut segment: Option<(String, bytes::Bytes)> = None;
    let mut count = 0;
    for (id, received_at, loc) in locations {
        if segment.as_ref().is_none_or(|(k, _)| *k != loc.segment_key) {
            let bytes = state
                .objects
                .get(&loc.segment_key)
                .await
                .with_context(|| format!("reading segment {}", loc.segment_key))?;
            segment = Some((loc.segment_key.clone(), bytes));
        }
        let Some((_, bytes)) = &segment else { continue };
        let start = usize::try_from(loc.offset)?;
        let end = start + usize::try_from(loc.length)?;
        let frame = bytes
            .get(start..end)
            .with_context(|| format!("drawing {id}: record outside its segment"))?;
        let drawing = decode_frame(frame).with_context(|| format!("decoding drawing {id}"))?;
        let line = match format {
            ExportFormat::Jsonl => serde_json::to_string(&drawing)?,
            ExportFormat::Quickdraw | ExportFormat::QuickdrawSimplified => {
                let rec = Record::from_drawing(&drawing, Some(format_timestamp_ms(received_at)));
                if format == ExportFormat::QuickdrawSimplified {
                    rec.simplified().to_line()
                } else {
                    rec.to_line()
                }
            }
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        count += 1;
    }
    out.flush()?;
    Ok(count)
}
