//! Training data as stroke-5: Quick, Draw!'s simplification, offsets, augmentation and
//! batching.

use burn::tensor::{Device, Tensor, TensorData};
use inkset_protocol::quickdraw::{QdStroke, Record};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// One training drawing as stroke-5 (unnormalised offsets, in simplified pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Class index.
    pub label: usize,
    /// Source record's `key_id` (for the split).
    pub key_id: u64,
    /// `(dx, dy, p1, p2, p3)` per point; the first offset is from the bounding box's
    /// centre.
    pub steps: Vec<[f32; 5]>,
}

/// Stroke-5 of a record: Quick, Draw!'s simplification (always applied, so every drawing
/// has its longer side at 255), then offsets from the bounding box's centre. `None` for an
/// empty drawing.
pub fn to_stroke5(record: &Record) -> Option<Vec<[f32; 5]>> {
    let simple = Record {
        drawing: inkset_protocol::quickdraw::simplify(&record.drawing),
        ..record.clone()
    };
    let points = || simple.drawing.iter().flat_map(|s| s.x.iter().zip(&s.y));
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for (x, y) in points() {
        lo = [lo[0].min(*x), lo[1].min(*y)];
        hi = [hi[0].max(*x), hi[1].max(*y)];
    }
    if !lo[0].is_finite() {
        return None;
    }
    let mut prev = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let mut steps = Vec::new();
    for stroke in simple.drawing.iter().filter(|s| !s.x.is_empty()) {
        let n = stroke.x.len().min(stroke.y.len());
        for k in 0..n {
            let p = [stroke.x[k], stroke.y[k]];
            let last = k + 1 == n;
            steps.push([
                (p[0] - prev[0]) as f32,
                (p[1] - prev[1]) as f32,
                if last { 0.0 } else { 1.0 },
                if last { 1.0 } else { 0.0 },
                0.0,
            ]);
            prev = p;
        }
    }
    Some(steps)
}

/// Strokes (absolute points, y down) from stroke-5 steps scaled by `scale`; stops at the
/// first end state. Points are relative to the drawing's start position.
pub fn strokes_of(steps: &[[f32; 5]], scale: f32) -> Vec<Vec<[f32; 2]>> {
    let mut out: Vec<Vec<[f32; 2]>> = Vec::new();
    let mut current: Vec<[f32; 2]> = Vec::new();
    let (mut x, mut y) = (0.0f32, 0.0f32);
    for s in steps {
        if s[4] > 0.5 {
            break;
        }
        x += s[0] * scale;
        y += s[1] * scale;
        current.push([x, y]);
        if s[3] > 0.5 {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Augmentation strengths (module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorAugment {
    /// Each axis is scaled by a factor drawn from `1 +- scale`.
    pub scale: f32,
    /// Probability that an interior point of a stroke is dropped.
    pub point_dropout: f32,
}

impl Default for GeneratorAugment {
    fn default() -> Self {
        Self {
            scale: 0.15,
            point_dropout: 0.1,
        }
    }
}

impl GeneratorAugment {
    /// An augmented copy of `steps`.
    pub fn apply(&self, steps: &[[f32; 5]], rng: &mut impl Rng) -> Vec<[f32; 5]> {
        let sx = 1.0 + rng.random_range(-self.scale..=self.scale);
        let sy = 1.0 + rng.random_range(-self.scale..=self.scale);
        let mut out: Vec<[f32; 5]> = Vec::with_capacity(steps.len());
        let mut carry = [0.0f32; 2];
        for (k, s) in steps.iter().enumerate() {
            let interior = k > 0 && s[2] > 0.5 && steps[k - 1][2] > 0.5;
            if interior && self.point_dropout > 0.0 && rng.random::<f32>() < self.point_dropout {
                carry[0] += s[0];
                carry[1] += s[1];
                continue;
            }
            out.push([
                (s[0] + carry[0]) * sx,
                (s[1] + carry[1]) * sy,
                s[2],
                s[3],
                s[4],
            ]);
            carry = [0.0; 2];
        }
        out
    }
}

/// The standard deviation of every offset (x and y together) of `data`; 1 when empty.
pub fn offset_scale(data: &[Sequence]) -> f32 {
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for s in data {
        for st in &s.steps {
            for v in [st[0], st[1]] {
                n += 1.0;
                sum += f64::from(v);
                sq += f64::from(v) * f64::from(v);
            }
        }
    }
    if n < 2.0 {
        return 1.0;
    }
    let var = (sq - sum * sum / n) / (n - 1.0);
    (var.sqrt() as f32).max(1e-3)
}

/// Builds one batch: inputs `[B, T, 5 + C]`, targets `[B * T, 5]`, drawn mask `[B * T, 1]`,
/// classes `[B, C]`; T = the longest sequence of the batch + 1 (the end state).
pub(crate) fn batch_tensors(
    seqs: &[Vec<[f32; 5]>],
    labels: &[usize],
    classes: usize,
    scale: f32,
    device: &Device,
) -> (Tensor<3>, Tensor<2>, Tensor<2>, Tensor<2>, usize) {
    let b = seqs.len();
    let t = seqs.iter().map(Vec::len).max().unwrap_or(0) + 1;
    let w = 5 + classes;
    let mut inputs = vec![0f32; b * t * w];
    let mut targets = vec![0f32; b * t * 5];
    let mut drawn = vec![0f32; b * t];
    let mut onehot = vec![0f32; b * classes];
    for (i, (seq, &label)) in seqs.iter().zip(labels).enumerate() {
        onehot[i * classes + label] = 1.0;
        for k in 0..t {
            let target = match seq.get(k) {
                Some(s) => [s[0] / scale, s[1] / scale, s[2], s[3], s[4]],
                None => [0.0, 0.0, 0.0, 0.0, 1.0],
            };
            targets[(i * t + k) * 5..(i * t + k + 1) * 5].copy_from_slice(&target);
            drawn[i * t + k] = f32::from(k < seq.len());
            let input = &mut inputs[(i * t + k) * w..(i * t + k + 1) * w];
            if k == 0 {
                input[2] = 1.0;
            } else {
                let prev = &targets[(i * t + k - 1) * 5..(i * t + k) * 5];
                input[..5].copy_from_slice(prev);
            }
            input[5 + label] = 1.0;
        }
    }
    (
        Tensor::from_data(TensorData::new(inputs, [b, t, w]), device),
        Tensor::from_data(TensorData::new(targets, [b * t, 5]), device),
        Tensor::from_data(TensorData::new(drawn, [b * t, 1]), device),
        Tensor::from_data(TensorData::new(onehot, [b, classes]), device),
        t,
    )
}

/// Stroke-5 of polylines (original coordinates): through a Quick, Draw! record so the
/// same simplification applies.
pub fn lines_to_stroke5(lines: &[crate::raster::Polyline]) -> Option<Vec<[f32; 5]>> {
    let record = Record {
        word: String::new(),
        countrycode: None,
        timestamp: None,
        recognized: None,
        key_id: 0,
        drawing: lines
            .iter()
            .map(|l| QdStroke {
                x: l.iter().map(|p| f64::from(p[0])).collect(),
                y: l.iter().map(|p| f64::from(p[1])).collect(),
                t: None,
                float_form: Vec::new(),
            })
            .collect(),
        source: None,
    };
    to_stroke5(&record)
}
