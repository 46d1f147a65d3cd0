//! The rasterizer: strokes to an N x N grayscale raster. Trainer, server, workbench and game
//! all call [`rasterize`] (or, for a loaded model, [`rasterize_version_into`] with the
//! version its artifact records), so a model sees the same pixels everywhere;
//! [`RASTERIZER_VERSION`] is recorded in every model artifact and bumped whenever the output
//! changes. Every version since 1 is kept, so a model trained on an older one still loads
//! and is served the pixels it was trained on.
//!
//! # The recipe (both versions)
//!
//! 1. The bounding box of all points is scaled uniformly (aspect ratio kept) so its longer
//!    side spans `size * (1 - 2 * PADDING)` pixels, and centred in the raster.
//! 2. Each stroke is drawn as a polyline of width `size * LINE_WIDTH` pixels with round caps
//!    and joins, anti-aliased; a one-point stroke is a round dot of that width. Strokes are
//!    composited "source over": where two cross, coverage is `1 - (1 - a) * (1 - b)`.
//! 3. The raster is the ink coverage: row-major `size * size` values, `f32` in `0..=1`,
//!    0 = paper, 1 = ink. As a network input: `[batch, 1, size, size]`.
//!
//! # Version 2 (current)
//!
//! A pixel's coverage by a stroke is `clamp(r + 0.5 - d, 0, 1)`, where `d` is the distance
//! from the pixel's centre to the nearest segment of the stroke and `r` half the line width:
//! the area of a unit pixel inside a straight edge at that distance, the usual analytic
//! anti-aliasing of a distance field. Each segment visits only the pixels within `r + 0.5`
//! of it. About 5-10x faster than version 1 on real drawings (BENCHMARKS.md); its pixels
//! differ from version 1's by a few hundredths on edges
//! (`version_2_draws_what_version_1_drew`).
//!
//! # Version 1
//!
//! The polyline stroked and filled by tiny-skia (its stroker builds the outline with round
//! joins, then a 4x-supersampled scan converter fills it), coverage in steps of 1/255.
//!
//! # Refused drawings
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

/// Version of the rasterization recipe above that training uses (recorded in artifacts).
pub const RASTERIZER_VERSION: u32 = 2;
/// The oldest version this build still rasterizes (artifacts from `OLDEST_RASTERIZER_VERSION`
/// to [`RASTERIZER_VERSION`] load).
pub const OLDEST_RASTERIZER_VERSION: u32 = 1;
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
    /// A rasterizer version this build does not have.
    #[error(
        "rasterizer version {0} is not one this build has ({OLDEST_RASTERIZER_VERSION}..={RASTERIZER_VERSION})"
    )]
    Version(u32),
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
    rasterize_version_into(RASTERIZER_VERSION, lines, size, out)
}

/// [`rasterize_into`] with the recipe of rasterizer `version` (a model artifact's
/// `rasterizer_version`): the pixels a model trained on that version saw.
///
/// # Errors
/// As [`rasterize_into`]; [`RasterError::Version`] for a version this build does not have.
pub fn rasterize_version_into(
    version: u32,
    lines: &[Polyline],
    size: u32,
    out: &mut [f32],
) -> Result<(), RasterError> {
    if !(OLDEST_RASTERIZER_VERSION..=RASTERIZER_VERSION).contains(&version) {
        return Err(RasterError::Version(version));
    }
    if size == 0 || size > 1024 || out.len() != (size as usize) * (size as usize) {
        return Err(RasterError::BadSize);
    }
    check(lines)?;
    let place = Placement::new(lines, size);
    if version == 1 {
        draw_v1(lines, size, &place, out)
    } else {
        draw_v2(lines, size, &place, out);
        Ok(())
    }
}

/// Step 1 of the recipe: drawing units to raster pixels.
struct Placement {
    scale: f32,
    off: [f32; 2],
}

impl Placement {
    fn new(lines: &[Polyline], size: u32) -> Self {
        let side = size as f32;
        let (lo, hi) = bounds(lines);
        let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        let span = side * (1.0 - 2.0 * PADDING);
        let scale = if extent > 0.0 { span / extent } else { 0.0 };
        // Centre the scaled bounding box.
        let off = [
            (side - (hi[0] - lo[0]) * scale) / 2.0 - lo[0] * scale,
            (side - (hi[1] - lo[1]) * scale) / 2.0 - lo[1] * scale,
        ];
        Self { scale, off }
    }

    fn map(&self, p: &[f32; 2]) -> [f32; 2] {
        [
            p[0] * self.scale + self.off[0],
            p[1] * self.scale + self.off[1],
        ]
    }
}

/// Version 2: each stroke's coverage from the distance to its segments, composited.
fn draw_v2(lines: &[Polyline], size: u32, place: &Placement, out: &mut [f32]) {
    let n = size as usize;
    let side = size as f32;
    let r = side * LINE_WIDTH / 2.0;
    // Pixels whose centre is within `reach` of a segment get some ink.
    let reach = r + 0.5;
    out.fill(0.0);
    // One stroke's coverage, over the rows and columns it touches.
    let mut stroke = vec![0.0f32; n * n];
    let last = (n - 1) as f32;
    for line in lines {
        let Some(first) = line.first() else { continue };
        let mut a = place.map(first);
        let (mut x0, mut y0, mut x1, mut y1) = (n, n, 0usize, 0usize);
        // A one-point stroke is a segment from the point to itself: a round dot.
        let points = line.iter().skip(usize::from(line.len() > 1));
        for p in points {
            let b = place.map(p);
            // The pixels whose centre (i + 0.5) can lie within `reach`.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let span = |lo: f32, hi: f32| {
                let from = (lo - reach - 0.5).ceil().clamp(0.0, last) as usize;
                let to = (hi + reach - 0.5).floor().clamp(-1.0, last);
                (from, if to < 0.0 { None } else { Some(to as usize) })
            };
            let (cx, cx_end) = span(a[0].min(b[0]), a[0].max(b[0]));
            let (cy, cy_end) = span(a[1].min(b[1]), a[1].max(b[1]));
            if let (Some(cx_end), Some(cy_end)) = (cx_end, cy_end) {
                let d = [b[0] - a[0], b[1] - a[1]];
                let len2 = d[0] * d[0] + d[1] * d[1];
                let inv = if len2 > 0.0 { 1.0 / len2 } else { 0.0 };
                for y in cy..=cy_end {
                    let py = y as f32 + 0.5 - a[1];
                    let row = &mut stroke[y * n..(y + 1) * n];
                    for (x, cell) in row.iter_mut().enumerate().take(cx_end + 1).skip(cx) {
                        let px = x as f32 + 0.5 - a[0];
                        // The nearest point of the segment: a + t * d, t in 0..=1.
                        let t = ((px * d[0] + py * d[1]) * inv).clamp(0.0, 1.0);
                        let (ex, ey) = (px - t * d[0], py - t * d[1]);
                        let dist2 = ex * ex + ey * ey;
                        if dist2 < reach * reach {
                            let c = (reach - dist2.sqrt()).min(1.0);
                            if c > *cell {
                                *cell = c;
                            }
                        }
                    }
                }
                x0 = x0.min(cx);
                y0 = y0.min(cy);
                x1 = x1.max(cx_end);
                y1 = y1.max(cy_end);
            }
            a = b;
        }
        // Source over, and the stroke's buffer cleared for the next one.
        for y in y0..=y1.min(n - 1) {
            if x0 > x1 {
                break;
            }
            let row = y * n;
            for (o, c) in out[row + x0..=row + x1]
                .iter_mut()
                .zip(&mut stroke[row + x0..=row + x1])
            {
                *o = *c + *o * (1.0 - *c);
                *c = 0.0;
            }
        }
    }
}

/// Version 1: tiny-skia's stroker and anti-aliased scan converter.
fn draw_v1(
    lines: &[Polyline],
    size: u32,
    place: &Placement,
    out: &mut [f32],
) -> Result<(), RasterError> {
    let side = size as f32;
    let map = |p: &[f32; 2]| {
        let [x, y] = place.map(p);
        (x, y)
    };
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

    /// Pins each version's output for real drawings. If this fails, a rasterizer changed:
    /// a kept version must not (models trained on it are still served); for the current one,
    /// bump RASTERIZER_VERSION (keeping the old recipe) and add its digests.
    #[test]
    fn golden_rasters() {
        let circle = first_record("quickdraw/raw/circle.ndjson");
        let square = first_record("quickdraw/raw/square.ndjson");
        let at = |version: u32, lines: &[Polyline], size: u32| {
            let mut out = vec![0.0; (size * size) as usize];
            rasterize_version_into(version, lines, size, &mut out).unwrap();
            digest(&out)
        };
        assert_eq!(at(1, &circle, 28), GOLDEN_V1_CIRCLE_28, "v1 circle 28x28");
        assert_eq!(at(1, &square, 64), GOLDEN_V1_SQUARE_64, "v1 square 64x64");
        assert_eq!(at(2, &circle, 28), GOLDEN_V2_CIRCLE_28, "v2 circle 28x28");
        assert_eq!(at(2, &square, 64), GOLDEN_V2_SQUARE_64, "v2 square 64x64");
        assert_eq!(
            digest(&rasterize(&circle, 28).unwrap()),
            at(RASTERIZER_VERSION, &circle, 28)
        );
    }

    const GOLDEN_V1_CIRCLE_28: &str =
        "a3570c3623dc2c7fa09270c29bb63e5c6f241440e37c3f4e110a1b7424612205";
    const GOLDEN_V1_SQUARE_64: &str =
        "9f6cfdb04b8d3aee47ecbf8a76c93cc8d0a3cd8b456bd52051e47705f0701056";
    const GOLDEN_V2_CIRCLE_28: &str =
        "0ebe9eac3015af795c65cfdcd4ef98472b4858fa9c4cc823b49bd9c3d4baf61b";
    const GOLDEN_V2_SQUARE_64: &str =
        "bd6743d0381fb88a4794af1b70ff963ef55e4f5aafae5c7a5fca4f81469cdfaa";

    /// Version 2 draws the recipe version 1 drew: on real Quick, Draw! drawings of four
    /// shapes, at the served size, its pixels differ by a few hundredths on average where
    /// either has ink, and the ink totals agree within a few percent.
    #[test]
    fn version_2_draws_what_version_1_drew() {
        let mut drawings = Vec::new();
        for file in [
            "quickdraw/raw/circle.ndjson",
            "quickdraw/raw/square.ndjson",
            "quickdraw/raw/triangle.ndjson",
            "quickdraw/raw/line.ndjson",
        ] {
            let text = std::fs::read_to_string(shared(file)).unwrap();
            for line in text.lines().take(40) {
                let rec = inkset_protocol::quickdraw::Record::parse_line(line).unwrap();
                drawings.push(polylines(&rec.into_drawing().strokes));
            }
        }
        let (mut diff, mut inked, mut worst_ink) = (0.0f64, 0usize, 0.0f64);
        for lines in &drawings {
            let mut v1 = vec![0.0; 32 * 32];
            let mut v2 = vec![0.0; 32 * 32];
            rasterize_version_into(1, lines, 32, &mut v1).unwrap();
            rasterize_version_into(2, lines, 32, &mut v2).unwrap();
            for (a, b) in v1.iter().zip(&v2) {
                if *a > 0.0 || *b > 0.0 {
                    diff += f64::from((a - b).abs());
                    inked += 1;
                }
            }
            let (i1, i2): (f32, f32) = (v1.iter().sum(), v2.iter().sum());
            worst_ink = worst_ink.max(f64::from((i1 - i2).abs() / i1));
        }
        let mean = diff / inked as f64;
        eprintln!("mean |v1 - v2| on inked pixels {mean:.4}, worst ink ratio {worst_ink:.4}");
        assert!(mean < 0.06, "mean difference {mean}");
        assert!(worst_ink < 0.1, "ink totals differ by {worst_ink}");
        // Unknown versions are refused.
        let mut out = vec![0.0; 32 * 32];
        assert_eq!(
            rasterize_version_into(RASTERIZER_VERSION + 1, &drawings[0], 32, &mut out),
            Err(RasterError::Version(RASTERIZER_VERSION + 1))
        );
        assert_eq!(
            rasterize_version_into(0, &drawings[0], 32, &mut out),
            Err(RasterError::Version(0))
        );
    }

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
