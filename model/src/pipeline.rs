//! The training recipe every trainer runs (the `inkset-trainer train` command, the server's
//! jobs, in-process or on a GPU host): balance, train on the training split, tune the reject
//! rule (threshold and `unknown` logit adjustment) on the validation split, evaluate on the
//! test split, build the manifest.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::artifact::{DataSnapshot, Manifest};
use crate::backend::Backend;
use crate::dataset::{Dataset, Sample, Split, UNKNOWN};
use crate::recognizer::Recognizer;
use crate::training::{
    Control, Evaluation, Progress, Stopped, TrainConfig, evaluate, train, tune_reject_rule,
};

/// How the split and the balancing are made (stored in every manifest).
pub const SPLIT_DESCRIPTION: &str = "by source record: the first byte of sha256(key_id) mod 10 \
     is 0-1 test (held out, reported), 2 validation (tunes the unknown threshold and logit \
     adjustment), 3-9 train; exact duplicate drawings kept once; for training, shape classes \
     capped at the largest shape class and unknown at that size too, split equally over its \
     distractor words (scarce words repeated; seeded)";

/// Balances a training set. Each shape class is capped at the size of the largest one
/// (`cap`). Each distractor word of `unknown` gets an equal quota of `cap / words`, so that
/// `unknown` is no larger than a shape class (at twice that, the network gave up more shapes
/// to `unknown`: BENCHMARKS.md, "Shapes lost to unknown"):
/// plentiful words (the $1 gestures, 300 each) are subsampled and scarce ones (the Quick,
/// Draw! distractors, ~40 each) repeated, so augmentation sees every kind of "not a shape"
/// about equally often. Choices are seeded.
pub fn balance(samples: Vec<Sample>, classes: &[String], seed: u64) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
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
        let quota = (cap / distractors.len()).max(1);
        for (_, mut word) in distractors {
            word.shuffle(&mut rng);
            let n = word.len();
            out.extend((0..quota).map(|i| word[i % n].clone()));
        }
    }
    out.shuffle(&mut rng);
    out
}

/// Samples per class.
pub fn class_counts(samples: &[Sample], classes: usize) -> Vec<usize> {
    let mut c = vec![0; classes];
    for s in samples {
        if let Some(n) = c.get_mut(s.label) {
            *n += 1;
        }
    }
    c
}

/// Errors of [`train_recognizer`].
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Nothing to learn from.
    #[error("no training drawings of the classes {0:?}")]
    NoData(Vec<String>),
    /// The observer stopped training.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The trained weights could not be adjusted (not expected: the class comes from the
    /// same class list).
    #[error("adjusting the trained weights: {0}")]
    Weights(String),
}

/// Runs the recipe on `ds` and returns the manifest (metrics, threshold, history, data
/// snapshot filled in; checksum empty until saved) and the model, on `backend`'s inference
/// device.
///
/// # Errors
/// [`PipelineError::NoData`] when the training split is empty; [`PipelineError::Weights`] if
/// the logit adjustment cannot be folded into the weights; [`PipelineError::Stopped`]
/// when `observe` stops it.
pub fn train_recognizer(
    ds: &Dataset,
    config: &TrainConfig,
    sources: Vec<String>,
    backend: Backend,
    observe: impl FnMut(Progress<'_>) -> Control,
) -> Result<(Manifest, Recognizer), PipelineError> {
    let train_set = balance(ds.split(Split::Train), &ds.classes, config.seed);
    let validation = ds.split(Split::Validation);
    let test_set = ds.split(Split::Test);
    if train_set.is_empty() {
        return Err(PipelineError::NoData(ds.classes.clone()));
    }
    let k = ds.classes.len();
    let trained = train(
        k,
        &train_set,
        &test_set,
        config,
        &backend.training_device(),
        observe,
    )?;
    let device = backend.device();
    let n = config.input_size;
    let rule = tune_reject_rule(&trained.model, &ds.classes, &validation, n, &device);
    let model = match ds.classes.iter().position(|c| c == UNKNOWN) {
        Some(u) if rule.unknown_logit_adjustment != 0.0 => trained
            .model
            .shift_logit(u, rule.unknown_logit_adjustment)
            .map_err(PipelineError::Weights)?,
        _ => trained.model,
    };
    let eval = evaluate(&model, &ds.classes, &test_set, n, rule.threshold, &device);
    let snapshot = DataSnapshot {
        sources,
        split: SPLIT_DESCRIPTION.into(),
        train_counts: class_counts(&train_set, k),
        test_counts: class_counts(&test_set, k),
        validation_counts: class_counts(&validation, k),
        key_ids_sha256: ds.key_ids_sha256(),
        skipped: ds.skipped,
        release: None,
    };
    let mut manifest = Manifest::recognizer(
        ds.classes.clone(),
        trained.network,
        config.clone(),
        snapshot,
    );
    manifest.unknown_threshold = rule.threshold;
    manifest.unknown_logit_adjustment = rule.unknown_logit_adjustment;
    manifest.metrics = Some(eval);
    manifest.history = trained.history;
    Ok((manifest, model))
}

/// A source of drawings for [`leave_one_source_out`]: a name and its ndjson files or
/// folders.
#[derive(Debug, Clone)]
pub struct Source {
    /// Short name (`quickdraw`, `dollar1`, `detexify`, `momocs`).
    pub name: String,
    /// ndjson files or folders.
    pub paths: Vec<std::path::PathBuf>,
}

/// How a model trained without one source does on that source.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SourceResult {
    /// The held-out source.
    pub source: String,
    /// The shapes the source has (its drawings of other words are not scored).
    pub shapes: Vec<String>,
    /// Drawings trained on (the other sources' training split, balanced).
    pub trained_on: usize,
    /// The held-out source's shape drawings, answered with the tuned reject rule (an
    /// `unknown` answer counts as wrong); per-class recall is the per-shape accuracy.
    pub evaluation: Evaluation,
    /// For comparison: the same model on the other sources' own test split.
    pub in_source_accuracy: f64,
}

/// Errors of [`leave_one_source_out`].
#[derive(Debug, thiserror::Error)]
pub enum CrossSourceError {
    /// A source's files could not be read.
    #[error("reading source {source_name}: {error}")]
    Read {
        /// The source.
        source_name: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// Training failed.
    #[error("training without {source_name}: {error}")]
    Train {
        /// The held-out source.
        source_name: String,
        /// What went wrong.
        error: PipelineError,
    },
}

/// Leave-one-source-out evaluation: for each source, trains the recipe of
/// [`train_recognizer`] on all the other sources (their words that are not `shapes` train
/// `unknown`) and scores every drawing of the held-out source whose word is one of `shapes`.
/// A source that has none of the shapes is left out of the result. `observe` sees each
/// run's progress with the held-out source's name.
///
/// # Errors
/// [`CrossSourceError`] when a source cannot be read or a training run has no data.
pub fn leave_one_source_out(
    sources: &[Source],
    shapes: &[String],
    config: &TrainConfig,
    backend: Backend,
    mut observe: impl FnMut(&str, Progress<'_>) -> Control,
) -> Result<Vec<SourceResult>, CrossSourceError> {
    let mut results = Vec::new();
    for held in sources {
        let read = |paths: &[std::path::PathBuf]| {
            Dataset::load(paths, shapes, true).map_err(|error| CrossSourceError::Read {
                source_name: held.name.clone(),
                error,
            })
        };
        let held_ds = read(&held.paths)?;
        let scored: Vec<Sample> = held_ds
            .samples
            .iter()
            .filter(|s| held_ds.classes[s.label] != UNKNOWN)
            .cloned()
            .collect();
        if scored.is_empty() {
            continue;
        }
        let mut has: Vec<String> = scored
            .iter()
            .map(|s| held_ds.classes[s.label].clone())
            .collect();
        has.sort_by_key(|c| shapes.iter().position(|s| s == c));
        has.dedup();
        let others: Vec<std::path::PathBuf> = sources
            .iter()
            .filter(|s| s.name != held.name)
            .flat_map(|s| s.paths.iter().cloned())
            .collect();
        let train_ds = read(&others)?;
        let names = sources
            .iter()
            .filter(|s| s.name != held.name)
            .map(|s| s.name.clone())
            .collect();
        let (manifest, model) = train_recognizer(&train_ds, config, names, backend, |p| {
            observe(&held.name, p)
        })
        .map_err(|error| CrossSourceError::Train {
            source_name: held.name.clone(),
            error,
        })?;
        let evaluation = evaluate(
            &model,
            &manifest.classes,
            &scored,
            config.input_size,
            manifest.unknown_threshold,
            &backend.device(),
        );
        results.push(SourceResult {
            source: held.name.clone(),
            shapes: has,
            trained_on: manifest.data.train_counts.iter().sum(),
            in_source_accuracy: manifest.metrics.as_ref().map_or(0.0, |m| m.accuracy),
            evaluation,
        });
    }
    Ok(results)
}
