//! The `inkset-trainer` command line.
//!
//! ```text
//! inkset-trainer work     --server URL --token TOKEN [--backend cpu|wgpu|cuda]
//! inkset-trainer train    --data FILE_OR_DIR... --out DIR [--epochs N] [--backend cpu|wgpu]
//! inkset-trainer evaluate --model DIR --data FILE_OR_DIR... [--held-out] [--backend ..]
//! inkset-trainer parity   --model DIR --data FILE_OR_DIR... [--count 100]
//! inkset-trainer train-generator --data FILE_OR_DIR... --out DIR [--epochs N] [--backend ..]
//! inkset-trainer sample-eval --generator DIR --recognizer DIR [--count 100] [--temperature 0.5]
//! inkset-trainer speed    [--model DIR] [--backend ..] [--json]
//! inkset-trainer cross-source --source NAME=PATH... [--epochs N] [--json FILE]
//! inkset-trainer simulate-prompts --data FILE_OR_DIR... [--seeds 1,2,3] [--rounds 10] [--json FILE]
//! ```
//!
//! `work` is the GPU-host worker (the loop is [`inkset_worker`]'s, shared with the server's
//! in-process trainer); the others work offline on files.
//!
//! Data is Quick, Draw! style ndjson (raw or simplified). Words that are one of the shapes
//! are their class; every other word is a distractor and trains the `unknown` class. The
//! split is by source record (see `inkset_model::dataset`): `train` learns from the training
//! split and reports metrics on the held-out split; `evaluate` measures a saved model on
//! every drawing given (or only the held-out split with `--held-out`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use inkset_model::artifact;
use inkset_model::backend::Backend;
use inkset_model::dataset::{Dataset, Split, shapes_of};
use inkset_model::generator::{GeneratorTrainConfig, ShapeGenerator, train_generator_pipeline};
use inkset_model::inference::Classifier;
use inkset_model::pipeline::train_recognizer;
use inkset_model::training::{Control, Evaluation, Progress, TrainConfig};

mod sample_eval;
mod simulate;

/// Trains and evaluates Inkset recognizers.
#[derive(Debug, Parser)]
#[command(name = "inkset-trainer", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Compute backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// burn's flex CPU backend.
    Cpu,
    /// burn's wgpu backend (GPU, or Mesa's software Vulkan).
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// burn's CUDA backend.
    #[cfg(feature = "cuda")]
    Cuda,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Cpu => Self::Cpu,
            #[cfg(feature = "wgpu")]
            BackendArg::Wgpu => Self::Wgpu,
            #[cfg(feature = "cuda")]
            BackendArg::Cuda => Self::Cuda,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Claim training jobs from an inkset-server and run them until stopped.
    Work {
        /// Server base URL.
        #[arg(long, env = "INKSET_SERVER")]
        server: String,
        /// Worker token from `inkset-server worker-token create`.
        #[arg(long, env = "INKSET_WORKER_TOKEN", hide_env_values = true)]
        token: String,
        /// Name shown as the lease owner (default: host name and process id).
        #[arg(long)]
        name: Option<String>,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
        /// Seconds between claims when there is no job.
        #[arg(long, default_value_t = 2.0)]
        poll_secs: f64,
        /// Exit after this many jobs.
        #[arg(long)]
        max_jobs: Option<usize>,
    },
    /// Run one artifact on the CPU and the wgpu backends over the same drawings; report
    /// argmax agreement and the largest probability difference.
    #[cfg(feature = "wgpu")]
    Parity {
        /// Artifact directory.
        #[arg(long)]
        model: PathBuf,
        /// ndjson files or directories.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Drawings to compare (the first of the held-out split).
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
    /// Train a recognizer on files and save the artifact.
    Train {
        /// ndjson files or directories.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Artifact directory to write.
        #[arg(long)]
        out: PathBuf,
        /// The shapes (classes); other words train `unknown`.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "line,heart,circle,square,triangle"
        )]
        shapes: Vec<String>,
        /// Passes over the training split.
        #[arg(long)]
        epochs: Option<usize>,
        /// Samples per step.
        #[arg(long)]
        batch_size: Option<usize>,
        /// Adam learning rate.
        #[arg(long)]
        learning_rate: Option<f64>,
        /// Seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Channels of the three convolutions, e.g. 32,64,128.
        #[arg(long, value_delimiter = ',')]
        channels: Option<Vec<usize>>,
        /// Width of the hidden layer.
        #[arg(long)]
        hidden: Option<usize>,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
    },
    /// Train a shape generator (Sketch-RNN decoder) on files and save the artifact.
    TrainGenerator {
        /// ndjson files or directories.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Artifact directory to write.
        #[arg(long)]
        out: PathBuf,
        /// The shapes it learns to draw.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "line,heart,circle,square,triangle"
        )]
        shapes: Vec<String>,
        /// Passes over the training split.
        #[arg(long)]
        epochs: Option<usize>,
        /// Sequences per step.
        #[arg(long)]
        batch_size: Option<usize>,
        /// Adam learning rate.
        #[arg(long)]
        learning_rate: Option<f64>,
        /// LSTM width.
        #[arg(long)]
        hidden: Option<usize>,
        /// Mixture components.
        #[arg(long)]
        mixtures: Option<usize>,
        /// Seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
    },
    /// Sample a generator and classify the samples with a recognizer: per shape, how many
    /// come out as the requested shape; whether every sample passes the server's drawing
    /// validation; whether a seed repeats; with `--compare-wgpu`, how the CPU and wgpu
    /// samples differ.
    SampleEval {
        /// Generator artifact directory.
        #[arg(long)]
        generator: PathBuf,
        /// Recognizer artifact directory (the production recognizer's).
        #[arg(long)]
        recognizer: PathBuf,
        /// Samples per shape (seeds 0..count).
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Sampling temperature.
        #[arg(long, default_value_t = 0.5)]
        temperature: f32,
        /// Also sample on wgpu and compare with the CPU samples.
        #[arg(long)]
        compare_wgpu: bool,
        /// Write every sample as Quick, Draw! ndjson here.
        #[arg(long)]
        samples_out: Option<PathBuf>,
    },
    /// Network-only speed: training samples/s on a ready batch, batch-1 latency, batch
    /// throughput (random rasters; the same measurements as the PyTorch side of
    /// `scripts/bench vs-pytorch`).
    Speed {
        /// Artifact directory whose network to time (default: the default network, six
        /// classes).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Rows of a training batch and of the throughput batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed training steps.
        #[arg(long, default_value_t = 40)]
        train_steps: usize,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Leave-one-source-out: for each source, train on the others and score the held-out
    /// source's drawings of the shapes it has.
    CrossSource {
        /// A source as NAME=PATH (PATH: an ndjson file or folder); repeat for each source.
        #[arg(long = "source", required = true, num_args = 1.., value_parser = parse_source)]
        sources: Vec<inkset_model::pipeline::Source>,
        /// The shapes (classes); other words train `unknown`.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "line,heart,circle,square,triangle"
        )]
        shapes: Vec<String>,
        /// Passes over the training split.
        #[arg(long)]
        epochs: Option<usize>,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Simulate collecting drawings with prompts chosen by need against random prompts,
    /// on real drawings: learning curves and the drawings saved.
    SimulatePrompts(simulate::SimulateArgs),
    /// Evaluate a saved recognizer on files.
    Evaluate {
        /// Artifact directory.
        #[arg(long)]
        model: PathBuf,
        /// ndjson files or directories.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Only the held-out split of the data.
        #[arg(long)]
        held_out: bool,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
    },
}

/// `NAME=PATH` of `cross-source --source`.
fn parse_source(arg: &str) -> Result<inkset_model::pipeline::Source, String> {
    let (name, path) = arg
        .split_once('=')
        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        .ok_or_else(|| format!("--source: expected NAME=PATH, got {arg:?}"))?;
    Ok(inkset_model::pipeline::Source {
        name: name.to_owned(),
        paths: vec![PathBuf::from(path)],
    })
}

fn print_evaluation(e: &Evaluation) {
    println!("accuracy {:.4} on {} drawings", e.accuracy, e.count);
    println!(
        "{:<10} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "support"
    );
    for c in &e.per_class {
        println!(
            "{:<10} {:>9.4} {:>9.4} {:>8}",
            c.class, c.precision, c.recall, c.support
        );
    }
    println!("confusion (rows: true, columns: predicted, in class order):");
    for row in &e.confusion {
        println!("  {row:?}");
    }
}

/// Parses the command line and runs it.
///
/// # Errors
/// Whatever the command fails with.
pub fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("inkset_trainer=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    run(Cli::parse())
}

/// Runs a parsed command line.
///
/// # Errors
/// Unreadable data, no drawings, or an artifact that cannot be written or read.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Work {
            server,
            token,
            name,
            backend,
            poll_secs,
            max_jobs,
        } => {
            let name = name.unwrap_or_else(|| {
                let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "trainer".into());
                format!("{host}-{}", std::process::id())
            });
            let options = inkset_worker::WorkerOptions {
                server,
                token,
                name,
                backend: Backend::from(backend),
                poll: std::time::Duration::from_secs_f64(poll_secs.max(0.05)),
                max_jobs,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let outcomes = rt.block_on(inkset_worker::run(options, shutdown_signal()))?;
            for o in outcomes {
                println!("{o:?}");
            }
            Ok(())
        }
        #[cfg(feature = "wgpu")]
        Command::Parity { model, data, count } => {
            let cpu = Classifier::load(&model, Backend::Cpu.device())?;
            let gpu = Classifier::load(&model, Backend::Wgpu.device())?;
            let (shapes, with_unknown) = shapes_of(&cpu.manifest.classes);
            let ds = Dataset::load(&data, &shapes, with_unknown)?;
            let samples: Vec<_> = ds.split(Split::Test).into_iter().take(count).collect();
            anyhow::ensure!(!samples.is_empty(), "no drawings of the model's classes");
            let n = cpu.input_size();
            let mut rasters = vec![0.0f32; samples.len() * n * n];
            for (s, out) in samples.iter().zip(rasters.chunks_exact_mut(n * n)) {
                cpu.rasterize_into(&s.lines, out)?;
            }
            let a = cpu.probabilities(rasters.clone(), samples.len());
            let b = gpu.probabilities(rasters, samples.len());
            let (mut same, mut max_diff) = (0usize, 0f32);
            for (pa, pb) in a.iter().zip(&b) {
                same += usize::from(cpu.decide(pa).label == gpu.decide(pb).label);
                for (x, y) in pa.iter().zip(pb) {
                    max_diff = max_diff.max((x - y).abs());
                }
            }
            println!(
                "{} drawings: same answer on cpu and wgpu for {same}; largest probability difference {max_diff:.3e}",
                samples.len()
            );
            anyhow::ensure!(same == samples.len(), "the backends disagree");
            Ok(())
        }
        Command::Train {
            data,
            out,
            shapes,
            epochs,
            batch_size,
            learning_rate,
            seed,
            channels,
            hidden,
            backend,
        } => {
            let defaults = TrainConfig::default();
            let channels = match channels.as_deref() {
                Some(&[a, b, c]) => [a, b, c],
                _ => defaults.channels,
            };
            let config = TrainConfig {
                epochs: epochs.unwrap_or(defaults.epochs),
                batch_size: batch_size.unwrap_or(defaults.batch_size),
                learning_rate: learning_rate.unwrap_or(defaults.learning_rate),
                seed: seed.unwrap_or(defaults.seed),
                channels,
                hidden: hidden.unwrap_or(defaults.hidden),
                ..defaults
            };
            let ds = Dataset::load(&data, &shapes, true).context("reading data")?;
            let counts = ds.counts();
            eprintln!(
                "classes {:?}; drawings {:?} ({} skipped)",
                ds.classes, counts, ds.skipped
            );
            let sources = data.iter().map(|p| p.display().to_string()).collect();
            let (manifest, model) = train_recognizer(
                &ds,
                &config,
                sources,
                Backend::from(backend),
                |p| {
                    if let Progress::Epoch(m) = p {
                        eprintln!(
                            "epoch {:>3}  loss {:.4}  train acc {:.4}  held-out acc {}  {:.0} samples/s",
                            m.epoch,
                            m.train_loss,
                            m.train_accuracy,
                            m.test_accuracy.map_or("-".into(), |a| format!("{a:.4}")),
                            m.samples_per_sec
                        );
                    }
                    Control::Continue
                },
            )?;
            let manifest = artifact::save(&out, manifest, &model).context("saving the artifact")?;
            println!(
                "unknown threshold {:.2}, unknown logit adjustment {:+.2} (tuned on the \
                 validation split)",
                manifest.unknown_threshold, manifest.unknown_logit_adjustment
            );
            if let Some(eval) = &manifest.metrics {
                print_evaluation(eval);
            }
            println!("artifact written to {}", out.display());
            Ok(())
        }
        Command::TrainGenerator {
            data,
            out,
            shapes,
            epochs,
            batch_size,
            learning_rate,
            hidden,
            mixtures,
            seed,
            backend,
        } => {
            let d = GeneratorTrainConfig::default();
            let config = GeneratorTrainConfig {
                epochs: epochs.unwrap_or(d.epochs),
                batch_size: batch_size.unwrap_or(d.batch_size),
                learning_rate: learning_rate.unwrap_or(d.learning_rate),
                hidden: hidden.unwrap_or(d.hidden),
                mixtures: mixtures.unwrap_or(d.mixtures),
                seed: seed.unwrap_or(d.seed),
                ..d
            };
            let files = inkset_protocol::quickdraw::ndjson_files(&data)?;
            let ds = Dataset::load(&files, &shapes, false).context("reading data")?;
            eprintln!("classes {:?}; drawings {:?}", ds.classes, ds.counts());
            let sources = data.iter().map(|p| p.display().to_string()).collect();
            let started = std::time::Instant::now();
            let (manifest, model) = train_generator_pipeline(
                &ds,
                &config,
                sources,
                Backend::from(backend),
                |p, epoch| {
                    if let (Progress::Epoch(m), Some(e)) = (p, epoch) {
                        eprintln!(
                            "epoch {:>3}  train loss {:.4}  held-out loss {}  {:.0} sequences/s  ({:.0} s)",
                            m.epoch,
                            e.train_loss,
                            e.test_loss.map_or("-".into(), |l| format!("{l:.4}")),
                            e.samples_per_sec,
                            started.elapsed().as_secs_f64()
                        );
                    }
                    Control::Continue
                },
            )?;
            let manifest = ShapeGenerator::save(&out, manifest, &model)?;
            println!(
                "generator trained on {:?} drawings (held out {:?}); offset scale {:.3}; held-out loss {}",
                manifest.data.train_counts,
                manifest.data.test_counts,
                manifest.scale,
                manifest.test_loss.map_or("-".into(), |l| format!("{l:.4}"))
            );
            println!("artifact written to {}", out.display());
            Ok(())
        }
        Command::SampleEval {
            generator,
            recognizer,
            count,
            temperature,
            compare_wgpu,
            samples_out,
        } => sample_eval::sample_eval(
            &generator,
            &recognizer,
            count,
            temperature,
            compare_wgpu,
            samples_out.as_deref(),
        ),
        Command::Speed {
            model,
            batch,
            train_steps,
            backend,
            json,
        } => {
            let network = match model {
                Some(dir) => {
                    let path = dir.join(artifact::MANIFEST);
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_slice::<artifact::Manifest>(&bytes)
                        .with_context(|| format!("parsing {}", path.display()))?
                        .network
                }
                None => inkset_model::recognizer::RecognizerConfig::new(6),
            };
            let plan = inkset_model::speed::SpeedPlan {
                batch,
                train_steps,
                ..Default::default()
            };
            let r = inkset_model::speed::measure(&network, Backend::from(backend), plan);
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "training, network only, batch {}: burn {:.0} samples/s, native {:.0} samples/s; burn: batch-1 p50 {:.3} ms, p99 {:.3} ms, batch-{} {:.0} rows/s; native engine: batch-1 p50 {:.3} ms, p99 {:.3} ms, batch-{} {:.0} rows/s (largest probability difference {:.1e}); {} threads",
                    r.batch,
                    r.train_samples_per_sec,
                    r.native_train_samples_per_sec,
                    r.single_p50_ms,
                    r.single_p99_ms,
                    r.batch,
                    r.batch_rows_per_sec,
                    r.native_single_ms[0],
                    r.native_single_ms[1],
                    r.batch,
                    r.native_batch_rows_per_sec,
                    r.native_max_difference,
                    r.threads
                );
                if let Some(([p50, p99], rows)) = r.native_im2col {
                    println!(
                        "native engine with its convolutions always by im2col (never Winograd): batch-1 p50 {p50:.3} ms, p99 {p99:.3} ms, batch-{} {rows:.0} rows/s",
                        r.batch
                    );
                }
            }
            Ok(())
        }
        Command::CrossSource {
            sources,
            shapes,
            epochs,
            backend,
            json,
        } => {
            let d = TrainConfig::default();
            let config = TrainConfig {
                epochs: epochs.unwrap_or(d.epochs),
                ..d
            };
            let results = inkset_model::pipeline::leave_one_source_out(
                &sources,
                &shapes,
                &config,
                Backend::from(backend),
                |held, p| {
                    if let Progress::Epoch(m) = p {
                        eprintln!(
                            "without {held}: epoch {:>3}  loss {:.4}  held-out (in-source) acc {}",
                            m.epoch,
                            m.train_loss,
                            m.test_accuracy.map_or("-".into(), |a| format!("{a:.4}"))
                        );
                    }
                    Control::Continue
                },
            )?;
            println!(
                "{:<10} {:>9} {:>9} {:>10} {:>10}  per shape (recall)",
                "held out", "trained", "scored", "accuracy", "in-source"
            );
            for r in &results {
                let per: Vec<String> = r
                    .evaluation
                    .per_class
                    .iter()
                    .filter(|c| c.support > 0)
                    .map(|c| format!("{} {:.3} (n={})", c.class, c.recall, c.support))
                    .collect();
                println!(
                    "{:<10} {:>9} {:>9} {:>10.4} {:>10.4}  {}",
                    r.source,
                    r.trained_on,
                    r.evaluation.count,
                    r.evaluation.accuracy,
                    r.in_source_accuracy,
                    per.join(", ")
                );
            }
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
        Command::SimulatePrompts(args) => simulate::run(args),
        Command::Evaluate {
            model,
            data,
            held_out,
            backend,
        } => {
            let classifier = Classifier::load(&model, Backend::from(backend).device())
                .with_context(|| format!("loading {}", model.display()))?;
            let (shapes, with_unknown) = shapes_of(&classifier.manifest.classes);
            let ds = Dataset::load(&data, &shapes, with_unknown).context("reading data")?;
            let samples = if held_out {
                ds.split(Split::Test)
            } else {
                ds.samples
            };
            anyhow::ensure!(
                !samples.is_empty(),
                "no drawings of the model's classes in the data"
            );
            let eval = classifier.evaluate(&samples);
            print_evaluation(&eval);
            Ok(())
        }
    }
}

/// Completes on Ctrl-C or SIGTERM (what systemd, Docker and Kubernetes send to stop a
/// service): the worker then releases its job instead of leaving it to lease expiry.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: the running job (if any) is released");
}
