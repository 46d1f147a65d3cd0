//! Background work: the engine thread (everything that touches the model) and short-lived
//! network threads, reporting to the UI through one channel.
//!
//! The engine runs on its own thread because a wgpu pass on a slow adapter, or the first
//! pass that compiles kernels, can take seconds; the UI keeps drawing meanwhile.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};

use inkset_model::backend::Backend;
use inkset_model::dataset::Sample;
use inkset_model::raster::Polyline;
use inkset_protocol::ml::ModelVersion;

use crate::cache::{CachedModel, ModelCache};
use crate::engine::{
    Artifact, BatchEvaluation, BenchPoint, Classified, Engine, Parity, backend_label,
};
use crate::latency::{LatencyStats, Stage, Summary, Timing};
use crate::registry::Registry;

/// A copy of the latency numbers for display.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencySnapshot {
    /// The cold call.
    pub cold: Option<Timing>,
    /// Per stage, over the warm calls.
    pub warm: Vec<(Stage, Option<Summary>)>,
    /// Warm calls so far.
    pub warm_count: u64,
}

impl From<&LatencyStats> for LatencySnapshot {
    fn from(s: &LatencyStats) -> Self {
        Self {
            cold: s.cold(),
            warm: Stage::ALL.iter().map(|&st| (st, s.summary(st))).collect(),
            warm_count: s.warm_count(),
        }
    }
}

/// What the loaded model is.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The manifest.
    pub manifest: inkset_model::artifact::Manifest,
    /// Where it came from.
    pub origin: String,
    /// The backend it runs on.
    pub backend: Backend,
    /// The backend and its adapter.
    pub backend_label: String,
}

/// Work for the engine thread.
#[derive(Debug)]
pub enum EngineCmd {
    /// Load an artifact on a backend.
    Load(Box<Artifact>, Backend),
    /// Move the loaded model to another backend.
    Switch(Backend),
    /// Classify the canvas at `revision`.
    Classify {
        /// The canvas revision.
        revision: u64,
        /// Its strokes.
        lines: Vec<Polyline>,
    },
    /// Throughput and latency at batch sizes 1..=256 on these drawings' rasters.
    Benchmark {
        /// Drawings per batch size.
        images: usize,
        /// Inputs (repeated to fill batches).
        drawings: Vec<Vec<Polyline>>,
    },
    /// CPU vs wgpu on these drawings, or the last evaluation's (first 100) when empty.
    Parity(Vec<Vec<Polyline>>),
    /// Batch evaluation of files.
    Evaluate {
        /// Files or folders.
        paths: Vec<PathBuf>,
        /// Held-out split only.
        held_out: bool,
    },
    /// Load a generator artifact directory (on the recognizer's backend choice).
    LoadGenerator(PathBuf, Backend),
    /// Draw a shape with the generator, then classify it with the recognizer.
    Generate {
        /// Shape name.
        shape: String,
        /// Sampling temperature.
        temperature: f32,
        /// Seed.
        seed: u64,
        /// Point cap.
        max_points: usize,
    },
}

/// A generated drawing.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The request.
    pub shape: String,
    /// Temperature.
    pub temperature: f32,
    /// Seed.
    pub seed: u64,
    /// Strokes in 0..=255 (Quick, Draw! simplified scale), in drawing order.
    pub lines: Vec<Polyline>,
    /// Sampling time, ms.
    pub latency_ms: f64,
    /// The loaded recognizer's answer and confidence, when one is loaded.
    pub recognized: Option<(String, f32)>,
}

/// What the loaded generator is.
#[derive(Debug, Clone)]
pub struct LoadedGenerator {
    /// Its manifest.
    pub manifest: inkset_model::generator::GeneratorManifest,
    /// Where it came from.
    pub origin: String,
    /// Its backend.
    pub backend_label: String,
}

/// A report to the UI.
#[derive(Debug)]
pub enum Msg {
    /// A long task's progress line.
    Progress(String),
    /// The model is loaded (or moved to another backend).
    Loaded(Box<Loaded>),
    /// A failure, for the error line.
    Failed(String),
    /// The model was dropped after a failure.
    Unloaded,
    /// A classification of the canvas.
    Classified {
        /// The canvas revision classified.
        revision: u64,
        /// The result, or why the drawing was refused.
        result: Result<Box<Classified>, String>,
        /// Latencies after it.
        latency: LatencySnapshot,
    },
    /// The benchmark's points.
    Benchmark(Vec<BenchPoint>),
    /// The parity check.
    Parity(Parity),
    /// A batch evaluation.
    Evaluated(Box<BatchEvaluation>),
    /// A generator is loaded.
    GeneratorLoaded(Box<LoadedGenerator>),
    /// A generated drawing.
    Generated(Box<Generation>),
    /// Signed in and listed the registry: recognizer and generator versions.
    Registry(Registry, Vec<ModelVersion>, Vec<ModelVersion>),
    /// A version is in the cache.
    Downloaded(Box<CachedModel>),
}

/// The sending side: a channel plus a repaint request once the UI's context is known.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: Sender<Msg>,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Notifier {
    /// Sends a report and wakes the UI.
    pub fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
        if let Some(ctx) = self.ctx.get() {
            ctx.request_repaint();
        }
    }

    /// Tells the notifier which context to wake (first frame).
    pub fn set_context(&self, ctx: &egui::Context) {
        let _ = self.ctx.set(ctx.clone());
    }

    /// Runs `f` on a new thread (network calls).
    pub fn spawn(&self, name: &str, f: impl FnOnce(&Notifier) + Send + 'static) {
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || f(&me));
        if let Err(e) = spawned {
            self.send(Msg::Failed(format!("cannot start a thread: {e}")));
        }
    }
}

/// Starts the engine thread; returns its command sender, the notifier and the UI's inbox.
pub fn start() -> (Sender<EngineCmd>, Notifier, Receiver<Msg>) {
    let (tx, inbox) = channel();
    let notifier = Notifier {
        tx,
        ctx: Arc::new(OnceLock::new()),
    };
    let (cmd_tx, cmd_rx) = channel::<EngineCmd>();
    let n = notifier.clone();
    let spawned = std::thread::Builder::new()
        .name("inkset-engine".into())
        .spawn(move || engine_loop(&cmd_rx, &n));
    if let Err(e) = spawned {
        notifier.send(Msg::Failed(format!("cannot start the engine thread: {e}")));
    }
    (cmd_tx, notifier, inbox)
}

#[derive(Default)]
struct State {
    engine: Option<Engine>,
    generator: Option<inkset_model::generator::ShapeGenerator>,
    last: Vec<Sample>,
}

fn engine_loop(rx: &Receiver<EngineCmd>, n: &Notifier) {
    let mut state = State::default();
    while let Ok(mut cmd) = rx.recv() {
        // Only the newest classification matters: skip stale ones queued behind it.
        while let EngineCmd::Classify { .. } = cmd {
            match rx.try_recv() {
                Ok(next @ EngineCmd::Classify { .. }) => cmd = next,
                Ok(other) => {
                    handle(cmd, &mut state, n);
                    cmd = other;
                }
                Err(_) => break,
            }
        }
        // A panic inside burn (a lost device, a kernel that fails to compile) must not take
        // the engine thread down: report it and drop the model.
        let run = std::panic::AssertUnwindSafe(|| handle(cmd, &mut state, n));
        if let Err(panic) = std::panic::catch_unwind(run) {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".into());
            state.engine = None;
            n.send(Msg::Unloaded);
            n.send(Msg::Failed(format!(
                "the model failed and was unloaded ({what}); load it again, or on the CPU"
            )));
        }
    }
}

fn loaded(e: &Engine) -> Msg {
    Msg::Loaded(Box::new(Loaded {
        manifest: e.artifact().manifest.clone(),
        origin: e.artifact().origin.clone(),
        backend: e.backend(),
        backend_label: backend_label(e.backend()),
    }))
}

fn handle(cmd: EngineCmd, st: &mut State, n: &Notifier) {
    let State {
        engine,
        generator,
        last,
    } = st;
    let need = |engine: &Option<Engine>| {
        if engine.is_none() {
            n.send(Msg::Failed("load a model first".into()));
        }
    };
    match cmd {
        EngineCmd::Load(artifact, mut backend) => {
            if backend == Backend::Wgpu && crate::engine::wgpu_adapter().is_none() {
                n.send(Msg::Progress(
                    "no wgpu adapter: using the CPU backend".into(),
                ));
                backend = Backend::Cpu;
            }
            n.send(Msg::Progress(format!(
                "loading {} on {backend:?}...",
                artifact.origin
            )));
            match Engine::load(*artifact, backend) {
                Ok(e) => {
                    n.send(loaded(&e));
                    *engine = Some(e);
                    last.clear();
                }
                Err(e) => n.send(Msg::Failed(format!("cannot load the model: {e}"))),
            }
        }
        EngineCmd::Switch(backend) => {
            need(engine);
            if backend == Backend::Wgpu && crate::engine::wgpu_adapter().is_none() {
                n.send(Msg::Failed("no wgpu adapter on this machine".into()));
                if let Some(e) = engine.as_ref() {
                    n.send(loaded(e));
                }
                return;
            }
            if let Some(e) = engine.as_mut() {
                n.send(Msg::Progress(format!("moving the model to {backend:?}...")));
                match e.switch(backend) {
                    Ok(()) => n.send(loaded(e)),
                    Err(err) => n.send(Msg::Failed(format!("cannot switch: {err}"))),
                }
            }
        }
        EngineCmd::Classify { revision, lines } => {
            need(engine);
            if let Some(e) = engine.as_mut() {
                let result = e
                    .classify(&lines)
                    .map(Box::new)
                    .map_err(|err| err.to_string());
                n.send(Msg::Classified {
                    revision,
                    result,
                    latency: LatencySnapshot::from(&e.stats),
                });
            }
        }
        EngineCmd::Benchmark { images, drawings } => {
            need(engine);
            if let Some(e) = engine.as_ref() {
                let refs: Vec<&[Polyline]> = drawings.iter().map(Vec::as_slice).collect();
                let inputs = e.rasterize_all(&refs);
                let points = e.benchmark(&inputs, images, &mut |done, total| {
                    n.send(Msg::Progress(format!(
                        "benchmark: batch size {done} of {total}"
                    )));
                });
                n.send(Msg::Benchmark(points));
            }
        }
        EngineCmd::Parity(drawings) => {
            need(engine);
            if let Some(e) = engine.as_ref() {
                n.send(Msg::Progress("parity: running on CPU and wgpu...".into()));
                let drawings: Vec<&[Polyline]> = if drawings.is_empty() {
                    last.iter().take(100).map(|s| s.lines.as_slice()).collect()
                } else {
                    drawings.iter().map(Vec::as_slice).collect()
                };
                let rasters = e.rasterize_all(&drawings);
                match e.parity(&rasters) {
                    Ok(p) => n.send(Msg::Parity(p)),
                    Err(err) => n.send(Msg::Failed(format!("parity check failed: {err}"))),
                }
            }
        }
        EngineCmd::Evaluate { paths, held_out } => {
            need(engine);
            if let Some(e) = engine.as_ref() {
                n.send(Msg::Progress("evaluating: reading files...".into()));
                let result = e.evaluate_files(&paths, held_out, &mut |done, total| {
                    n.send(Msg::Progress(format!(
                        "evaluating: {done} of {total} drawings"
                    )));
                });
                match result {
                    Ok((eval, samples)) => {
                        *last = samples;
                        n.send(Msg::Evaluated(Box::new(eval)));
                    }
                    Err(err) => n.send(Msg::Failed(format!("evaluation failed: {err}"))),
                }
            }
        }
        EngineCmd::LoadGenerator(dir, mut backend) => {
            if backend == Backend::Wgpu && crate::engine::wgpu_adapter().is_none() {
                backend = Backend::Cpu;
            }
            n.send(Msg::Progress(format!(
                "loading the generator {}...",
                dir.display()
            )));
            match inkset_model::generator::ShapeGenerator::load(&dir, backend.device()) {
                Ok(g) => {
                    n.send(Msg::GeneratorLoaded(Box::new(LoadedGenerator {
                        manifest: g.manifest.clone(),
                        origin: dir.display().to_string(),
                        backend_label: backend_label(backend),
                    })));
                    *generator = Some(g);
                }
                Err(e) => n.send(Msg::Failed(format!("cannot load the generator: {e}"))),
            }
        }
        EngineCmd::Generate {
            shape,
            temperature,
            seed,
            max_points,
        } => {
            let Some(g) = generator.as_ref() else {
                n.send(Msg::Failed("load a generator first".into()));
                return;
            };
            let started = std::time::Instant::now();
            let strokes = match g.generate(&shape, temperature, seed, max_points) {
                Ok(s) => s,
                Err(e) => {
                    n.send(Msg::Failed(e.to_string()));
                    return;
                }
            };
            let latency_ms = started.elapsed().as_secs_f64() * 1e3;
            let lines: Vec<Polyline> = strokes
                .iter()
                .map(|s| {
                    s.x.iter()
                        .zip(&s.y)
                        .map(|(&x, &y)| [x as f32, y as f32])
                        .collect()
                })
                .collect();
            let recognized = engine
                .as_ref()
                .and_then(|e| e.answer(&lines).ok())
                .map(|d| (d.label, d.confidence));
            n.send(Msg::Generated(Box::new(Generation {
                shape,
                temperature,
                seed,
                lines,
                latency_ms,
                recognized,
            })));
        }
    }
}

/// Signs in and lists the registry (on a network thread).
pub fn sign_in(n: &Notifier, url: String, username: String, password: String) {
    n.spawn("inkset-registry", move |n| {
        n.send(Msg::Progress(format!("signing in to {url}...")));
        let result = Registry::new(&url).and_then(|mut r| {
            r.sign_in(&username, &password)?;
            let models = r.models()?;
            let generators = r.models_of("generator")?;
            Ok((r, models, generators))
        });
        match result {
            Ok((r, models, generators)) => n.send(Msg::Registry(r, models, generators)),
            Err(e) => n.send(Msg::Failed(e.to_string())),
        }
    });
}

/// Lists the registry again with the held token.
pub fn refresh(n: &Notifier, registry: Registry) {
    n.spawn("inkset-registry", move |n| {
        match registry
            .models()
            .and_then(|m| Ok((m, registry.models_of("generator")?)))
        {
            Ok((models, generators)) => n.send(Msg::Registry(registry, models, generators)),
            Err(e) => n.send(Msg::Failed(e.to_string())),
        }
    });
}

/// Downloads a version (or, with `None`, the public production version) into the cache.
pub fn download(
    n: &Notifier,
    registry: Registry,
    version: Option<ModelVersion>,
    cache: ModelCache,
) {
    n.spawn("inkset-download", move |n| {
        n.send(Msg::Progress(format!(
            "downloading from {}...",
            registry.base()
        )));
        let result = match &version {
            Some(v) => registry.download(v, &cache),
            None => registry.download_production(&cache),
        };
        match result {
            Ok(m) => n.send(Msg::Downloaded(Box::new(m))),
            Err(e) => n.send(Msg::Failed(format!("download failed: {e}"))),
        }
    });
}
