//! The network: a class-conditional LSTM decoder with a mixture density head, and its
//! reconstruction loss (see [`crate::generator`]).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, sigmoid};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

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

    pub(crate) fn input(&self) -> usize {
        5 + self.classes
    }

    pub(crate) fn output(&self) -> usize {
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
    pub(crate) init: Linear,
    pub(crate) input_gates: Linear,
    pub(crate) hidden_gates: Linear,
    pub(crate) head: Linear,
}

/// LSTM state: hidden and cell, `[batch, H]` each.
#[derive(Debug, Clone)]
pub struct State {
    pub(crate) h: Tensor<2>,
    pub(crate) c: Tensor<2>,
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
    pub(crate) fn cell(&self, gates_in: Tensor<2>, s: State) -> State {
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
