//! Training and evaluation of the recognizer.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::dataset::{Sample, UNKNOWN};
use crate::native_train::NativeLearner;
use crate::raster::{Polyline, rasterize_into};
use crate::recognizer::{Recognizer, RecognizerConfig};

/// Training settings. Every field has a default that trains a good model on the project's
/// data; the whole struct is stored in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Samples per optimizer step.
    pub batch_size: usize,
    /// Adam learning rate (the peak, with `cosine_decay`).
    pub learning_rate: f64,
    /// Decay the learning rate along a half cosine from `learning_rate` at the first step
    /// to 0 at the last (Loshchilov and Hutter, SGDR, 2017, without restarts).
    pub cosine_decay: bool,
    /// Seeds weight init, shuffling and augmentation.
    pub seed: u64,
    /// Raster side N.
    pub input_size: usize,
    /// Channels of the three convolutions.
    pub channels: [usize; 3],
    /// Width of the hidden linear layer.
    pub hidden: usize,
    /// Augmentation strengths.
    pub augment: Augment,
}

/// A training job's settings ([`inkset_protocol::ml::TrainingConfig`]) as the recognizer's:
/// what the job leaves unset keeps [`TrainConfig::default`]. The one place that turns the
/// wire config into the model's.
impl From<&inkset_protocol::ml::TrainingConfig> for TrainConfig {
    fn from(c: &inkset_protocol::ml::TrainingConfig) -> Self {
        let r = c.resolve(inkset_protocol::ml::TrainingConfig::RECOGNIZER_DEFAULTS);
        Self {
            epochs: r.epochs,
            batch_size: r.batch_size,
            learning_rate: r.learning_rate,
            seed: r.seed,
            ..Self::default()
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        let d = inkset_protocol::ml::TrainingConfig::RECOGNIZER_DEFAULTS;
        Self {
            epochs: d.epochs,
            batch_size: d.batch_size,
            learning_rate: d.learning_rate,
            cosine_decay: true,
            seed: d.seed,
            input_size: 32,
            channels: RecognizerConfig::DEFAULT_CHANNELS,
            hidden: RecognizerConfig::DEFAULT_HIDDEN,
            augment: Augment::default(),
        }
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches.
    pub train_loss: f64,
    /// Top-1 accuracy on the (augmented) training batches.
    pub train_accuracy: f64,
    /// Top-1 accuracy on the held-out split, if one was given.
    pub test_accuracy: Option<f64>,
    /// Training throughput, samples/s (rasterization and augmentation included).
    pub samples_per_sec: f64,
}

/// Precision and recall of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name.
    pub class: String,
    /// Of the drawings predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the drawings of this class, the fraction predicted as it.
    pub recall: f64,
    /// Drawings of this class evaluated.
    pub support: u64,
}

/// Evaluation on labelled drawings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Top-1 accuracy over all drawings.
    pub accuracy: f64,
    /// Per class.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Drawings evaluated.
    pub count: u64,
}

/// Rasterizes a batch into `[batch, 1, n, n]` values (augmented when `augment` is given).
pub(crate) fn raster_batch(
    samples: &[&Sample],
    n: usize,
    augment: Option<(&Augment, &mut StdRng)>,
) -> Vec<f32> {
    let mut data = vec![0.0f32; samples.len() * n * n];
    let size = u32::try_from(n).unwrap_or(32);
    let mut augment = augment;
    for (s, out) in samples.iter().zip(data.chunks_exact_mut(n * n)) {
        let lines: Vec<Polyline> = match augment.as_mut() {
            Some((a, rng)) => a.apply(&s.lines, *rng),
            None => s.lines.clone(),
        };
        // An augmented drawing that became a tap falls back to the original.
        if rasterize_into(&lines, size, out).is_err() {
            let _ = rasterize_into(&s.lines, size, out);
        }
    }
    data
}

fn to_input(data: Vec<f32>, batch: usize, n: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(data, [batch, 1, n, n]), device)
}

/// Class probabilities for rasters: `[batch, 1, n, n]` in, `batch` rows of softmax out.
pub fn probabilities(
    model: &Recognizer,
    rasters: Vec<f32>,
    batch: usize,
    n: usize,
    device: &Device,
) -> Vec<Vec<f32>> {
    let logits = model.forward(to_input(rasters, batch, n, device));
    let classes = logits.dims()[1];
    let probs = burn::tensor::activation::softmax(logits, 1);
    let flat: Vec<f32> = probs
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap_or_default();
    flat.chunks(classes.max(1)).map(<[f32]>::to_vec).collect()
}

/// Softmax probabilities of each sample (un-augmented), in order.
pub fn predict_probabilities(
    model: &Recognizer,
    samples: &[Sample],
    n: usize,
    device: &Device,
) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(256) {
        let refs: Vec<&Sample> = chunk.iter().collect();
        let data = raster_batch(&refs, n, None);
        out.extend(probabilities(model, data, chunk.len(), n, device));
    }
    out
}

/// Predicted class index of each sample: the argmax, with no reject threshold.
pub fn predict(model: &Recognizer, samples: &[Sample], n: usize, device: &Device) -> Vec<usize> {
    predict_probabilities(model, samples, n, device)
        .iter()
        .map(|p| argmax(p))
        .collect()
}

/// The answer for one drawing's probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Index of the answer in the class list; `None` for a threshold `unknown` from a model
    /// without an `unknown` class.
    pub index: Option<usize>,
    /// The answer: a class name or [`UNKNOWN`].
    pub label: String,
    /// How sure, 0..=1: the answer's probability, or for a threshold `unknown` one minus
    /// the best shape's probability.
    pub confidence: f32,
}

/// The reject rule: the answer is `unknown` when the `unknown` class has the largest
/// probability, or when the best shape's probability is below `threshold`; otherwise the
/// best shape.
pub fn decide(classes: &[String], probs: &[f32], threshold: f32) -> Decision {
    let unknown = classes.iter().position(|c| c == UNKNOWN);
    let top = argmax(probs);
    let unknown_answer = |confidence: f32| Decision {
        index: unknown,
        label: UNKNOWN.into(),
        confidence,
    };
    if Some(top) == unknown {
        return unknown_answer(probs[top]);
    }
    let p = probs.get(top).copied().unwrap_or(0.0);
    if p < threshold {
        return unknown_answer(1.0 - p);
    }
    Decision {
        index: Some(top),
        label: classes.get(top).cloned().unwrap_or_default(),
        confidence: p,
    }
}

/// The reject threshold that maximises accuracy on `validation` (a split never trained on
/// and not the test split), where a distractor counts as right when answered `unknown`.
/// Candidates are 0.00, 0.05, ..., 0.90; ties go to the smaller threshold. 0 when
/// `validation` is empty.
pub fn tune_threshold(
    model: &Recognizer,
    classes: &[String],
    validation: &[Sample],
    n: usize,
    device: &Device,
) -> f32 {
    if validation.is_empty() {
        return 0.0;
    }
    let probs = predict_probabilities(model, validation, n, device);
    let mut best = (0.0f32, 0usize);
    for step in 0..=18u8 {
        let t = f32::from(step) * 0.05;
        let right = validation
            .iter()
            .zip(&probs)
            .filter(|(s, p)| {
                let d = decide(classes, p, t);
                match d.index {
                    Some(i) => i == s.label,
                    None => classes.get(s.label).is_some_and(|c| c == UNKNOWN),
                }
            })
            .count();
        if right > best.1 {
            best = (t, right);
        }
    }
    best.0
}

/// Index of the largest value.
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Accuracy, per-class precision/recall and the confusion matrix of the answers given by
/// [`decide`] with `threshold`.
pub fn evaluate(
    model: &Recognizer,
    classes: &[String],
    samples: &[Sample],
    n: usize,
    threshold: f32,
    device: &Device,
) -> Evaluation {
    let probs = predict_probabilities(model, samples, n, device);
    let predicted: Vec<Option<usize>> = probs
        .iter()
        .map(|p| decide(classes, p, threshold).index)
        .collect();
    evaluation(classes, samples, &predicted)
}

/// Builds an [`Evaluation`] from predicted class indices (`None`: an answer outside the
/// class list, always wrong).
pub fn evaluation(
    classes: &[String],
    samples: &[Sample],
    predicted: &[Option<usize>],
) -> Evaluation {
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    let mut outside = vec![0u64; k];
    for (s, p) in samples.iter().zip(predicted) {
        match p {
            Some(p) => confusion[s.label][(*p).min(k - 1)] += 1,
            None => outside[s.label] += 1,
        }
    }
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let count = samples.len() as u64;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_class = (0..k)
        .map(|c| {
            let support: u64 = confusion[c].iter().sum::<u64>() + outside[c];
            let predicted_as: u64 = (0..k).map(|r| confusion[r][c]).sum();
            ClassMetrics {
                class: classes[c].clone(),
                precision: ratio(confusion[c][c], predicted_as),
                recall: ratio(confusion[c][c], support),
                support,
            }
        })
        .collect();
    Evaluation {
        accuracy: ratio(correct, count),
        per_class,
        confusion,
        count,
    }
}

/// One optimizer step's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Steps so far, 1-based.
    pub step: u64,
    /// 1-based epoch.
    pub epoch: usize,
    /// Cross-entropy of the batch.
    pub loss: f64,
    /// Top-1 accuracy of the (augmented) batch.
    pub accuracy: f64,
    /// Samples/s over the epoch so far (rasterization and augmentation included).
    pub samples_per_sec: f64,
}

/// What [`train`] reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// After every optimizer step.
    Step(&'a StepMetrics),
    /// After every epoch (with held-out accuracy when a test set was given).
    Epoch(&'a EpochMetrics),
}

/// The observer's answer: go on or stop (a cancelled job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop now; [`train`] returns [`Stopped`].
    Stop,
}

/// Training was stopped by its observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("training stopped by its observer at step {step}")]
pub struct Stopped {
    /// The last step run.
    pub step: u64,
}

/// A trained recognizer.
#[derive(Debug)]
pub struct Trained {
    /// Its network sizes.
    pub network: RecognizerConfig,
    /// The model, in inference mode on the training device's inner backend.
    pub model: Recognizer,
    /// Per-epoch metrics.
    pub history: Vec<EpochMetrics>,
}

/// A batch the raster thread has made ready: `[batch, 1, n, n]` rasters and their labels.
struct ReadyBatch {
    epoch: usize,
    rasters: Vec<f32>,
    labels: Vec<i64>,
    /// The last batch of its epoch.
    last: bool,
}

/// What one optimizer step gives back.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// Mean cross-entropy of the batch (before the update).
    pub loss: f64,
    /// Argmax class of each row (before the update).
    pub predicted: Vec<i64>,
}

/// A recognizer being trained: the network, its Adam state and the loss. The training loop
/// and the speed measurement ([`crate::speed`]) both step through this.
pub struct Learner {
    model: Option<Recognizer>,
    optim: ModuleOptimizer,
    loss_fn: CrossEntropyLoss,
    n: usize,
    device: Device,
}

impl std::fmt::Debug for Learner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learner")
            .field("input_size", &self.n)
            .finish_non_exhaustive()
    }
}

impl Learner {
    /// Fresh weights for `net` on `device` (autodiff enabled), Adam with burn's defaults.
    pub fn new(net: &RecognizerConfig, device: &Device) -> Self {
        Self {
            model: Some(net.init(device)),
            optim: AdamConfig::new().init(),
            loss_fn: CrossEntropyLossConfig::new().init(device),
            n: net.input_size,
            device: device.clone(),
        }
    }

    /// One optimizer step: forward, cross-entropy, backward, Adam at learning rate `lr`.
    /// `rasters`: `[labels.len(), 1, n, n]` f32 in 0..=1; `labels`: class indices.
    pub fn step(&mut self, rasters: Vec<f32>, labels: &[i64], lr: f64) -> StepOutcome {
        let batch = labels.len();
        let model = self.model.take().expect("a learner always holds its model");
        let x = to_input(rasters, batch, self.n, &self.device);
        let y =
            Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [batch]), &self.device);
        let logits = model.forward(x);
        let loss = self.loss_fn.forward(logits.clone(), y);
        let predicted: Vec<i64> = logits
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec()
            .unwrap_or_default();
        let batch_loss = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(lr, model, grads));
        StepOutcome {
            loss: batch_loss,
            predicted,
        }
    }

    /// The network as it is now, in inference mode on the inner (non-autodiff) backend.
    pub fn valid(&self) -> Recognizer {
        self.model
            .as_ref()
            .expect("a learner always holds its model")
            .valid()
    }
}

/// What runs the optimizer steps: the native CPU step ([`crate::native_train`]) on the CPU
/// device, burn's autodiff elsewhere (wgpu, CUDA).
enum Engine {
    Burn(Box<Learner>),
    Native(Box<NativeLearner>),
}

impl Engine {
    fn new(net: &RecognizerConfig, device: &Device, seed: u64) -> Self {
        if *device == Device::flex()
            && let Ok(native) = NativeLearner::from_burn(&net.init(device), net, seed)
        {
            return Self::Native(Box::new(native));
        }
        Self::Burn(Box::new(Learner::new(net, device)))
    }

    fn step(&mut self, rasters: Vec<f32>, labels: &[i64], lr: f64) -> StepOutcome {
        match self {
            Self::Burn(l) => l.step(rasters, labels, lr),
            Self::Native(l) => l.step(&rasters, labels, lr),
        }
    }

    fn valid(&self) -> Recognizer {
        match self {
            Self::Burn(l) => l.valid(),
            Self::Native(l) => l
                .to_burn(&Device::flex())
                .expect("the native learner's weights fit its own network"),
        }
    }
}

/// Trains a recognizer for `classes` on `train`, reporting every step and epoch to
/// `observe` (held-out accuracy measured on `test` when it is not empty). `device` must have
/// autodiff enabled (`Device::flex().autodiff()`, `Device::wgpu(..).autodiff()`).
///
/// Rasterization and augmentation run on their own thread, up to two batches ahead of the
/// optimizer, so the network never waits for pixels; the batches and their augmentation are
/// the same as if they were made in line (one seeded generator, used in the same order).
/// On the CPU the steps run natively ([`crate::native_train`]: burn's initial weights,
/// gradients and Adam, without burn's per-op overhead); on wgpu and CUDA on burn.
///
/// # Errors
/// [`Stopped`] when `observe` answers [`Control::Stop`].
pub fn train(
    classes: usize,
    train: &[Sample],
    test: &[Sample],
    config: &TrainConfig,
    device: &Device,
    mut observe: impl FnMut(Progress<'_>) -> Control,
) -> Result<Trained, Stopped> {
    device.seed(config.seed);
    let net = RecognizerConfig {
        input_size: config.input_size,
        channels: config.channels,
        hidden: config.hidden,
        ..RecognizerConfig::new(classes)
    };
    let n = config.input_size;
    let mut learner = Engine::new(&net, device, config.seed);
    let mut history = Vec::new();
    let mut step = 0u64;
    let batch_size = config.batch_size.max(1);
    let total_steps = (config.epochs * train.len().div_ceil(batch_size)).max(1) as f64;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<ReadyBatch>(2);
        scope.spawn(move || {
            let mut rng = StdRng::seed_from_u64(config.seed);
            let mut order: Vec<usize> = (0..train.len()).collect();
            for epoch in 1..=config.epochs {
                order.shuffle(&mut rng);
                let batches = order.len().div_ceil(batch_size);
                for (i, chunk) in order.chunks(batch_size).enumerate() {
                    let batch: Vec<&Sample> = chunk.iter().map(|&i| &train[i]).collect();
                    let rasters = raster_batch(&batch, n, Some((&config.augment, &mut rng)));
                    let labels = batch.iter().map(|s| s.label as i64).collect();
                    let ready = ReadyBatch {
                        epoch,
                        rasters,
                        labels,
                        last: i + 1 == batches,
                    };
                    // The trainer has stopped: nothing more to make.
                    if tx.send(ready).is_err() {
                        return;
                    }
                }
            }
        });
        let mut started = Instant::now();
        let (mut loss_sum, mut batches, mut correct, mut seen) = (0.0f64, 0usize, 0usize, 0usize);
        for ready in rx {
            let lr = if config.cosine_decay {
                let progress = step as f64 / total_steps;
                config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            } else {
                config.learning_rate
            };
            let rows = ready.labels.len();
            let out = learner.step(ready.rasters, &ready.labels, lr);
            let batch_correct = out
                .predicted
                .iter()
                .zip(&ready.labels)
                .filter(|(p, l)| p == l)
                .count();
            correct += batch_correct;
            seen += rows;
            loss_sum += out.loss;
            batches += 1;
            step += 1;
            let m = StepMetrics {
                step,
                epoch: ready.epoch,
                loss: out.loss,
                accuracy: batch_correct as f64 / rows.max(1) as f64,
                samples_per_sec: seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
            };
            if observe(Progress::Step(&m)) == Control::Stop {
                return Err(Stopped { step });
            }
            if !ready.last {
                continue;
            }
            let secs = started.elapsed().as_secs_f64();
            let test_accuracy = (!test.is_empty()).then(|| {
                let predicted = predict(&learner.valid(), test, n, device);
                let ok = test
                    .iter()
                    .zip(&predicted)
                    .filter(|(s, p)| s.label == **p)
                    .count();
                ok as f64 / test.len() as f64
            });
            let m = EpochMetrics {
                epoch: ready.epoch,
                train_loss: loss_sum / batches.max(1) as f64,
                train_accuracy: correct as f64 / train.len().max(1) as f64,
                test_accuracy,
                samples_per_sec: train.len() as f64 / secs.max(1e-9),
            };
            let control = observe(Progress::Epoch(&m));
            history.push(m);
            if control == Control::Stop {
                return Err(Stopped { step });
            }
            (loss_sum, batches, correct, seen) = (0.0, 0, 0, 0);
            started = Instant::now();
        }
        Ok(())
    })?;
    Ok(Trained {
        model: learner.valid(),
        network: net,
        history,
    })
}
