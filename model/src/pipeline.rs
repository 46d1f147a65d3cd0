//! The training recipe every trainer runs (the `inkset-trainer train` command, the server's
//! jobs, in-process or on a GPU host): balance, train on the training split, tune the reject
//! threshold on the validation split, evaluate on the test split, build the manifest.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::artifact::{DataSnapshot, Manifest};
use crate::backend::Backend;
use crate::dataset::{Dataset, Sample, Split, UNKNOWN};
use crate::recognizer::Recognizer;
use crate::training::{Control, Progress, Stopped, TrainConfig, evaluate, train, tune_threshold};

/// How the split and the balancing are made (stored in every manifest).
pub const SPLIT_DESCRIPTION: &str = "by source record: the first byte of sha256(key_id) mod 10 \
     is 0-1 test (held out, reported), 2 validation (tunes the unknown threshold), 3-9 train; \
     exact duplicate drawings kept once; for training, shape classes capped at the largest \
     shape class and unknown at twice that, split equally over its distractor words (scarce \
     words repeated; seeded)";

/// Balances a training set. Each shape class is capped at the size of the largest one
/// (`cap`). Each distractor word of `unknown` gets an equal quota of `2 * cap / words`:
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
}

/// Runs the recipe on `ds` and returns the manifest (metrics, threshold, history, data
/// snapshot filled in; checksum empty until saved) and the model, on `backend`'s inference
/// device.
///
/// # Errors
/// [`PipelineError::NoData`] when the training split is empty; [`PipelineError::Stopped`]
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
    let threshold = tune_threshold(&trained.model, &ds.classes, &validation, n, &device);
    let eval = evaluate(
        &trained.model,
        &ds.classes,
        &test_set,
        n,
        threshold,
        &device,
    );
    let snapshot = DataSnapshot {
        sources,
        split: SPLIT_DESCRIPTION.into(),
        train_counts: class_counts(&train_set, k),
        test_counts: class_counts(&test_set, k),
        validation_counts: class_counts(&validation, k),
        key_ids_sha256: ds.key_ids_sha256(),
        skipped: ds.skipped,
    };
    let mut manifest = Manifest::recognizer(
        ds.classes.clone(),
        trained.network,
        config.clone(),
        snapshot,
    );
    manifest.unknown_threshold = threshold;
    manifest.metrics = Some(eval);
    manifest.history = trained.history;
    Ok((manifest, trained.model))
}
