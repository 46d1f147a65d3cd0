//! The Model tab: where the recognizer comes from (registry, cache, folder) and its manifest.

use std::path::PathBuf;

use egui_plot::{Legend, Line, Plot, PlotPoints};
use inkset_model::backend::Backend;

use crate::worker::{self, EngineCmd};

use super::*;

impl Workbench {
    // ---- Model tab -------------------------------------------------------------------

    pub(super) fn model_tab(&mut self, ui: &mut egui::Ui) {
        ui.columns(2, |cols| {
            let [left, right] = cols else { return };
            self.sources(left);
            self.manifest_view(right);
        });
    }

    pub(super) fn sources(&mut self, ui: &mut egui::Ui) {
        ui.heading("From a server's registry");
        egui::Grid::new("signin").num_columns(2).show(ui, |ui| {
            labelled_edit(ui, "Server URL", &mut self.server, false);
            ui.end_row();
            labelled_edit(ui, "Username", &mut self.username, false);
            ui.end_row();
            labelled_edit(ui, "Password", &mut self.password, true);
            ui.end_row();
        });
        ui.horizontal(|ui| {
            if ui.button("Sign in").clicked() {
                self.error = None;
                self.busy = Some("signing in...".into());
                worker::sign_in(
                    &self.notifier,
                    self.server.clone(),
                    self.username.clone(),
                    std::mem::take(&mut self.password),
                );
            }
            if let Some(r) = self.registry.clone()
                && ui.button("Refresh").clicked()
            {
                worker::refresh(&self.notifier, r);
            }
            if ui
                .button("Production (no sign-in)")
                .on_hover_text("The version the server classifies with, through its inference API")
                .clicked()
            {
                match crate::registry::Registry::new(&self.server) {
                    Ok(r) => {
                        self.error = None;
                        self.busy = Some("downloading...".into());
                        worker::download(&self.notifier, r, None, self.cache.clone());
                    }
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        });
        if let Some(r) = self.registry.clone() {
            ui.label(format!("{} versions on {}", self.versions.len(), r.base()));
            let mut pick = None;
            egui::Grid::new("versions")
                .striped(true)
                .num_columns(5)
                .show(ui, |ui| {
                    for h in ["version", "aliases", "accuracy", "classes", ""] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for v in &self.versions {
                        ui.label(format!("v{}", v.version));
                        ui.label(v.aliases.join(", "));
                        ui.label(
                            v.accuracy
                                .map_or("-".into(), |a| format!("{:.1} %", a * 100.0)),
                        );
                        ui.label(v.classes.join(", "));
                        let cached = self.cached.iter().any(|c| c.info.version.id == v.id);
                        let text = if cached {
                            format!("Load v{}", v.version)
                        } else {
                            format!("Download v{}", v.version)
                        };
                        if ui.button(text).clicked() {
                            pick = Some(v.clone());
                        }
                        ui.end_row();
                    }
                });
            if let Some(v) = pick {
                self.error = None;
                self.busy = Some("downloading...".into());
                worker::download(&self.notifier, r, Some(v), self.cache.clone());
            }
        }
        ui.separator();
        ui.heading("Cached (works offline)");
        ui.label(format!("in {}", self.cache.root().display()));
        let mut load = None;
        if self.cached.is_empty() {
            ui.label("Nothing cached yet.");
        }
        for m in &self.cached {
            ui.horizontal(|ui| {
                let v = &m.info.version;
                ui.label(format!(
                    "{} v{} [{}] from {}",
                    v.model_kind,
                    v.version,
                    v.aliases.join(", "),
                    m.info.server
                ));
                let text = if v.model_kind == "generator" {
                    format!("Load cached generator v{}", v.version)
                } else {
                    format!("Load cached v{}", v.version)
                };
                if ui.button(text).clicked() {
                    load = Some(m.clone());
                }
            });
        }
        if ui.button("Rescan cache").clicked() {
            self.cached = self.cache.list();
        }
        if let Some(m) = load {
            self.load_cached(&m);
        }
        ui.separator();
        ui.heading("From a local artifact");
        ui.horizontal(|ui| {
            let label = ui.label("Artifact directory");
            ui.add(
                egui::TextEdit::singleline(&mut self.local_path)
                    .hint_text("holds manifest.json and weights.bpk"),
            )
            .labelled_by(label.id);
            if ui.button("Load artifact").clicked() {
                let dir = PathBuf::from(self.local_path.trim());
                self.load_dir(dir);
            }
        });
        ui.separator();
        ui.heading("Backend");
        ui.horizontal(|ui| {
            let before = self.backend;
            ui.radio_value(&mut self.backend, Backend::Wgpu, "wgpu");
            ui.radio_value(&mut self.backend, Backend::Cpu, "CPU");
            if self.backend != before && self.loaded.is_some() {
                let b = self.backend;
                self.send(EngineCmd::Switch(b), "switching backend...");
            }
        });
        if let Some(l) = &self.loaded {
            ui.label(format!("Running on {}", l.backend_label));
        }
    }

    pub(super) fn manifest_view(&mut self, ui: &mut egui::Ui) {
        ui.heading("Manifest");
        let Some(l) = &self.loaded else {
            ui.label("Load a model to see its manifest.");
            return;
        };
        let m = &l.manifest;
        egui::Grid::new("manifest")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                let mut row = |k: &str, v: String| {
                    ui.label(k);
                    ui.label(v);
                    ui.end_row();
                };
                row("origin", l.origin.clone());
                row("kind, version", format!("{} v{}", m.model_kind, m.version));
                row("classes", m.classes.join(", "));
                row("input", m.input.layout.clone());
                row("rasterizer version", m.rasterizer_version.to_string());
                row(
                    "network",
                    format!(
                        "channels {:?}, hidden {}",
                        m.network.channels, m.network.hidden
                    ),
                );
                row("unknown threshold", format!("{:.2}", m.unknown_threshold));
                row(
                    "training",
                    format!(
                        "{} epochs, batch {}, lr {}",
                        m.training.epochs, m.training.batch_size, m.training.learning_rate
                    ),
                );
                row("data sources", m.data.sources.join(", "));
                row("split", m.data.split.clone());
                row(
                    "train / validation / test",
                    format!(
                        "{:?} / {:?} / {:?}",
                        m.data.train_counts, m.data.validation_counts, m.data.test_counts
                    ),
                );
                row(
                    "data snapshot (sha256 of key_ids)",
                    m.data.key_ids_sha256.clone(),
                );
                row("burn", m.burn_version.clone());
                row("weights sha256", m.weights_sha256.clone());
            });
        if let Some(e) = &m.metrics {
            ui.add_space(6.0);
            ui.strong(format!(
                "Held-out accuracy {:.2} % on {} drawings",
                e.accuracy * 100.0,
                e.count
            ));
            class_table(ui, "manifest_classes", e);
        }
        if !m.history.is_empty() {
            let loss: PlotPoints<'_> = m
                .history
                .iter()
                .map(|h| [h.epoch as f64, h.train_loss])
                .collect();
            let acc: PlotPoints<'_> = m
                .history
                .iter()
                .filter_map(|h| Some([h.epoch as f64, h.test_accuracy?]))
                .collect();
            Plot::new("history")
                .height(160.0)
                .legend(Legend::default())
                .x_axis_label("epoch")
                .show(ui, |p| {
                    p.line(Line::new("train loss", loss));
                    p.line(Line::new("held-out accuracy", acc));
                });
        }
    }
}
