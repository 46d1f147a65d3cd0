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
    /// 80 % of source records.
    Train,
    /// 20 % of source records, never trained on.
    Test,
}

impl Split {
    /// The side of `key_id`: sha256 of its decimal form, first byte mod 10 < 2 is test.
    pub fn of(key_id: u64) -> Self {
        let h = Sha256::digest(key_id.to_string().as_bytes());
        if h[0] % 10 < 2 {
            Self::Test
        } else {
            Self::Train
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
}

impl Dataset {
    /// Reads every `.ndjson` file under `paths`. Records whose word is in `shapes` get that
    /// class; other words become [`UNKNOWN`] when `with_unknown`, else they are skipped.
    ///
    /// # Errors
    /// When a file cannot be read.
    pub fn load(paths: &[PathBuf], shapes: &[String], with_unknown: bool) -> std::io::Result<Self> {
        let mut classes: Vec<String> = shapes.to_vec();
        if with_unknown {
            classes.push(UNKNOWN.into());
        }
        let mut ds = Self {
            classes,
            ..Self::default()
        };
        let mut seen = HashSet::new();
        for file in ndjson_files(paths)? {
            for line in std::fs::read_to_string(&file)?.lines() {
                let Ok(rec) = Record::parse_line(line) else {
                    ds.skipped += usize::from(!line.trim().is_empty());
                    continue;
                };
                let label = match shapes.iter().position(|s| *s == rec.word) {
                    Some(i) => i,
                    None if with_unknown => shapes.len(),
                    None => continue,
                };
                let key_id = rec.key_id;
                let word = rec.word.clone();
                let lines = polylines(&rec.into_drawing().strokes);
                if check(&lines).is_err() || !seen.insert(content_key(&lines)) {
                    ds.skipped += 1;
                    continue;
                }
                ds.samples.push(Sample {
                    lines,
                    label,
                    key_id,
                    word,
                });
            }
        }
        Ok(ds)
    }

    /// The samples on one side of the split.
    pub fn split(&self, side: Split) -> Vec<Sample> {
        self.samples
            .iter()
            .filter(|s| Split::of(s.key_id) == side)
            .cloned()
            .collect()
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
