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
use crate::raster::{Polyline, RASTERIZER_VERSION, rasterize_version_into};
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

/// Rasterizes a batch into `[batch, 1, n, n]` values (augmented when `augment` is given)
/// with rasterizer `version` (a model's `rasterizer_version`; training uses the current one).
pub(crate) fn raster_batch(
    samples: &[&Sample],
    n: usize,
    augment: Option<(&Augment, &mut StdRng)>,
    version: u32,
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
        if rasterize_version_into(version, &lines, size, out).is_err() {
            let _ = rasterize_version_into(version, &s.lines, size, out);
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
        let data = raster_batch(&refs, n, None, RASTERIZER_VERSION);
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

/// The reject rule a training run settles on: what [`decide`] applies, tuned on the
/// validation split by [`tune_reject_rule`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RejectRule {
    /// Best-shape probability below which the answer is `unknown` (0..=0.9).
    pub threshold: f32,
    /// Added to the `unknown` logit before the softmax (0 or below; 0 for a model without
    /// `unknown`): a post-hoc logit adjustment (Menon et al., "Long-tail learning via logit
    /// adjustment", ICLR 2021) that corrects for the share of distractors trained on.
    pub unknown_logit_adjustment: f32,
}

/// Logit adjustments tried by [`tune_reject_rule`]: 0, -0.25, ..., -4.
const ADJUSTMENTS: u8 = 16;

/// `probs` as they are with `adjustment` added to class `unknown`'s logit (the softmax
/// renormalised): `p_u' = p_u e^a / (1 - p_u + p_u e^a)`, every other `p_i' = p_i / (same)`.
pub fn adjust_unknown(probs: &[f32], unknown: usize, adjustment: f32) -> Vec<f32> {
    let Some(&pu) = probs.get(unknown) else {
        return probs.to_vec();
    };
    let scale = adjustment.exp();
    let denominator = (1.0 - pu + pu * scale).max(f32::MIN_POSITIVE);
    probs
        .iter()
        .enumerate()
        .map(|(i, &p)| if i == unknown { p * scale } else { p } / denominator)
        .collect()
}

/// The reject rule with the best balanced accuracy on `validation` (a split never trained on
/// and not the test split): the mean over its classes of the share answered right, a
/// distractor counting as right when answered `unknown`. Balanced accuracy rather than plain
/// accuracy, because the plain kind rewards rejecting doubtful shapes as long as distractors
/// outnumber each shape (they are the largest class).
///
/// Tried: every threshold 0.00, 0.05, ..., 0.90 with every `unknown` logit adjustment 0,
/// -0.25, ..., -4 (only 0 without an `unknown` class). Ties go to the smaller adjustment,
/// then the smaller threshold. `(0, 0)` when `validation` is empty.
pub fn tune_reject_rule(
    model: &Recognizer,
    classes: &[String],
    validation: &[Sample],
    n: usize,
    device: &Device,
) -> RejectRule {
    let probs = predict_probabilities(model, validation, n, device);
    let labels: Vec<usize> = validation.iter().map(|s| s.label).collect();
    best_reject_rule(classes, &labels, &probs)
}

/// [`tune_reject_rule`]'s search on probabilities already computed: `probs[i]` is drawing
/// `i`'s softmax over `classes`, `labels[i]` its true class index.
pub fn best_reject_rule(classes: &[String], labels: &[usize], probs: &[Vec<f32>]) -> RejectRule {
    let mut best = RejectRule {
        threshold: 0.0,
        unknown_logit_adjustment: 0.0,
    };
    if labels.is_empty() {
        return best;
    }
    let unknown = classes.iter().position(|c| c == UNKNOWN);
    let mut support = vec![0usize; classes.len()];
    for &l in labels {
        if let Some(c) = support.get_mut(l) {
            *c += 1;
        }
    }
    let present = support.iter().filter(|&&c| c > 0).count().max(1);
    let adjustments = if unknown.is_some() { ADJUSTMENTS } else { 0 };
    let mut best_score = f64::NEG_INFINITY;
    let mut right = vec![0usize; classes.len()];
    for a in 0..=adjustments {
        let adjustment = -f32::from(a) * 0.25;
        let adjusted: Vec<Vec<f32>> = match unknown {
            Some(u) if a > 0 => probs
                .iter()
                .map(|p| adjust_unknown(p, u, adjustment))
                .collect(),
            _ => probs.to_vec(),
        };
        for step in 0..=18u8 {
            let threshold = f32::from(step) * 0.05;
            right.fill(0);
            for (&label, p) in labels.iter().zip(&adjusted) {
                let ok = match decide(classes, p, threshold).index {
                    Some(i) => i == label,
                    None => classes.get(label).is_some_and(|c| c == UNKNOWN),
                };
                if ok && let Some(r) = right.get_mut(label) {
                    *r += 1;
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let score = right
                .iter()
                .zip(&support)
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| *r as f64 / *n as f64)
                .sum::<f64>()
                / present as f64;
            // Strictly better by more than rounding: ties keep the earlier (smaller) rule.
            if score > best_score + 1e-9 {
                best_score = score;
                best = RejectRule {
                    threshold,
                    unknown_logit_adjustment: adjustment,
                };
            }
        }
    }
    best
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
                    let rasters = raster_batch(
                        &batch,
                        n,
                        Some((&config.augment, &mut rng)),
                        RASTERIZER_VERSION,
                    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn softmax(logits: &[f32]) -> Vec<f32> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        exp.iter().map(|e| e / sum).collect()
    }

    #[test]
    fn adjusting_probabilities_equals_shifting_the_logit() {
        let logits = [1.5f32, -0.3, 0.2, 2.1];
        for adjustment in [0.0f32, -0.25, -1.0, -4.0] {
            let mut shifted = logits;
            shifted[3] += adjustment;
            let want = softmax(&shifted);
            let got = adjust_unknown(&softmax(&logits), 3, adjustment);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?} at {adjustment}");
            }
        }
    }

    #[test]
    fn shapes_lost_to_unknown_move_the_unknown_logit_down() {
        let classes = names(&["circle", "square", UNKNOWN]);
        // Circles the network puts just under `unknown`, squares it gets right, and many
        // distractors it rejects with a wide margin.
        let mut labels = Vec::new();
        let mut probs = Vec::new();
        for _ in 0..10 {
            labels.push(0);
            probs.push(vec![0.40, 0.05, 0.55]);
            labels.push(1);
            probs.push(vec![0.05, 0.90, 0.05]);
        }
        for _ in 0..50 {
            labels.push(2);
            probs.push(vec![0.05, 0.05, 0.90]);
        }
        let rule = best_reject_rule(&classes, &labels, &probs);
        assert!(rule.unknown_logit_adjustment < 0.0, "{rule:?}");
        let right = |label: usize| {
            labels
                .iter()
                .zip(&probs)
                .filter(|(l, _)| **l == label)
                .all(|(l, p)| {
                    let p = adjust_unknown(p, 2, rule.unknown_logit_adjustment);
                    decide(&classes, &p, rule.threshold).index == Some(*l)
                })
        };
        assert!(right(0) && right(1) && right(2), "{rule:?}");
        // The smallest adjustment that does it: circles need p_u e^a < p_circle.
        assert!(rule.unknown_logit_adjustment >= -0.5, "{rule:?}");
    }

    #[test]
    fn a_model_already_right_keeps_the_plain_rule() {
        let classes = names(&["circle", "square", UNKNOWN]);
        let labels = [0, 1, 2];
        let probs = [
            vec![0.8, 0.1, 0.1],
            vec![0.1, 0.8, 0.1],
            vec![0.1, 0.1, 0.8],
        ];
        let rule = best_reject_rule(&classes, &labels, &probs);
        assert_eq!(
            rule,
            RejectRule {
                threshold: 0.0,
                unknown_logit_adjustment: 0.0
            }
        );
        assert_eq!(best_reject_rule(&classes, &[], &[]), rule);
    }

    #[test]
    fn without_unknown_only_the_threshold_is_tuned() {
        let classes = names(&["circle", "square"]);
        let labels = [0, 1, 0];
        let probs = [vec![0.6, 0.4], vec![0.3, 0.7], vec![0.45, 0.55]];
        let rule = best_reject_rule(&classes, &labels, &probs);
        assert_eq!(rule.unknown_logit_adjustment, 0.0);
    }

    #[test]
    fn a_shifted_logit_answers_like_the_adjusted_probabilities() {
        let device = Device::flex();
        let model = RecognizerConfig::new(3).init(&device);
        let rasters: Vec<f32> = (0..2 * 32 * 32)
            .map(|i| ((i * 7) % 11) as f32 / 10.0)
            .collect();
        let before = probabilities(&model, rasters.clone(), 2, 32, &device);
        let shifted = model.shift_logit(2, -1.5).expect("class 2 is an output");
        let after = probabilities(&shifted, rasters, 2, 32, &device);
        for (b, a) in before.iter().zip(&after) {
            let want = adjust_unknown(b, 2, -1.5);
            for (x, y) in a.iter().zip(&want) {
                assert!((x - y).abs() < 1e-5, "{a:?} vs {want:?}");
            }
        }
        let again = RecognizerConfig::new(3).init(&device);
        assert!(
            again.shift_logit(3, 1.0).is_err(),
            "class 3 is not an output"
        );
    }
}
