//! Training-time augmentation of strokes, before rasterization.
//!
//! Each sample gets, independently: a rotation within ±`rotation_deg`, an anisotropic scale
//! within `1 ± scale`, a shear-free translation of each stroke by up to `translate` of the
//! drawing's extent (strokes of one drawing move a little against each other), dropout of
//! one stroke with probability `stroke_dropout` (drawings with 2+ strokes), and Gaussian-like
//! jitter of every point by up to `point_jitter` of the extent. The rasterizer normalises
//! position and size afterwards, so a global shift would change nothing.

use rand::Rng;

use crate::raster::Polyline;

/// Augmentation strengths.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Largest rotation, degrees.
    pub rotation_deg: f32,
    /// Largest relative scale change per axis.
    pub scale: f32,
    /// Largest per-stroke shift, as a fraction of the extent.
    pub translate: f32,
    /// Probability of dropping one stroke.
    pub stroke_dropout: f32,
    /// Largest per-point jitter, as a fraction of the extent.
    pub point_jitter: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            rotation_deg: 12.0,
            scale: 0.15,
            translate: 0.03,
            stroke_dropout: 0.1,
            point_jitter: 0.01,
        }
    }
}

impl Augment {
    /// An augmented copy of `lines`.
    pub fn apply(&self, lines: &[Polyline], rng: &mut impl Rng) -> Vec<Polyline> {
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in lines.iter().flatten() {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-6);
        let c = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let angle = rng
            .random_range(-self.rotation_deg..=self.rotation_deg)
            .to_radians();
        let (sin, cos) = angle.sin_cos();
        let sx = 1.0 + rng.random_range(-self.scale..=self.scale);
        let sy = 1.0 + rng.random_range(-self.scale..=self.scale);
        let drop = (lines.len() > 1 && rng.random::<f32>() < self.stroke_dropout)
            .then(|| rng.random_range(0..lines.len()));
        let jitter = self.point_jitter * extent;
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if Some(i) == drop {
                continue;
            }
            let shift = [
                rng.random_range(-self.translate..=self.translate) * extent,
                rng.random_range(-self.translate..=self.translate) * extent,
            ];
            out.push(
                line.iter()
                    .map(|p| {
                        let x = (p[0] - c[0]) * sx;
                        let y = (p[1] - c[1]) * sy;
                        let mut q = [x * cos - y * sin + shift[0], x * sin + y * cos + shift[1]];
                        if jitter > 0.0 {
                            q[0] += rng.random_range(-jitter..=jitter);
                            q[1] += rng.random_range(-jitter..=jitter);
                        }
                        q
                    })
                    .collect(),
            );
        }
        out
    }
}
