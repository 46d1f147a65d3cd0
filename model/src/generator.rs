//! The shape generator: a class-conditional Sketch-RNN decoder (Ha & Eck, "A Neural
//! Representation of Sketch Drawings", 2017) that writes stroke-5 sequences.
//!
//! ```text
//! class one-hot [batch, C]  -> linear, tanh          -> (h0, c0) of the LSTM, [batch, H] each
//! step t input  [batch, 5 + C] = (S_{t-1}, class one-hot), S_0 = (0, 0, 1, 0, 0)
//!   -> LSTM cell (H)                                 -> h_t [batch, H]
//!   -> linear (H -> 6M + 3)                          -> the mixture density output:
//!        M mixture weights (logits), M x (mu_x, mu_y, log sigma_x, log sigma_y, rho_raw),
//!        3 pen-state logits (p1 pen down, p2 pen up, p3 end)
//! ```
//!
//! Stroke-5 (Ha & Eck, section 3.1): each step is `(dx, dy, p1, p2, p3)`: the offset from
//! the previous point, in units of [`GeneratorManifest::scale`] (the standard deviation of
//! the offsets in the training data), and a one-hot pen state: `p1` the pen stays down to the
//! next point, `p2` the pen lifts after this point, `p3` the drawing has ended.
//!
//! Data preparation follows the paper's recipe: Quick, Draw!'s simplification (uniform scale
//! to 255, 1 px resampling, Ramer-Douglas-Peucker with epsilon 2), drawings longer than
//! [`GeneratorConfig::max_len`] points left out, offsets divided by their standard deviation;
//! augmentation by random per-axis scaling (+-15 %) and point dropout (10 % of interior
//! points, their offset merged into the next). The loss is the paper's reconstruction loss:
//! the offsets' negative log-likelihood under the mixture over the drawn steps plus the pen
//! states' cross-entropy over every step up to the longest, both divided by that length.
//! Sampling (paper, section 3.3) divides the mixture and pen logits by the temperature and
//! multiplies the variances by it; a seed makes it repeatable.

use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use inkset_protocol::quickdraw::{QdStroke, Record};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::training::{Control, Progress, StepMetrics, Stopped};

/// Sizes of the generator. Stored in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    /// Shapes it can draw (the condition).
    pub classes: usize,
    /// LSTM width H.
    pub hidden: usize,
    /// Mixture components M.
    pub mixtures: usize,
    /// Longest sequence trained on and generated, in points (Sketch-RNN's `Nmax`).
    pub max_len: usize,
}

impl GeneratorConfig {
    /// The default: H = 256, M = 20, at most 100 points.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            hidden: 256,
            mixtures: 20,
            max_len: 100,
        }
    }

    fn input(&self) -> usize {
        5 + self.classes
    }

    fn output(&self) -> usize {
        6 * self.mixtures + 3
    }

    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> Generator {
        let h = self.hidden;
        Generator {
            init: LinearConfig::new(self.classes, 2 * h).init(device),
            input_gates: LinearConfig::new(self.input(), 4 * h).init(device),
            hidden_gates: LinearConfig::new(h, 4 * h).with_bias(false).init(device),
            head: LinearConfig::new(h, self.output()).init(device),
        }
    }
}

/// The network (see the module docs). The LSTM's gates are one matrix for the inputs and
/// one for the hidden state, so the input half runs for every step at once.
#[derive(Module, Debug)]
pub struct Generator {
    init: Linear,
    input_gates: Linear,
    hidden_gates: Linear,
    head: Linear,
}

/// LSTM state: hidden and cell, `[batch, H]` each.
#[derive(Debug, Clone)]
pub struct State {
    h: Tensor<2>,
    c: Tensor<2>,
}

impl Generator {
    /// The state for a batch of conditions (`classes`: `[batch, C]` one-hot).
    pub fn start(&self, classes: Tensor<2>) -> State {
        let hc = self.init.forward(classes).tanh();
        let [_, two_h] = hc.dims();
        let h = two_h / 2;
        State {
            h: hc.clone().narrow(1, 0, h),
            c: hc.narrow(1, h, h),
        }
    }

    /// One LSTM step from precomputed input gates (`[batch, 4H]`).
    fn cell(&self, gates_in: Tensor<2>, s: State) -> State {
        let gates = gates_in + self.hidden_gates.forward(s.h);
        let [_, four_h] = gates.dims();
        let h = four_h / 4;
        let i = sigmoid(gates.clone().narrow(1, 0, h));
        // Forget-gate bias of 1 (Jozefowicz et al., 2015), as Sketch-RNN's cells.
        let f = sigmoid(gates.clone().narrow(1, h, h).add_scalar(1.0));
        let g = gates.clone().narrow(1, 2 * h, h).tanh();
        let o = sigmoid(gates.narrow(1, 3 * h, h));
        let c = f * s.c + i * g;
        State {
            h: o * c.clone().tanh(),
            c,
        }
    }

    /// Teacher-forced pass.
    ///
    /// # Shapes
    /// - inputs: `[batch, T, 5 + C]` (previous point, class one-hot)
    /// - classes: `[batch, C]`
    /// - output: `[batch * T, 6M + 3]` mixture parameters, row `b * T + t`
    pub fn forward(&self, inputs: Tensor<3>, classes: Tensor<2>) -> Tensor<2> {
        let [batch, steps, width] = inputs.dims();
        let gates = self
            .input_gates
            .forward(inputs.reshape([batch * steps, width]));
        let [_, four_h] = gates.dims();
        let gates: Tensor<3> = gates.reshape([batch, steps, four_h]);
        let mut s = self.start(classes);
        let mut hs = Vec::with_capacity(steps);
        for t in 0..steps {
            let g = gates.clone().narrow(1, t, 1).reshape([batch, four_h]);
            s = self.cell(g, s);
            hs.push(s.h.clone());
        }
        let h: Tensor<3> = Tensor::stack(hs, 1);
        let h = h.reshape([batch * steps, four_h / 4]);
        self.head.forward(h)
    }

    /// One sampling step: input `[batch, 5 + C]`, the mixture parameters `[batch, 6M + 3]`.
    pub fn step(&self, input: Tensor<2>, s: State) -> (Tensor<2>, State) {
        let s = self.cell(self.input_gates.forward(input), s);
        (self.head.forward(s.h.clone()), s)
    }
}

/// The reconstruction loss (module docs) of mixture parameters against targets.
///
/// # Shapes
/// - params: `[N, 6M + 3]`; targets: `[N, 5]` stroke-5; drawn: `[N, 1]`, 1 where the step
///   is a point of the drawing (its offset counts), 0 after the end.
/// - `norm`: the divisor (batch x longest length).
pub fn reconstruction_loss(
    params: Tensor<2>,
    targets: Tensor<2>,
    drawn: Tensor<2>,
    mixtures: usize,
    norm: f32,
) -> (Tensor<1>, Tensor<1>) {
    let m = mixtures;
    let pi = log_softmax(params.clone().narrow(1, 0, m), 1);
    let mu_x = params.clone().narrow(1, m, m);
    let mu_y = params.clone().narrow(1, 2 * m, m);
    let log_sx = params.clone().narrow(1, 3 * m, m).clamp(-8.0, 4.0);
    let log_sy = params.clone().narrow(1, 4 * m, m).clamp(-8.0, 4.0);
    let rho = params.clone().narrow(1, 5 * m, m).tanh().mul_scalar(0.95);
    let pen = log_softmax(params.narrow(1, 6 * m, 3), 1);
    let dx = targets.clone().narrow(1, 0, 1);
    let dy = targets.clone().narrow(1, 1, 1);
    let zx = (dx - mu_x) / log_sx.clone().exp();
    let zy = (dy - mu_y) / log_sy.clone().exp();
    let one_minus_rho2 = rho.clone().square().neg().add_scalar(1.0);
    let z = zx.clone().square() + zy.clone().square() - zx * zy * rho.mul_scalar(2.0);
    let log_n = (z / one_minus_rho2.clone().mul_scalar(2.0)).neg()
        - log_sx
        - log_sy
        - one_minus_rho2.log().mul_scalar(0.5)
        - (2.0 * std::f32::consts::PI).ln();
    let joint = pi + log_n;
    let top = joint.clone().max_dim(1);
    let log_mix = top.clone() + (joint - top).exp().sum_dim(1).log();
    let offsets = (log_mix * drawn).sum().neg().div_scalar(norm);
    let pen_target = targets.narrow(1, 2, 3);
    let pens = (pen * pen_target).sum().neg().div_scalar(norm);
    (offsets, pens)
}

/// One training drawing as stroke-5 (unnormalised offsets, in simplified pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Class index.
    pub label: usize,
    /// Source record's `key_id` (for the split).
    pub key_id: u64,
    /// `(dx, dy, p1, p2, p3)` per point; the first offset is from the bounding box's
    /// centre.
    pub steps: Vec<[f32; 5]>,
}

/// Stroke-5 of a record: Quick, Draw!'s simplification (always applied, so every drawing
/// has its longer side at 255), then offsets from the bounding box's centre. `None` for an
/// empty drawing.
pub fn to_stroke5(record: &Record) -> Option<Vec<[f32; 5]>> {
    let simple = Record {
        drawing: inkset_protocol::quickdraw::simplify(&record.drawing),
        ..record.clone()
    };
    let points = || simple.drawing.iter().flat_map(|s| s.x.iter().zip(&s.y));
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for (x, y) in points() {
        lo = [lo[0].min(*x), lo[1].min(*y)];
        hi = [hi[0].max(*x), hi[1].max(*y)];
    }
    if !lo[0].is_finite() {
        return None;
    }
    let mut prev = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let mut steps = Vec::new();
    for stroke in simple.drawing.iter().filter(|s| !s.x.is_empty()) {
        let n = stroke.x.len().min(stroke.y.len());
        for k in 0..n {
            let p = [stroke.x[k], stroke.y[k]];
            let last = k + 1 == n;
            steps.push([
                (p[0] - prev[0]) as f32,
                (p[1] - prev[1]) as f32,
                if last { 0.0 } else { 1.0 },
                if last { 1.0 } else { 0.0 },
                0.0,
            ]);
            prev = p;
        }
    }
    Some(steps)
}

/// Strokes (absolute points, y down) from stroke-5 steps scaled by `scale`; stops at the
/// first end state. Points are relative to the drawing's start position.
pub fn strokes_of(steps: &[[f32; 5]], scale: f32) -> Vec<Vec<[f32; 2]>> {
    let mut out: Vec<Vec<[f32; 2]>> = Vec::new();
    let mut current: Vec<[f32; 2]> = Vec::new();
    let (mut x, mut y) = (0.0f32, 0.0f32);
    for s in steps {
        if s[4] > 0.5 {
            break;
        }
        x += s[0] * scale;
        y += s[1] * scale;
        current.push([x, y]);
        if s[3] > 0.5 {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Augmentation strengths (module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorAugment {
    /// Each axis is scaled by a factor drawn from `1 +- scale`.
    pub scale: f32,
    /// Probability that an interior point of a stroke is dropped.
    pub point_dropout: f32,
}

impl Default for GeneratorAugment {
    fn default() -> Self {
        Self {
            scale: 0.15,
            point_dropout: 0.1,
        }
    }
}

impl GeneratorAugment {
    /// An augmented copy of `steps`.
    pub fn apply(&self, steps: &[[f32; 5]], rng: &mut impl Rng) -> Vec<[f32; 5]> {
        let sx = 1.0 + rng.random_range(-self.scale..=self.scale);
        let sy = 1.0 + rng.random_range(-self.scale..=self.scale);
        let mut out: Vec<[f32; 5]> = Vec::with_capacity(steps.len());
        let mut carry = [0.0f32; 2];
        for (k, s) in steps.iter().enumerate() {
            let interior = k > 0 && s[2] > 0.5 && steps[k - 1][2] > 0.5;
            if interior && self.point_dropout > 0.0 && rng.random::<f32>() < self.point_dropout {
                carry[0] += s[0];
                carry[1] += s[1];
                continue;
            }
            out.push([
                (s[0] + carry[0]) * sx,
                (s[1] + carry[1]) * sy,
                s[2],
                s[3],
                s[4],
            ]);
            carry = [0.0; 2];
        }
        out
    }
}

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

impl Default for GeneratorTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 64,
            learning_rate: 1e-3,
            lr_decay: 0.9999,
            min_learning_rate: 1e-5,
            grad_clip: 1.0,
            seed: 42,
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

/// The standard deviation of every offset (x and y together) of `data`; 1 when empty.
pub fn offset_scale(data: &[Sequence]) -> f32 {
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for s in data {
        for st in &s.steps {
            for v in [st[0], st[1]] {
                n += 1.0;
                sum += f64::from(v);
                sq += f64::from(v) * f64::from(v);
            }
        }
    }
    if n < 2.0 {
        return 1.0;
    }
    let var = (sq - sum * sum / n) / (n - 1.0);
    (var.sqrt() as f32).max(1e-3)
}

/// Builds one batch: inputs `[B, T, 5 + C]`, targets `[B * T, 5]`, drawn mask `[B * T, 1]`,
/// classes `[B, C]`; T = the longest sequence of the batch + 1 (the end state).
fn batch_tensors(
    seqs: &[Vec<[f32; 5]>],
    labels: &[usize],
    classes: usize,
    scale: f32,
    device: &Device,
) -> (Tensor<3>, Tensor<2>, Tensor<2>, Tensor<2>, usize) {
    let b = seqs.len();
    let t = seqs.iter().map(Vec::len).max().unwrap_or(0) + 1;
    let w = 5 + classes;
    let mut inputs = vec![0f32; b * t * w];
    let mut targets = vec![0f32; b * t * 5];
    let mut drawn = vec![0f32; b * t];
    let mut onehot = vec![0f32; b * classes];
    for (i, (seq, &label)) in seqs.iter().zip(labels).enumerate() {
        onehot[i * classes + label] = 1.0;
        for k in 0..t {
            let target = match seq.get(k) {
                Some(s) => [s[0] / scale, s[1] / scale, s[2], s[3], s[4]],
                None => [0.0, 0.0, 0.0, 0.0, 1.0],
            };
            targets[(i * t + k) * 5..(i * t + k + 1) * 5].copy_from_slice(&target);
            drawn[i * t + k] = f32::from(k < seq.len());
            let input = &mut inputs[(i * t + k) * w..(i * t + k + 1) * w];
            if k == 0 {
                input[2] = 1.0;
            } else {
                let prev = &targets[(i * t + k - 1) * 5..(i * t + k) * 5];
                input[..5].copy_from_slice(prev);
            }
            input[5 + label] = 1.0;
        }
    }
    (
        Tensor::from_data(TensorData::new(inputs, [b, t, w]), device),
        Tensor::from_data(TensorData::new(targets, [b * t, 5]), device),
        Tensor::from_data(TensorData::new(drawn, [b * t, 1]), device),
        Tensor::from_data(TensorData::new(onehot, [b, classes]), device),
        t,
    )
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

/// Draws one value from a standard normal (Box-Muller).
fn normal(rng: &mut StdRng) -> f32 {
    let u1 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Index drawn from unnormalised log-probabilities divided by `temperature`.
fn categorical(logits: &[f32], temperature: f32, rng: &mut StdRng) -> usize {
    let t = temperature.max(1e-3);
    let top = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b / t));
    let weights: Vec<f32> = logits.iter().map(|&l| (l / t - top).exp()).collect();
    let total: f32 = weights.iter().sum();
    let mut u = rng.random::<f32>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Samples one step from mixture parameters (one row) at `temperature`.
fn sample_step(row: &[f32], m: usize, temperature: f32, rng: &mut StdRng) -> [f32; 5] {
    let j = categorical(&row[..m], temperature, rng);
    let (mx, my) = (row[m + j], row[2 * m + j]);
    let sqrt_t = temperature.max(1e-3).sqrt();
    let sx = row[3 * m + j].clamp(-8.0, 4.0).exp() * sqrt_t;
    let sy = row[4 * m + j].clamp(-8.0, 4.0).exp() * sqrt_t;
    let rho = row[5 * m + j].tanh() * 0.95;
    let (a, b) = (normal(rng), normal(rng));
    let dx = mx + sx * a;
    let dy = my + sy * (rho * a + (1.0 - rho * rho).max(0.0).sqrt() * b);
    let mut s = [dx, dy, 0.0, 0.0, 0.0];
    s[2 + categorical(&row[6 * m..6 * m + 3], temperature, rng)] = 1.0;
    s
}

/// Samples drawings of the given classes, one per `(class, seed)`, at `temperature`, at most
/// `max_points` points each (and never more than the network's `max_len`). All are run
/// as one batch; each has its own random stream, so a `(class, seed, temperature)` gives the
/// same steps whatever else is in the batch, on the same backend. Steps are stroke-5 in
/// units of the manifest's scale.
pub fn sample(
    model: &Generator,
    network: &GeneratorConfig,
    requests: &[(usize, u64)],
    temperature: f32,
    max_points: usize,
    device: &Device,
) -> Vec<Vec<[f32; 5]>> {
    let b = requests.len();
    if b == 0 {
        return Vec::new();
    }
    let c = network.classes;
    let w = 5 + c;
    let m = network.mixtures;
    let limit = max_points.min(network.max_len).max(1);
    let mut onehot = vec![0f32; b * c];
    for (i, &(class, _)) in requests.iter().enumerate() {
        onehot[i * c + class.min(c - 1)] = 1.0;
    }
    let classes = Tensor::<2>::from_data(TensorData::new(onehot.clone(), [b, c]), device);
    let mut state = model.start(classes);
    let mut rngs: Vec<StdRng> = requests
        .iter()
        .map(|&(class, seed)| StdRng::seed_from_u64(seed ^ ((class as u64) << 56)))
        .collect();
    let mut prev: Vec<[f32; 5]> = vec![[0.0, 0.0, 1.0, 0.0, 0.0]; b];
    let mut out: Vec<Vec<[f32; 5]>> = vec![Vec::new(); b];
    let mut done = vec![false; b];
    for _ in 0..limit {
        let mut input = vec![0f32; b * w];
        for i in 0..b {
            input[i * w..i * w + 5].copy_from_slice(&prev[i]);
            input[i * w + 5..(i + 1) * w].copy_from_slice(&onehot[i * c..(i + 1) * c]);
        }
        let x = Tensor::<2>::from_data(TensorData::new(input, [b, w]), device);
        let (params, next) = model.step(x, state);
        state = next;
        let rows: Vec<f32> = params
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .unwrap_or_default();
        let width = network.output();
        for i in 0..b {
            if done[i] {
                continue;
            }
            let Some(row) = rows.get(i * width..(i + 1) * width) else {
                done[i] = true;
                continue;
            };
            let mut s = sample_step(row, m, temperature, &mut rngs[i]);
            if s[4] > 0.5 && out[i].len() < 2 {
                // A drawing has at least two points: an early end keeps the pen down.
                s = [s[0], s[1], 1.0, 0.0, 0.0];
            }
            if s[4] > 0.5 {
                done[i] = true;
            } else {
                out[i].push(s);
            }
            prev[i] = s;
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    for seq in &mut out {
        if let Some(last) = seq.last_mut() {
            // The last point ends its stroke.
            last[2] = 0.0;
            last[3] = 1.0;
        }
    }
    out
}

/// Quick, Draw! strokes for generated steps: scaled by `scale`, fitted into 0..=255 (the
/// longer side 255, like the simplified dataset), rounded to integers.
pub fn to_quickdraw(steps: &[[f32; 5]], scale: f32) -> Vec<QdStroke> {
    let strokes = strokes_of(steps, scale);
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in strokes.iter().flatten() {
        lo = [lo[0].min(p[0]), lo[1].min(p[1])];
        hi = [hi[0].max(p[0]), hi[1].max(p[1])];
    }
    let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    let k = if extent > 0.0 { 255.0 / extent } else { 1.0 };
    strokes
        .iter()
        .map(|s| QdStroke {
            x: s.iter()
                .map(|p| f64::from(((p[0] - lo[0]) * k).round()))
                .collect(),
            y: s.iter()
                .map(|p| f64::from(((p[1] - lo[1]) * k).round()))
                .collect(),
            t: None,
        })
        .collect()
}

/// The generator's model kind in the registry.
pub const GENERATOR: &str = "generator";

/// Everything about a generator but its weights (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorManifest {
    /// Artifact format version.
    pub format: u32,
    /// [`GENERATOR`].
    pub model_kind: String,
    /// Registry version (0 until registered).
    pub version: u64,
    /// The shapes it draws, in condition order.
    pub classes: Vec<String>,
    /// Network sizes.
    pub network: GeneratorConfig,
    /// Training settings.
    pub training: GeneratorTrainConfig,
    /// Offsets are in units of this many simplified pixels (0..=255 scale).
    pub scale: f32,
    /// Training data.
    pub data: crate::artifact::DataSnapshot,
    /// Held-out reconstruction loss after the last epoch.
    pub test_loss: Option<f64>,
    /// Per-epoch curves.
    pub history: Vec<GeneratorEpoch>,
    /// burn version of the weights.
    pub burn_version: String,
    /// sha256 of `weights.bpk`, hex.
    pub weights_sha256: String,
}

/// The model kind named in a manifest (`recognizer` when absent), without parsing the rest.
///
/// # Errors
/// When the bytes are not a JSON object.
pub fn manifest_kind(manifest: &[u8]) -> Result<String, serde_json::Error> {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(default)]
        model_kind: Option<String>,
    }
    let k: Kind = serde_json::from_slice(manifest)?;
    Ok(k.model_kind.unwrap_or_else(|| "recognizer".into()))
}

/// The weights of a generator in Burnpack form.
///
/// # Errors
/// [`crate::artifact::ArtifactError::Weights`] when burn cannot serialise them.
pub fn generator_weights(model: &Generator) -> Result<Vec<u8>, crate::artifact::ArtifactError> {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    let mut store = BurnpackStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| crate::artifact::ArtifactError::Weights(e.to_string()))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| crate::artifact::ArtifactError::Weights(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// A generator ready to draw.
#[derive(Debug, Clone)]
pub struct ShapeGenerator {
    /// Its manifest.
    pub manifest: GeneratorManifest,
    model: Generator,
    device: Device,
}

/// Why a generation request cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// The shape is not one the generator was trained on.
    #[error("shape {shape:?} is not one this generator draws ({known})")]
    UnknownShape {
        /// Asked.
        shape: String,
        /// Known, comma-separated.
        known: String,
    },
    /// The temperature is outside (0, 2].
    #[error("temperature must be within (0, 2], got {0}")]
    Temperature(f32),
}

impl ShapeGenerator {
    /// Loads Burnpack `weights` for `manifest` onto `device` (checksum checked).
    ///
    /// # Errors
    /// A checksum mismatch or weights that do not fit the network.
    pub fn from_bytes(
        manifest: GeneratorManifest,
        weights: Vec<u8>,
        device: Device,
    ) -> Result<Self, crate::artifact::ArtifactError> {
        use burn::store::{BurnpackStore, ModuleSnapshot};
        let actual = crate::artifact::sha256_hex(&weights);
        if actual != manifest.weights_sha256 {
            return Err(crate::artifact::ArtifactError::Checksum {
                expected: manifest.weights_sha256.clone(),
                actual,
            });
        }
        let mut model = manifest.network.init(&device);
        let mut store =
            BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(weights)));
        let result = model
            .load_from(&mut store)
            .map_err(|e| crate::artifact::ArtifactError::Weights(e.to_string()))?;
        if !result.missing.is_empty() {
            return Err(crate::artifact::ArtifactError::Weights(format!(
                "missing tensors: {:?}",
                result.missing
            )));
        }
        Ok(Self {
            manifest,
            model: model.valid(),
            device,
        })
    }

    /// Loads an artifact directory.
    ///
    /// # Errors
    /// I/O, an unreadable manifest, or as [`Self::from_bytes`].
    pub fn load(
        dir: &std::path::Path,
        device: Device,
    ) -> Result<Self, crate::artifact::ArtifactError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| crate::artifact::ArtifactError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let manifest = serde_json::from_slice(&read(crate::artifact::MANIFEST)?)?;
        Self::from_bytes(manifest, read(crate::artifact::WEIGHTS)?, device)
    }

    /// Writes the artifact (`manifest.json`, `weights.bpk`) into `dir`; returns the manifest
    /// with its checksum.
    ///
    /// # Errors
    /// I/O or serialisation.
    pub fn save(
        dir: &std::path::Path,
        mut manifest: GeneratorManifest,
        model: &Generator,
    ) -> Result<GeneratorManifest, crate::artifact::ArtifactError> {
        let io = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| crate::artifact::ArtifactError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let weights = generator_weights(model)?;
        manifest.weights_sha256 = crate::artifact::sha256_hex(&weights);
        let w = dir.join(crate::artifact::WEIGHTS);
        std::fs::write(&w, &weights).map_err(io(&w))?;
        let m = dir.join(crate::artifact::MANIFEST);
        std::fs::write(&m, serde_json::to_vec_pretty(&manifest)?).map_err(io(&m))?;
        Ok(manifest)
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Index of a shape.
    ///
    /// # Errors
    /// [`GenerateError::UnknownShape`].
    pub fn class_index(&self, shape: &str) -> Result<usize, GenerateError> {
        self.manifest
            .classes
            .iter()
            .position(|c| c == shape)
            .ok_or_else(|| GenerateError::UnknownShape {
                shape: shape.to_owned(),
                known: self.manifest.classes.join(", "),
            })
    }

    /// Stroke-5 steps for each `(shape index, seed)` at `temperature` (module docs).
    ///
    /// # Errors
    /// [`GenerateError::Temperature`] outside (0, 2].
    pub fn sample(
        &self,
        requests: &[(usize, u64)],
        temperature: f32,
        max_points: usize,
    ) -> Result<Vec<Vec<[f32; 5]>>, GenerateError> {
        if !(temperature > 0.0 && temperature <= 2.0) {
            return Err(GenerateError::Temperature(temperature));
        }
        Ok(sample(
            &self.model,
            &self.manifest.network,
            requests,
            temperature,
            max_points,
            &self.device,
        ))
    }

    /// One drawing of `shape` as Quick, Draw! strokes (0..=255, integers).
    ///
    /// # Errors
    /// As [`Self::class_index`] and [`Self::sample`].
    pub fn generate(
        &self,
        shape: &str,
        temperature: f32,
        seed: u64,
        max_points: usize,
    ) -> Result<Vec<QdStroke>, GenerateError> {
        let class = self.class_index(shape)?;
        let steps = self
            .sample(&[(class, seed)], temperature, max_points)?
            .pop()
            .unwrap_or_default();
        Ok(to_quickdraw(&steps, self.manifest.scale))
    }
}

/// A generated drawing in the API's format: the Quick, Draw! strokes of [`to_quickdraw`]
/// on a 256 x 256 canvas, no timing, with `source` naming where it came from (`origin`)
/// and `key_id` (the import origin's metadata, which is what generated drawings are
/// validated as).
pub fn to_drawing(
    shape: &str,
    strokes: Vec<QdStroke>,
    key_id: u64,
    origin: String,
) -> inkset_protocol::drawing::Drawing {
    let mut drawing = Record {
        word: shape.to_owned(),
        countrycode: None,
        timestamp: None,
        recognized: None,
        key_id,
        drawing: strokes,
        source: Some(origin),
    }
    .into_drawing();
    drawing.canvas = Some(inkset_protocol::drawing::Canvas {
        width: 256.0,
        height: 256.0,
    });
    drawing
}

/// Stroke-5 of polylines (original coordinates): through a Quick, Draw! record so the
/// same simplification applies.
pub fn lines_to_stroke5(lines: &[crate::raster::Polyline]) -> Option<Vec<[f32; 5]>> {
    let record = Record {
        word: String::new(),
        countrycode: None,
        timestamp: None,
        recognized: None,
        key_id: 0,
        drawing: lines
            .iter()
            .map(|l| QdStroke {
                x: l.iter().map(|p| f64::from(p[0])).collect(),
                y: l.iter().map(|p| f64::from(p[1])).collect(),
                t: None,
            })
            .collect(),
        source: None,
    };
    to_stroke5(&record)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stroke5_round_trip_keeps_strokes_and_pen_states() {
        let lines = vec![
            vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]],
            vec![[0.0, 100.0], [50.0, 50.0]],
        ];
        let steps = lines_to_stroke5(&lines).unwrap();
        assert_eq!(steps.len(), 5);
        assert_eq!(
            steps.iter().map(|s| [s[2], s[3]]).collect::<Vec<_>>(),
            vec![[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
        );
        let back = strokes_of(&steps, 1.0);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].len(), 3);
        // Simplified to 0..=255 and offset from the box centre.
        let start = [steps[0][0], steps[0][1]];
        assert_eq!(back[0][1], [start[0] + 255.0, start[1]]);
        let qd = to_quickdraw(&steps, 1.0);
        assert_eq!(qd[0].x, vec![0.0, 255.0, 255.0]);
        assert_eq!(qd[1].y, vec![255.0, 127.0]);
    }

    #[test]
    fn point_dropout_keeps_ends_and_total_offset() {
        let steps: Vec<[f32; 5]> = (0..50)
            .map(|k| [1.0, 2.0, f32::from(k != 49), f32::from(k == 49), 0.0])
            .collect();
        let a = GeneratorAugment {
            scale: 0.0,
            point_dropout: 0.5,
        };
        let mut rng = StdRng::seed_from_u64(7);
        let out = a.apply(&steps, &mut rng);
        assert!(out.len() < 50 && out.len() > 2);
        let sum = out
            .iter()
            .fold([0.0f32; 2], |s, p| [s[0] + p[0], s[1] + p[1]]);
        assert!((sum[0] - 50.0).abs() < 1e-3 && (sum[1] - 100.0).abs() < 1e-3);
        assert_eq!(out.last().unwrap()[3], 1.0);
        assert_eq!(out[0], steps[0]);
    }

    #[test]
    fn sampling_is_repeatable_per_seed_and_batch_independent() {
        let device = Device::flex();
        let net = GeneratorConfig {
            classes: 3,
            hidden: 16,
            mixtures: 3,
            max_len: 20,
        };
        device.seed(1);
        let model = net.init(&device);
        let a = sample(&model, &net, &[(1, 5)], 0.5, 20, &device);
        let b = sample(&model, &net, &[(0, 9), (1, 5), (2, 1)], 0.5, 20, &device);
        assert_eq!(a[0], b[1]);
        let c = sample(&model, &net, &[(1, 6)], 0.5, 20, &device);
        assert_ne!(a[0], c[0]);
        assert!(a[0].len() <= 20);
    }

    #[test]
    fn loss_falls_when_training_on_a_shape() {
        let device = Device::flex().autodiff();
        let square = |k: u64| Sequence {
            label: 0,
            key_id: k,
            steps: lines_to_stroke5(&[vec![
                [0.0, 0.0],
                [10.0, 0.0],
                [10.0, 10.0],
                [0.0, 10.0],
                [0.0, 0.0],
            ]])
            .unwrap(),
        };
        let data: Vec<Sequence> = (0..32).map(square).collect();
        let config = GeneratorTrainConfig {
            epochs: 30,
            batch_size: 16,
            learning_rate: 5e-3,
            hidden: 32,
            mixtures: 2,
            augment: GeneratorAugment {
                scale: 0.0,
                point_dropout: 0.0,
            },
            ..GeneratorTrainConfig::default()
        };
        let trained =
            train_generator(1, &data, &data, &config, &device, |_, _| Control::Continue).unwrap();
        let first = trained.history.first().unwrap().train_loss;
        let last = trained.history.last().unwrap().test_loss.unwrap();
        assert!(last < first - 1.0, "loss {first} -> {last}");
    }
}
