//! The shape recognizer: a small CNN over the raster, softmax over the classes (the active
//! shapes plus `unknown`, a reject class trained on distractor drawings).
//!
//! ```text
//! raster [batch, 1, N, N] f32 in 0..=1
//!  -> conv 3x3 (1 -> c1), ReLU, max-pool 2     [batch, c1, N/2, N/2]
//!  -> conv 3x3 (c1 -> c2), ReLU, max-pool 2    [batch, c2, N/4, N/4]
//!  -> conv 3x3 (c2 -> c3), ReLU, max-pool 2    [batch, c3, N/8, N/8]
//!  -> flatten, linear (c3 * N/8 * N/8 -> hidden), ReLU, dropout
//!  -> linear (hidden -> classes)                [batch, classes] logits
//! ```
//!
//! This is the "3-conv CNN" that PyTorch users would train for the same task, so its speed
//! is directly comparable (see BENCHMARKS.md).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Shape and sizes of a recognizer. Stored in the artifact's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecognizerConfig {
    /// Raster side N (a multiple of 8).
    pub input_size: usize,
    /// Output classes.
    pub classes: usize,
    /// Channels of the three convolutions.
    pub channels: [usize; 3],
    /// Width of the hidden linear layer.
    pub hidden: usize,
    /// Dropout before the last layer, during training.
    pub dropout: f64,
}

impl RecognizerConfig {
    /// The default network's convolution channels (see [`Self::new`]).
    pub const DEFAULT_CHANNELS: [usize; 3] = [24, 48, 96];
    /// The default network's hidden width (see [`Self::new`]).
    pub const DEFAULT_HIDDEN: usize = 96;

    /// The default network for `classes` classes on 32 x 32 rasters: channels 24/48/96,
    /// hidden 96, about 5.7 M multiply-adds per drawing (chosen by held-out accuracy over
    /// three seeds against 32/64/128 hidden 128 and three smaller networks; see
    /// BENCHMARKS.md, "Cheaper networks").
    pub fn new(classes: usize) -> Self {
        Self {
            input_size: 32,
            classes,
            channels: Self::DEFAULT_CHANNELS,
            hidden: Self::DEFAULT_HIDDEN,
            dropout: 0.2,
        }
    }

    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> Recognizer {
        let conv = |i: usize, o: usize| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        let [c1, c2, c3] = self.channels;
        let cells = (self.input_size / 8) * (self.input_size / 8);
        Recognizer {
            conv1: conv(1, c1),
            conv2: conv(c1, c2),
            conv3: conv(c2, c3),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(c3 * cells, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.classes).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            relu: Relu::new(),
        }
    }
}

/// The network (see the module docs).
#[derive(Module, Debug)]
pub struct Recognizer {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    dropout: Dropout,
    relu: Relu,
}

impl Recognizer {
    /// # Shapes
    /// - raster: `[batch, 1, N, N]`, f32 in 0..=1
    /// - output: `[batch, classes]` logits
    pub fn forward(&self, raster: Tensor<4>) -> Tensor<2> {
        let x = self
            .pool
            .forward(self.relu.forward(self.conv1.forward(raster)));
        let x = self.pool.forward(self.relu.forward(self.conv2.forward(x)));
        let x = self.pool.forward(self.relu.forward(self.conv3.forward(x)));
        let [batch, c, h, w] = x.dims();
        let x = x.reshape([batch, c * h * w]);
        let x = self.dropout.forward(self.relu.forward(self.fc1.forward(x)));
        self.fc2.forward(x)
    }
}

/// The trained values of a recognizer, read out of burn for [`crate::native`]: per
/// convolution `(weights, [cout, cin, 3, 3], bias)`, per linear layer
/// `(weights, [in, out], bias)`; row-major f32, a missing bias as zeros.
pub(crate) struct Weights {
    pub convs: Vec<ConvWeights>,
    pub fc1: DenseWeights,
    pub fc2: DenseWeights,
}

/// A convolution's `(weights, [cout, cin, 3, 3], bias)`.
pub(crate) type ConvWeights = (Vec<f32>, [usize; 4], Vec<f32>);
/// A linear layer's `(weights, [in, out], bias)`.
pub(crate) type DenseWeights = (Vec<f32>, [usize; 2], Vec<f32>);

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

impl Recognizer {
    /// A recognizer of shape `network` on `device` holding `w` (see [`Weights`]).
    pub(crate) fn from_weights(
        network: &RecognizerConfig,
        w: Weights,
        device: &Device,
    ) -> Result<Self, String> {
        let mut m = network.init(device);
        let convs = [&mut m.conv1, &mut m.conv2, &mut m.conv3];
        for (conv, (values, dims, bias)) in convs.into_iter().zip(w.convs) {
            if conv.weight.dims() != dims {
                return Err(format!(
                    "conv weights {dims:?} for {:?}",
                    conv.weight.dims()
                ));
            }
            let len = bias.len();
            conv.weight =
                Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), device));
            conv.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [len]),
                device,
            )));
        }
        for (linear, (values, dims, bias)) in [(&mut m.fc1, w.fc1), (&mut m.fc2, w.fc2)] {
            if linear.weight.dims() != dims {
                return Err(format!(
                    "linear weights {dims:?} for {:?}",
                    linear.weight.dims()
                ));
            }
            let len = bias.len();
            linear.weight =
                Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), device));
            linear.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [len]),
                device,
            )));
        }
        Ok(m)
    }

    /// The same network with `offset` added to the logit of output `class` (its bias in the
    /// last layer): every engine that runs the weights (burn on any device, [`crate::native`],
    /// an exported artifact) then answers with the shifted logit. Used for the post-hoc logit
    /// adjustment of the `unknown` class ([`crate::training::tune_reject_rule`]).
    ///
    /// # Errors
    /// When `class` is not an output of the network or the bias cannot be read.
    pub fn shift_logit(mut self, class: usize, offset: f32) -> Result<Self, String> {
        let out = self.fc2.weight.dims()[1];
        if class >= out {
            return Err(format!("class {class} is not one of the {out} outputs"));
        }
        let device = self.fc2.weight.val().device();
        let mut bias = match &self.fc2.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; out],
        };
        bias[class] += offset;
        self.fc2.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [out]),
            &device,
        )));
        Ok(self)
    }

    /// The gradient of every weight and bias in `grads` (laid out as [`Weights`]).
    #[cfg(test)]
    pub(crate) fn gradients(
        &self,
        grads: &burn::optim::GradientsParams,
    ) -> Result<Weights, String> {
        let missing = || "a parameter has no gradient".to_owned();
        let conv = |c: &Conv2d| -> Result<ConvWeights, String> {
            let w = grads.get::<4>(c.weight.id).ok_or_else(missing)?;
            let dims = w.dims();
            let b = match &c.bias {
                Some(b) => values(grads.get::<1>(b.id).ok_or_else(missing)?)?,
                None => vec![0.0; dims[0]],
            };
            Ok((values(w)?, dims, b))
        };
        let linear = |l: &Linear| -> Result<DenseWeights, String> {
            let w = grads.get::<2>(l.weight.id).ok_or_else(missing)?;
            let dims = w.dims();
            let b = match &l.bias {
                Some(b) => values(grads.get::<1>(b.id).ok_or_else(missing)?)?,
                None => vec![0.0; dims[1]],
            };
            Ok((values(w)?, dims, b))
        };
        Ok(Weights {
            convs: vec![conv(&self.conv1)?, conv(&self.conv2)?, conv(&self.conv3)?],
            fc1: linear(&self.fc1)?,
            fc2: linear(&self.fc2)?,
        })
    }

    /// Reads every weight and bias (see [`Weights`]).
    pub(crate) fn weights(&self) -> Result<Weights, String> {
        let conv = |c: &Conv2d| -> Result<ConvWeights, String> {
            let w = c.weight.val();
            let dims = w.dims();
            let bias = match &c.bias {
                Some(b) => values(b.val())?,
                None => vec![0.0; dims[0]],
            };
            Ok((values(w)?, dims, bias))
        };
        let linear = |l: &Linear| -> Result<DenseWeights, String> {
            let w = l.weight.val();
            let dims = w.dims();
            let bias = match &l.bias {
                Some(b) => values(b.val())?,
                None => vec![0.0; dims[1]],
            };
            Ok((values(w)?, dims, bias))
        };
        Ok(Weights {
            convs: vec![conv(&self.conv1)?, conv(&self.conv2)?, conv(&self.conv3)?],
            fc1: linear(&self.fc1)?,
            fc2: linear(&self.fc2)?,
        })
    }
}
