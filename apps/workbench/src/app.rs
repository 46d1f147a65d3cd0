//! The workbench window: Model, Draw, Latency and Evaluate tabs.
//!
//! [`Workbench::show`] draws everything into a `Ui`; the eframe app and the tests both
//! call it.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};

use egui::{Color32, RichText, Stroke, TextureHandle, Vec2};
use egui_plot::{Legend, Line, Plot, PlotPoints};
use inkset_model::backend::Backend;
use inkset_model::raster::Polyline;
use inkset_protocol::ml::ModelVersion;
use inkset_protocol::quickdraw::{QdStroke, Record};

use crate::cache::{CachedModel, ModelCache};
use crate::canvas::{Canvas, paint_lines};
use crate::engine::{Artifact, BatchEvaluation, BenchPoint, Classified, Parity};
use crate::latency::{Stage, millis};
use crate::worker::{self, EngineCmd, LatencySnapshot, Loaded, Msg, Notifier};

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
                ui.colored_label(Color32::from_rgb(0xc0, 0x20, 0x20), format!("Error: {e}"));
            } else if let Some(n) = &self.notice {
                ui.separator();
                ui.label(n.as_str());
            }
        });
    }

    // ---- Model tab -------------------------------------------------------------------

    fn model_tab(&mut self, ui: &mut egui::Ui) {
        ui.columns(2, |cols| {
            let [left, right] = cols else { return };
            self.sources(left);
            self.manifest_view(right);
        });
    }

    fn sources(&mut self, ui: &mut egui::Ui) {
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

    fn manifest_view(&mut self, ui: &mut egui::Ui) {
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

    // ---- Draw tab --------------------------------------------------------------------

    fn classify_if_changed(&mut self) {
        if self.loaded.is_none() || self.in_flight.is_some() || self.busy.is_some() {
            return;
        }
        let rev = self.canvas.revision();
        if self.canvas.is_empty() || self.sent == Some(rev) {
            return;
        }
        self.in_flight = Some(rev);
        self.sent = Some(rev);
        let lines = self.canvas.polylines();
        if self
            .engine
            .send(EngineCmd::Classify {
                revision: rev,
                lines,
            })
            .is_err()
        {
            self.in_flight = None;
        }
    }

    fn draw_tab(&mut self, ui: &mut egui::Ui) {
        if self.loaded.is_none() {
            ui.label("Load a model on the Model tab first.");
        }
        ui.horizontal(|ui| {
            if ui.button("Clear").clicked() {
                self.canvas.clear();
                self.result = None;
                self.refused = None;
            }
            if ui.button("Undo stroke").clicked() {
                self.canvas.undo();
            }
            if ui.button("Save drawing as test case").clicked() {
                let word = self
                    .classification()
                    .map_or_else(|| "unlabelled".to_owned(), |c| c.decision.label.clone());
                let lines = self.canvas.polylines();
                self.save_case(&word, None, &lines);
            }
        });
        ui.horizontal_top(|ui| {
            let side = ui.available_width().clamp(240.0, 420.0) * 0.95;
            self.canvas.show(ui, Vec2::splat(side));
            ui.vertical(|ui| self.answer_view(ui));
        });
    }

    fn answer_view(&mut self, ui: &mut egui::Ui) {
        if let Some(r) = &self.refused {
            ui.label(format!("Not classified: {r}"));
        }
        let Some((_, c)) = &self.result else {
            if self.refused.is_none() {
                ui.label("Draw on the canvas: the answer updates as you draw.");
            }
            return;
        };
        let Some(l) = &self.loaded else { return };
        ui.heading(format!(
            "Answer: {} ({:.1} %)",
            c.decision.label,
            c.decision.confidence * 100.0
        ));
        ui.label(format!(
            "unknown below {:.0} % (the manifest's reject threshold)",
            l.manifest.unknown_threshold * 100.0
        ));
        let mut order: Vec<usize> = (0..c.probabilities.len()).collect();
        order.sort_by(|&a, &b| c.probabilities[b].total_cmp(&c.probabilities[a]));
        for (rank, &i) in order.iter().enumerate() {
            let p = c.probabilities[i];
            let class = l.manifest.classes.get(i).map_or("?", String::as_str);
            ui.add(egui::ProgressBar::new(p).desired_width(240.0).text(format!(
                "{}. {class} {:.1} %",
                rank + 1,
                p * 100.0
            )));
        }
        ui.label(format!(
            "rasterize {:.2} ms · inference {:.2} ms{}",
            millis(c.timing.rasterize),
            millis(c.timing.inference),
            if c.cold { " (cold)" } else { "" }
        ));
        let n = l.manifest.input.size;
        let texture = self.raster_texture.get_or_insert_with(|| {
            let pixels: Vec<u8> = c
                .raster
                .iter()
                .map(|v| 255 - (v.clamp(0.0, 1.0) * 255.0) as u8)
                .collect();
            ui.ctx().load_texture(
                "raster",
                egui::ColorImage::from_gray([n, n], &pixels),
                egui::TextureOptions::NEAREST,
            )
        });
        ui.label(format!("What the network sees ({n}x{n}):"));
        ui.add(egui::Image::new((texture.id(), Vec2::splat(128.0))));
    }

    fn save_case(&mut self, word: &str, key_id: Option<u64>, lines: &[Polyline]) {
        if lines.iter().all(Vec::is_empty) {
            self.error = Some("nothing to save: the drawing is empty".into());
            return;
        }
        let key_id = key_id.unwrap_or_else(|| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for p in lines.iter().flatten() {
                for v in p {
                    h = (h ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3);
                }
            }
            h
        });
        let record = Record {
            word: word.to_owned(),
            countrycode: None,
            timestamp: None,
            recognized: None,
            key_id,
            drawing: lines
                .iter()
                .map(|l| QdStroke {
                    x: l.iter().map(|p| f64::from(p[0])).collect(),
                    y: l.iter().map(|p| f64::from(p[1])).collect(),
                    t: None,
                })
                .collect(),
            source: Some("inkset-workbench test case".into()),
        };
        let dir = self.cache.test_cases();
        let path = dir.join(format!("{word}-{key_id}.ndjson"));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, format!("{}\n", record.to_line())));
        match written {
            Ok(()) => self.notice = Some(format!("saved test case {}", path.display())),
            Err(e) => self.error = Some(format!("cannot write {}: {e}", path.display())),
        }
    }

    // ---- Latency tab -----------------------------------------------------------------

    fn latency_tab(&mut self, ui: &mut egui::Ui) {
        ui.heading("Single drawing (the Draw tab's calls)");
        if let Some(l) = &self.loaded {
            ui.label(format!("on {}", l.backend_label));
        }
        let s = &self.latency;
        match s.cold {
            Some(c) => {
                ui.label(format!(
                    "Cold (first call after loading): rasterize {:.2} ms, inference {:.2} ms, total {:.2} ms",
                    millis(c.rasterize),
                    millis(c.inference),
                    millis(c.rasterize + c.inference)
                ));
            }
            None => {
                ui.label("No call yet: draw something on the Draw tab.");
            }
        }
        ui.label(format!("Warm calls: {}", s.warm_count));
        egui::Grid::new("latency")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                for h in ["stage (ms)", "last", "p50", "p95", "p99"] {
                    ui.strong(h);
                }
                ui.end_row();
                for (stage, summary) in &s.warm {
                    ui.label(stage.name());
                    match summary {
                        Some(x) => {
                            for v in [x.last, x.p50, x.p95, x.p99] {
                                ui.label(format!("{v:.3}"));
                            }
                        }
                        None => {
                            for _ in 0..4 {
                                ui.label("-");
                            }
                        }
                    }
                    ui.end_row();
                }
            });
        let _ = Stage::ALL;
        ui.separator();
        ui.heading("Benchmark");
        ui.horizontal(|ui| {
            ui.label("Drawings per batch size");
            ui.add(
                egui::DragValue::new(&mut self.bench_images)
                    .range(16..=100_000)
                    .speed(16),
            );
            if ui.button("Run benchmark").clicked() {
                let drawings = self.reference_drawings();
                let images = self.bench_images;
                self.send(EngineCmd::Benchmark { images, drawings }, "benchmark...");
            }
        });
        ui.label("Network only (rasters prepared first): batch sizes 1 to 256.");
        if !self.bench.is_empty() {
            egui::Grid::new("bench")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for h in ["batch", "drawings/s", "p50 ms/batch", "p99 ms/batch"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for b in &self.bench {
                        ui.label(b.batch.to_string());
                        ui.label(format!("{:.0}", b.throughput));
                        ui.label(format!("{:.3}", b.p50_ms));
                        ui.label(format!("{:.3}", b.p99_ms));
                        ui.end_row();
                    }
                });
            let tp: PlotPoints<'_> = self
                .bench
                .iter()
                .map(|b| [(b.batch as f64).log2(), b.throughput])
                .collect();
            let lat: PlotPoints<'_> = self
                .bench
                .iter()
                .map(|b| [(b.batch as f64).log2(), b.p50_ms])
                .collect();
            ui.columns(2, |c| {
                Plot::new("throughput")
                    .height(180.0)
                    .x_axis_label("log2 batch")
                    .y_axis_label("drawings/s")
                    .show(&mut c[0], |p| p.line(Line::new("throughput", tp)));
                Plot::new("latency_plot")
                    .height(180.0)
                    .x_axis_label("log2 batch")
                    .y_axis_label("p50 ms per batch")
                    .show(&mut c[1], |p| p.line(Line::new("p50", lat)));
            });
        }
        ui.separator();
        ui.heading("Parity: CPU vs wgpu");
        ui.label(
            "Runs both backends on the same rasters: the last evaluation's first 100 \
             drawings, else the canvas and the reference shapes.",
        );
        if ui.button("Run parity check").clicked() {
            let drawings = if self.eval.is_some() {
                Vec::new()
            } else {
                self.reference_drawings()
            };
            self.send(EngineCmd::Parity(drawings), "parity check...");
        }
        if let Some(p) = &self.parity {
            ui.label(format!(
                "{} inputs: same answer on {}; largest probability difference {:.3e} (input {})",
                p.count, p.same_answer, p.max_abs_diff, p.worst_input
            ));
        }
    }

    /// The canvas drawing (when any) and procedurally drawn reference shapes.
    fn reference_drawings(&self) -> Vec<Vec<Polyline>> {
        let mut out = Vec::new();
        if !self.canvas.is_empty() {
            out.push(self.canvas.polylines());
        }
        out.extend(crate::shapes::reference());
        out
    }

    // ---- Evaluate tab ----------------------------------------------------------------

    fn evaluate_tab(&mut self, ui: &mut egui::Ui) {
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
                            Color32::from_rgb(0x2e, 0x9d, 0x5b)
                        } else {
                            Color32::from_rgb(0xd0, 0x4a, 0x3a)
                        };
                        let fill = base.gamma_multiply(0.15 + 0.85 * share * f32::from(v > 0));
                        egui::Frame::new()
                            .fill(fill)
                            .inner_margin(4.0)
                            .show(ui, |ui| {
                                ui.label(RichText::new(v.to_string()).color(Color32::BLACK));
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
                        ui.painter().rect_filled(rect, 4.0, Color32::WHITE);
                        paint_lines(
                            ui.painter(),
                            rect,
                            &m.lines,
                            Stroke::new(1.5, Color32::from_rgb(0x1d, 0x23, 0x33)),
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

    fn miss_window(&mut self, ctx: &egui::Context) {
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
                ui.painter().rect_filled(rect, 4.0, Color32::WHITE);
                paint_lines(
                    ui.painter(),
                    rect,
                    &m.lines,
                    Stroke::new(2.5, Color32::from_rgb(0x1d, 0x23, 0x33)),
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

/// A label and a text field named by it (found by that name in the accessibility tree).
fn labelled_edit(ui: &mut egui::Ui, name: &str, text: &mut String, password: bool) {
    let label = ui.label(name);
    ui.add(egui::TextEdit::singleline(text).password(password))
        .labelled_by(label.id);
}

impl Workbench {
    fn generate_tab(&mut self, ui: &mut egui::Ui) {
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
        ui.painter().rect_filled(rect, 4.0, Color32::WHITE);
        // The generated drawing spans 0..=255: a fixed frame while it is replayed.
        crate::canvas::paint_lines_within(
            ui.painter(),
            rect,
            &partial,
            Stroke::new(2.5, Color32::from_rgb(0x1d, 0x23, 0x33)),
            [0.0, 0.0],
            [255.0, 255.0],
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
