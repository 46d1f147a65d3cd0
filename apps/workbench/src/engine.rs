//! The loaded recognizer on one backend: classification with per-stage timing, the
//! throughput/latency benchmark, the CPU-vs-wgpu parity check and batch evaluation.
//!
//! Everything here is blocking; the app runs it on its engine thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use inkset_model::artifact::{ArtifactError, MANIFEST, Manifest, WEIGHTS};
use inkset_model::backend::Backend;
use inkset_model::dataset::{Dataset, Sample, Split, shapes_of};
use inkset_model::inference::Classifier;
use inkset_model::raster::{Polyline, RasterError};
use inkset_model::training::{Decision, Evaluation, evaluation};

use crate::latency::{LatencyStats, Timing, millis, quantile};

/// Why a model could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file of the artifact could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `manifest.json` is not a manifest.
    #[error("{path}: not an Inkset manifest: {source}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// Where and why.
        source: serde_json::Error,
    },
    /// The weights do not load into the manifest's network (checksum, rasterizer version,
    /// shapes).
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The data given for evaluation holds no drawing of the model's classes.
    #[error("no drawings of the model's classes ({classes}) in {files} file(s)")]
    NoDrawings {
        /// The classes.
        classes: String,
        /// Files read.
        files: usize,
    },
}

/// An artifact in memory: its manifest and its Burnpack weights, so that it can be put on
/// any backend without touching the disk or the network again.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest.
    pub manifest: Manifest,
    /// Burnpack bytes (sha256 in `manifest.weights_sha256`).
    pub weights: Arc<Vec<u8>>,
    /// Where it came from (a directory or a registry version), for display.
    pub origin: String,
}

impl Artifact {
    /// Reads `manifest.json` and `weights.bpk` from an artifact directory.
    ///
    /// # Errors
    /// [`EngineError::Read`] or [`EngineError::Manifest`].
    pub fn read_dir(dir: &Path) -> Result<Self, EngineError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EngineError::Read { path, source })
        };
        let manifest_bytes = read(MANIFEST)?;
        let manifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| EngineError::Manifest {
                path: dir.join(MANIFEST),
                source,
            })?;
        Ok(Self {
            manifest,
            weights: Arc::new(read(WEIGHTS)?),
            origin: dir.display().to_string(),
        })
    }

    /// Puts the artifact on a backend.
    ///
    /// # Errors
    /// [`EngineError::Artifact`] when the weights do not fit the manifest.
    pub fn classifier(&self, backend: Backend) -> Result<Classifier, EngineError> {
        Ok(Classifier::from_bytes(
            self.manifest.clone(),
            self.weights.as_ref().clone(),
            backend.device(),
        )?)
    }
}

/// The backend's display name with the adapter it runs on.
pub fn backend_label(backend: Backend) -> String {
    match backend {
        Backend::Cpu => format!(
            "CPU (burn flex, {} threads)",
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        ),
        Backend::Wgpu => match wgpu_adapter() {
            Some(a) => format!("wgpu: {a}"),
            None => "wgpu: no adapter found".into(),
        },
    }
}

/// The adapter burn's wgpu `DefaultDevice` runs on: the first of discrete, integrated,
/// virtual and CPU (software) adapters, as wgpu reports it (name, API, device type).
pub fn wgpu_adapter() -> Option<String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let rank = |t: wgpu::DeviceType| match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    adapters
        .iter()
        .map(wgpu::Adapter::get_info)
        .min_by_key(|i| rank(i.device_type))
        .map(|i| {
            let kind = match i.device_type {
                wgpu::DeviceType::Cpu => "software, no GPU",
                wgpu::DeviceType::DiscreteGpu => "discrete GPU",
                wgpu::DeviceType::IntegratedGpu => "integrated GPU",
                wgpu::DeviceType::VirtualGpu => "virtual GPU",
                wgpu::DeviceType::Other => "other",
            };
            format!("{} ({:?}, {kind})", i.name, i.backend)
        })
}

/// One classification.
#[derive(Debug, Clone)]
pub struct Classified {
    /// The answer (the manifest's reject rule applied).
    pub decision: Decision,
    /// Every class's probability, in the manifest's class order.
    pub probabilities: Vec<f32>,
    /// The raster the network saw: `N * N` values in 0..=1, row-major, y down.
    pub raster: Vec<f32>,
    /// Time per stage.
    pub timing: Timing,
    /// Whether this was the first call after loading (cold).
    pub cold: bool,
}

/// One batch size of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchPoint {
    /// Drawings per forward pass.
    pub batch: usize,
    /// Forward passes timed (after one untimed warm-up).
    pub calls: usize,
    /// Drawings per second over the timed passes.
    pub throughput: f64,
    /// Median time of one pass, ms.
    pub p50_ms: f64,
    /// 99th percentile of one pass, ms.
    pub p99_ms: f64,
}

/// Batch sizes the benchmark runs: 1, 2, 4, ..., 256.
pub const BENCH_BATCHES: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// The CPU backend against wgpu on the same rasters.
#[derive(Debug, Clone, PartialEq)]
pub struct Parity {
    /// Inputs compared.
    pub count: usize,
    /// Inputs with the same answer on both.
    pub same_answer: usize,
    /// Largest absolute difference of any probability.
    pub max_abs_diff: f32,
    /// The input with that difference.
    pub worst_input: usize,
}

/// A drawing the model got wrong in a batch evaluation.
#[derive(Debug, Clone)]
pub struct Miss {
    /// Its index in the evaluated drawings.
    pub index: usize,
    /// The source record's `key_id`.
    pub key_id: u64,
    /// The record's `word`.
    pub word: String,
    /// The true class.
    pub truth: String,
    /// The answer.
    pub answer: String,
    /// The answer's confidence.
    pub confidence: f32,
    /// The strokes.
    pub lines: Vec<Polyline>,
}

/// The result of a batch evaluation.
#[derive(Debug, Clone)]
pub struct BatchEvaluation {
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Records skipped (unreadable, duplicates, taps).
    pub skipped: usize,
    /// Whether only the held-out split was evaluated.
    pub held_out: bool,
    /// Accuracy, per class and confusion matrix, as `inkset-trainer evaluate` computes them.
    pub evaluation: Evaluation,
    /// Drawings per second, rasterizing included.
    pub throughput: f64,
    /// Seconds spent rasterizing.
    pub rasterize_secs: f64,
    /// Seconds spent in the network.
    pub inference_secs: f64,
    /// The drawings answered wrongly, in data order.
    pub misses: Vec<Miss>,
}

/// The loaded model on its backend.
#[derive(Debug)]
pub struct Engine {
    artifact: Artifact,
    backend: Backend,
    classifier: Classifier,
    /// Latencies since loading or switching.
    pub stats: LatencyStats,
}

impl Engine {
    /// Loads `artifact` on `backend`.
    ///
    /// # Errors
    /// As [`Artifact::classifier`].
    pub fn load(artifact: Artifact, backend: Backend) -> Result<Self, EngineError> {
        let classifier = artifact.classifier(backend)?;
        Ok(Self {
            artifact,
            backend,
            classifier,
            stats: LatencyStats::default(),
        })
    }

    /// The artifact.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Moves to another backend; latencies start again (the next call is cold).
    ///
    /// # Errors
    /// As [`Artifact::classifier`].
    pub fn switch(&mut self, backend: Backend) -> Result<(), EngineError> {
        self.classifier = self.artifact.classifier(backend)?;
        self.backend = backend;
        self.stats = LatencyStats::default();
        Ok(())
    }

    /// Raster side N.
    pub fn input_size(&self) -> usize {
        self.classifier.input_size()
    }

    /// Classifies one drawing and records its latency.
    ///
    /// # Errors
    /// [`RasterError`] for an empty drawing or a single tap (refused before the network).
    pub fn classify(&mut self, lines: &[Polyline]) -> Result<Classified, RasterError> {
        let n = self.input_size();
        let t0 = Instant::now();
        let mut raster = vec![0.0f32; n * n];
        self.classifier.rasterize_into(lines, &mut raster)?;
        let t1 = Instant::now();
        let probabilities = self
            .classifier
            .probabilities(raster.clone(), 1)
            .into_iter()
            .next()
            .unwrap_or_default();
        let timing = Timing {
            rasterize: t1 - t0,
            inference: t1.elapsed(),
        };
        let cold = self.stats.cold().is_none();
        self.stats.record(timing);
        Ok(Classified {
            decision: self.classifier.decide(&probabilities),
            probabilities,
            raster,
            timing,
            cold,
        })
    }

    /// The answer for a drawing without recording its latency (generated drawings).
    ///
    /// # Errors
    /// [`RasterError`] for an empty drawing or a single tap.
    pub fn answer(&self, lines: &[Polyline]) -> Result<Decision, RasterError> {
        self.classifier.classify(lines).map(|(d, _)| d)
    }

    /// Rasterizes drawings into `[len, 1, N, N]`; a drawing the rasterizer refuses stays
    /// blank (as in training's evaluation).
    pub fn rasterize_all(&self, drawings: &[&[Polyline]]) -> Vec<f32> {
        let n = self.input_size();
        let mut out = vec![0.0f32; drawings.len() * n * n];
        for (d, o) in drawings.iter().zip(out.chunks_exact_mut(n * n)) {
            let _ = self.classifier.rasterize_into(d, o);
        }
        out
    }

    /// Runs `images` drawings through the network at each batch size (the rasters of
    /// `inputs` repeated), one untimed warm-up pass per size; `progress(done, total)` after
    /// each size.
    pub fn benchmark(
        &self,
        inputs: &[f32],
        images: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Vec<BenchPoint> {
        let n = self.input_size();
        let pool = (inputs.len() / (n * n)).max(1);
        let mut out = Vec::new();
        for (i, &batch) in BENCH_BATCHES.iter().enumerate() {
            let mut rasters = Vec::with_capacity(batch * n * n);
            for k in 0..batch {
                let j = k % pool;
                match inputs.get(j * n * n..(j + 1) * n * n) {
                    Some(r) => rasters.extend_from_slice(r),
                    None => rasters.extend(std::iter::repeat_n(0.0, n * n)),
                }
            }
            let _ = self.classifier.probabilities(rasters.clone(), batch);
            let calls = images.div_ceil(batch).max(3);
            let mut times = Vec::with_capacity(calls);
            let start = Instant::now();
            for _ in 0..calls {
                let t = Instant::now();
                let _ = self.classifier.probabilities(rasters.clone(), batch);
                times.push(millis(t.elapsed()));
            }
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            times.sort_by(f64::total_cmp);
            out.push(BenchPoint {
                batch,
                calls,
                throughput: (calls * batch) as f64 / secs,
                p50_ms: quantile(&times, 0.5),
                p99_ms: quantile(&times, 0.99),
            });
            progress(i + 1, BENCH_BATCHES.len());
        }
        out
    }

    /// Runs the same rasters (`[count, 1, N, N]`) on the CPU backend and on wgpu.
    ///
    /// # Errors
    /// When the artifact cannot be put on the other backend.
    pub fn parity(&self, rasters: &[f32]) -> Result<Parity, EngineError> {
        let n = self.input_size();
        let count = rasters.len() / (n * n);
        let cpu = self.artifact.classifier(Backend::Cpu)?;
        let gpu = self.artifact.classifier(Backend::Wgpu)?;
        let a = cpu.probabilities(rasters.to_vec(), count);
        let b = gpu.probabilities(rasters.to_vec(), count);
        let mut parity = Parity {
            count,
            same_answer: 0,
            max_abs_diff: 0.0,
            worst_input: 0,
        };
        for (i, (pa, pb)) in a.iter().zip(&b).enumerate() {
            parity.same_answer += usize::from(cpu.decide(pa).label == gpu.decide(pb).label);
            for (x, y) in pa.iter().zip(pb) {
                let d = (x - y).abs();
                if d > parity.max_abs_diff {
                    parity.max_abs_diff = d;
                    parity.worst_input = i;
                }
            }
        }
        Ok(parity)
    }

    /// Reads Quick, Draw! ndjson files or folders (labels from `word`; words that are not
    /// a class count as `unknown` when the model has that class) and evaluates every
    /// drawing, or only the held-out split. Same batches of 256, rasterizer and reject rule
    /// as `inkset-trainer evaluate`, so the numbers are the same.
    ///
    /// # Errors
    /// Unreadable files, or no drawing of the model's classes.
    pub fn evaluate_files(
        &self,
        paths: &[PathBuf],
        held_out: bool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(BatchEvaluation, Vec<Sample>), EngineError> {
        let classes = &self.artifact.manifest.classes;
        let (shapes, with_unknown) = shapes_of(classes);
        let files = inkset_protocol::quickdraw::ndjson_files(paths).map_err(|source| {
            EngineError::Read {
                path: paths.first().cloned().unwrap_or_default(),
                source,
            }
        })?;
        let ds =
            Dataset::load(&files, &shapes, with_unknown).map_err(|source| EngineError::Read {
                path: paths.first().cloned().unwrap_or_default(),
                source,
            })?;
        let skipped = ds.skipped;
        let samples = if held_out {
            ds.split(Split::Test)
        } else {
            ds.samples
        };
        if samples.is_empty() {
            return Err(EngineError::NoDrawings {
                classes: classes.join(", "),
                files: files.len(),
            });
        }
        let eval = self.evaluate_samples(&samples, progress);
        Ok((
            BatchEvaluation {
                files,
                skipped,
                held_out,
                ..eval
            },
            samples,
        ))
    }

    /// Evaluates labelled samples (labels index the manifest's classes).
    pub fn evaluate_samples(
        &self,
        samples: &[Sample],
        progress: &mut dyn FnMut(usize, usize),
    ) -> BatchEvaluation {
        let classes = &self.artifact.manifest.classes;
        let (mut raster_secs, mut net_secs) = (0.0, 0.0);
        let mut predicted = Vec::with_capacity(samples.len());
        let mut misses = Vec::new();
        let start = Instant::now();
        for (c, chunk) in samples.chunks(256).enumerate() {
            let t0 = Instant::now();
            let lines: Vec<&[Polyline]> = chunk.iter().map(|s| s.lines.as_slice()).collect();
            let rasters = self.rasterize_all(&lines);
            let t1 = Instant::now();
            let probs = self.classifier.probabilities(rasters, chunk.len());
            raster_secs += (t1 - t0).as_secs_f64();
            net_secs += t1.elapsed().as_secs_f64();
            for (k, (s, p)) in chunk.iter().zip(&probs).enumerate() {
                let d = self.classifier.decide(p);
                if d.index != Some(s.label) {
                    misses.push(Miss {
                        index: c * 256 + k,
                        key_id: s.key_id,
                        word: s.word.clone(),
                        truth: classes.get(s.label).cloned().unwrap_or_default(),
                        answer: d.label.clone(),
                        confidence: d.confidence,
                        lines: s.lines.clone(),
                    });
                }
                predicted.push(d.index);
            }
            progress(predicted.len(), samples.len());
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        BatchEvaluation {
            files: Vec::new(),
            skipped: 0,
            held_out: false,
            evaluation: evaluation(classes, samples, &predicted),
            throughput: samples.len() as f64 / secs,
            rasterize_secs: raster_secs,
            inference_secs: net_secs,
            misses,
        }
    }
}
