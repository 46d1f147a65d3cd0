//! Browse and the review queue: a virtualised grid of vector thumbnails paged from
//! `GET /api/admin/drawings` as it scrolls, filters and sort, selection and bulk curation
//! with a confirmation that states the count, and a detail view with the full drawing, a
//! stroke replay at the recorded speed, every field, and the production model's answer.

use inkset_egui_kit::{kv, tokens};
use std::collections::BTreeSet;

use egui::{RichText, Sense, Vec2};
use inkset_protocol::api::{
    BulkAction, BulkRequest, DrawingDetail, DrawingFilter, DrawingPage, DrawingSort, DrawingSummary,
};
use uuid::Uuid;

use crate::filters::FilterForm;
use crate::ink;
use crate::task::{Shared, Task};

/// Drawings asked per page.
pub const PAGE: usize = 200;

/// One page of `filter` in `sort` order after `cursor`, with thumbnails.
fn page<'a>(
    filter: &'a DrawingFilter,
    sort: DrawingSort,
    cursor: Option<&'a str>,
) -> inkset_client::admin::PageRequest<'a> {
    inkset_client::admin::PageRequest {
        filter,
        sort,
        cursor,
        limit: PAGE,
        thumbnails: true,
    }
}
/// Side of a grid cell, points.
pub const CELL: f32 = 112.0;
/// Height of a cell's caption, points.
const CAPTION: f32 = 16.0;

/// Which list this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Any filter and sort.
    Browse,
    /// Unflagged drawings, lowest quality first, one at a time with keep/flag.
    Review,
}

/// What a confirmation would do.
#[derive(Debug, Clone)]
struct Confirm {
    action: BulkAction,
    /// The selection, or everything matching the filter when `None`.
    ids: Option<Vec<Uuid>>,
    filter: DrawingFilter,
    /// How many drawings: the selection's size or the server's count.
    count: Option<u64>,
}

/// A drawing opened in the detail view.
struct Detail {
    detail: DrawingDetail,
    /// When the replay started (egui time, s), while it runs.
    replay_from: Option<f64>,
    /// Replay position, ms since the first point.
    replay_ms: Option<f64>,
    quality_text: String,
}

/// Browse (or review queue) state.
pub struct Browse {
    mode: Mode,
    /// The filter form.
    pub form: FilterForm,
    applied: Option<DrawingFilter>,
    sort: DrawingSort,
    rows: Vec<DrawingSummary>,
    next_cursor: Option<String>,
    exhausted: bool,
    total: Option<u64>,
    page: Task<DrawingPage>,
    count: Task<u64>,
    selection: BTreeSet<Uuid>,
    confirm: Option<Confirm>,
    confirm_count: Task<u64>,
    curate: Task<(BulkAction, u64)>,
    open: Task<DrawingDetail>,
    opening: Option<Uuid>,
    detail: Option<Detail>,
    quality: Task<()>,
    seen_generation: u64,
    /// Frames drawn and grid cells painted in the last frame (for the scroll benchmark).
    pub painted_cells: usize,
}

fn short(id: Uuid) -> String {
    id.to_string()[..8].to_owned()
}

fn time_text(ms: i64) -> String {
    inkset_protocol::quickdraw::format_timestamp_ms(ms)
}

impl Browse {
    /// An empty list; it loads on first show.
    pub fn new(mode: Mode) -> Self {
        let mut form = FilterForm::default();
        if mode == Mode::Review {
            form.flagged = Some(false);
            form.sort = DrawingSort::QualityAsc;
        }
        Self {
            mode,
            sort: form.sort,
            form,
            applied: None,
            rows: Vec::new(),
            next_cursor: None,
            exhausted: false,
            total: None,
            page: Task::default(),
            count: Task::default(),
            selection: BTreeSet::new(),
            confirm: None,
            confirm_count: Task::default(),
            curate: Task::default(),
            open: Task::default(),
            opening: None,
            detail: None,
            quality: Task::default(),
            seen_generation: 0,
            painted_cells: 0,
        }
    }

    /// Drawings loaded so far, in order.
    pub fn rows(&self) -> &[DrawingSummary] {
        &self.rows
    }

    /// The server's count for the applied filter.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The filter in force.
    pub fn applied(&self) -> Option<&DrawingFilter> {
        self.applied.as_ref()
    }

    /// The drawing in the detail view.
    pub fn detail(&self) -> Option<&DrawingDetail> {
        self.detail.as_ref().map(|d| &d.detail)
    }

    /// Replay position (ms since the first point) while a replay runs or after it ended.
    pub fn replay_ms(&self) -> Option<f64> {
        self.detail.as_ref().and_then(|d| d.replay_ms)
    }

    /// The selected drawings.
    pub fn selection(&self) -> &BTreeSet<Uuid> {
        &self.selection
    }

    /// Shows the drawings `form` describes (e.g. one contributor's, from the contributors
    /// screen): the form is replaced and the list reloads on the next frame.
    pub fn show_filter(&mut self, form: FilterForm) {
        self.form = form;
        self.applied = None;
        self.detail = None;
    }

    /// Replaces the loaded rows (for the scroll benchmark, which loads them itself).
    pub fn set_rows(&mut self, rows: Vec<DrawingSummary>, filter: DrawingFilter) {
        self.total = Some(rows.len() as u64);
        self.rows = rows;
        self.applied = Some(filter);
        self.exhausted = true;
        self.next_cursor = None;
    }

    fn reload(&mut self, ui: &mut Shared) {
        let filter = match self.form.filter() {
            Ok(f) => f,
            Err(e) => {
                ui.error = Some(e);
                return;
            }
        };
        ui.error = None;
        self.sort = self.form.sort;
        self.rows.clear();
        self.next_cursor = None;
        self.exhausted = false;
        self.total = None;
        self.selection.clear();
        self.applied = Some(filter.clone());
        let (f, sort) = (filter.clone(), self.sort);
        self.page
            .start(ui, move |c| c.drawings(page(&f, sort, None)));
        self.count.start(ui, move |c| c.drawing_count(&filter));
    }

    fn more(&mut self, ui: &Shared) {
        if self.page.running() || self.exhausted {
            return;
        }
        let (Some(filter), Some(cursor)) = (self.applied.clone(), self.next_cursor.clone()) else {
            return;
        };
        let sort = self.sort;
        self.page
            .start(ui, move |c| c.drawings(page(&filter, sort, Some(&cursor))));
    }

    fn open_drawing(&mut self, ui: &Shared, id: Uuid) {
        self.opening = Some(id);
        self.open.start(ui, move |c| c.drawing(id));
    }

    fn poll(&mut self, ui: &mut Shared) {
        if let Some(page) = self.page.take(ui) {
            self.rows.extend(page.drawings);
            self.exhausted = page.next_cursor.is_none();
            self.next_cursor = page.next_cursor;
            if self.mode == Mode::Review
                && self.detail.is_none()
                && !self.open.running()
                && let Some(first) = self.rows.first()
            {
                let id = first.id;
                self.open_drawing(ui, id);
            }
        }
        if let Some(n) = self.count.take(ui) {
            self.total = Some(n);
        }
        if let Some(n) = self.confirm_count.take(ui)
            && let Some(c) = &mut self.confirm
        {
            c.count = Some(n);
        }
        if let Some(d) = self.open.take(ui) {
            self.opening = None;
            self.detail = Some(Detail {
                quality_text: d
                    .summary
                    .quality_score
                    .map(|q| format!("{q:.2}"))
                    .unwrap_or_default(),
                detail: d,
                replay_from: None,
                replay_ms: None,
            });
        }
        if let Some((action, n)) = self.curate.take(ui) {
            let verb = match action {
                BulkAction::Flag => "Flagged",
                BulkAction::Unflag => "Unflagged",
                BulkAction::Remove => "Removed",
            };
            ui.notice = Some(format!("{verb} {n} drawings"));
            ui.generation += 1;
        }
        if self.quality.take(ui).is_some() {
            ui.notice = Some("Quality score saved".into());
            ui.generation += 1;
        }
        if ui.generation != self.seen_generation {
            self.seen_generation = ui.generation;
            // The drawing being opened, else the one shown, comes back with its new state.
            let open = self
                .opening
                .or_else(|| self.detail.as_ref().map(|d| d.detail.summary.id));
            if self.applied.is_some() {
                self.reload(ui);
            }
            if let Some(id) = open {
                self.open_drawing(ui, id);
            }
        }
    }

    /// Starts a curation of `ids`, or of every drawing of `filter` when the filter still
    /// matches `confirmed` drawings (the count the admin saw).
    fn curate(
        &mut self,
        ui: &Shared,
        action: BulkAction,
        ids: Vec<Uuid>,
        filter: Option<(DrawingFilter, u64)>,
    ) {
        let reason = (action == BulkAction::Flag).then(|| "flagged in the console".to_owned());
        let (filter, confirmed) = filter.unzip();
        self.curate.start(ui, move |c| {
            c.bulk(&BulkRequest {
                action,
                ids,
                filter,
                expected_count: confirmed,
                reason,
            })
            .map(|n| (action, n))
        });
    }

    /// Draws the screen.
    pub fn show(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        if self.applied.is_none() && !self.page.running() {
            self.seen_generation = shared.generation;
            self.reload(shared);
        }
        self.poll(shared);
        if self.mode == Mode::Review {
            ui.label(
                "Review queue: unflagged drawings, lowest quality score first. Keep one \
                 (an admin's quality of 1.0 takes it out of the queue) or flag it.",
            );
        }
        if self.form.show(
            ui,
            if self.mode == Mode::Review {
                "review"
            } else {
                "browse"
            },
            &shared.shapes,
            self.mode == Mode::Browse,
        ) {
            self.reload(shared);
        }
        ui.horizontal_wrapped(|ui| {
            let total = self
                .total
                .map_or_else(|| "...".to_owned(), |t| t.to_string());
            ui.label(format!("Showing {} of {total} drawings", self.rows.len()));
            ui.separator();
            ui.label(format!("Selected: {}", self.selection.len()));
            if ui.button("Select all loaded").clicked() {
                self.selection = self.rows.iter().map(|r| r.id).collect();
            }
            if ui.button("Clear selection").clicked() {
                self.selection.clear();
            }
            let filter = self.applied.clone().unwrap_or_default();
            for (action, label) in [
                (BulkAction::Flag, "Flag selected"),
                (BulkAction::Unflag, "Unflag selected"),
                (BulkAction::Remove, "Remove selected"),
            ] {
                if ui
                    .add_enabled(!self.selection.is_empty(), egui::Button::new(label))
                    .clicked()
                {
                    self.confirm = Some(Confirm {
                        action,
                        ids: Some(self.selection.iter().copied().collect()),
                        filter: filter.clone(),
                        count: Some(self.selection.len() as u64),
                    });
                }
            }
            for (action, label) in [
                (BulkAction::Flag, "Flag all matching"),
                (BulkAction::Unflag, "Unflag all matching"),
                (BulkAction::Remove, "Remove all matching"),
            ] {
                if ui.button(label).clicked() {
                    let f = filter.clone();
                    // Count again now: the confirmation states what the server will touch.
                    self.confirm_count
                        .start(shared, move |c| c.drawing_count(&f));
                    self.confirm = Some(Confirm {
                        action,
                        ids: None,
                        filter: filter.clone(),
                        count: None,
                    });
                }
            }
        });
        self.confirmation(ui, shared);
        if self.detail.is_some() {
            egui::Panel::right(if self.mode == Mode::Review {
                "review_detail"
            } else {
                "browse_detail"
            })
            .default_size(460.0)
            .resizable(true)
            .show(ui, |ui| self.detail_view(ui, shared));
        }
        self.grid(ui, shared);
    }

    fn confirmation(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(c) = self.confirm.clone() else {
            return;
        };
        let verb = match c.action {
            BulkAction::Flag => "Flag",
            BulkAction::Unflag => "Unflag",
            BulkAction::Remove => "Remove",
        };
        let mut close = false;
        egui::Window::new("Confirm")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, Vec2::ZERO)
            .show(ui.ctx(), |ui| {
                match c.count {
                    Some(n) => {
                        let scope = if c.ids.is_some() {
                            "selected"
                        } else {
                            "matching the filter"
                        };
                        ui.label(format!("{verb} {n} drawings {scope}?"));
                        if c.action == BulkAction::Remove {
                            ui.label("Removed drawings leave lists, statistics, exports and training; their records stay in storage.");
                        }
                        ui.horizontal(|ui| {
                            if ui.button(format!("{verb} {n} drawings")).clicked() {
                                let (ids, filter) = match c.ids.clone() {
                                    Some(ids) => (ids, None),
                                    None => (Vec::new(), Some((c.filter.clone(), n))),
                                };
                                self.curate(shared, c.action, ids, filter);
                                self.selection.clear();
                                close = true;
                            }
                            if ui.button("Cancel").clicked() {
                                close = true;
                            }
                        });
                    }
                    None => {
                        ui.label("Counting the drawings...");
                        if ui.button("Cancel").clicked() {
                            close = true;
                        }
                    }
                }
            });
        if close {
            self.confirm = None;
        }
    }

    fn grid(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let cols = ((ui.available_width() / (CELL + 6.0)).floor() as usize).max(1);
        let row_h = CELL + CAPTION + 6.0;
        let more = !self.exhausted && self.next_cursor.is_some();
        let n_rows = self.rows.len().div_ceil(cols) + usize::from(more);
        let mut clicked: Option<(Uuid, bool)> = None;
        let mut want_more = false;
        let mut painted = 0;
        egui::ScrollArea::vertical()
            .id_salt(if self.mode == Mode::Review {
                "review_grid"
            } else {
                "browse_grid"
            })
            .auto_shrink([false, false])
            .show_rows(ui, row_h, n_rows, |ui, range| {
                // Ask for the next page when the last loaded rows come into view.
                if range.end + 3 >= self.rows.len().div_ceil(cols) {
                    want_more = true;
                }
                for r in range {
                    ui.horizontal(|ui| {
                        for c in 0..cols {
                            let i = r * cols + c;
                            let Some(row) = self.rows.get(i) else {
                                if more && c == 0 {
                                    ui.add_sized([CELL, CELL], egui::Spinner::new());
                                }
                                break;
                            };
                            painted += 1;
                            let (rect, resp) = ui.allocate_exact_size(
                                Vec2::new(CELL, CELL + CAPTION),
                                Sense::click(),
                            );
                            let selected = self.selection.contains(&row.id);
                            let is_open = self
                                .detail
                                .as_ref()
                                .is_some_and(|d| d.detail.summary.id == row.id);
                            let id = row.id;
                            let resp = resp.on_hover_text(format!(
                                "{} {}\nquality {}\n{}",
                                row.shape,
                                id,
                                row.quality_score
                                    .map_or("unscored".into(), |q| format!("{q:.2}")),
                                time_text(row.received_at)
                            ));
                            resp.widget_info(|| {
                                egui::WidgetInfo::selected(
                                    egui::Role::Button,
                                    true,
                                    selected,
                                    format!("Open drawing {}", short(id)),
                                )
                            });
                            if ui.is_rect_visible(rect) {
                                let p = ui.painter();
                                let card = egui::Rect::from_min_size(rect.min, Vec2::splat(CELL));
                                let bg = if selected {
                                    tokens::SELECTED
                                } else {
                                    tokens::PAPER
                                };
                                p.rect_filled(card, 4.0, bg);
                                let border = if row.flagged {
                                    egui::Stroke::new(2.0, tokens::FLAGGED)
                                } else if is_open {
                                    egui::Stroke::new(2.0, tokens::PRIMARY)
                                } else {
                                    egui::Stroke::new(1.0, tokens::CARD_BORDER)
                                };
                                p.rect_stroke(card, 4.0, border, egui::StrokeKind::Inside);
                                if let Some(t) = &row.thumbnail {
                                    ink::paint_thumbnail(p, card, t, 1.5);
                                }
                                let q = row
                                    .quality_score
                                    .map_or_else(|| "-".to_owned(), |q| format!("{q:.2}"));
                                p.text(
                                    egui::pos2(rect.min.x + 2.0, rect.max.y - CAPTION + 1.0),
                                    egui::Align2::LEFT_TOP,
                                    format!("{} q{q}", row.shape),
                                    egui::FontId::proportional(11.0),
                                    ui.visuals().text_color(),
                                );
                            }
                            if resp.clicked() {
                                let modifiers = ui.input(|i| i.modifiers);
                                clicked = Some((id, modifiers.command || modifiers.shift));
                            }
                        }
                    });
                }
            });
        self.painted_cells = painted;
        if want_more {
            self.more(shared);
        }
        match clicked {
            Some((id, true)) if !self.selection.remove(&id) => {
                self.selection.insert(id);
            }
            Some((_, true)) => {}
            Some((id, false)) => self.open_drawing(shared, id),
            None => {}
        }
    }

    fn next_in_queue(&mut self, shared: &Shared, id: Uuid) {
        let pos = self.rows.iter().position(|r| r.id == id);
        if let Some(p) = pos {
            self.rows.remove(p);
            if let Some(next) = self.rows.get(p).or(self.rows.last()) {
                let next = next.id;
                self.open_drawing(shared, next);
                return;
            }
        }
        self.detail = None;
    }

    fn detail_view(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let now = ui.input(|i| i.time);
        let Some(d) = &mut self.detail else {
            return;
        };
        let s = d.detail.summary.clone();
        let drawing = d.detail.drawing.clone();
        let mut close = false;
        let mut action: Option<BulkAction> = None;
        let mut keep = false;
        ui.horizontal(|ui| {
            ui.heading(format!("Drawing {}", short(s.id)));
            if ui.button("Close").clicked() {
                close = true;
            }
        });
        egui::ScrollArea::vertical()
            .id_salt("detail_scroll")
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    if self.mode == Mode::Review {
                        if ui.button("Keep (quality 1.0) and next").clicked() {
                            keep = true;
                        }
                        if ui.button("Flag and next").clicked() {
                            action = Some(BulkAction::Flag);
                        }
                    } else if s.flagged {
                        if ui.button("Unflag").clicked() {
                            action = Some(BulkAction::Unflag);
                        }
                    } else if ui.button("Flag").clicked() {
                        action = Some(BulkAction::Flag);
                    }
                    if ui.button("Remove").clicked() {
                        action = Some(BulkAction::Remove);
                    }
                });
                ui.horizontal(|ui| {
                    let l = ui.label("Quality override");
                    ui.add(egui::TextEdit::singleline(&mut d.quality_text).desired_width(50.0))
                        .labelled_by(l.id);
                    if ui.button("Set quality").clicked() {
                        match d.quality_text.trim().parse::<f64>() {
                            Ok(q) if (0.0..=1.0).contains(&q) => {
                                let id = s.id;
                                self.quality
                                    .start(shared, move |c| c.set_quality(id, Some(q)));
                            }
                            _ => {
                                shared.error = Some(format!(
                                    "Quality override: {:?} is not a number within 0..=1",
                                    d.quality_text
                                ));
                            }
                        }
                    }
                    if ui.button("Automatic quality").clicked() {
                        let id = s.id;
                        self.quality.start(shared, move |c| c.set_quality(id, None));
                    }
                });
                ui.add_space(6.0);
                let side = ui.available_width().min(360.0);
                let (rect, _) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
                ui.painter()
                    .rect_filled(rect, tokens::CARD_ROUNDING, tokens::PAPER);
                let length = ink::replay_length_ms(&drawing);
                if let Some(from) = d.replay_from {
                    let t = (now - from) * 1000.0;
                    d.replay_ms = Some(t.min(length));
                    if t >= length {
                        d.replay_from = None;
                    } else {
                        ui.ctx().request_repaint();
                    }
                }
                let upto = d.replay_from.and(d.replay_ms);
                ink::paint_drawing(ui.painter(), rect, &drawing, upto);
                ui.horizontal(|ui| {
                    if ui.button("Replay").clicked() {
                        d.replay_from = Some(now);
                        d.replay_ms = Some(0.0);
                    }
                    match d.replay_ms {
                        Some(t) if d.replay_from.is_some() => {
                            ui.label(format!("Replaying: {:.0} / {length:.0} ms", t));
                        }
                        Some(_) => {
                            ui.label(format!("Replay finished ({length:.0} ms)"));
                        }
                        None => {
                            ui.label(format!("{length:.0} ms of drawing"));
                        }
                    }
                });
                ui.add_space(4.0);
                match (&s.model_guess, s.model_confidence) {
                    (Some(g), Some(c)) => {
                        let agrees = *g == s.shape;
                        ui.label(
                            RichText::new(format!(
                                "Production model: {g} ({:.1} %){}",
                                c * 100.0,
                                if agrees {
                                    ""
                                } else {
                                    " - disagrees with the prompt"
                                }
                            ))
                            .strong(),
                        );
                    }
                    _ => {
                        ui.label("Production model: not judged yet");
                    }
                }
                kv::grid(ui, "detail_meta", |rows| {
                    let mut row = |k: &str, v: String| rows.row(k, v);
                    row("Id", s.id.to_string());
                    row("Shape (prompt)", s.shape.clone());
                    row(
                        "Quality",
                        s.quality_score
                            .map_or_else(|| "unscored".into(), |q| format!("{q:.3}")),
                    );
                    row(
                        "Flagged",
                        if s.flagged {
                            format!("yes: {}", s.flag_reason.clone().unwrap_or_default())
                        } else {
                            "no".into()
                        },
                    );
                    row("Origin", s.origin.clone());
                    row("Received", time_text(s.received_at));
                    row(
                        "Session",
                        s.session_id.map_or_else(|| "-".into(), |v| v.to_string()),
                    );
                    row("Device", s.device.clone().unwrap_or_else(|| "-".into()));
                    row(
                        "Strokes / points",
                        format!("{} / {}", s.stroke_count, s.point_count),
                    );
                    row(
                        "Duration",
                        drawing
                            .duration_ms
                            .map_or_else(|| "-".into(), |v| format!("{v} ms")),
                    );
                    row(
                        "Canvas",
                        drawing
                            .canvas
                            .map_or_else(|| "-".into(), |c| format!("{} x {}", c.width, c.height)),
                    );
                    let pointers: BTreeSet<String> = drawing
                        .strokes
                        .iter()
                        .filter_map(|st| st.pointer_type.clone())
                        .collect();
                    row(
                        "Pointer types",
                        if pointers.is_empty() {
                            "-".into()
                        } else {
                            pointers.into_iter().collect::<Vec<_>>().join(", ")
                        },
                    );
                    row(
                        "Prompt to first point",
                        drawing
                            .prompt_to_first_point_ms
                            .map_or_else(|| "-".into(), |v| format!("{v} ms")),
                    );
                    row(
                        "User agent",
                        drawing.user_agent.clone().unwrap_or_else(|| "-".into()),
                    );
                    row(
                        "Quick, Draw! key_id",
                        s.source_key_id.clone().unwrap_or_else(|| "-".into()),
                    );
                    if let Some(src) = &drawing.source {
                        row("Source", serde_json::to_string(src).unwrap_or_default());
                    }
                });
            });
        if close {
            self.detail = None;
        }
        if keep {
            let id = s.id;
            self.quality
                .start(shared, move |c| c.set_quality(id, Some(1.0)));
            self.next_in_queue(shared, id);
        }
        if let Some(a) = action {
            self.curate(shared, a, vec![s.id], None);
            if self.mode == Mode::Review || a == BulkAction::Remove {
                self.next_in_queue(shared, s.id);
            }
        }
    }
}
