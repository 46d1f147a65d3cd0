//! The `inkset-trainer` command line.
//!
//! ```text
//! inkset-trainer train    --data FILE_OR_DIR... --out DIR [--epochs N] [--backend cpu|wgpu]
//! inkset-trainer evaluate --model DIR --data FILE_OR_DIR... [--backend cpu|wgpu]
//! ```
//!
//! Data is Quick, Draw! style ndjson (raw or simplified). Words that are one of the shapes
//! are their class; every other word is a distractor and trains the `unknown` class. The
//! split is by source record (see `inkset_model::dataset`): `train` learns from the training
//! split and reports metrics on the held-out split; `evaluate` measures a saved model on
//! every drawing given (or only the held-out split with `--held-out`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use inkset_model::artifact::{self, DataSnapshot, Manifest};
use inkset_model::backend::Backend;
use inkset_model::dataset::{Dataset, Sample, Split, UNKNOWN};
use inkset_model::training::{Evaluation, TrainConfig, evaluate, train};

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
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
    },
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

/// Balances the training set. Each shape class is capped at the size of the largest one
/// (`cap`). Each distractor word of `unknown` gets an equal quota of `2 * cap / words`:
/// plentiful words (the $1 gestures, 300 each) are subsampled and scarce ones (the Quick,
/// Draw! distractors, ~40 each) repeated, so augmentation sees every kind of "not a shape"
/// about equally often. Choices are seeded.
pub fn balance(samples: Vec<Sample>, classes: &[String], seed: u64) -> Vec<Sample> {
    use std::collections::BTreeMap;

    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let shape_classes = classes.iter().filter(|c| *c != UNKNOWN).count();
    let mut by_class: Vec<Vec<Sample>> = vec![Vec::new(); classes.len()];
    let mut distractors: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        if s.label < shape_classes {
            by_class[s.label].push(s);
        } else {
            distractors.entry(s.word.clone()).or_default().push(s);
        }
    }
    let cap = by_class.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut out = Vec::new();
    for mut class in by_class {
        class.shuffle(&mut rng);
        class.truncate(cap);
        out.extend(class);
    }
    if !distractors.is_empty() {
        let quota = (2 * cap / distractors.len()).max(1);
        for (_, mut word) in distractors {
            word.shuffle(&mut rng);
            let n = word.len();
            out.extend((0..quota).map(|i| word[i % n].clone()));
        }
    }
    out.shuffle(&mut rng);
    out
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
    run(Cli::parse())
}

/// Runs a parsed command line.
///
/// # Errors
/// Unreadable data, no drawings, or an artifact that cannot be written or read.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train {
            data,
            out,
            shapes,
            epochs,
            batch_size,
            learning_rate,
            seed,
            backend,
        } => {
            let defaults = TrainConfig::default();
            let config = TrainConfig {
                epochs: epochs.unwrap_or(defaults.epochs),
                batch_size: batch_size.unwrap_or(defaults.batch_size),
                learning_rate: learning_rate.unwrap_or(defaults.learning_rate),
                seed: seed.unwrap_or(defaults.seed),
                ..defaults
            };
            let ds = Dataset::load(&data, &shapes, true).context("reading data")?;
            let train_set = balance(ds.split(Split::Train), &ds.classes, config.seed);
            let test_set = ds.split(Split::Test);
            anyhow::ensure!(
                !train_set.is_empty(),
                "no drawings of {shapes:?} in the data"
            );
            let count = |set: &[Sample]| {
                let mut c = vec![0; ds.classes.len()];
                for s in set {
                    c[s.label] += 1;
                }
                c
            };
            eprintln!(
                "classes {:?}; training on {:?}, held out {:?}",
                ds.classes,
                count(&train_set),
                count(&test_set)
            );
            let backend = Backend::from(backend);
            let (net, model, history) = train(
                ds.classes.len(),
                &train_set,
                &test_set,
                &config,
                &backend.training_device(),
                |m| {
                    eprintln!(
                        "epoch {:>3}  loss {:.4}  train acc {:.4}  held-out acc {}  {:.0} samples/s",
                        m.epoch,
                        m.train_loss,
                        m.train_accuracy,
                        m.test_accuracy.map_or("-".into(), |a| format!("{a:.4}")),
                        m.samples_per_sec
                    );
                },
            );
            let device = backend.device();
            let eval = evaluate(&model, &ds.classes, &test_set, config.input_size, &device);
            let snapshot = DataSnapshot {
                sources: data.iter().map(|p| p.display().to_string()).collect(),
                split: "by source record: sha256(key_id) first byte mod 10 < 2 is held out; \
                        exact duplicate drawings kept once; for training, shape classes capped \
                        at the largest shape class and unknown at twice that, split equally \
                        over its distractor words (scarce words repeated; seeded)"
                    .into(),
                train_counts: count(&train_set),
                test_counts: count(&test_set),
                skipped: ds.skipped,
            };
            let mut manifest = Manifest::recognizer(ds.classes.clone(), net, config, snapshot);
            manifest.metrics = Some(eval.clone());
            manifest.history = history;
            artifact::save(&out, manifest, &model).context("saving the artifact")?;
            print_evaluation(&eval);
            println!("artifact written to {}", out.display());
            Ok(())
        }
        Command::Evaluate {
            model,
            data,
            held_out,
            backend,
        } => {
            let device = Backend::from(backend).device();
            let (manifest, net) = artifact::load(&model, &device)
                .with_context(|| format!("loading {}", model.display()))?;
            let shapes: Vec<String> = manifest
                .classes
                .iter()
                .filter(|c| *c != UNKNOWN)
                .cloned()
                .collect();
            let with_unknown = manifest.classes.iter().any(|c| c == UNKNOWN);
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
            let eval = evaluate(
                &net,
                &manifest.classes,
                &samples,
                manifest.input.size,
                &device,
            );
            print_evaluation(&eval);
            Ok(())
        }
    }
}
