//! The workbench window: Model, Draw, Latency, Evaluate and Generate tabs, one module each
//! (`app/*_tab.rs`).
//!
//! [`Workbench::show`] draws everything into a `Ui`; the eframe app and the tests both
//! call it.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};

use egui::TextureHandle;
use inkset_model::backend::Backend;
use inkset_protocol::ml::ModelVersion;

use crate::cache::{CachedModel, ModelCache};
use crate::canvas::Canvas;
use crate::engine::{Artifact, BatchEvaluation, BenchPoint, Classified, Parity};
use crate::worker::{self, EngineCmd, LatencySnapshot, Loaded, Msg, Notifier};
use inkset_egui_kit::tokens;

mod draw_tab;
mod evaluate_tab;
mod generate_tab;
mod latency_tab;
mod model_tab;

/// Start-up options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The model cache directory.
    pub cache_dir: PathBuf,
    /// The server URL shown in the sign-in form.
    pub server: String,
    /// An artifact directory to load at start.
    pub model: Option<PathBuf>,
    /// The backend to start on.
    pub backend: Backend,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache_dir: ModelCache::default_root(),
            server: "http://127.0.0.1:8080".into(),
            model: None,
            backend: Backend::Wgpu,
        }
    }
}

/// The tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Load a model; its manifest.
    Model,
    /// Draw and classify live.
    Draw,
    /// Latency, the benchmark and the parity check.
    Latency,
    /// Batch evaluation of files.
    Evaluate,
    /// Shape generation.
    Generate,
}

impl Tab {
    const ALL: [Self; 5] = [
        Self::Model,
        Self::Draw,
        Self::Latency,
        Self::Evaluate,
        Self::Generate,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Model => "Model",
            Self::Draw => "Draw",
            Self::Latency => "Latency",
            Self::Evaluate => "Evaluate",
            Self::Generate => "Generate",
        }
    }
}

/// The workbench's state.
pub struct Workbench {
    cache: ModelCache,
    tab: Tab,
    engine: Sender<EngineCmd>,
    notifier: Notifier,
    inbox: Receiver<Msg>,
    busy: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    // Model tab.
    server: String,
    username: String,
    password: String,
    registry: Option<crate::registry::Registry>,
    versions: Vec<ModelVersion>,
    generator_versions: Vec<ModelVersion>,
    cached: Vec<CachedModel>,
    local_path: String,
    backend: Backend,
    loaded: Option<Loaded>,
    // Draw tab.
    canvas: Canvas,
    in_flight: Option<u64>,
    sent: Option<u64>,
    result: Option<(u64, Box<Classified>)>,
    refused: Option<String>,
    raster_texture: Option<TextureHandle>,
    // Latency tab.
    latency: LatencySnapshot,
    bench_images: usize,
    bench: Vec<BenchPoint>,
    parity: Option<Parity>,
    // Evaluate tab.
    eval_paths: String,
    held_out: bool,
    eval: Option<Box<BatchEvaluation>>,
    open_miss: Option<usize>,
    now: f64,
    // Generate tab.
    generator_path: String,
    generator: Option<worker::LoadedGenerator>,
    gen_shape: String,
    gen_temperature: f32,
    gen_seed: u64,
    generated: Option<(Box<worker::Generation>, f64)>,
}

impl Workbench {
    /// A workbench with its engine thread started; loads `options.model` when given.
    pub fn new(options: Options) -> Self {
        let (engine, notifier, inbox) = worker::start();
        let cache = ModelCache::new(options.cache_dir);
        let mut me = Self {
            cached: cache.list(),
            cache,
            tab: Tab::Model,
            engine,
            notifier,
            inbox,
            busy: None,
            error: None,
            notice: None,
            server: options.server,
            username: String::new(),
            password: String::new(),
            registry: None,
            versions: Vec::new(),
            generator_versions: Vec::new(),
            local_path: options
                .model
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            backend: options.backend,
            loaded: None,
            canvas: Canvas::default(),
            in_flight: None,
            sent: None,
            result: None,
            refused: None,
            raster_texture: None,
            latency: LatencySnapshot::default(),
            bench_images: 512,
            bench: Vec::new(),
            parity: None,
            eval_paths: String::new(),
            held_out: false,
            eval: None,
            open_miss: None,
            now: 0.0,
            generator_path: String::new(),
            generator: None,
            gen_shape: String::new(),
            gen_temperature: 0.5,
            gen_seed: 0,
            generated: None,
        };
        if let Some(dir) = options.model {
            me.load_dir(dir);
        }
        me
    }

    /// The loaded model, once loaded.
    pub fn loaded(&self) -> Option<&Loaded> {
        self.loaded.as_ref()
    }

    /// The latest classification of the canvas.
    pub fn classification(&self) -> Option<&Classified> {
        self.result.as_ref().map(|(_, c)| c.as_ref())
    }

    /// The latest batch evaluation.
    pub fn evaluation(&self) -> Option<&BatchEvaluation> {
        self.eval.as_deref()
    }

    /// The latest parity check.
    pub fn parity(&self) -> Option<&Parity> {
        self.parity.as_ref()
    }

    /// The latest generated drawing.
    pub fn generated(&self) -> Option<&worker::Generation> {
        self.generated.as_ref().map(|(g, _)| g.as_ref())
    }

    /// The loaded generator.
    pub fn generator(&self) -> Option<&worker::LoadedGenerator> {
        self.generator.as_ref()
    }

    /// Whether background work is running.
    pub fn busy(&self) -> bool {
        self.busy.is_some() || self.in_flight.is_some()
    }

    /// The error line, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn send(&mut self, cmd: EngineCmd, what: &str) {
        self.error = None;
        self.busy = Some(what.to_owned());
        if self.engine.send(cmd).is_err() {
            self.error = Some("the engine thread stopped".into());
            self.busy = None;
        }
    }

    fn load_artifact(&mut self, artifact: Artifact) {
        self.result = None;
        self.bench.clear();
        self.parity = None;
        self.eval = None;
        self.send(
            EngineCmd::Load(Box::new(artifact), self.backend),
            "loading the model...",
        );
    }

    /// Loads a cached version: a recognizer into the engine, a generator into the Generate
    /// tab.
    fn load_cached(&mut self, m: &CachedModel) {
        if m.info.version.model_kind == "generator" {
            self.generator_path = m.dir.display().to_string();
            self.send(
                EngineCmd::LoadGenerator(m.dir.clone(), self.backend),
                "loading the generator...",
            );
            return;
        }
        match m.artifact() {
            Ok(a) => self.load_artifact(a),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn load_dir(&mut self, dir: PathBuf) {
        match Artifact::read_dir(&dir) {
            Ok(a) => self.load_artifact(a),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn drain(&mut self) {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                Msg::Progress(p) => self.busy = Some(p),
                Msg::Failed(e) => {
                    self.busy = None;
                    self.in_flight = None;
                    self.error = Some(e);
                }
                Msg::Unloaded => {
                    self.loaded = None;
                    self.result = None;
                }
                Msg::Loaded(l) => {
                    self.busy = None;
                    self.backend = l.backend;
                    self.notice = Some(format!("loaded on {}", l.backend_label));
                    self.loaded = Some(*l);
                    self.latency = LatencySnapshot::default();
                    self.in_flight = None;
                    self.sent = None;
                    self.result = None;
                }
                Msg::Classified {
                    revision,
                    result,
                    latency,
                } => {
                    self.in_flight = None;
                    self.latency = latency;
                    match result {
                        Ok(c) => {
                            self.refused = None;
                            self.raster_texture = None;
                            self.result = Some((revision, c));
                        }
                        Err(e) => {
                            self.result = None;
                            self.refused = Some(e);
                        }
                    }
                }
                Msg::Benchmark(points) => {
                    self.busy = None;
                    self.bench = points;
                }
                Msg::Parity(p) => {
                    self.busy = None;
                    self.parity = Some(p);
                }
                Msg::Evaluated(e) => {
                    self.busy = None;
                    self.open_miss = None;
                    self.eval = Some(e);
                }
                Msg::GeneratorLoaded(g) => {
                    self.busy = None;
                    if !g.manifest.classes.contains(&self.gen_shape) {
                        self.gen_shape = g.manifest.classes.first().cloned().unwrap_or_default();
                    }
                    self.notice = Some(format!("generator loaded on {}", g.backend_label));
                    self.generator = Some(*g);
                }
                Msg::Generated(g) => {
                    self.busy = None;
                    let now = self.now;
                    self.generated = Some((g, now));
                }
                Msg::Registry(r, versions, generators) => {
                    self.busy = None;
                    self.registry = Some(r);
                    self.versions = versions;
                    self.generator_versions = generators;
                }
                Msg::Downloaded(m) => {
                    self.busy = None;
                    self.cached = self.cache.list();
                    self.load_cached(&m);
                }
            }
        }
    }

    /// Draws the whole workbench into `ui` and handles what arrived from the background.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.notifier.set_context(ui.ctx());
        self.now = ui.input(|i| i.time);
        self.drain();
        self.classify_if_changed();
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Inkset Workbench");
                ui.separator();
                for t in Tab::ALL {
                    ui.selectable_value(&mut self.tab, t, t.name());
                }
            });
        });
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("page")
                .auto_shrink([false, false])
                .show(ui, |ui| match self.tab {
                    Tab::Model => self.model_tab(ui),
                    Tab::Draw => self.draw_tab(ui),
                    Tab::Latency => self.latency_tab(ui),
                    Tab::Evaluate => self.evaluate_tab(ui),
                    Tab::Generate => self.generate_tab(ui),
                });
        });
        self.miss_window(ui.ctx());
        if self.busy() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            match &self.loaded {
                Some(l) => {
                    ui.label(format!(
                        "{} v{} · {} classes · {}",
                        l.manifest.model_kind,
                        l.manifest.version,
                        l.manifest.classes.len(),
                        l.backend_label
                    ));
                }
                None => {
                    ui.label("No model loaded");
                }
            }
            if let Some(b) = &self.busy {
                ui.separator();
                ui.spinner();
                ui.label(b.as_str());
            }
            if let Some(e) = &self.error {
                ui.separator();
                ui.colored_label(tokens::ERROR, format!("Error: {e}"));
            } else if let Some(n) = &self.notice {
                ui.separator();
                ui.label(n.as_str());
            }
        });
    }
}

/// A label and a text field named by it (found by that name in the accessibility tree).
fn labelled_edit(ui: &mut egui::Ui, name: &str, text: &mut String, password: bool) {
    let label = ui.label(name);
    ui.add(egui::TextEdit::singleline(text).password(password))
        .labelled_by(label.id);
}

fn class_table(ui: &mut egui::Ui, id: &str, e: &inkset_model::training::Evaluation) {
    egui::Grid::new(id)
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            for h in ["class", "precision", "recall", "support"] {
                ui.strong(h);
            }
            ui.end_row();
            for c in &e.per_class {
                ui.label(c.class.as_str());
                ui.label(format!("{:.4}", c.precision));
                ui.label(format!("{:.4}", c.recall));
                ui.label(c.support.to_string());
                ui.end_row();
            }
        });
}

impl eframe::App for Workbench {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}
