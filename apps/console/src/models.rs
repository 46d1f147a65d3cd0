//! Models: the registry's versions with their metrics; two versions compared side by side
//! on the same held-out drawings (overall and per-class accuracy, both confusion matrices,
//! the drawings one gets right and the other wrong, as thumbnails); activation (moving
//! `production`), other aliases, and the alias history. For the served generator, samples.

use inkset_egui_kit::tokens;
use std::collections::HashMap;

use egui::{RichText, Sense, Vec2};
use inkset_protocol::api::DrawingDetail;
use inkset_protocol::ml::{
    AliasHistory, Comparison, Disagreement, GENERATOR, GenerateRequest, Generated, ModelList,
    ModelVersion, PRODUCTION,
};
use uuid::Uuid;

use crate::ink;
use crate::task::{Shared, Task};

/// Disagreeing drawings shown per side.
pub const SHOWN: usize = 24;

/// The models screen.
#[derive(Default)]
pub struct Models {
    list: Option<ModelList>,
    list_task: Task<ModelList>,
    history: Option<AliasHistory>,
    history_task: Task<AliasHistory>,
    a: Option<Uuid>,
    b: Option<Uuid>,
    comparison: Option<Comparison>,
    compare_task: Task<Comparison>,
    drawings: HashMap<Uuid, DrawingDetail>,
    drawings_task: Task<Vec<DrawingDetail>>,
    activate_task: Task<String>,
    alias_name: String,
    alias_target: Option<Uuid>,
    samples: Vec<Generated>,
    sample_task: Task<Vec<Generated>>,
    sample_shape: String,
    loaded: bool,
}

fn short(id: Uuid) -> String {
    id.to_string()[..8].to_owned()
}

fn version_label(m: &ModelVersion) -> String {
    format!("{} v{}", m.model_kind, m.version)
}

impl Models {
    /// The registry as last fetched.
    pub fn list(&self) -> Option<&ModelList> {
        self.list.as_ref()
    }

    /// The comparison shown.
    pub fn comparison(&self) -> Option<&Comparison> {
        self.comparison.as_ref()
    }

    /// The alias history as last fetched.
    pub fn history(&self) -> Option<&AliasHistory> {
        self.history.as_ref()
    }

    fn reload(&mut self, ui: &Shared) {
        self.list_task.start(ui, |c| c.models(None));
        self.history_task.start(ui, |c| c.alias_history());
    }

    fn poll(&mut self, ui: &mut Shared) {
        if let Some(l) = self.list_task.take(ui) {
            let recognizers: Vec<Uuid> = l
                .models
                .iter()
                .filter(|m| m.model_kind != GENERATOR)
                .map(|m| m.id)
                .collect();
            if self.a.is_none() {
                self.a = recognizers.get(1).copied();
            }
            if self.b.is_none() {
                self.b = recognizers.first().copied();
            }
            self.list = Some(l);
        }
        if let Some(h) = self.history_task.take(ui) {
            self.history = Some(h);
        }
        if let Some(c) = self.compare_task.take(ui) {
            let ids: Vec<Uuid> = c
                .a_right_b_wrong
                .iter()
                .take(SHOWN)
                .chain(c.b_right_a_wrong.iter().take(SHOWN))
                .map(|d| d.drawing_id)
                .filter(|id| !self.drawings.contains_key(id))
                .collect();
            if !ids.is_empty() {
                self.drawings_task.start(ui, move |cl| {
                    ids.into_iter().map(|id| cl.drawing(id)).collect()
                });
            }
            self.comparison = Some(c);
        }
        if let Some(ds) = self.drawings_task.take(ui) {
            for d in ds {
                self.drawings.insert(d.summary.id, d);
            }
        }
        if let Some(msg) = self.activate_task.take(ui) {
            ui.notice = Some(msg);
            ui.generation += 1;
            self.reload(ui);
        }
        if let Some(s) = self.sample_task.take(ui) {
            self.samples = s;
        }
    }

    /// Draws the screen.
    pub fn show(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        if !self.loaded {
            self.loaded = true;
            self.reload(shared);
        }
        self.poll(shared);
        ui.horizontal(|ui| {
            ui.heading("Model versions");
            if ui.button("Reload models").clicked() {
                self.reload(shared);
            }
        });
        egui::ScrollArea::vertical()
            .id_salt("models_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.table(ui, shared);
                ui.separator();
                self.aliases(ui, shared);
                ui.separator();
                self.compare(ui, shared);
                ui.separator();
                self.generator(ui, shared);
            });
    }

    fn table(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(list) = &self.list else {
            ui.label("Loading the registry...");
            return;
        };
        if list.models.is_empty() {
            ui.label("No model versions yet: start a training job.");
            return;
        }
        let mut activate: Option<(Uuid, String)> = None;
        egui::Grid::new("models_grid")
            .striped(true)
            .num_columns(7)
            .show(ui, |ui| {
                for h in [
                    "Version",
                    "Aliases",
                    "Held-out accuracy",
                    "Classes",
                    "Registered",
                    "Id",
                    "",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                for m in &list.models {
                    ui.label(version_label(m));
                    ui.label(if m.aliases.is_empty() {
                        "-".to_owned()
                    } else {
                        m.aliases.join(", ")
                    });
                    ui.label(
                        m.accuracy
                            .map_or_else(|| "-".into(), |a| format!("{:.1} %", a * 100.0)),
                    );
                    ui.label(m.classes.join(", "));
                    ui.label(inkset_protocol::quickdraw::format_timestamp_ms(
                        m.created_at,
                    ));
                    ui.label(short(m.id));
                    if m.aliases.iter().any(|a| a == PRODUCTION) {
                        ui.label(RichText::new("in production").strong());
                    } else if ui
                        .button(format!("Activate {}", version_label(m)))
                        .clicked()
                    {
                        activate = Some((m.id, version_label(m)));
                    }
                    ui.end_row();
                }
            });
        if let Some((id, label)) = activate {
            self.activate_task.start(shared, move |c| {
                c.activate(id)
                    .map(|()| format!("{label} is now in production"))
            });
        }
    }

    fn aliases(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(list) = &self.list else {
            return;
        };
        ui.strong("Aliases");
        ui.horizontal(|ui| {
            let l = ui.label("Alias name");
            ui.add(egui::TextEdit::singleline(&mut self.alias_name).desired_width(100.0))
                .labelled_by(l.id);
            let target = self
                .alias_target
                .and_then(|id| list.models.iter().find(|m| m.id == id));
            egui::ComboBox::from_id_salt("alias_target")
                .selected_text(target.map_or_else(|| "pick a version".into(), version_label))
                .show_ui(ui, |ui| {
                    for m in &list.models {
                        ui.selectable_value(&mut self.alias_target, Some(m.id), version_label(m));
                    }
                });
            if ui.button("Set alias").clicked() {
                let name = self.alias_name.trim().to_owned();
                match (name.is_empty(), target) {
                    (true, _) => shared.error = Some("Alias name: give a name".into()),
                    (_, None) => shared.error = Some("Alias: pick a version".into()),
                    (false, Some(m)) => {
                        let (kind, id, label) = (m.model_kind.clone(), m.id, version_label(m));
                        self.activate_task.start(shared, move |c| {
                            c.set_alias(&kind, &name, id)
                                .map(|()| format!("{name} now points at {label}"))
                        });
                    }
                }
            }
        });
        if let Some(h) = &self.history {
            ui.label(RichText::new("Alias history (newest first)").strong());
            let version_of = |id: Uuid| {
                list.models
                    .iter()
                    .find(|m| m.id == id)
                    .map_or_else(|| short(id), version_label)
            };
            egui::Grid::new("alias_history")
                .striped(true)
                .show(ui, |ui| {
                    for mv in h.moves.iter().rev().take(50) {
                        ui.label(inkset_protocol::quickdraw::format_timestamp_ms(mv.moved_at));
                        ui.label(format!(
                            "{}/{} #{}: {} -> {}",
                            mv.model_kind,
                            mv.alias,
                            mv.seq,
                            mv.previous_model_id
                                .map_or_else(|| "none".into(), version_of),
                            version_of(mv.model_id)
                        ));
                        ui.end_row();
                    }
                });
        }
    }

    fn compare(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(list) = &self.list else {
            return;
        };
        ui.strong("Compare two versions");
        let recognizers: Vec<&ModelVersion> = list
            .models
            .iter()
            .filter(|m| m.model_kind != GENERATOR)
            .collect();
        ui.horizontal(|ui| {
            for (label, slot) in [("Version A", &mut self.a), ("Version B", &mut self.b)] {
                ui.label(label);
                let text = slot
                    .and_then(|id| recognizers.iter().find(|m| m.id == id))
                    .map_or_else(|| "pick".into(), |m| version_label(m));
                egui::ComboBox::from_id_salt(label)
                    .selected_text(text)
                    .show_ui(ui, |ui| {
                        for m in &recognizers {
                            ui.selectable_value(slot, Some(m.id), version_label(m));
                        }
                    });
            }
            let ready = self.a.is_some() && self.b.is_some() && !self.compare_task.running();
            if ui
                .add_enabled(ready, egui::Button::new("Compare"))
                .clicked()
                && let (Some(a), Some(b)) = (self.a, self.b)
            {
                self.compare_task.start(shared, move |c| c.compare(a, b));
            }
            if self.compare_task.running() {
                ui.spinner();
                ui.label("Evaluating both on the held-out drawings...");
            }
        });
        let Some(c) = &self.comparison else {
            return;
        };
        let (la, lb) = (version_label(&c.a), version_label(&c.b));
        ui.label(
            RichText::new(format!(
                "On {} held-out drawings: {la} {:.1} %, {lb} {:.1} % ({:+.1} points)",
                c.evaluated,
                c.accuracy_a * 100.0,
                c.accuracy_b * 100.0,
                (c.accuracy_b - c.accuracy_a) * 100.0
            ))
            .strong(),
        );
        let pct = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{:.1} %", v * 100.0));
        egui::Grid::new("per_class_compare")
            .striped(true)
            .show(ui, |ui| {
                for h in [
                    "Class",
                    "Drawings",
                    "Recall A",
                    "Recall B",
                    "Change",
                    "Precision A",
                    "Precision B",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                for d in &c.per_class {
                    ui.label(&d.class);
                    ui.label(d.support.to_string());
                    ui.label(pct(d.recall_a));
                    ui.label(pct(d.recall_b));
                    let delta = d.recall_delta.map_or_else(
                        || RichText::new("-"),
                        |v| {
                            RichText::new(format!("{:+.1}", v * 100.0)).color(if v >= 0.0 {
                                tokens::SUCCESS
                            } else {
                                tokens::ERROR
                            })
                        },
                    );
                    ui.label(delta);
                    ui.label(pct(d.precision_a));
                    ui.label(pct(d.precision_b));
                    ui.end_row();
                }
            });
        ui.columns(2, |cols| {
            confusion(
                &mut cols[0],
                &format!("Confusion matrix, A ({la})"),
                &c.classes,
                &c.confusion_a,
            );
            confusion(
                &mut cols[1],
                &format!("Confusion matrix, B ({lb})"),
                &c.classes,
                &c.confusion_b,
            );
        });
        ui.columns(2, |cols| {
            disagreements(
                &mut cols[0],
                &format!("{la} right, {lb} wrong: {}", c.a_right_b_wrong.len()),
                &c.a_right_b_wrong,
                &self.drawings,
            );
            disagreements(
                &mut cols[1],
                &format!("{lb} right, {la} wrong: {}", c.b_right_a_wrong.len()),
                &c.b_right_a_wrong,
                &self.drawings,
            );
        });
    }

    fn generator(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let served = self.list.as_ref().and_then(|l| {
            l.models
                .iter()
                .find(|m| m.model_kind == GENERATOR && m.aliases.iter().any(|a| a == PRODUCTION))
        });
        let Some(g) = served else {
            return;
        };
        ui.strong(format!(
            "Samples of the served generator ({})",
            version_label(g)
        ));
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("sample_shape")
                .selected_text(if self.sample_shape.is_empty() {
                    "pick a shape"
                } else {
                    &self.sample_shape
                })
                .show_ui(ui, |ui| {
                    for class in &g.classes {
                        ui.selectable_value(&mut self.sample_shape, class.clone(), class);
                    }
                });
            if ui.button("Draw 6 samples").clicked() && !self.sample_shape.is_empty() {
                let shape = self.sample_shape.clone();
                self.sample_task.start(shared, move |c| {
                    (0..6)
                        .map(|seed| {
                            c.generate(&GenerateRequest {
                                shape: shape.clone(),
                                temperature: 0.4,
                                seed,
                                max_points: 250,
                            })
                        })
                        .collect()
                });
            }
        });
        ui.horizontal_wrapped(|ui| {
            for s in &self.samples {
                let (rect, _) = ui.allocate_exact_size(Vec2::splat(110.0), Sense::hover());
                ui.painter()
                    .rect_filled(rect, tokens::CARD_ROUNDING, tokens::PAPER);
                ink::paint_drawing(ui.painter(), rect, &s.drawing, None);
            }
        });
    }
}

fn confusion(ui: &mut egui::Ui, title: &str, classes: &[String], m: &[Vec<u64>]) {
    ui.strong(title);
    egui::Grid::new(title).spacing([2.0, 2.0]).show(ui, |ui| {
        ui.label("truth \\ answer");
        for c in classes {
            ui.label(RichText::new(c).small());
        }
        ui.end_row();
        for (i, row) in m.iter().enumerate() {
            ui.label(RichText::new(classes.get(i).map_or("?", String::as_str)).small());
            let total: u64 = row.iter().sum::<u64>().max(1);
            for (j, &n) in row.iter().enumerate() {
                let share = n as f32 / total as f32;
                let base = if i == j {
                    tokens::PRIMARY
                } else {
                    tokens::FLAGGED
                };
                let fill = tokens::TRANSPARENT.lerp_to_gamma(base, share.sqrt());
                egui::Frame::new()
                    .fill(fill)
                    .inner_margin(2.0)
                    .show(ui, |ui| {
                        ui.set_min_width(34.0);
                        let text = RichText::new(n.to_string()).small();
                        ui.label(if share > 0.35 {
                            text.color(tokens::ON_COLOUR).strong()
                        } else {
                            text
                        });
                    });
            }
            ui.end_row();
        }
    });
}

fn disagreements(
    ui: &mut egui::Ui,
    title: &str,
    list: &[Disagreement],
    drawings: &HashMap<Uuid, DrawingDetail>,
) {
    ui.strong(title);
    ui.horizontal_wrapped(|ui| {
        for d in list.iter().take(SHOWN) {
            ui.vertical(|ui| {
                let (rect, resp) = ui.allocate_exact_size(Vec2::splat(84.0), Sense::hover());
                ui.painter()
                    .rect_filled(rect, tokens::CARD_ROUNDING, tokens::PAPER);
                if let Some(full) = drawings.get(&d.drawing_id) {
                    ink::paint_drawing(ui.painter(), rect, &full.drawing, None);
                }
                resp.on_hover_text(format!(
                    "{}\ntruth {}\nA: {} {:.2}\nB: {} {:.2}",
                    d.drawing_id, d.shape, d.label_a, d.confidence_a, d.label_b, d.confidence_b
                ));
                ui.label(
                    RichText::new(format!("{}: A {} / B {}", d.shape, d.label_a, d.label_b))
                        .small(),
                );
            });
        }
    });
}
