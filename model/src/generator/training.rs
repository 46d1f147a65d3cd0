//! Training the generator: its config (from a job's), the loop with held-out loss, and the
//! whole recipe from a dataset to a manifest and model.

use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::training::{Control, Progress, StepMetrics, Stopped};

use super::*;

/// Training settings of the generator; stored in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorTrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Sequences per optimizer step.
    pub batch_size: usize,
    /// Adam learning rate, decayed by `lr_decay` every step down to `min_learning_rate`.
    pub learning_rate: f64,
    /// Per-step decay of the learning rate (Sketch-RNN: 0.9999).
    pub lr_decay: f64,
    /// Floor of the learning rate (Sketch-RNN: 1e-5).
    pub min_learning_rate: f64,
    /// Gradient norm clip (Sketch-RNN: 1.0).
    pub grad_clip: f32,
    /// Seed of init, shuffling and augmentation.
    pub seed: u64,
    /// LSTM width.
    pub hidden: usize,
    /// Mixture components.
    pub mixtures: usize,
    /// Longest drawing, in points after simplification.
    pub max_len: usize,
    /// Augmentation.
    pub augment: GeneratorAugment,
}

/// A training job's settings ([`inkset_protocol::ml::TrainingConfig`]) as the generator's:
/// what the job leaves unset keeps [`GeneratorTrainConfig::default`].
impl From<&inkset_protocol::ml::TrainingConfig> for GeneratorTrainConfig {
    fn from(c: &inkset_protocol::ml::TrainingConfig) -> Self {
        let r = c.resolve(inkset_protocol::ml::TrainingConfig::GENERATOR_DEFAULTS);
        Self {
            epochs: r.epochs,
            batch_size: r.batch_size,
            learning_rate: r.learning_rate,
            seed: r.seed,
            ..Self::default()
        }
    }
}

impl Default for GeneratorTrainConfig {
    fn default() -> Self {
        let d = inkset_protocol::ml::TrainingConfig::GENERATOR_DEFAULTS;
        Self {
            epochs: d.epochs,
            batch_size: d.batch_size,
            learning_rate: d.learning_rate,
            lr_decay: 0.9999,
            min_learning_rate: 1e-5,
            grad_clip: 1.0,
            seed: d.seed,
            hidden: 256,
            mixtures: 20,
            max_len: 100,
            augment: GeneratorAugment::default(),
        }
    }
}

/// Metrics of one generator epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorEpoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training reconstruction loss (offsets + pen).
    pub train_loss: f64,
    /// Held-out reconstruction loss, when a test split was given.
    pub test_loss: Option<f64>,
    /// Sequences per second.
    pub samples_per_sec: f64,
}

/// A trained generator.
#[derive(Debug)]
pub struct TrainedGenerator {
    /// Its sizes.
    pub network: GeneratorConfig,
    /// The model (inference mode).
    pub model: Generator,
    /// Offset scale: the standard deviation of the training offsets.
    pub scale: f32,
    /// Per-epoch metrics.
    pub history: Vec<GeneratorEpoch>,
}

/// Mean reconstruction loss of `model` on `data` (no augmentation).
pub fn held_out_loss(
    model: &Generator,
    data: &[Sequence],
    network: &GeneratorConfig,
    scale: f32,
    device: &Device,
) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for chunk in data.chunks(256) {
        let seqs: Vec<Vec<[f32; 5]>> = chunk.iter().map(|s| s.steps.clone()).collect();
        let labels: Vec<usize> = chunk.iter().map(|s| s.label).collect();
        let (x, y, drawn, c, t) = batch_tensors(&seqs, &labels, network.classes, scale, device);
        let params = model.forward(x, c);
        let norm = (chunk.len() * t) as f32;
        let (a, b) = reconstruction_loss(params, y, drawn, network.mixtures, norm);
        sum += f64::from((a + b).into_scalar::<f32>()) * chunk.len() as f64;
        n += chunk.len();
    }
    sum / n.max(1) as f64
}

/// Trains a generator for `classes` shapes on `train` (held-out loss on `test` each epoch),
/// reporting each step (`loss` = reconstruction loss, `accuracy` = 0) and epoch. `device`
/// must have autodiff enabled.
///
/// # Errors
/// [`Stopped`] when `observe` answers [`Control::Stop`].
pub fn train_generator(
    classes: usize,
    train: &[Sequence],
    test: &[Sequence],
    config: &GeneratorTrainConfig,
    device: &Device,
    mut observe: impl FnMut(Progress<'_>, Option<&GeneratorEpoch>) -> Control,
) -> Result<TrainedGenerator, Stopped> {
    device.seed(config.seed);
    let network = GeneratorConfig {
        classes,
        hidden: config.hidden,
        mixtures: config.mixtures,
        max_len: config.max_len,
    };
    let scale = offset_scale(train);
    let mut model = network.init(device);
    let mut optim = AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(config.grad_clip)))
        .init();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut history = Vec::new();
    let mut step = 0u64;
    let batch_size = config.batch_size.max(1);
    let mut lr = config.learning_rate;
    for epoch in 1..=config.epochs {
        order.shuffle(&mut rng);
        let started = Instant::now();
        let (mut loss_sum, mut batches, mut seen) = (0.0f64, 0usize, 0usize);
        for chunk in order.chunks(batch_size) {
            let seqs: Vec<Vec<[f32; 5]>> = chunk
                .iter()
                .map(|&i| config.augment.apply(&train[i].steps, &mut rng))
                .collect();
            let labels: Vec<usize> = chunk.iter().map(|&i| train[i].label).collect();
            let (x, y, drawn, c, t) = batch_tensors(&seqs, &labels, classes, scale, device);
            let params = model.forward(x, c);
            let norm = (chunk.len() * t) as f32;
            let (a, b) = reconstruction_loss(params, y, drawn, network.mixtures, norm);
            let loss = a + b;
            let value = f64::from(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            lr = (lr * config.lr_decay).max(config.min_learning_rate);
            step += 1;
            loss_sum += value;
            batches += 1;
            seen += chunk.len();
            let m = StepMetrics {
                step,
                epoch,
                loss: value,
                accuracy: 0.0,
                samples_per_sec: seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
            };
            if observe(Progress::Step(&m), None) == Control::Stop {
                return Err(Stopped { step });
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let test_loss = (!test.is_empty())
            .then(|| held_out_loss(&model.valid(), test, &network, scale, device));
        let e = GeneratorEpoch {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            test_loss,
            samples_per_sec: train.len() as f64 / secs.max(1e-9),
        };
        let m = crate::training::EpochMetrics {
            epoch,
            train_loss: e.train_loss,
            train_accuracy: 0.0,
            test_accuracy: None,
            samples_per_sec: e.samples_per_sec,
        };
        let control = observe(Progress::Epoch(&m), Some(&e));
        history.push(e);
        if control == Control::Stop {
            return Err(Stopped { step });
        }
    }
    Ok(TrainedGenerator {
        network,
        model: model.valid(),
        scale,
        history,
    })
}

/// Trains a generator on the shape drawings of `ds` (its `unknown` drawings are left out):
/// stroke-5 preparation, the split by source record (training and validation train, the
/// test split gives the held-out loss). Returns the manifest (checksum empty until saved)
/// and the model on `backend`'s inference device.
///
/// # Errors
/// [`crate::pipeline::PipelineError::NoData`] when no drawing fits; `Stopped` when
/// `observe` stops it.
pub fn train_generator_pipeline(
    ds: &crate::dataset::Dataset,
    config: &GeneratorTrainConfig,
    sources: Vec<String>,
    backend: crate::backend::Backend,
    observe: impl FnMut(Progress<'_>, Option<&GeneratorEpoch>) -> Control,
) -> Result<(GeneratorManifest, Generator), crate::pipeline::PipelineError> {
    use crate::dataset::{Split, UNKNOWN};
    let shapes: Vec<String> = ds
        .classes
        .iter()
        .filter(|c| *c != UNKNOWN)
        .cloned()
        .collect();
    let k = shapes.len();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    let mut skipped = ds.skipped;
    for s in &ds.samples {
        if s.label >= k {
            continue;
        }
        let Some(steps) =
            lines_to_stroke5(&s.lines).filter(|st| (2..=config.max_len).contains(&st.len()))
        else {
            skipped += 1;
            continue;
        };
        let seq = Sequence {
            label: s.label,
            key_id: s.key_id,
            steps,
        };
        if Split::of(s.key_id) == Split::Test {
            test.push(seq);
        } else {
            train.push(seq);
        }
    }
    if train.is_empty() {
        return Err(crate::pipeline::PipelineError::NoData(shapes));
    }
    let counts = |v: &[Sequence]| {
        let mut c = vec![0usize; k];
        for s in v {
            c[s.label] += 1;
        }
        c
    };
    let trained = train_generator(
        k,
        &train,
        &test,
        config,
        &backend.training_device(),
        observe,
    )?;
    let data = crate::artifact::DataSnapshot {
        sources,
        split: crate::pipeline::SPLIT_DESCRIPTION.into(),
        train_counts: counts(&train),
        test_counts: counts(&test),
        validation_counts: Vec::new(),
        key_ids_sha256: ds.key_ids_sha256(),
        skipped,
        release: None,
    };
    let manifest = GeneratorManifest {
        format: 1,
        model_kind: GENERATOR.into(),
        version: 0,
        classes: shapes,
        network: trained.network,
        training: config.clone(),
        scale: trained.scale,
        data,
        test_loss: trained.history.last().and_then(|h| h.test_loss),
        history: trained.history,
        burn_version: crate::artifact::BURN_VERSION.into(),
        weights_sha256: String::new(),
    };
    Ok((manifest, trained.model))
}
