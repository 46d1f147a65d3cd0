//! Vector drawing of strokes: thumbnails from simplified strokes (0..=255) and full
//! drawings with replay, painted as polylines so they stay crisp at any zoom.

use egui::{Color32, Pos2, Rect, Shape, Stroke, pos2};
use inkset_protocol::Drawing;

/// Ink colour on the light card background.
pub const INK: Color32 = Color32::from_rgb(0x20, 0x24, 0x2c);

/// Maps a bounding box `(x0, y0, x1, y1)` into `rect`, keeping the aspect ratio, centred,
/// with a margin of 6 % of the rect's smaller side.
fn fit(bbox: (f32, f32, f32, f32), rect: Rect) -> impl Fn(f32, f32) -> Pos2 {
    let (x0, y0, x1, y1) = bbox;
    let margin = rect.width().min(rect.height()) * 0.06;
    let inner = rect.shrink(margin);
    let (w, h) = ((x1 - x0).max(1e-3), (y1 - y0).max(1e-3));
    let scale = (inner.width() / w).min(inner.height() / h);
    let ox = inner.center().x - (x0 + w / 2.0) * scale;
    let oy = inner.center().y - (y0 + h / 2.0) * scale;
    move |x, y| pos2(ox + x * scale, oy + y * scale)
}

/// Paints simplified strokes (`[x[], y[]]` per stroke, 0..=255, as
/// `DrawingSummary::thumbnail`) into `rect`.
pub fn paint_thumbnail(painter: &egui::Painter, rect: Rect, strokes: &[[Vec<u8>; 2]], width: f32) {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for [xs, ys] in strokes {
        for (&x, &y) in xs.iter().zip(ys) {
            let (x, y) = (f32::from(x), f32::from(y));
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 > x1 {
        return;
    }
    let map = fit((x0, y0, x1, y1), rect);
    let stroke = Stroke::new(width, INK);
    for [xs, ys] in strokes {
        let points: Vec<Pos2> = xs
            .iter()
            .zip(ys)
            .map(|(&x, &y)| map(f32::from(x), f32::from(y)))
            .collect();
        match points.len() {
            0 => {}
            1 => {
                painter.circle_filled(points[0], width, INK);
            }
            _ => {
                painter.add(Shape::line(points, stroke));
            }
        }
    }
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

/// Paints `d` into `rect`; with `upto` (ms since the first point) only what had been drawn
/// by then, at the timestamps the client recorded (real speed).
pub fn paint_drawing(painter: &egui::Painter, rect: Rect, d: &Drawing, upto: Option<f64>) {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    #[allow(clippy::cast_possible_truncation)]
    for p in d.strokes.iter().flat_map(|s| s.points.iter()) {
        let (x, y) = (p.x as f32, p.y as f32);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    if x0 > x1 {
        return;
    }
    let map = fit((x0, y0, x1, y1), rect);
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
            points.push(map(p.x as f32, p.y as f32));
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
        match points.len() {
            0 => {}
            1 => {
                painter.circle_filled(points[0], w, INK);
            }
            _ => {
                painter.add(Shape::line(points, Stroke::new(w, INK)));
            }
        }
    }
}
