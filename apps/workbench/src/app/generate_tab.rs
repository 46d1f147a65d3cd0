//! The Generate tab: the shape generator from the registry, sampled and replayed, with the recognizer's answer.

use std::path::PathBuf;

use egui::{Stroke, Vec2};
use inkset_model::raster::Polyline;

use crate::worker::{self, EngineCmd};
use inkset_egui_kit::{ink, tokens};

use super::*;

impl Workbench {
    pub(super) fn generate_tab(&mut self, ui: &mut egui::Ui) {
        ui.heading("Shape generation");
        ui.label(
            "A generator (model kind generator: a class-conditional Sketch-RNN decoder) draws \
             the shape; the loaded recognizer then classifies the result.",
        );
        ui.horizontal(|ui| {
            let label = ui.label("Generator directory");
            ui.add(
                egui::TextEdit::singleline(&mut self.generator_path)
                    .hint_text("holds manifest.json and weights.bpk"),
            )
            .labelled_by(label.id);
            if ui.button("Load generator").clicked() {
                let dir = PathBuf::from(self.generator_path.trim());
                self.send(
                    EngineCmd::LoadGenerator(dir, self.backend),
                    "loading the generator...",
                );
            }
        });
        if let Some(r) = self.registry.clone() {
            let mut pick = None;
            ui.horizontal_wrapped(|ui| {
                ui.label(format!("Generators on {}:", r.base()));
                if self.generator_versions.is_empty() {
                    ui.label("none yet");
                }
                for v in &self.generator_versions {
                    let text = format!(
                        "Download generator v{} [{}]",
                        v.version,
                        v.aliases.join(", ")
                    );
                    if ui.button(text).clicked() {
                        pick = Some(v.clone());
                    }
                }
            });
            if let Some(v) = pick {
                self.error = None;
                self.busy = Some("downloading...".into());
                worker::download(&self.notifier, r, Some(v), self.cache.clone());
            }
        }
        let Some(g) = &self.generator else {
            ui.label("No generator loaded.");
            return;
        };
        ui.label(format!(
            "generator v{} on {} · shapes {} · trained {} epochs, held-out loss {}",
            g.manifest.version,
            g.backend_label,
            g.manifest.classes.join(", "),
            g.manifest.history.len(),
            g.manifest
                .test_loss
                .map_or("-".into(), |l| format!("{l:.3}"))
        ));
        let classes = g.manifest.classes.clone();
        let mut go = false;
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Shape")
                .selected_text(self.gen_shape.clone())
                .show_ui(ui, |ui| {
                    for c in &classes {
                        ui.selectable_value(&mut self.gen_shape, c.clone(), c.as_str());
                    }
                });
            ui.add(egui::Slider::new(&mut self.gen_temperature, 0.05..=1.5).text("Temperature"));
            let label = ui.label("Seed");
            ui.add(egui::DragValue::new(&mut self.gen_seed))
                .labelled_by(label.id);
            go = ui.button("Generate drawing").clicked();
            if ui.button("Next seed").clicked() {
                self.gen_seed = self.gen_seed.wrapping_add(1);
                go = true;
            }
        });
        if go {
            let cmd = EngineCmd::Generate {
                shape: self.gen_shape.clone(),
                temperature: self.gen_temperature,
                seed: self.gen_seed,
                max_points: 250,
            };
            self.send(cmd, "generating...");
        }
        let Some((g, started)) = &self.generated else {
            return;
        };
        // Replay: one point every 20 ms.
        let total: usize = g.lines.iter().map(Vec::len).sum();
        let shown = (((self.now - started) * 50.0) as usize).min(total);
        if shown < total {
            ui.ctx().request_repaint();
        }
        let mut left = shown;
        let partial: Vec<Polyline> = g
            .lines
            .iter()
            .map_while(|l| {
                (left > 0).then(|| {
                    let take = left.min(l.len());
                    left -= take;
                    l[..take].to_vec()
                })
            })
            .collect();
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(300.0), egui::Sense::hover());
        ui.painter()
            .rect_filled(rect, tokens::CARD_ROUNDING, tokens::SHEET);
        // The generated drawing spans 0..=255: a fixed frame while it is replayed.
        ink::paint_lines_within(
            ui.painter(),
            rect,
            &partial,
            Stroke::new(2.5, tokens::CANVAS_INK),
            [0.0, 0.0],
            [255.0, 255.0],
            ink::PREVIEW_MARGIN,
        );
        ui.label(format!(
            "{} (temperature {:.2}, seed {}): {} strokes, {} points, sampled in {:.1} ms",
            g.shape,
            g.temperature,
            g.seed,
            g.lines.len(),
            total,
            g.latency_ms
        ));
        match &g.recognized {
            Some((label, p)) => {
                ui.strong(format!("Recognizer says: {label} ({:.1} %)", p * 100.0));
            }
            None => {
                ui.label("Load a recognizer on the Model tab to classify generated drawings.");
            }
        }
    }
}
