//! Training: the start dialog (model kind, shapes, filters, epochs, batch size, learning
//! rate) with the server's plan of drawings per shape, and the live view of a job: loss and
//! accuracy per step and per epoch, samples/s, log lines, the trainer holding the lease, and
//! cancel.

use inkset_egui_kit::tokens;
use std::collections::BTreeSet;

use egui::RichText;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};
use inkset_protocol::ml::{
    GENERATOR, JobCreated, JobList, PlanPreview, RECOGNIZER, StartTraining, TrainingConfig,
    TrainingJob,
};
use uuid::Uuid;

use crate::task::{Shared, Task};

/// How often the live view asks for the selected job while it runs, seconds.
pub const POLL_SECS: f64 = 1.0;

/// The training screen.
pub struct Training {
    kind: String,
    shapes: BTreeSet<String>,
    quality_min: String,
    contributor_quality_min: String,
    release: String,
    epochs: String,
    batch_size: String,
    learning_rate: String,
    include_unknown: bool,
    preview: Option<PlanPreview>,
    preview_task: Task<PlanPreview>,
    preview_for: Option<StartTraining>,
    start_task: Task<JobCreated>,
    jobs: Vec<TrainingJob>,
    jobs_task: Task<JobList>,
    selected: Option<Uuid>,
    job: Option<TrainingJob>,
    job_task: Task<TrainingJob>,
    cancel_task: Task<TrainingJob>,
    last_poll: f64,
    last_list: f64,
}

impl Default for Training {
    fn default() -> Self {
        Self {
            kind: RECOGNIZER.into(),
            shapes: BTreeSet::new(),
            quality_min: String::new(),
            contributor_quality_min: String::new(),
            release: String::new(),
            epochs: "10".into(),
            batch_size: "64".into(),
            learning_rate: "0.002".into(),
            include_unknown: true,
            preview: None,
            preview_task: Task::default(),
            preview_for: None,
            start_task: Task::default(),
            jobs: Vec::new(),
            jobs_task: Task::default(),
            selected: None,
            job: None,
            job_task: Task::default(),
            cancel_task: Task::default(),
            last_poll: f64::NEG_INFINITY,
            last_list: f64::NEG_INFINITY,
        }
    }
}

impl Training {
    /// The job in the live view, as last fetched.
    pub fn job(&self) -> Option<&TrainingJob> {
        self.job.as_ref()
    }

    /// The plan the dialog shows.
    pub fn preview(&self) -> Option<&PlanPreview> {
        self.preview.as_ref()
    }

    /// The request the form describes, or the field at fault.
    fn request(&self, known: &[String]) -> Result<StartTraining, String> {
        let num = |label: &str, t: &str| -> Result<Option<f64>, String> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<f64>()
                .map(Some)
                .map_err(|_| format!("{label}: {t:?} is not a number"))
        };
        let int = |label: &str, t: &str| -> Result<Option<usize>, String> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<usize>()
                .map(Some)
                .map_err(|_| format!("{label}: {t:?} is not a whole number"))
        };
        let shapes: Vec<String> = known
            .iter()
            .filter(|s| self.shapes.contains(*s))
            .cloned()
            .collect();
        Ok(StartTraining {
            config: TrainingConfig {
                model_kind: self.kind.clone(),
                shapes: (!shapes.is_empty()).then_some(shapes),
                include_unknown: self.include_unknown,
                quality_min: num("Minimum quality", &self.quality_min)?,
                contributor_quality_min: num(
                    "Minimum contributor quality",
                    &self.contributor_quality_min,
                )?,
                release: Some(self.release.trim().to_owned()).filter(|r| !r.is_empty()),
                epochs: int("Epochs", &self.epochs)?,
                batch_size: int("Batch size", &self.batch_size)?,
                learning_rate: num("Learning rate", &self.learning_rate)?,
                ..TrainingConfig::default()
            },
        })
    }

    fn poll(&mut self, ui: &mut Shared, now: f64) {
        if let Some(p) = self.preview_task.take(ui) {
            self.preview = Some(p);
        }
        if let Some(created) = self.start_task.take(ui) {
            ui.notice = Some(format!(
                "Training job {} queued ({} classes)",
                &created.id.to_string()[..8],
                created.plan.classes.len()
            ));
            self.selected = Some(created.id);
            self.job = None;
            self.last_poll = f64::NEG_INFINITY;
            self.last_list = f64::NEG_INFINITY;
        }
        if let Some(list) = self.jobs_task.take(ui) {
            self.jobs = list.jobs;
            if self.selected.is_none() {
                self.selected = self.jobs.first().map(|j| j.id);
            }
        }
        if let Some(job) = self.job_task.take(ui)
            && Some(job.id) == self.selected
        {
            // A status change shows in the job list at once.
            if self
                .jobs
                .iter()
                .any(|j| j.id == job.id && j.status != job.status)
            {
                self.last_list = f64::NEG_INFINITY;
            }
            self.job = Some(job);
        }
        if let Some(job) = self.cancel_task.take(ui) {
            ui.notice = Some(format!("Job {} cancelled", &job.id.to_string()[..8]));
            self.job = Some(job);
            self.last_list = f64::NEG_INFINITY;
        }
        let running = self.job.as_ref().is_none_or(|j| !j.status.is_final());
        if let Some(id) = self.selected
            && !self.job_task.running()
            && (self.job.as_ref().is_none_or(|j| j.id != id)
                || (running && now - self.last_poll >= POLL_SECS))
        {
            self.last_poll = now;
            self.job_task.start(ui, move |c| c.job(id));
        }
        if !self.jobs_task.running() && now - self.last_list >= 5.0 {
            self.last_list = now;
            self.jobs_task.start(ui, |c| c.jobs());
        }
    }

    /// Draws the screen.
    pub fn show(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let now = ui.input(|i| i.time);
        self.poll(shared, now);
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs_f64(POLL_SECS));
        egui::Panel::left("training_left")
            .default_size(380.0)
            .resizable(true)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("training_form")
                    .show(ui, |ui| {
                        self.dialog(ui, shared);
                        ui.separator();
                        self.job_list(ui);
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| self.live(ui, shared));
    }

    fn dialog(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.heading("Start training");
        ui.horizontal(|ui| {
            ui.label("Model kind:");
            ui.radio_value(&mut self.kind, RECOGNIZER.to_owned(), "Recognizer");
            ui.radio_value(&mut self.kind, GENERATOR.to_owned(), "Generator");
        });
        ui.label("Shapes (none ticked: every enabled shape with drawings):");
        ui.horizontal_wrapped(|ui| {
            for s in &shared.prompt_shapes {
                let mut on = self.shapes.contains(s);
                if ui.checkbox(&mut on, format!("Train {s}")).changed() {
                    if on {
                        self.shapes.insert(s.clone());
                    } else {
                        self.shapes.remove(s);
                    }
                }
            }
        });
        if self.kind == RECOGNIZER {
            ui.checkbox(
                &mut self.include_unknown,
                "Learn an unknown class from the distractor drawings",
            );
        }
        egui::Grid::new("training_form_grid")
            .num_columns(2)
            .show(ui, |ui| {
                for (label, value) in [
                    ("Minimum quality", &mut self.quality_min),
                    (
                        "Minimum contributor quality",
                        &mut self.contributor_quality_min,
                    ),
                    ("Dataset release", &mut self.release),
                    ("Epochs", &mut self.epochs),
                    ("Batch size", &mut self.batch_size),
                    ("Learning rate", &mut self.learning_rate),
                ] {
                    let l = ui.label(label);
                    ui.add(egui::TextEdit::singleline(value).desired_width(80.0))
                        .labelled_by(l.id);
                    ui.end_row();
                }
            });
        let request = self.request(&shared.prompt_shapes);
        match &request {
            Ok(req) => {
                // The plan follows the form: ask again whenever it changes.
                if self.preview_for.as_ref() != Some(req) && !self.preview_task.running() {
                    self.preview_for = Some(req.clone());
                    let r = req.clone();
                    self.preview_task
                        .start(shared, move |c| c.training_plan(&r));
                }
            }
            Err(e) => {
                ui.colored_label(tokens::ERROR, e);
            }
        }
        if let Some(p) = &self.preview {
            ui.label(RichText::new("Drawings the job will use").strong());
            egui::Grid::new("plan_grid").striped(true).show(ui, |ui| {
                for class in &p.plan.classes {
                    ui.label(format!(
                        "{class}: {} drawings",
                        p.plan.counts.get(class).copied().unwrap_or(0)
                    ));
                    ui.end_row();
                }
            });
            ui.label(format!(
                "Total: {} drawings in {} classes",
                p.plan.counts.values().sum::<u64>(),
                p.plan.classes.len()
            ));
            for w in &p.warnings {
                ui.colored_label(tokens::WARNING, w);
            }
            if let Some(e) = &p.error {
                ui.colored_label(tokens::ERROR, e);
            }
        }
        let can_start = request.is_ok()
            && self.preview.as_ref().is_some_and(|p| p.error.is_none())
            && !self.start_task.running();
        if ui
            .add_enabled(can_start, egui::Button::new("Start training"))
            .clicked()
            && let Ok(req) = request
        {
            self.start_task
                .start(shared, move |c| c.start_training(&req));
        }
    }

    fn job_list(&mut self, ui: &mut egui::Ui) {
        ui.heading("Jobs");
        for j in &self.jobs {
            let text = format!(
                "{} {} {}",
                &j.id.to_string()[..8],
                j.model_kind,
                j.status.as_str()
            );
            if ui
                .selectable_label(self.selected == Some(j.id), text)
                .clicked()
            {
                self.selected = Some(j.id);
                self.job = None;
            }
        }
    }

    fn live(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(job) = &self.job else {
            ui.label("No job selected.");
            return;
        };
        let id = job.id;
        ui.horizontal(|ui| {
            ui.heading(format!("Job {}", &id.to_string()[..8]));
            ui.label(
                RichText::new(format!("Status: {}", job.status.as_str()))
                    .strong()
                    .color(match job.status.as_str() {
                        "completed" => tokens::SUCCESS,
                        "failed" | "cancelled" => tokens::ERROR,
                        _ => tokens::PRIMARY,
                    }),
            );
            if !job.status.is_final()
                && ui.button("Cancel job").clicked()
                && !self.cancel_task.running()
            {
                self.cancel_task.start(shared, move |c| c.cancel_job(id));
            }
        });
        let lease = job.lease.as_ref().map_or_else(
            || "Trainer: none holds it".to_owned(),
            |l| {
                format!(
                    "Trainer: {} (attempt {}, lease renews before {})",
                    l.owner,
                    l.attempt,
                    inkset_protocol::quickdraw::format_timestamp_ms(l.expires_at)
                )
            },
        );
        ui.label(lease);
        ui.label(format!(
            "{} {}; classes: {}",
            job.model_kind,
            job.config
                .epochs
                .map_or_else(|| "default epochs".into(), |e| format!("{e} epochs")),
            job.plan.classes.join(", ")
        ));
        let steps: Vec<_> = job.progress.iter().filter(|p| p.kind == "step").collect();
        let epochs: Vec<_> = job.progress.iter().filter(|p| p.kind == "epoch").collect();
        // An epoch point sits at its epoch's last optimizer step.
        let epoch_x = |e: u32| -> f64 {
            steps
                .iter()
                .filter(|s| s.epoch == e)
                .map(|s| s.step)
                .max()
                .map_or(f64::from(e), |s| s as f64)
        };
        let last = job.progress.last();
        ui.label(format!(
            "Progress: {} steps, {} epochs done{}",
            steps.len(),
            epochs.len(),
            last.map_or(String::new(), |p| format!(
                ", {:.0} samples/s, loss {:.4}",
                p.samples_per_sec, p.loss
            ))
        ));
        if let Some(e) = &job.error {
            ui.colored_label(tokens::ERROR, format!("Error: {e}"));
        }
        if let Some(m) = job.model_id {
            ui.label(format!("Registered model {}", &m.to_string()[..8]));
        }
        let h = (ui.available_height() - 160.0).max(200.0) / 2.0;
        ui.columns(2, |c| {
            c[0].strong("Loss");
            Plot::new("loss_plot")
                .height(h)
                .legend(Legend::default())
                .show(&mut c[0], |p| {
                    let pts: PlotPoints<'_> =
                        steps.iter().map(|s| [s.step as f64, s.loss]).collect();
                    p.line(Line::new("loss per step", pts));
                    let pts: PlotPoints<'_> =
                        epochs.iter().map(|s| [epoch_x(s.epoch), s.loss]).collect();
                    p.points(Points::new("loss per epoch", pts).radius(4.0));
                    let pts: PlotPoints<'_> = epochs
                        .iter()
                        .filter_map(|s| s.test_loss.map(|l| [epoch_x(s.epoch), l]))
                        .collect();
                    p.points(Points::new("held-out loss", pts).radius(4.0));
                });
            c[1].strong("Accuracy");
            Plot::new("accuracy_plot")
                .height(h)
                .legend(Legend::default())
                .include_y(0.0)
                .include_y(1.0)
                .show(&mut c[1], |p| {
                    let pts: PlotPoints<'_> =
                        steps.iter().map(|s| [s.step as f64, s.accuracy]).collect();
                    p.line(Line::new("batch accuracy", pts));
                    let pts: PlotPoints<'_> = epochs
                        .iter()
                        .map(|s| [epoch_x(s.epoch), s.accuracy])
                        .collect();
                    p.points(Points::new("epoch accuracy", pts).radius(4.0));
                    let pts: PlotPoints<'_> = epochs
                        .iter()
                        .filter_map(|s| s.test_accuracy.map(|a| [epoch_x(s.epoch), a]))
                        .collect();
                    p.points(Points::new("held-out accuracy", pts).radius(4.0));
                });
        });
        ui.strong("Samples/s per step");
        Plot::new("throughput_plot").height(90.0).show(ui, |p| {
            let pts: PlotPoints<'_> = steps
                .iter()
                .map(|s| [s.step as f64, s.samples_per_sec])
                .collect();
            p.line(Line::new("samples/s", pts));
        });
        ui.strong("Log");
        egui::ScrollArea::vertical()
            .id_salt("job_log")
            .stick_to_bottom(true)
            .max_height(120.0)
            .show(ui, |ui| {
                for l in &job.logs {
                    ui.label(format!(
                        "{} {}: {}",
                        inkset_protocol::quickdraw::format_timestamp_ms(l.at),
                        l.level,
                        l.message
                    ));
                }
            });
    }
}
