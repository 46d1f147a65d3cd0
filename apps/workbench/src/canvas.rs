//! The drawing canvas: mouse, touch and pen input into strokes of timed points.
//!
//! Points are in canvas-local logical pixels (origin at the top-left corner, y down), with
//! `t` in ms since the canvas's first point and the pressure the device reports (egui's
//! touch `force`, 0..=1; `None` for a mouse or a digitiser without pressure). egui also
//! turns the first finger of a touch into pointer events; those are ignored while a touch
//! is down so a touch stroke is recorded once.

use egui::{Color32, Event, PointerButton, Pos2, Sense, Stroke, TouchPhase, Vec2};
use inkset_egui_kit::tokens;
use inkset_model::raster::Polyline;

/// What drew a stroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointer {
    /// A mouse (or anything egui reports as a pointer).
    Mouse,
    /// A finger or a pen (egui reports both as touches; a pen usually with force).
    Touch,
}

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InkPoint {
    /// Canvas-local x, logical pixels.
    pub x: f32,
    /// Canvas-local y, logical pixels, down.
    pub y: f32,
    /// ms since the canvas's first point.
    pub t: f64,
    /// 0..=1 when the device measures it.
    pub pressure: Option<f32>,
}

/// One stroke: pointer down to pointer up.
#[derive(Debug, Clone, PartialEq)]
pub struct InkStroke {
    /// Its points, in order.
    pub points: Vec<InkPoint>,
    /// The device.
    pub pointer: Pointer,
}

/// The canvas's state.
#[derive(Debug, Clone, Default)]
pub struct Canvas {
    strokes: Vec<InkStroke>,
    current: Option<InkStroke>,
    touch_down: bool,
    t0: Option<f64>,
    revision: u64,
}

impl Canvas {
    /// Finished strokes plus the one being drawn, as the rasterizer's polylines.
    pub fn polylines(&self) -> Vec<Polyline> {
        self.strokes
            .iter()
            .chain(self.current.as_ref())
            .map(|s| s.points.iter().map(|p| [p.x, p.y]).collect())
            .collect()
    }

    /// The strokes (finished ones and the one being drawn).
    pub fn strokes(&self) -> impl Iterator<Item = &InkStroke> {
        self.strokes.iter().chain(self.current.as_ref())
    }

    /// Increases whenever the drawing changes.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether nothing is drawn.
    pub fn is_empty(&self) -> bool {
        self.strokes.is_empty() && self.current.is_none()
    }

    /// Whether a stroke is being drawn.
    pub fn drawing(&self) -> bool {
        self.current.is_some()
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.strokes.clear();
        self.current = None;
        self.t0 = None;
        self.revision += 1;
    }

    /// Removes the last stroke.
    pub fn undo(&mut self) {
        if self.current.take().is_some() || self.strokes.pop().is_some() {
            self.revision += 1;
        }
    }

    fn push(&mut self, pos: Pos2, origin: Pos2, time: f64, pressure: Option<f32>) {
        let t0 = *self.t0.get_or_insert(time);
        if let Some(s) = &mut self.current {
            let p = InkPoint {
                x: pos.x - origin.x,
                y: pos.y - origin.y,
                t: (time - t0) * 1e3,
                pressure: pressure
                    .filter(|f| f.is_finite())
                    .map(|f| f.clamp(0.0, 1.0)),
            };
            if s.points.last().is_some_and(|l| l.x == p.x && l.y == p.y) {
                return;
            }
            s.points.push(p);
            self.revision += 1;
        }
    }

    fn begin(&mut self, pointer: Pointer, pos: Pos2, origin: Pos2, time: f64, force: Option<f32>) {
        self.end();
        self.current = Some(InkStroke {
            points: Vec::new(),
            pointer,
        });
        self.push(pos, origin, time, force);
    }

    fn end(&mut self) {
        if let Some(s) = self.current.take() {
            self.strokes.push(s);
            self.revision += 1;
        }
    }

    /// Shows the canvas filling `size` and records input over it.
    pub fn show(&mut self, ui: &mut egui::Ui, size: Vec2) -> egui::Response {
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        let response = response.on_hover_cursor(egui::CursorIcon::Crosshair);
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Canvas, ui.is_enabled(), "Drawing canvas")
        });
        let (events, time) = ui.input(|i| (i.events.clone(), i.time));
        let layer = ui.layer_id();
        let ctx = ui.ctx().clone();
        let ours =
            |pos: Pos2| rect.contains(pos) && ctx.layer_id_at(pos).is_none_or(|l| l == layer);
        let origin = rect.min;
        for event in events {
            match event {
                Event::Touch {
                    phase, pos, force, ..
                } => match phase {
                    TouchPhase::Start if ours(pos) => {
                        self.touch_down = true;
                        self.begin(Pointer::Touch, pos, origin, time, force);
                    }
                    TouchPhase::Move if self.touch_down => self.push(pos, origin, time, force),
                    TouchPhase::End | TouchPhase::Cancel if self.touch_down => {
                        self.push(pos, origin, time, force);
                        self.touch_down = false;
                        self.end();
                    }
                    _ => {}
                },
                _ if self.touch_down => {}
                Event::PointerButton {
                    pos,
                    button: PointerButton::Primary,
                    pressed,
                    ..
                } => {
                    if pressed && ours(pos) {
                        self.begin(Pointer::Mouse, pos, origin, time, None);
                    } else if !pressed && self.current.is_some() {
                        self.push(pos, origin, time, None);
                        self.end();
                    }
                }
                Event::PointerMoved(pos) if self.current.is_some() => {
                    self.push(pos, origin, time, None);
                }
                Event::PointerGone => self.end(),
                _ => {}
            }
        }
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, tokens::CANVAS_ROUNDING, tokens::SHEET);
        painter.rect_stroke(
            rect,
            tokens::CANVAS_ROUNDING,
            Stroke::new(1.0, tokens::CANVAS_BORDER),
            egui::StrokeKind::Inside,
        );
        let ink = tokens::CANVAS_INK;
        for s in self.strokes() {
            paint_stroke(&painter, s, origin, ink);
        }
        if self.is_empty() {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Draw here",
                egui::FontId::proportional(18.0),
                tokens::HINT,
            );
        }
        response
    }
}

fn paint_stroke(painter: &egui::Painter, s: &InkStroke, origin: Pos2, ink: Color32) {
    let points: Vec<(Pos2, Option<f32>)> = s
        .points
        .iter()
        .map(|p| (Pos2::new(origin.x + p.x, origin.y + p.y), p.pressure))
        .collect();
    inkset_egui_kit::ink::paint_stroke(painter, &points, ink);
}
