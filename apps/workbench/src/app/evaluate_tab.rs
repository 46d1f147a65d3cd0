//! The Evaluate tab: batch evaluation on drawing files, misclassified thumbnails.

use std::path::PathBuf;

use egui::{RichText, Stroke, Vec2};

use crate::worker::EngineCmd;
use inkset_egui_kit::{ink, tokens};

use super::*;

impl Workbench {
    // ---- Evaluate tab ----------------------------------------------------------------

    pub(super) fn evaluate_tab(&mut self, ui: &mut egui::Ui) {
        ui.heading("Batch evaluation");
        ui.label(
            "Quick, Draw! ndjson files or folders (raw or simplified), one per line; labels \
             come from each record's word; words that are not a class count as unknown. \
             Files can also be dropped on the window.",
        );
        let dropped: Vec<String> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().display().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        });
        for d in dropped {
            if !self.eval_paths.is_empty() && !self.eval_paths.ends_with('\n') {
                self.eval_paths.push('\n');
            }
            self.eval_paths.push_str(&d);
        }
        let label = ui.label("Data files or folders:");
        ui.add(
            egui::TextEdit::multiline(&mut self.eval_paths)
                .desired_rows(3)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.held_out, "Held-out split only");
            if ui.button("Run evaluation").clicked() {
                let paths: Vec<PathBuf> = self
                    .eval_paths
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from)
                    .collect();
                if paths.is_empty() {
                    self.error = Some("data: give at least one file or folder".into());
                } else {
                    let held_out = self.held_out;
                    self.send(EngineCmd::Evaluate { paths, held_out }, "evaluating...");
                }
            }
        });
        let Some(e) = self.eval.as_deref() else {
            return;
        };
        let ev = &e.evaluation;
        ui.strong(format!(
            "Accuracy {:.2} % on {} drawings",
            ev.accuracy * 100.0,
            ev.count
        ));
        ui.label(format!(
            "{} file(s), {} record(s) skipped{} · {:.0} drawings/s (rasterize {:.2} s, network {:.2} s)",
            e.files.len(),
            e.skipped,
            if e.held_out { ", held-out split" } else { "" },
            e.throughput,
            e.rasterize_secs,
            e.inference_secs
        ));
        class_table(ui, "eval_classes", ev);
        ui.add_space(6.0);
        ui.strong("Confusion matrix (rows: true class, columns: answer)");
        let classes: Vec<String> = ev.per_class.iter().map(|c| c.class.clone()).collect();
        egui::Grid::new("confusion")
            .num_columns(classes.len() + 1)
            .show(ui, |ui| {
                ui.label("");
                for c in &classes {
                    ui.strong(c.as_str());
                }
                ui.end_row();
                for (i, row) in ev.confusion.iter().enumerate() {
                    ui.strong(classes[i].as_str());
                    let total: u64 = row.iter().sum::<u64>().max(1);
                    for (j, &v) in row.iter().enumerate() {
                        let share = v as f32 / total as f32;
                        let base = if i == j {
                            tokens::CORRECT
                        } else {
                            tokens::FLAGGED
                        };
                        let fill = base.gamma_multiply(0.15 + 0.85 * share * f32::from(v > 0));
                        egui::Frame::new()
                            .fill(fill)
                            .inner_margin(4.0)
                            .show(ui, |ui| {
                                ui.label(RichText::new(v.to_string()).color(tokens::ON_PALE));
                            });
                    }
                    ui.end_row();
                }
            });
        ui.add_space(6.0);
        ui.strong(format!("Misclassified: {}", e.misses.len()));
        let mut open = None;
        let cell = 150.0;
        let columns = ((ui.available_width() / cell).floor() as usize).max(1);
        egui::Grid::new("misses")
            .num_columns(columns)
            .min_col_width(cell - 8.0)
            .max_col_width(cell - 8.0)
            .show(ui, |ui| {
                for (k, m) in e.misses.iter().enumerate().take(500) {
                    ui.vertical(|ui| {
                        let (rect, resp) =
                            ui.allocate_exact_size(Vec2::splat(88.0), egui::Sense::click());
                        ui.painter()
                            .rect_filled(rect, tokens::CARD_ROUNDING, tokens::SHEET);
                        ink::paint_lines(
                            ui.painter(),
                            rect,
                            &m.lines,
                            Stroke::new(1.5, tokens::CANVAS_INK),
                            ink::PREVIEW_MARGIN,
                        );
                        let button = ui.add(
                            egui::Button::new(
                                RichText::new(format!("#{} {} -> {}", m.index, m.truth, m.answer))
                                    .small(),
                            )
                            .truncate(),
                        );
                        if resp.clicked() || button.clicked() {
                            open = Some(k);
                        }
                    });
                    if (k + 1) % columns == 0 {
                        ui.end_row();
                    }
                }
            });
        if e.misses.len() > 500 {
            ui.label(format!("... and {} more", e.misses.len() - 500));
        }
        if open.is_some() {
            self.open_miss = open;
        }
    }

    pub(super) fn miss_window(&mut self, ctx: &egui::Context) {
        let Some(k) = self.open_miss else { return };
        let Some(m) = self.eval.as_ref().and_then(|e| e.misses.get(k)).cloned() else {
            self.open_miss = None;
            return;
        };
        let mut open = true;
        let mut save = false;
        egui::Window::new(format!("Drawing #{}", m.index))
            .open(&mut open)
            .default_width(360.0)
            .show(ctx, |ui| {
                let (rect, _) = ui.allocate_exact_size(Vec2::splat(320.0), egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, tokens::CARD_ROUNDING, tokens::SHEET);
                ink::paint_lines(
                    ui.painter(),
                    rect,
                    &m.lines,
                    Stroke::new(2.5, tokens::CANVAS_INK),
                    ink::PREVIEW_MARGIN,
                );
                ui.label(format!("key_id {} · word {:?}", m.key_id, m.word));
                ui.label(format!(
                    "true class {} · answered {} ({:.1} %)",
                    m.truth,
                    m.answer,
                    m.confidence * 100.0
                ));
                ui.label(format!(
                    "{} strokes, {} points",
                    m.lines.len(),
                    m.lines.iter().map(Vec::len).sum::<usize>()
                ));
                save = ui.button("Save as test case").clicked();
            });
        if save {
            self.save_case(&m.word, Some(m.key_id), &m.lines);
        }
        if !open {
            self.open_miss = None;
        }
    }
}
