//! Fitting a very detailed drawing within the upload limits, on the client, before upload.
//!
//! A 1,000 Hz gaming mouse gives a point per millisecond (8,000 Hz on some), so one
//! 12-second stroke is 12,000 points: over [`Limits::max_points_per_stroke`]. The server
//! only checks limits; a client calls [`fit_to_limits`] on a finished drawing so that a real
//! player's drawing always reaches the dataset:
//!
//! 1. **Lossless:** a point equal in x, y, pressure and timestamp to the one before it is
//!    dropped (it adds nothing the hand did). A point at the same place but a later time is
//!    kept: it records a pause.
//! 2. **Only while still over a limit:** each stroke is simplified by Ramer–Douglas–Peucker
//!    in the drawing's own units (CSS px for uploads) with ε = 0.25, then 0.5, 1, 2, ...
//!    until the points per stroke, the points per drawing and the JSON body all fit. Kept
//!    points keep their own x, y, pressure and timestamp (so the first and last points, the
//!    duration and every stroke's start and end stay exact); no point of the original is
//!    farther than ε from the simplified polyline. On the real drawings in `shared/data`,
//!    ε = 0.5 px keeps 48–58 % of the points; a fast mouse's oversampled stroke, most of
//!    whose points lie on straight runs between samples, shrinks far more.
//! 3. Past ε = 64 (never needed by a real hand: a 1,000 Hz, 20-minute stroke), points are
//!    taken at even steps to the limit, keeping each stroke's ends.
//!
//! What was done is returned as a [`Reduction`]; the strokes' count is never changed.

use crate::drawing::{Drawing, Point};
use crate::validate::Limits;

/// What [`fit_to_limits`] did to a drawing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reduction {
    /// Points before.
    pub points_before: usize,
    /// Points after.
    pub points_after: usize,
    /// Exact repeats of the previous point dropped (lossless).
    pub duplicates_dropped: usize,
    /// The Ramer–Douglas–Peucker tolerance used, in the drawing's units; `None` when the
    /// drawing fitted without simplifying.
    pub epsilon: Option<f64>,
    /// Whether points had to be taken at even steps after simplifying (past ε = 64).
    pub decimated: bool,
}

impl Reduction {
    /// Whether the drawing changed.
    pub fn changed(&self) -> bool {
        self.points_after != self.points_before
    }
}

/// The first tolerance tried, in the drawing's units (a quarter of a CSS pixel).
pub const FIRST_EPSILON: f64 = 0.25;
/// The last tolerance tried before even-step decimation.
pub const LAST_EPSILON: f64 = 64.0;

fn fits(d: &Drawing, limits: &Limits) -> bool {
    d.strokes
        .iter()
        .all(|s| s.points.len() <= limits.max_points_per_stroke)
        && d.point_count() <= limits.max_points
        && serde_json::to_vec(d).is_ok_and(|b| b.len() <= limits.max_drawing_body_bytes)
}

/// Reduces `drawing` in place until its points and JSON size fit `limits` (see the module
/// docs for the steps and their error bounds). A drawing within the limits is left as it is
/// but for exact repeated points.
pub fn fit_to_limits(drawing: &mut Drawing, limits: &Limits) -> Reduction {
    let points_before = drawing.point_count();
    for s in &mut drawing.strokes {
        s.points.dedup();
    }
    let mut r = Reduction {
        points_before,
        duplicates_dropped: points_before - drawing.point_count(),
        ..Reduction::default()
    };
    if !fits(drawing, limits) {
        let original: Vec<Vec<Point>> = drawing.strokes.iter().map(|s| s.points.clone()).collect();
        let mut epsilon = FIRST_EPSILON;
        loop {
            for (s, pts) in drawing.strokes.iter_mut().zip(&original) {
                s.points = simplify(pts, epsilon);
            }
            r.epsilon = Some(epsilon);
            if fits(drawing, limits) || epsilon >= LAST_EPSILON {
                break;
            }
            epsilon *= 2.0;
        }
        if !fits(drawing, limits) {
            r.decimated = true;
            let strokes = drawing.strokes.len().max(1);
            let per_stroke = limits
                .max_points_per_stroke
                .min(limits.max_points / strokes)
                .max(2);
            for s in &mut drawing.strokes {
                s.points = decimate(&s.points, per_stroke);
            }
        }
    }
    r.points_after = drawing.point_count();
    r
}

/// Ramer–Douglas–Peucker on x, y, keeping whole points (the ends always): no point of
/// `points` is farther than `epsilon` from the result. The same bounded algorithm as Quick,
/// Draw!'s simplification (`crate::quickdraw`), so its cost stays linear on any input.
pub fn simplify(points: &[Point], epsilon: f64) -> Vec<Point> {
    let (keep, _) = crate::quickdraw::rdp_mask(
        points.len(),
        |i| (points[i].x, points[i].y),
        epsilon,
        crate::quickdraw::RDP_WORK_PER_POINT,
    );
    points
        .iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

/// The distance from `p` to the polyline `line` (to its only point when it has one), in
/// the points' units; infinite for an empty line. For checking a simplification's error.
pub fn distance_to_polyline(p: &Point, line: &[Point]) -> f64 {
    if let [only] = line {
        return (p.x - only.x).hypot(p.y - only.y);
    }
    line.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b.x - a.x, b.y - a.y);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 {
                (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            (p.x - (a.x + t * dx)).hypot(p.y - (a.y + t * dy))
        })
        .fold(f64::INFINITY, f64::min)
}

/// At most `n` (>= 2) points taken at even steps, the first and last included.
fn decimate(points: &[Point], n: usize) -> Vec<Point> {
    if points.len() <= n {
        return points.to_vec();
    }
    let last = points.len() - 1;
    (0..n).map(|i| points[i * last / (n - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drawing::{Canvas, Device, Stroke};
    use uuid::Uuid;

    /// A 12-second stroke from a 1,000 Hz mouse: a slow circle, one point per ms.
    fn fast_mouse(points: usize) -> Drawing {
        let pts = (0..points)
            .map(|i| {
                #[allow(clippy::cast_precision_loss)]
                let a = i as f64 / points as f64 * std::f64::consts::TAU;
                Point {
                    x: (200.0 + 150.0 * a.cos()).round(),
                    y: (200.0 + 150.0 * a.sin()).round(),
                    pressure: Some(0.5),
                    timestamp: Some(1_764_400_000_000 + i64::try_from(i).unwrap()),
                    ..Default::default()
                }
            })
            .collect();
        Drawing {
            id: Uuid::nil(),
            shape: "circle".into(),
            canvas: Some(Canvas {
                width: 400.0,
                height: 400.0,
            }),
            strokes: vec![Stroke {
                points: pts,
                color: Some("#1d1d1f".into()),
                width: Some(4.0),
                pointer_type: Some("mouse".into()),
                pressure_measured: Some(false),
            }],
            duration_ms: Some(u64::try_from(points).unwrap() - 1),
            device: Some(Device::Mouse),
            user_agent: None,
            device_pixel_ratio: Some(1.0),
            prompt_to_first_point_ms: Some(500),
            session_id: None,
            source: None,
            guess: None,
            dropped_samples: None,
        }
    }

    #[test]
    fn a_fast_mouse_stroke_fits_within_a_quarter_pixel() {
        let original = fast_mouse(12_000);
        let mut d = original.clone();
        let r = fit_to_limits(&mut d, &Limits::DEFAULT);
        assert!(fits(&d, &Limits::DEFAULT), "{r:?}");
        assert_eq!(r.epsilon, Some(FIRST_EPSILON), "{r:?}");
        assert!(!r.decimated);
        // Each sample has its own time: nothing is an exact repeat, all goes by ε = 0.25.
        assert_eq!(r.duplicates_dropped, 0, "{r:?}");
        assert!(r.points_after < 10_000, "{r:?}");
        let (before, after) = (&original.strokes[0].points, &d.strokes[0].points);
        assert_eq!(before.first(), after.first());
        assert_eq!(before.last(), after.last());
        for p in before {
            assert!(distance_to_polyline(p, after) <= FIRST_EPSILON + 1e-9);
        }
        // Every kept point is an original point, in order.
        let mut it = before.iter();
        for p in after {
            assert!(it.any(|q| q == p), "{p:?} is not an original point");
        }
        assert_eq!(
            crate::validate::validate(&d, crate::Origin::Api, &Limits::DEFAULT, |_| true),
            Ok(())
        );
    }

    #[test]
    fn a_drawing_within_the_limits_only_loses_exact_repeats() {
        let mut d = fast_mouse(2_000);
        let p = d.strokes[0].points[10];
        d.strokes[0].points.insert(10, p);
        let original_len = d.point_count();
        let r = fit_to_limits(&mut d, &Limits::DEFAULT);
        assert_eq!(r.epsilon, None);
        assert_eq!(r.points_before, original_len);
        assert_eq!(r.points_after, original_len - r.duplicates_dropped);
        assert!(r.duplicates_dropped >= 1);
    }

    #[test]
    fn the_json_size_counts_too() {
        let mut limits = Limits::DEFAULT;
        limits.max_drawing_body_bytes = 64 * 1024;
        let mut d = fast_mouse(5_000);
        let r = fit_to_limits(&mut d, &limits);
        assert!(fits(&d, &limits), "{r:?}");
        assert!(r.epsilon.is_some());
    }

    #[test]
    fn any_size_ends_within_the_limits() {
        let mut limits = Limits::DEFAULT;
        // Fewer points than any tolerance up to 64 px leaves a 150 px circle with.
        limits.max_points_per_stroke = 3;
        limits.max_points = 3;
        let mut d = fast_mouse(20_000);
        let r = fit_to_limits(&mut d, &limits);
        assert!(fits(&d, &limits), "{r:?}");
        assert!(r.decimated, "{r:?}");
        assert_eq!(d.strokes[0].points.len(), 3);
    }
}
