//! The recognizer's training step on the CPU, written for this network as
//! [`crate::native`] is for inference: forward with the caches the backward pass needs (the
//! im2col matrices, the max-pool's winners, the dropout mask), backward by hand, and burn's
//! Adam (same defaults and bias correction: beta 0.9 / 0.999, epsilon 1e-5, burn-optim
//! 0.22's `AdaptiveMomentum`). It starts from burn's initial weights and hands the trained
//! weights back as a burn [`Recognizer`], so artifacts, wgpu and CUDA are unchanged.
//!
//! Gradients equal burn's autodiff to float rounding (`tests::gradients_equal_burn`).
//! Dropout draws its own mask (seeded), so a run is reproducible but not bit-identical to a
//! burn run.

use crate::gemm::mat_mul;
use std::cell::RefCell;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::native::{WeightsError, add_into, at_least, col2im_into, im2col_into, pool_relu_into};
use crate::recognizer::{Recognizer, RecognizerConfig, Weights};
use crate::training::StepOutcome;

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// A thread's working buffers for one part of a batch, kept between steps. Fresh buffers
/// per step (tens of MB: the second convolution's im2col matrix alone is `[216, rows *
/// 256]`) cost a memset, page faults and allocator work on every step; each buffer here is
/// written in full before it is read.
#[derive(Debug, Default)]
struct Workspace {
    /// Each convolution's im2col matrix, `[cin * 9, rows * side * side]`, kept from the
    /// forward pass for the weight gradients.
    cols: [Vec<f32>; 3],
    /// Each pool's winners: for every pooled value, the flat index into the convolution's
    /// output it came from, or `u32::MAX` where ReLU gave 0.
    argmax: [Vec<u32>; 3],
    /// A convolution's output in the forward pass, its gradient in the backward pass:
    /// `[cout, rows * side * side]`.
    conv: Vec<f32>,
    /// Pooled activations, two buffers used in turn: `[c][rows][side / 2][side / 2]`.
    acts: [Vec<f32>; 2],
    /// The gradient of an im2col matrix, `[cin * 9, rows * side * side]`.
    dcols: Vec<f32>,
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
}

/// One tensor of parameters and its Adam moments.
#[derive(Debug, Clone)]
struct Param {
    value: Vec<f32>,
    moment_1: Vec<f32>,
    moment_2: Vec<f32>,
}

impl Param {
    fn new(value: Vec<f32>) -> Self {
        let n = value.len();
        Self {
            value,
            moment_1: vec![0.0; n],
            moment_2: vec![0.0; n],
        }
    }

    /// burn's Adam update at step `time` (1-based).
    fn adam(&mut self, grad: &[f32], lr: f32, time: i32) {
        let correction_2 = (1.0 - BETA_2.powi(time)).sqrt();
        let factor = correction_2 / (1.0 - BETA_1.powi(time));
        let epsilon = EPSILON * correction_2;
        for (((w, m), v), g) in self
            .value
            .iter_mut()
            .zip(&mut self.moment_1)
            .zip(&mut self.moment_2)
            .zip(grad)
        {
            *m = BETA_1 * *m + (1.0 - BETA_1) * g;
            *v = BETA_2 * *v + (1.0 - BETA_2) * g * g;
            *w -= lr * (*m * factor) / (v.sqrt() + epsilon);
        }
    }
}

/// The parameters in a fixed order: conv1..3 weight and bias, fc1 weight and bias, fc2
/// weight and bias.
const PARAMS: usize = 10;

/// A recognizer being trained on the CPU (see the module docs).
#[derive(Debug, Clone)]
pub struct NativeLearner {
    network: RecognizerConfig,
    params: Vec<Param>,
    time: i32,
    rng: StdRng,
}

/// Gradients of the loss, in the order of the parameters (see [`PARAMS`]).
type Gradients = Vec<Vec<f32>>;

/// One part of a batch: its share of the loss, its predictions, its gradients.
type Part = (f64, Vec<i64>, Gradients);

impl NativeLearner {
    /// Starts from `model`'s weights (burn's initialisation); `seed` seeds the dropout masks.
    ///
    /// # Errors
    /// [`WeightsError`] when a tensor cannot be read or does not fit `network`.
    pub fn from_burn(
        model: &Recognizer,
        network: &RecognizerConfig,
        seed: u64,
    ) -> Result<Self, WeightsError> {
        let w = model.weights().map_err(WeightsError)?;
        let n = network.input_size;
        if n == 0 || !n.is_multiple_of(8) {
            return Err(WeightsError(format!(
                "input size {n} is not a multiple of 8"
            )));
        }
        let mut params = Vec::with_capacity(PARAMS);
        let mut cin = 1;
        for (i, (values, dims, bias)) in w.convs.into_iter().enumerate() {
            let cout = network.channels[i];
            if dims != [cout, cin, 3, 3] {
                return Err(WeightsError(format!("conv{} has shape {dims:?}", i + 1)));
            }
            params.push(Param::new(values));
            params.push(Param::new(bias));
            cin = cout;
        }
        let flat = cin * (n / 8) * (n / 8);
        for ((values, dims, bias), shape) in [
            (w.fc1, [flat, network.hidden]),
            (w.fc2, [network.hidden, network.classes]),
        ] {
            if dims != shape {
                return Err(WeightsError(format!(
                    "a linear layer has shape {dims:?}, the network says {shape:?}"
                )));
            }
            params.push(Param::new(values));
            params.push(Param::new(bias));
        }
        Ok(Self {
            network: network.clone(),
            params,
            time: 0,
            rng: StdRng::seed_from_u64(seed ^ 0x6e61_7469_7665),
        })
    }

    /// One optimizer step: forward (dropout on), cross-entropy, backward, Adam at `lr`.
    /// `rasters`: `[labels.len(), 1, n, n]` f32 in 0..=1.
    pub fn step(&mut self, rasters: &[f32], labels: &[i64], lr: f64) -> StepOutcome {
        let (outcome, grads) = self.batch_gradients(rasters, labels, true);
        self.time += 1;
        #[allow(clippy::cast_possible_truncation)]
        let lr = lr as f32;
        for (p, g) in self.params.iter_mut().zip(&grads) {
            p.adam(g, lr, self.time);
        }
        outcome
    }

    /// The weights now, as a burn recognizer on `device` (inference mode).
    ///
    /// # Errors
    /// [`WeightsError`] when burn refuses the tensors (not expected: the shapes come from
    /// the same network).
    pub fn to_burn(&self, device: &burn::tensor::Device) -> Result<Recognizer, WeightsError> {
        let [c1, c2, c3] = self.network.channels;
        let n = self.network.input_size;
        let flat = c3 * (n / 8) * (n / 8);
        let p = |i: usize| self.params[i].value.clone();
        let weights = Weights {
            convs: vec![
                (p(0), [c1, 1, 3, 3], p(1)),
                (p(2), [c2, c1, 3, 3], p(3)),
                (p(4), [c3, c2, 3, 3], p(5)),
            ],
            fc1: (p(6), [flat, self.network.hidden], p(7)),
            fc2: (p(8), [self.network.hidden, self.network.classes], p(9)),
        };
        Recognizer::from_weights(&self.network, weights, device).map_err(WeightsError)
    }

    /// Loss, predictions and the gradient of every parameter for one batch (dropout only
    /// when `train`). Batches of 16 rows or more are cut into one part per rayon thread
    /// (at least 8 rows each); the parts' gradients are summed.
    fn batch_gradients(
        &mut self,
        rasters: &[f32],
        labels: &[i64],
        train: bool,
    ) -> (StepOutcome, Gradients) {
        use rayon::prelude::*;
        let batch = labels.len();
        let image = self.network.input_size * self.network.input_size;
        let parts = if batch >= 16 {
            rayon::current_num_threads().clamp(1, batch / 8)
        } else {
            1
        };
        let rows = batch.div_ceil(parts).max(1);
        let seeds: Vec<u64> = (0..parts).map(|_| self.rng.random()).collect();
        let this = &*self;
        let results: Vec<Part> = labels
            .par_chunks(rows)
            .zip(rasters.par_chunks(rows * image))
            .zip(seeds)
            .map(|((labels, rasters), seed)| {
                let mut rng = StdRng::seed_from_u64(seed);
                this.gradients(rasters, labels, train.then_some(&mut rng), batch)
            })
            .collect();
        let mut loss = 0.0;
        let mut predicted = Vec::with_capacity(batch);
        let mut total: Gradients = Vec::new();
        for (l, p, g) in results {
            loss += l;
            predicted.extend(p);
            if total.is_empty() {
                total = g;
            } else {
                for (t, g) in total.iter_mut().zip(&g) {
                    add_into(t, g);
                }
            }
        }
        (StepOutcome { loss, predicted }, total)
    }

    /// Gradients of rows `labels` of a batch of `total` rows: the loss and every gradient
    /// are sums over these rows divided by `total`, so the parts of a batch add up to the
    /// batch's mean. `rng` draws the dropout mask (none: dropout off).
    fn gradients(
        &self,
        rasters: &[f32],
        labels: &[i64],
        mut rng: Option<&mut StdRng>,
        total: usize,
    ) -> Part {
        let batch = labels.len();
        let n = self.network.input_size;
        assert_eq!(
            rasters.len(),
            batch * n * n,
            "rasters must be [batch, 1, n, n]"
        );
        let channels = self.network.channels;

        // Forward, keeping what the backward pass needs: each layer's im2col matrix and
        // the pool's winners stay in this thread's workspace until the backward pass.
        let mut ws = WORKSPACE.with_borrow_mut(std::mem::take);
        let mut side = n;
        let mut cin = 1;
        let mut sides = [0usize; 3];
        for (l, &cout) in channels.iter().enumerate() {
            let columns = batch * side * side;
            let half = side / 2;
            let [a, b] = &mut ws.acts;
            let (out, input) = if l % 2 == 0 { (a, &*b) } else { (b, &*a) };
            // The input is [batch][1][n][n], which is channel-major [1][batch][n][n].
            let x = if l == 0 {
                rasters
            } else {
                &input[..cin * columns]
            };
            let cols = at_least(&mut ws.cols[l], cin * 9 * columns);
            im2col_into(x, cin, batch, side, cols);
            let cols = ArrayView2::from_shape((cin * 9, columns), &*cols)
                .expect("the im2col buffer is [cin * 9, columns]");
            let w = ArrayView2::from_shape((cout, cin * 9), &self.params[2 * l].value)
                .expect("conv weights have the network's shape");
            let conv = at_least(&mut ws.conv, cout * columns);
            let mut z = ArrayViewMut2::from_shape((cout, columns), conv)
                .expect("the product buffer is [cout, columns]");
            // beta = 0: the buffer's old contents are not read.
            mat_mul(1.0, &w, &cols, 0.0, &mut z);
            let pooled = at_least(out, cout * batch * half * half);
            pool_relu_into(
                z.view(),
                &self.params[2 * l + 1].value,
                batch,
                side,
                Some(&mut ws.argmax[l]),
                pooled,
            );
            sides[l] = side;
            cin = cout;
            side = half;
        }
        let x = &ws.acts[(channels.len() - 1) % 2][..cin * batch * side * side];
        let cells = side * side;
        let flat_len = cin * cells;
        // [c][batch][cell] -> [batch][c * cells + cell] (burn's NCHW flatten).
        let mut flat = Array2::<f32>::zeros((batch, flat_len));
        for (c, plane) in x.chunks_exact(batch * cells).enumerate() {
            for (b, v) in plane.chunks_exact(cells).enumerate() {
                if let Some(row) = flat.row_mut(b).into_slice() {
                    row[c * cells..(c + 1) * cells].copy_from_slice(v);
                }
            }
        }
        let hidden = self.network.hidden;
        let classes = self.network.classes;
        let w1 = ArrayView2::from_shape((flat_len, hidden), &self.params[6].value)
            .expect("fc1 has the network's shape");
        let w2 = ArrayView2::from_shape((hidden, classes), &self.params[8].value)
            .expect("fc2 has the network's shape");
        let mut h = Array2::<f32>::zeros((batch, hidden));
        mat_mul(1.0, &flat, &w1, 0.0, &mut h);
        // ReLU, then dropout (kept values scaled by 1 / (1 - p), as burn's Dropout).
        #[allow(clippy::cast_possible_truncation)]
        let p = if rng.is_some() {
            self.network.dropout as f32
        } else {
            0.0
        };
        let keep_scale = if p > 0.0 { 1.0 / (1.0 - p) } else { 1.0 };
        let mut mask = vec![keep_scale; batch * hidden];
        for ((v, m), b) in h
            .iter_mut()
            .zip(&mut mask)
            .zip(self.params[7].value.iter().cycle())
        {
            *v += b;
            if *v <= 0.0 {
                *v = 0.0;
                *m = 0.0;
            } else if p > 0.0
                && let Some(rng) = rng.as_deref_mut()
                && rng.random::<f32>() < p
            {
                *m = 0.0;
            }
            *v *= *m;
        }
        let mut logits = Array2::<f32>::zeros((batch, classes));
        mat_mul(1.0, &h, &w2, 0.0, &mut logits);
        for mut row in logits.rows_mut() {
            for (v, b) in row.iter_mut().zip(&self.params[9].value) {
                *v += b;
            }
        }

        // Softmax cross-entropy (mean over the batch) and its gradient.
        #[allow(clippy::cast_precision_loss)]
        let inv_batch = 1.0 / total.max(1) as f32;
        let mut loss = 0.0f64;
        let mut predicted = Vec::with_capacity(batch);
        let mut dlogits = logits.clone();
        for (mut row, &label) in dlogits.rows_mut().into_iter().zip(labels) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let arg = row
                .iter()
                .position(|&v| v == max)
                .map_or(0, |i| i64::try_from(i).unwrap_or(0));
            predicted.push(arg);
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            let label = usize::try_from(label).unwrap_or(0).min(classes - 1);
            loss -= f64::from((row[label] / sum).ln());
            for (k, v) in row.iter_mut().enumerate() {
                *v = (*v / sum - if k == label { 1.0 } else { 0.0 }) * inv_batch;
            }
        }

        // Backward through fc2, dropout + ReLU, fc1.
        let mut grads: Gradients = vec![Vec::new(); PARAMS];
        let mut dw2 = Array2::<f32>::zeros((hidden, classes));
        mat_mul(1.0, &h.t(), &dlogits, 0.0, &mut dw2);
        grads[8] = dw2.into_raw_vec_and_offset().0;
        grads[9] = column_sums(&dlogits);
        let mut dh = Array2::<f32>::zeros((batch, hidden));
        mat_mul(1.0, &dlogits, &w2.t(), 0.0, &mut dh);
        for (d, m) in dh.iter_mut().zip(&mask) {
            *d *= m;
        }
        let mut dw1 = Array2::<f32>::zeros((flat_len, hidden));
        mat_mul(1.0, &flat.t(), &dh, 0.0, &mut dw1);
        grads[6] = dw1.into_raw_vec_and_offset().0;
        grads[7] = column_sums(&dh);
        let mut dflat = Array2::<f32>::zeros((batch, flat_len));
        mat_mul(1.0, &dh, &w1.t(), 0.0, &mut dflat);
        // [batch][c * cells + cell] -> [c][batch][cell]
        let mut dx = vec![0.0f32; flat_len * batch];
        for (b, row) in dflat.rows().into_iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let (c, cell) = (j / cells, j % cells);
                dx[(c * batch + b) * cells + cell] = *v;
            }
        }

        // Backward through the conv blocks: max-pool + ReLU route each gradient to its
        // winner; then weights, bias and (but for the first layer) the input.
        for l in (0..3).rev() {
            let side = sides[l];
            let cin = if l == 0 { 1 } else { channels[l - 1] };
            let cout = channels[l];
            let columns = batch * side * side;
            let dz = at_least(&mut ws.conv, cout * columns);
            dz.fill(0.0);
            for (&at, &g) in ws.argmax[l].iter().zip(&dx) {
                if at != u32::MAX {
                    dz[at as usize] += g;
                }
            }
            let dz = ArrayView2::from_shape((cout, columns), &*dz)
                .expect("the gradient buffer is [cout, columns]");
            let cols = ArrayView2::from_shape((cin * 9, columns), &ws.cols[l][..cin * 9 * columns])
                .expect("the im2col buffer is [cin * 9, columns]");
            let mut dw = Array2::<f32>::zeros((cout, cin * 9));
            mat_mul(1.0, &dz, &cols.t(), 0.0, &mut dw);
            grads[2 * l] = dw.into_raw_vec_and_offset().0;
            grads[2 * l + 1] = dz.rows().into_iter().map(|r| r.sum()).collect();
            if l > 0 {
                let w = ArrayView2::from_shape((cout, cin * 9), &self.params[2 * l].value)
                    .expect("conv weights have the network's shape");
                let dcols = at_least(&mut ws.dcols, cin * 9 * columns);
                let mut dcols_view = ArrayViewMut2::from_shape((cin * 9, columns), &mut *dcols)
                    .expect("the column-gradient buffer is [cin * 9, columns]");
                mat_mul(1.0, &w.t(), &dz, 0.0, &mut dcols_view);
                dx.resize(cin * columns, 0.0);
                col2im_into(dcols, cin, batch, side, &mut dx);
            }
        }
        WORKSPACE.with_borrow_mut(|slot| *slot = ws);
        #[allow(clippy::cast_precision_loss)]
        let loss = loss / total.max(1) as f64;
        (loss, predicted, grads)
    }
}

fn column_sums(m: &Array2<f32>) -> Vec<f32> {
    let mut out = vec![0.0f32; m.ncols()];
    for row in m.rows() {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::GradientsParams;
    use burn::tensor::{Int, Tensor, TensorData};

    /// One batch through burn's autodiff and through the native backward pass (dropout
    /// off, so both compute the same function): same loss, same gradient for every
    /// parameter.
    #[test]
    fn gradients_equal_burn() {
        let network = RecognizerConfig {
            channels: [4, 8, 8],
            hidden: 16,
            input_size: 16,
            dropout: 0.0,
            ..RecognizerConfig::new(5)
        };
        let device = Backend::Cpu.training_device();
        let model = network.init(&device);
        let mut native = NativeLearner::from_burn(&model, &network, 1).unwrap();
        // 40 rows: cut into parts when rayon has more than one thread.
        let batch = 40;
        let n = network.input_size;
        let mut rng = StdRng::seed_from_u64(9);
        let rasters: Vec<f32> = (0..batch * n * n).map(|_| rng.random::<f32>()).collect();
        let labels: Vec<i64> = (0..batch as i64).map(|i| i % 5).collect();

        let x = Tensor::<4>::from_data(TensorData::new(rasters.clone(), [batch, 1, n, n]), &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [batch]), &device);
        let loss = CrossEntropyLossConfig::new()
            .init(&device)
            .forward(model.forward(x), y);
        let burn_loss = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let want = model.gradients(&grads).unwrap();

        let (outcome, got) = native.batch_gradients(&rasters, &labels, true);
        assert!(
            (outcome.loss - burn_loss).abs() < 1e-5,
            "{} vs {burn_loss}",
            outcome.loss
        );
        let want: Vec<Vec<f32>> = vec![
            want.convs[0].0.clone(),
            want.convs[0].2.clone(),
            want.convs[1].0.clone(),
            want.convs[1].2.clone(),
            want.convs[2].0.clone(),
            want.convs[2].2.clone(),
            want.fc1.0.clone(),
            want.fc1.2.clone(),
            want.fc2.0.clone(),
            want.fc2.2.clone(),
        ];
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(w.len(), g.len(), "parameter {i}");
            let scale = w.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            for (a, b) in w.iter().zip(g) {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "parameter {i}: burn {a} vs native {b}"
                );
            }
        }
    }

    /// The weights go back into burn unchanged: the burn model of a fresh learner answers
    /// as the model it came from.
    #[test]
    fn weights_round_trip_through_burn() {
        let network = RecognizerConfig {
            channels: [4, 8, 8],
            hidden: 16,
            input_size: 16,
            ..RecognizerConfig::new(3)
        };
        let device = Backend::Cpu.device();
        let model = network.init(&device);
        let learner = NativeLearner::from_burn(&model, &network, 1).unwrap();
        let back = learner.to_burn(&device).unwrap();
        let x: Vec<f32> = (0..2 * 16 * 16).map(|i| (i % 7) as f32 / 7.0).collect();
        let a = crate::training::probabilities(&model, x.clone(), 2, 16, &device);
        let b = crate::training::probabilities(&back, x, 2, 16, &device);
        assert_eq!(a, b);
    }
}
