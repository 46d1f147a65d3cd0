//! Training and evaluation of the recognizer.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::dataset::Sample;
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
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Seeds weight init, shuffling and augmentation.
    pub seed: u64,
    /// Raster side N.
    pub input_size: usize,
    /// Augmentation strengths.
    pub augment: Augment,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 15,
            batch_size: 64,
            learning_rate: 2e-3,
            seed: 42,
            input_size: 32,
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
fn raster_batch(
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

/// Predicted class index of each sample.
pub fn predict(model: &Recognizer, samples: &[Sample], n: usize, device: &Device) -> Vec<usize> {
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(256) {
        let refs: Vec<&Sample> = chunk.iter().collect();
        let data = raster_batch(&refs, n, None);
        for p in probabilities(model, data, chunk.len(), n, device) {
            out.push(argmax(&p));
        }
    }
    out
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

/// Accuracy, per-class precision/recall and the confusion matrix.
pub fn evaluate(
    model: &Recognizer,
    classes: &[String],
    samples: &[Sample],
    n: usize,
    device: &Device,
) -> Evaluation {
    let predicted = predict(model, samples, n, device);
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (s, &p) in samples.iter().zip(&predicted) {
        confusion[s.label][p.min(k - 1)] += 1;
    }
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let count = samples.len() as u64;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_class = (0..k)
        .map(|c| {
            let support: u64 = confusion[c].iter().sum();
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

/// Trains a recognizer for `classes` on `train`; after each epoch calls `on_epoch` with its
/// metrics (test accuracy measured on `test` when it is not empty). `device` must have
/// autodiff enabled (`Device::flex().autodiff()`, `Device::wgpu(..).autodiff()`).
pub fn train(
    classes: usize,
    train: &[Sample],
    test: &[Sample],
    config: &TrainConfig,
    device: &Device,
    mut on_epoch: impl FnMut(&EpochMetrics),
) -> (RecognizerConfig, Recognizer, Vec<EpochMetrics>) {
    device.seed(config.seed);
    let net = RecognizerConfig {
        input_size: config.input_size,
        ..RecognizerConfig::new(classes)
    };
    let n = config.input_size;
    let mut model = net.init(device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut history = Vec::new();
    for epoch in 1..=config.epochs {
        order.shuffle(&mut rng);
        let started = Instant::now();
        let (mut loss_sum, mut batches, mut correct) = (0.0f64, 0usize, 0usize);
        for chunk in order.chunks(config.batch_size.max(1)) {
            let batch: Vec<&Sample> = chunk.iter().map(|&i| &train[i]).collect();
            let data = raster_batch(&batch, n, Some((&config.augment, &mut rng)));
            let labels: Vec<i64> = batch.iter().map(|s| s.label as i64).collect();
            let x = to_input(data, batch.len(), n, device);
            let y =
                Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [batch.len()]), device);
            let logits = model.forward(x);
            let loss = loss_fn.forward(logits.clone(), y);
            let predicted: Vec<i64> = logits
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .try_to_vec()
                .unwrap_or_default();
            correct += predicted
                .iter()
                .zip(&labels)
                .filter(|(p, l)| p == l)
                .count();
            loss_sum += f64::from(loss.clone().into_scalar::<f32>());
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
        }
        let secs = started.elapsed().as_secs_f64();
        let test_accuracy = (!test.is_empty()).then(|| {
            let valid = model.valid();
            let predicted = predict(&valid, test, n, device);
            let ok = test
                .iter()
                .zip(&predicted)
                .filter(|(s, p)| s.label == **p)
                .count();
            ok as f64 / test.len() as f64
        });
        let m = EpochMetrics {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            train_accuracy: correct as f64 / train.len().max(1) as f64,
            test_accuracy,
            samples_per_sec: train.len() as f64 / secs.max(1e-9),
        };
        on_epoch(&m);
        history.push(m);
    }
    (net, model.valid(), history)
}
