//! The rasterizer: strokes to an N x N grayscale raster. Trainer, server, workbench and game
//! all call [`rasterize`], so a model sees the same pixels everywhere; [`RASTERIZER_VERSION`]
//! is recorded in every model artifact and bumped whenever the output changes.
//!
//! # Version 1
//!
//! 1. The bounding box of all points is scaled uniformly (aspect ratio kept) so its longer
//!    side spans `size * (1 - 2 * PADDING)` pixels, and centred in the raster.
//! 2. Each stroke is drawn as a polyline of width `size * LINE_WIDTH` pixels with round caps
//!    and joins, anti-aliased (tiny-skia); a one-point stroke is a round dot of that width.
//! 3. The raster is the ink coverage: row-major `size * size` values, `f32` in `0..=1`,
//!    0 = paper, 1 = ink. As a network input: `[batch, 1, size, size]`.
//!
//! Pressure and timing do not reach the raster. Drawings with no points, or of one stroke
//! that is a tap, are refused: they carry no shape. The tap rule is scale-free, as the
//! raster is: one stroke with fewer than [`MIN_DISTINCT_POINTS`] distinct positions (a
//! dot), or, where the canvas is known ([`check_on_canvas`]), one whose extent is below
//! [`MIN_EXTENT_OF_CANVAS`] of the canvas's longer side (a press that jittered). Without a
//! canvas nothing says how large a short stroke was, so it is judged a drawing. So the same shape drawn in CSS
//! pixels, in a smart pen's page units (0..1) or in device units at any scale gets the same
//! answer.

use inkset_protocol::Stroke;
use tiny_skia::{FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Transform};

/// Version of the rasterization recipe above.
pub const RASTERIZER_VERSION: u32 = 1;
/// Margin on each side, as a fraction of the raster side.
pub const PADDING: f32 = 0.1;
/// Line width, as a fraction of the raster side (2 px at 28 x 28).
pub const LINE_WIDTH: f32 = 2.0 / 28.0;
/// A single stroke with fewer distinct positions than this is a tap (a dot), whatever its
/// units. Two positions make a line: Detexify's and Google's simplified lines are often
/// just their two ends.
pub const MIN_DISTINCT_POINTS: usize = 2;
/// Where the canvas is known: a single stroke whose bounding box's longer side is below this
/// fraction of the canvas's longer side is a tap (4 CSS px on a 400 px canvas).
pub const MIN_EXTENT_OF_CANVAS: f32 = 0.01;

/// Why a drawing cannot be rasterized for recognition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RasterError {
    /// No points at all.
    #[error("the drawing is empty")]
    Empty,
    /// One stroke with (almost) no extent.
    #[error("a single tap is not a drawing")]
    SingleTap,
    /// A coordinate is NaN or infinite.
    #[error("a coordinate is not finite")]
    NotFinite,
    /// `size` is 0 or above 1024.
    #[error("raster size must be within 1..=1024")]
    BadSize,
}

/// Points of one stroke, `[x, y]` in any consistent unit.
pub type Polyline = Vec<[f32; 2]>;

/// Takes the x, y of each stroke of an API drawing.
pub fn polylines(strokes: &[Stroke]) -> Vec<Polyline> {
    strokes
        .iter()
        .map(|s| {
            s.points
                .iter()
                .map(|p| {
                    #[allow(clippy::cast_possible_truncation)]
                    [p.x as f32, p.y as f32]
                })
                .collect()
        })
        .collect()
}

/// Checks a drawing is something to recognise (not empty, not a tap, finite), with the
/// scale-free tap rule (no canvas; see the module docs).
///
/// # Errors
/// The [`RasterError`] that applies.
pub fn check(lines: &[Polyline]) -> Result<(), RasterError> {
    check_on_canvas(lines, None)
}

/// As [`check`]; with `canvas_side` (the canvas's longer side, in the strokes' units), one
/// stroke smaller than [`MIN_EXTENT_OF_CANVAS`] of it is a tap too.
///
/// # Errors
/// The [`RasterError`] that applies.
pub fn check_on_canvas(lines: &[Polyline], canvas_side: Option<f32>) -> Result<(), RasterError> {
    let mut any = false;
    for p in lines.iter().flatten() {
        any = true;
        if !p[0].is_finite() || !p[1].is_finite() {
            return Err(RasterError::NotFinite);
        }
    }
    if !any {
        return Err(RasterError::Empty);
    }
    let drawn: Vec<&Polyline> = lines.iter().filter(|l| !l.is_empty()).collect();
    if let [line] = drawn.as_slice() {
        let mut seen: Vec<[f32; 2]> = Vec::with_capacity(MIN_DISTINCT_POINTS);
        for p in line.iter() {
            if !seen.contains(p) {
                seen.push(*p);
                if seen.len() >= MIN_DISTINCT_POINTS {
                    break;
                }
            }
        }
        if seen.len() < MIN_DISTINCT_POINTS {
            return Err(RasterError::SingleTap);
        }
        if let Some(side) = canvas_side.filter(|s| s.is_finite() && *s > 0.0) {
            let (lo, hi) = bounds(lines);
            if (hi[0] - lo[0]).max(hi[1] - lo[1]) < MIN_EXTENT_OF_CANVAS * side {
                return Err(RasterError::SingleTap);
            }
        }
    }
    Ok(())
}

fn bounds(lines: &[Polyline]) -> ([f32; 2], [f32; 2]) {
    let mut lo = [f32::INFINITY; 2];
    let mut hi = [f32::NEG_INFINITY; 2];
    for p in lines.iter().flatten() {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    (lo, hi)
}

/// Rasterizes strokes to `size * size` coverage values in `0..=1` (see the module docs).
///
/// # Errors
/// [`RasterError`] when the drawing is empty, a tap, not finite, or `size` is out of range.
pub fn rasterize(lines: &[Polyline], size: u32) -> Result<Vec<f32>, RasterError> {
    let mut out = vec![0.0; (size as usize) * (size as usize)];
    rasterize_into(lines, size, &mut out)?;
    Ok(out)
}

/// [`rasterize`] into a caller's buffer of `size * size` values (for batching without
/// allocating).
///
/// # Errors
/// As [`rasterize`]; also [`RasterError::BadSize`] when `out` has the wrong length.
pub fn rasterize_into(lines: &[Polyline], size: u32, out: &mut [f32]) -> Result<(), RasterError> {
    if size == 0 || size > 1024 || out.len() != (size as usize) * (size as usize) {
        return Err(RasterError::BadSize);
    }
    check(lines)?;
    let side = size as f32;
    let (lo, hi) = bounds(lines);
    let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    let span = side * (1.0 - 2.0 * PADDING);
    let scale = if extent > 0.0 { span / extent } else { 0.0 };
    // Centre the scaled bounding box.
    let off_x = (side - (hi[0] - lo[0]) * scale) / 2.0 - lo[0] * scale;
    let off_y = (side - (hi[1] - lo[1]) * scale) / 2.0 - lo[1] * scale;
    let map = |p: &[f32; 2]| (p[0] * scale + off_x, p[1] * scale + off_y);

    let mut pixmap = Pixmap::new(size, size).ok_or(RasterError::BadSize)?;
    let mut paint = Paint::default();
    paint.set_color_rgba8(255, 255, 255, 255);
    paint.anti_alias = true;
    let width = side * LINE_WIDTH;
    let stroke = tiny_skia::Stroke {
        width,
        line_cap: LineCap::Round,
        line_join: LineJoin::Round,
        ..tiny_skia::Stroke::default()
    };
    for line in lines {
        let distinct = line.windows(2).any(|w| w[0] != w[1]);
        if let (true, Some(first)) = (distinct, line.first()) {
            let mut pb = PathBuilder::new();
            let (x, y) = map(first);
            pb.move_to(x, y);
            for p in &line[1..] {
                let (x, y) = map(p);
                pb.line_to(x, y);
            }
            if let Some(path) = pb.finish() {
                pixmap.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
            }
        } else if let Some(first) = line.first() {
            let (x, y) = map(first);
            if let Some(dot) = PathBuilder::from_circle(x, y, width / 2.0) {
                pixmap.fill_path(&dot, &paint, FillRule::Winding, Transform::identity(), None);
            }
        }
    }
    for (o, px) in out.iter_mut().zip(pixmap.data().chunks_exact(4)) {
        *o = f32::from(px[3]) / 255.0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn shared(path: &str) -> std::path::PathBuf {
        std::env::var_os("INKSET_SHARED_DATA")
            .map_or_else(
                || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
                std::path::PathBuf::from,
            )
            .join(path)
    }

    fn first_record(path: &str) -> Vec<Polyline> {
        let text = std::fs::read_to_string(shared(path)).unwrap();
        let rec =
            inkset_protocol::quickdraw::Record::parse_line(text.lines().next().unwrap()).unwrap();
        polylines(&rec.into_drawing().strokes)
    }

    fn digest(raster: &[f32]) -> String {
        let bytes: Vec<u8> = raster
            .iter()
            .map(|v| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let b = (v * 255.0).round() as u8;
                b
            })
            .collect();
        hex::encode(Sha256::digest(&bytes))
    }

    /// Pins version 1's output for real drawings. If this fails, the rasterizer changed:
    /// bump RASTERIZER_VERSION (models trained on the old rasters need retraining) and
    /// update the digests.
    #[test]
    fn golden_rasters() {
        let circle = rasterize(&first_record("quickdraw/raw/circle.ndjson"), 28).unwrap();
        let square = rasterize(&first_record("quickdraw/raw/square.ndjson"), 64).unwrap();
        assert_eq!(digest(&circle), GOLDEN_CIRCLE_28, "circle 28x28");
        assert_eq!(digest(&square), GOLDEN_SQUARE_64, "square 64x64");
    }

    const GOLDEN_CIRCLE_28: &str =
        "a3570c3623dc2c7fa09270c29bb63e5c6f241440e37c3f4e110a1b7424612205";
    const GOLDEN_SQUARE_64: &str =
        "9f6cfdb04b8d3aee47ecbf8a76c93cc8d0a3cd8b456bd52051e47705f0701056";

    #[test]
    fn raster_is_normalised_and_centred() {
        let circle = rasterize(&first_record("quickdraw/raw/circle.ndjson"), 28).unwrap();
        assert!(circle.iter().all(|v| (0.0..=1.0).contains(v)));
        // A drawn circle: ink on the ring, paper in the middle and the corners.
        let at = |x: usize, y: usize| circle[y * 28 + x];
        assert!(at(14, 14) < 0.05 && at(0, 0) < 0.01 && at(27, 27) < 0.01);
        let ink: f32 = circle.iter().sum();
        assert!(ink > 40.0 && ink < 250.0, "ink {ink}");
        // Padding: the outermost rows and columns stay empty.
        assert!((0..28).all(|i| at(i, 0) < 0.01 && at(0, i) < 0.01));
        // Scale invariance: the same strokes scaled by 3 give the same raster.
        let lines = first_record("quickdraw/raw/circle.ndjson");
        let big: Vec<Polyline> = lines
            .iter()
            .map(|l| {
                l.iter()
                    .map(|p| [p[0] * 3.0 + 7.0, p[1] * 3.0 - 5.0])
                    .collect()
            })
            .collect();
        let again = rasterize(&big, 28).unwrap();
        let diff = circle
            .iter()
            .zip(&again)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 0.02, "{diff}");
    }

    #[test]
    fn the_same_shape_at_any_scale_gets_the_same_raster() {
        let lines = first_record("quickdraw/raw/circle.ndjson");
        let (lo, hi) = bounds(&lines);
        let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        // In page units (0..1, as a smart pen exports), then at 1e-3, 1, 1e3 and 1e5 of that.
        let at = |scale: f32| -> Vec<Polyline> {
            lines
                .iter()
                .map(|l| {
                    l.iter()
                        .map(|p| {
                            [
                                (p[0] - lo[0]) / extent * scale,
                                (p[1] - lo[1]) / extent * scale,
                            ]
                        })
                        .collect()
                })
                .collect()
        };
        let reference = rasterize(&at(1.0), 28).unwrap();
        for scale in [1e-3, 1.0, 1e3, 1e5] {
            let lines = at(scale);
            assert_eq!(check(&lines), Ok(()), "scale {scale}");
            // On a canvas in the same units, too.
            assert_eq!(
                check_on_canvas(&lines, Some(scale * 1.2)),
                Ok(()),
                "scale {scale}"
            );
            let raster = rasterize(&lines, 28).unwrap();
            let diff = reference
                .iter()
                .zip(&raster)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(diff < 0.02, "scale {scale}: {diff}");
        }
    }

    #[test]
    fn refuses_empty_and_taps() {
        assert_eq!(rasterize(&[], 28), Err(RasterError::Empty));
        assert_eq!(rasterize(&[vec![]], 28), Err(RasterError::Empty));
        assert_eq!(
            rasterize(&[vec![[5.0, 5.0]]], 28),
            Err(RasterError::SingleTap)
        );
        // Repeats of one position are still a dot.
        assert_eq!(
            rasterize(&[vec![[5.0, 5.0], [5.0, 5.0], [5.0, 5.0]]], 28),
            Err(RasterError::SingleTap)
        );
        // A press that jittered over a pixel or three: a tap on a 400 px canvas; where
        // nothing says how large the surface was, a short line.
        for jitter in [
            vec![vec![[5.0, 5.0], [6.0, 7.0]]],
            vec![vec![[5.0, 5.0], [6.0, 7.0], [5.0, 6.0]]],
        ] {
            assert_eq!(
                check_on_canvas(&jitter, Some(400.0)),
                Err(RasterError::SingleTap)
            );
            assert_eq!(check(&jitter), Ok(()));
        }
        // A line of its two ends is a drawing at any scale.
        for k in [1e-3, 1.0, 1e3] {
            assert_eq!(check(&[vec![[0.0, 0.0], [k, 0.0]]]), Ok(()));
        }
        assert_eq!(
            rasterize(&[vec![[f32::NAN, 5.0], [60.0, 7.0]]], 28),
            Err(RasterError::NotFinite)
        );
        // Two dots are a drawing (e.g. a colon), drawn as two round dots.
        let dots = rasterize(&[vec![[0.0, 0.0]], vec![[100.0, 0.0]]], 28).unwrap();
        assert!(dots.iter().sum::<f32>() > 2.0);
        assert_eq!(
            rasterize(&[vec![[0.0, 0.0], [9.0, 9.0]]], 0),
            Err(RasterError::BadSize)
        );
    }
}
