//! Labelled drawings for training and evaluation, from Quick, Draw! style ndjson.
//!
//! Every record becomes a [`Sample`]: its strokes as polylines, its class index and a split
//! key. Exact duplicate drawings (the Detexify data has many) are kept once. The split is by
//! source record (`key_id`, which a Quick, Draw! drawing keeps in its raw and simplified
//! form), so no drawing or rendering of it is on both sides.

use std::collections::HashSet;
use std::path::PathBuf;

use inkset_protocol::quickdraw::{Record, ndjson_files};
use sha2::{Digest, Sha256};

use crate::raster::{Polyline, check, polylines};

/// The class for drawings that are none of the shapes.
pub const UNKNOWN: &str = "unknown";

/// Splits a model's class list into its shapes and whether it has the [`UNKNOWN`] class
/// (the arguments of [`Dataset::new`] and [`Dataset::load`] for that model).
pub fn shapes_of(classes: &[String]) -> (Vec<String>, bool) {
    let shapes = classes.iter().filter(|c| *c != UNKNOWN).cloned().collect();
    (shapes, classes.iter().any(|c| c == UNKNOWN))
}

/// One labelled drawing.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Strokes, in source units.
    pub lines: Vec<Polyline>,
    /// Index into the class list.
    pub label: usize,
    /// The source record's `key_id`: the split key.
    pub key_id: u64,
    /// The record's word (for `unknown` samples, which distractor it is).
    pub word: String,
}

/// Which side of the split a sample is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// About 70 % of source records: the network learns from these.
    Train,
    /// About 10 %: never trained on; tunes the `unknown` threshold.
    Validation,
    /// About 20 %: never trained on or tuned on; the reported held-out numbers.
    Test,
}

impl Split {
    /// The side of `key_id`: the first byte of sha256 of its decimal form, mod 10:
    /// 0-1 test, 2 validation, 3-9 train.
    pub fn of(key_id: u64) -> Self {
        let h = Sha256::digest(key_id.to_string().as_bytes());
        match h[0] % 10 {
            0 | 1 => Self::Test,
            2 => Self::Validation,
            _ => Self::Train,
        }
    }
}

/// Labelled drawings and their class names.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Class names; the last is [`UNKNOWN`] when distractors are in.
    pub classes: Vec<String>,
    /// The samples.
    pub samples: Vec<Sample>,
    /// Records skipped: duplicates, taps, unreadable lines.
    pub skipped: usize,
    shapes: Vec<String>,
    with_unknown: bool,
    seen: HashSet<[u8; 32]>,
}

impl Dataset {
    /// An empty dataset. Records whose word is in `shapes` get that class; other words
    /// become [`UNKNOWN`] (the last class) when `with_unknown`, else they are skipped.
    pub fn new(shapes: &[String], with_unknown: bool) -> Self {
        let mut classes: Vec<String> = shapes.to_vec();
        if with_unknown {
            classes.push(UNKNOWN.into());
        }
        Self {
            classes,
            shapes: shapes.to_vec(),
            with_unknown,
            ..Self::default()
        }
    }

    /// Reads every `.ndjson` file under `paths` (see [`Dataset::new`]).
    ///
    /// # Errors
    /// When a file cannot be read.
    pub fn load(paths: &[PathBuf], shapes: &[String], with_unknown: bool) -> std::io::Result<Self> {
        let mut ds = Self::new(shapes, with_unknown);
        for file in ndjson_files(paths)? {
            for line in std::fs::read_to_string(&file)?.lines() {
                ds.add_line(line);
            }
        }
        Ok(ds)
    }

    /// Adds one ndjson line (blank lines are ignored, unreadable ones counted as skipped).
    pub fn add_line(&mut self, line: &str) {
        match Record::parse_line(line) {
            Ok(rec) => self.add(rec),
            Err(_) => self.skipped += usize::from(!line.trim().is_empty()),
        }
    }

    /// Adds one record: skipped (and counted) when it is a duplicate of one already in or a
    /// tap; ignored when its word is not a class and there is no `unknown` class.
    pub fn add(&mut self, rec: Record) {
        let label = match self.shapes.iter().position(|s| *s == rec.word) {
            Some(i) => i,
            None if self.with_unknown => self.shapes.len(),
            None => return,
        };
        let key_id = rec.key_id;
        let word = rec.word.clone();
        let lines = polylines(&rec.into_drawing().strokes);
        if check(&lines).is_err() || !self.seen.insert(content_key(&lines)) {
            self.skipped += 1;
            return;
        }
        self.samples.push(Sample {
            lines,
            label,
            key_id,
            word,
        });
    }

    /// The samples on one side of the split.
    pub fn split(&self, side: Split) -> Vec<Sample> {
        self.samples
            .iter()
            .filter(|s| Split::of(s.key_id) == side)
            .cloned()
            .collect()
    }

    /// sha256 (hex) of the sorted, de-duplicated `key_id`s of the samples (8 little-endian
    /// bytes each): identifies which drawings a model saw.
    pub fn key_ids_sha256(&self) -> String {
        let mut ids: Vec<u64> = self.samples.iter().map(|s| s.key_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut h = Sha256::new();
        for id in ids {
            h.update(id.to_le_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Samples per class.
    pub fn counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes.len()];
        for s in &self.samples {
            c[s.label] += 1;
        }
        c
    }
}

fn content_key(lines: &[Polyline]) -> [u8; 32] {
    let mut h = Sha256::new();
    for l in lines {
        h.update((l.len() as u64).to_le_bytes());
        for p in l {
            h.update(p[0].to_le_bytes());
            h.update(p[1].to_le_bytes());
        }
    }
    h.finalize().into()
}
