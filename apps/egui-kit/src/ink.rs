//! The one stroke painter: ink painted as vector polylines (crisp at any zoom), fitted into
//! a rect with its aspect ratio kept and centred.
//!
//! * [`paint_lines`], [`paint_lines_within`]: polylines in any units (drawing coordinates,
//!   the rasterizer's polylines, generated strokes).
//! * [`paint_thumbnail`]: simplified strokes (`[x[], y[]]` per stroke in 0..=255, as
//!   `DrawingSummary::thumbnail`).
//! * [`paint_drawing`]: a whole drawing, optionally only what was drawn by a replay time.
//! * [`paint_stroke`]: a stroke in screen positions whose width follows the pen pressure
//!   (the live canvas).

use egui::{Color32, Pos2, Rect, Shape, Stroke, pos2};
use inkset_protocol::Drawing;

use crate::tokens;

/// A polyline: points `[x, y]` in drawing units (y down).
pub type Polyline = Vec<[f32; 2]>;

/// Margin between a fitted drawing and its rect's edge, as a fraction of the rect's smaller
/// side: cards of the console.
pub const CARD_MARGIN: f32 = 0.06;
/// The same for the workbench's previews.
pub const PREVIEW_MARGIN: f32 = 0.08;

/// The box `(lo, hi)` around `points`; `None` for no points.
pub fn bounds(points: impl IntoIterator<Item = [f32; 2]>) -> Option<([f32; 2], [f32; 2])> {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in points {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    lo[0].is_finite().then_some((lo, hi))
}

/// Maps the box `lo..hi` (drawing units) into `rect`, keeping the aspect ratio, centred,
/// `margin` (a fraction of the rect's smaller side) from the edges.
pub fn fit(lo: [f32; 2], hi: [f32; 2], rect: Rect, margin: f32) -> impl Fn([f32; 2]) -> Pos2 {
    let inner = rect.shrink(rect.width().min(rect.height()) * margin);
    let (w, h) = ((hi[0] - lo[0]).max(1e-3), (hi[1] - lo[1]).max(1e-3));
    let scale = (inner.width() / w).min(inner.height() / h);
    let ox = inner.center().x - (lo[0] + w / 2.0) * scale;
    let oy = inner.center().y - (lo[1] + h / 2.0) * scale;
    move |p| pos2(ox + p[0] * scale, oy + p[1] * scale)
}

/// Paints one polyline; a single point is a dot of the stroke's width.
pub fn paint_polyline(painter: &egui::Painter, points: Vec<Pos2>, stroke: Stroke) {
    match points.len() {
        0 => {}
        1 => {
            painter.circle_filled(points[0], stroke.width, stroke.color);
        }
        _ => {
            painter.add(Shape::line(points, stroke));
        }
    }
}

/// Paints polylines fitted into `rect` with `margin` (see [`fit`]).
pub fn paint_lines(
    painter: &egui::Painter,
    rect: Rect,
    lines: &[Polyline],
    ink: Stroke,
    margin: f32,
) {
    if let Some((lo, hi)) = bounds(lines.iter().flatten().copied()) {
        paint_lines_within(painter, rect, lines, ink, lo, hi, margin);
    }
}

/// Paints polylines with the box `lo..hi` (drawing units) fitted into `rect`: a fixed frame
/// whatever part of the lines is shown (replays).
pub fn paint_lines_within(
    painter: &egui::Painter,
    rect: Rect,
    lines: &[Polyline],
    ink: Stroke,
    lo: [f32; 2],
    hi: [f32; 2],
    margin: f32,
) {
    let map = fit(lo, hi, rect, margin);
    for line in lines {
        paint_polyline(painter, line.iter().map(|&p| map(p)).collect(), ink);
    }
}

/// Paints simplified strokes (`[x[], y[]]` per stroke, 0..=255, as
/// `DrawingSummary::thumbnail`) into `rect` in [`tokens::INK`].
pub fn paint_thumbnail(painter: &egui::Painter, rect: Rect, strokes: &[[Vec<u8>; 2]], width: f32) {
    let lines: Vec<Polyline> = strokes
        .iter()
        .map(|[xs, ys]| {
            xs.iter()
                .zip(ys)
                .map(|(&x, &y)| [f32::from(x), f32::from(y)])
                .collect()
        })
        .collect();
    paint_lines(
        painter,
        rect,
        &lines,
        Stroke::new(width, tokens::INK),
        CARD_MARGIN,
    );
}

/// The drawing's duration for replay, ms: the last point's timestamp after the first
/// (strokes without timestamps count 300 ms each).
pub fn replay_length_ms(d: &Drawing) -> f64 {
    let (first, last) = time_span(d);
    match (first, last) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 300.0 * d.strokes.len() as f64,
    }
}

fn time_span(d: &Drawing) -> (Option<f64>, Option<f64>) {
    let times = d
        .strokes
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|p| p.timestamp)
        .map(|t| t as f64);
    let (mut lo, mut hi) = (None::<f64>, None::<f64>);
    for t in times {
        lo = Some(lo.map_or(t, |v| v.min(t)));
        hi = Some(hi.map_or(t, |v| v.max(t)));
    }
    (lo, hi)
}

/// Paints `d` into `rect` in [`tokens::INK`]; with `upto` (ms since the first point) only
/// what had been drawn by then, at the timestamps the client recorded (real speed). Pen
/// pressure, when measured, sets each stroke's width.
pub fn paint_drawing(painter: &egui::Painter, rect: Rect, d: &Drawing, upto: Option<f64>) {
    #[allow(clippy::cast_possible_truncation)]
    let Some((lo, hi)) = bounds(
        d.strokes
            .iter()
            .flat_map(|s| s.points.iter())
            .map(|p| [p.x as f32, p.y as f32]),
    ) else {
        return;
    };
    let map = fit(lo, hi, rect, CARD_MARGIN);
    let start = time_span(d).0;
    let width = (rect.width().min(rect.height()) / 110.0).clamp(1.5, 4.0);
    for (i, s) in d.strokes.iter().enumerate() {
        let mut points = Vec::with_capacity(s.points.len());
        for (j, p) in s.points.iter().enumerate() {
            let t = match (p.timestamp, start) {
                (Some(t), Some(t0)) => t as f64 - t0,
                // Untimed: each stroke takes 300 ms, its points evenly spread.
                _ => 300.0 * (i as f64 + j as f64 / s.points.len().max(1) as f64),
            };
            if upto.is_some_and(|u| t > u) {
                break;
            }
            #[allow(clippy::cast_possible_truncation)]
            points.push(map([p.x as f32, p.y as f32]));
        }
        // Pen pressure, when measured, sets the width (0.5 is the neutral default).
        let pressure = s
            .points
            .iter()
            .filter_map(|p| p.pressure)
            .fold((0.0, 0u32), |(sum, n), p| (sum + p, n + 1));
        #[allow(clippy::cast_possible_truncation)]
        let w = if pressure.1 > 0 && s.pressure_measured == Some(true) {
            width * (0.5 + (pressure.0 / f64::from(pressure.1)) as f32)
        } else {
            width
        };
        paint_polyline(painter, points, Stroke::new(w, tokens::INK));
    }
}

/// Paints a stroke given in screen positions, each point with its pressure (`None`: no
/// pressure measured): segments 3 points wide, or 1 to 6 with the pressure; a single point
/// is a dot.
pub fn paint_stroke(painter: &egui::Painter, points: &[(Pos2, Option<f32>)], ink: Color32) {
    let width = |p: Option<f32>| p.map_or(3.0, |f| 1.0 + 5.0 * f);
    if let [(pos, pressure)] = points {
        painter.circle_filled(*pos, width(*pressure) / 2.0, ink);
    }
    for w in points.windows(2) {
        painter.line_segment([w[0].0, w[1].0], Stroke::new(width(w[1].1), ink));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_the_aspect_and_centres() {
        let rect = Rect::from_min_max(pos2(0.0, 0.0), pos2(100.0, 100.0));
        let map = fit([0.0, 0.0], [10.0, 5.0], rect, 0.1);
        // Inner box 10..90: the wider side fills it, the other is centred.
        assert_eq!(map([0.0, 0.0]), pos2(10.0, 30.0));
        assert_eq!(map([10.0, 5.0]), pos2(90.0, 70.0));
        assert_eq!(
            bounds([[1.0, 2.0], [-1.0, 5.0]]),
            Some(([-1.0, 2.0], [1.0, 5.0]))
        );
        assert_eq!(bounds(std::iter::empty()), None);
    }
}
