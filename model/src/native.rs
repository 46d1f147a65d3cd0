//! The recognizer's CPU inference engine: the trained network's forward pass written for
//! this network, without burn's per-op machinery (layout conversions, graph bookkeeping,
//! fresh buffers per op), so one drawing and a served batch cost close to their arithmetic.
//!
//! The profile behind it (BENCHMARKS.md, "Model speed"): in burn's `flex` backend under
//! 40 % of a forward pass was matrix multiplication; the rest was im2col tiles built in
//! closures, NCHW/NHWC copies, zeroing fresh buffers and thread hand-offs.
//!
//! Each convolution is one matrix product over the whole batch (im2col: `[cin * 9,
//! batch * side * side]`, weights `[cout, cin * 9]`), with bias, ReLU and the 2x2 max-pool
//! fused into one pass over its output; activations stay channel-major (`[c][batch][y][x]`)
//! between layers. In passes of [`WINOGRAD_MIN_ROWS`] rows or more, layers with
//! [`WINOGRAD_MIN_CIN`] or more input channels (all but the first) run as Winograd F(2x2,
//! 3x3) ([`ConvAlgorithm`]): 2.25x fewer multiply-adds, and each 2x2 output tile is exactly
//! one 2x2 pooling window, so the output transform, bias, ReLU and pool are one pass. Matrix products are the `gemm` crate's
//! (`model/src/gemm.rs`). Batches of
//! 16 or more rows are split over rayon's threads. Results equal burn's to float rounding
//! (tested in `tests::equals_burn`).

use std::cell::RefCell;

use crate::gemm::mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

use crate::recognizer::{DenseWeights, Recognizer, RecognizerConfig};

/// Why burn's weights could not be taken over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("recognizer weights: {0}")]
pub struct WeightsError(pub String);

/// One 3x3 convolution (padding 1, stride 1) with bias, ReLU and 2x2 max-pool.
#[derive(Debug, Clone)]
struct ConvBlock {
    cin: usize,
    cout: usize,
    /// `[cout, cin * 9]`, row-major (burn's `[cout, cin, 3, 3]` flattened).
    weight: Array2<f32>,
    bias: Vec<f32>,
    /// Winograd F(2x2, 3x3) weights `U = G g G^T` (see [`winograd_weights`]): `[16][cout][cin]`,
    /// for layers with at least [`WINOGRAD_MIN_CIN`] input channels; empty otherwise.
    winograd: Vec<f32>,
}

/// How the native engine computes its 3x3 convolutions (the choice oneDNN offers as
/// `convolution_direct` / `convolution_winograd` / `convolution_auto`). All give the same
/// results to float rounding (`tests::winograd_equals_im2col`, `tests::equals_burn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvAlgorithm {
    /// Winograd for passes of at least [`WINOGRAD_MIN_ROWS`] rows (per thread), im2col for
    /// smaller ones. Measured on the 24/48/96 network (BENCHMARKS.md, "Winograd convolutions"
    /// and "Batches on the async workers"): im2col is faster for one drawing; on an AMD EPYC
    /// the two are even at 4 and 16 rows and Winograd is ahead from 32 rows on, where
    /// im2col's matrix outgrows the caches; on an Intel Xeon, serving batches of about 10
    /// rows, Winograd answered 6.5 % more requests/s.
    #[default]
    Auto,
    /// One matrix product over the im2col matrix `[cin * 9, batch * side * side]`: `9 * cin`
    /// multiply-adds per output value.
    Im2col,
    /// Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for
    /// Convolutional Neural Networks", CVPR 2016) on layers with at least
    /// [`WINOGRAD_MIN_CIN`] input channels: 16 matrix products `[cout, cin] x [cin, tiles]`
    /// over 4x4 input tiles taken every 2 pixels, `4 * cin` multiply-adds per output value
    /// (2.25x fewer), plus the input and output transforms. Narrower layers (the first, one
    /// channel) keep im2col.
    Winograd,
}

/// Rows of a pass from which [`ConvAlgorithm::Auto`] runs Winograd.
pub const WINOGRAD_MIN_ROWS: usize = 8;

/// Fewest input channels for which a layer runs as Winograd: with fewer, the 16 products'
/// inner dimension is too short for the matrix kernels to pay for the transforms.
pub const WINOGRAD_MIN_CIN: usize = 8;

/// A linear layer: `[in, out]` weights (burn's layout) and bias.
#[derive(Debug, Clone)]
struct Dense {
    weight: Array2<f32>,
    bias: Vec<f32>,
}

/// The recognizer's forward pass on the CPU (see the module docs).
#[derive(Debug, Clone)]
pub struct NativeRecognizer {
    n: usize,
    classes: usize,
    convs: Vec<ConvBlock>,
    fc1: Dense,
    fc2: Dense,
    algorithm: ConvAlgorithm,
}

/// Rows at or above which a batch is split over threads.
const PARALLEL_ROWS: usize = 16;

/// A thread's working buffers for the convolutions' im2col matrices and products, kept
/// between forward passes: fresh zeroed buffers per layer (several MB for a served batch)
/// cost a memset, page faults and allocator work on every call, about an eighth of the
/// server's CPU under classify load (BENCHMARKS.md, "Where the serving time goes").
#[derive(Debug, Default)]
struct Scratch {
    /// im2col of the layer being computed: `[cin * 9, batch * side * side]`.
    cols: Vec<f32>,
    /// The layer's convolution output before bias, ReLU and pooling: `[cout, batch * side *
    /// side]`; for a Winograd layer, its 16 products `[16][cout][tiles]`, and `cols` holds
    /// the transformed input tiles `[16][cin][tiles]`.
    out: Vec<f32>,
    /// Pooled activations, two buffers used in turn (one layer's input, the next one's
    /// output): `[c][batch][side / 2][side / 2]`.
    acts: [Vec<f32>; 2],
    /// The Winograd input transform's working space: one zero-padded input plane and its
    /// row transforms.
    transform: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The first `len` elements of `buf`, growing it (never shrinking) as needed. The contents
/// are whatever an earlier pass left: callers overwrite every element they read.
pub(crate) fn at_least(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

impl NativeRecognizer {
    /// Takes over the weights of a trained burn recognizer of shape `network`.
    ///
    /// # Errors
    /// [`WeightsError`] when a tensor cannot be read or its shape does not fit `network`.
    pub fn from_burn(model: &Recognizer, network: &RecognizerConfig) -> Result<Self, WeightsError> {
        let w = model.weights().map_err(WeightsError)?;
        let n = network.input_size;
        if n == 0 || !n.is_multiple_of(8) {
            return Err(WeightsError(format!(
                "input size {n} is not a multiple of 8"
            )));
        }
        let mut cin = 1;
        let mut convs = Vec::with_capacity(3);
        for (i, (values, dims, bias)) in w.convs.into_iter().enumerate() {
            let cout = network.channels[i];
            if dims != [cout, cin, 3, 3] || bias.len() != cout {
                return Err(WeightsError(format!(
                    "conv{} has shape {dims:?} and {} biases, the network says [{cout}, {cin}, 3, 3]",
                    i + 1,
                    bias.len()
                )));
            }
            let weight = Array2::from_shape_vec((cout, cin * 9), values)
                .map_err(|e| WeightsError(e.to_string()))?;
            let winograd = if cin >= WINOGRAD_MIN_CIN {
                winograd_weights(&weight, cin)
            } else {
                Vec::new()
            };
            convs.push(ConvBlock {
                cin,
                cout,
                weight,
                bias,
                winograd,
            });
            cin = cout;
        }
        let cells = (n / 8) * (n / 8);
        let dense = |(values, dims, bias): DenseWeights, shape: [usize; 2], name: &str| {
            if dims != shape || bias.len() != shape[1] {
                return Err(WeightsError(format!(
                    "{name} has shape {dims:?}, the network says {shape:?}"
                )));
            }
            Ok(Dense {
                weight: Array2::from_shape_vec((shape[0], shape[1]), values)
                    .map_err(|e| WeightsError(e.to_string()))?,
                bias,
            })
        };
        Ok(Self {
            n,
            classes: network.classes,
            fc1: dense(w.fc1, [cin * cells, network.hidden], "fc1")?,
            fc2: dense(w.fc2, [network.hidden, network.classes], "fc2")?,
            convs,
            algorithm: ConvAlgorithm::default(),
        })
    }

    /// The same network computing its convolutions with `algorithm`.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: ConvAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// How the convolutions are computed.
    pub fn algorithm(&self) -> ConvAlgorithm {
        self.algorithm
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Logits for `batch` rasters: `rasters` is `[batch, 1, n, n]` f32 in 0..=1 (row-major),
    /// the result `[batch, classes]` row-major. Panics if `rasters.len() != batch * n * n`.
    pub fn logits(&self, rasters: &[f32], batch: usize) -> Vec<f32> {
        let image = self.n * self.n;
        assert_eq!(
            rasters.len(),
            batch * image,
            "rasters must be [batch, 1, n, n]"
        );
        if batch >= PARALLEL_ROWS {
            use rayon::prelude::*;
            let threads = rayon::current_num_threads().max(1);
            let rows = batch.div_ceil(threads).max(PARALLEL_ROWS / 2);
            let parts: Vec<Vec<f32>> = rasters
                .par_chunks(rows * image)
                .map(|chunk| self.logits_serial(chunk, chunk.len() / image))
                .collect();
            return parts.concat();
        }
        self.logits_serial(rasters, batch)
    }

    /// Softmax probabilities, one row of `classes` per raster (see [`Self::logits`]).
    pub fn probabilities(&self, rasters: &[f32], batch: usize) -> Vec<Vec<f32>> {
        self.logits(rasters, batch)
            .chunks(self.classes.max(1))
            .map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                exp.into_iter().map(|e| e / sum).collect()
            })
            .collect()
    }

    fn logits_serial(&self, rasters: &[f32], batch: usize) -> Vec<f32> {
        // The input is [batch][1][n][n], which is channel-major [1][batch][n][n] already.
        let mut side = self.n;
        let c = self.convs.last().map_or(1, |l| l.cout);
        SCRATCH.with_borrow_mut(|scratch| {
            // Layer i reads acts[(i + 1) % 2] (the rasters for the first) and writes acts[i % 2].
            let mut acts = std::mem::take(&mut scratch.acts);
            for (i, conv) in self.convs.iter().enumerate() {
                let [a, b] = &mut acts;
                let (out, input) = if i % 2 == 0 { (a, &*b) } else { (b, &*a) };
                let x = if i == 0 {
                    rasters
                } else {
                    &input[..conv.cin * batch * side * side]
                };
                let winograd = match self.algorithm {
                    ConvAlgorithm::Auto => batch >= WINOGRAD_MIN_ROWS,
                    ConvAlgorithm::Im2col => false,
                    ConvAlgorithm::Winograd => true,
                };
                if winograd && !conv.winograd.is_empty() {
                    conv.forward_winograd(x, batch, side, scratch, out);
                } else {
                    conv.forward(x, batch, side, scratch, out);
                }
                side /= 2;
            }
            // [c][batch][cell] -> [batch][c * cells + cell] (burn's NCHW flatten).
            let cells = side * side;
            // The last layer's output.
            let last = self.convs.len().saturating_sub(1) % 2;
            let act = &acts[last][..c * batch * cells];
            let mut flat = Array2::<f32>::zeros((batch, c * cells));
            for (ch, plane) in act.chunks_exact(batch * cells).enumerate() {
                for (b, cell_values) in plane.chunks_exact(cells).enumerate() {
                    let start = ch * cells;
                    if let Some(row) = flat.row_mut(b).as_slice_mut() {
                        row[start..start + cells].copy_from_slice(cell_values);
                    }
                }
            }
            scratch.acts = acts;
            let hidden = self.fc1.forward(flat.view(), true);
            let logits = self.fc2.forward(hidden.view(), false);
            logits.into_raw_vec_and_offset().0
        })
    }
}

impl ConvBlock {
    /// `x`: `[cin][batch][side][side]`; writes `[cout][batch][side / 2][side / 2]` into the
    /// start of `pooled` (grown as needed). The im2col matrix and the product live in
    /// `scratch`.
    fn forward(
        &self,
        x: &[f32],
        batch: usize,
        side: usize,
        scratch: &mut Scratch,
        pooled: &mut Vec<f32>,
    ) {
        let columns = batch * side * side;
        let cols = at_least(&mut scratch.cols, self.cin * 9 * columns);
        im2col_into(x, self.cin, batch, side, cols);
        let cols = ArrayView2::from_shape((self.cin * 9, columns), &*cols)
            .expect("the im2col buffer is [cin * 9, columns]");
        let out = at_least(&mut scratch.out, self.cout * columns);
        let mut out = ArrayViewMut2::from_shape((self.cout, columns), out)
            .expect("the product buffer is [cout, columns]");
        // beta = 0: the buffer's old contents are not read.
        mat_mul(1.0, &self.weight, &cols, 0.0, &mut out);
        let half = side / 2;
        let pooled = at_least(pooled, self.cout * batch * half * half);
        pool_relu_into(out.view(), &self.bias, batch, side, None, pooled);
    }

    /// As [`Self::forward`], by Winograd F(2x2, 3x3): the input's 4x4 tiles (one per 2x2
    /// output tile, so one per pooled value) transformed to `[16][cin][tiles]` in
    /// `scratch.cols`, 16 products with the transformed weights into `[16][cout][tiles]` in
    /// `scratch.out`, then the output transform fused with bias, ReLU and the pool.
    fn forward_winograd(
        &self,
        x: &[f32],
        batch: usize,
        side: usize,
        scratch: &mut Scratch,
        pooled: &mut Vec<f32>,
    ) {
        let (cin, cout) = (self.cin, self.cout);
        let half = side / 2;
        let tiles = batch * half * half;
        if tiles == 0 {
            return;
        }
        let Scratch {
            cols,
            out,
            transform,
            ..
        } = scratch;
        let v = at_least(cols, 16 * cin * tiles);
        winograd_input_into(x, cin, batch, side, transform, v);
        let m = at_least(out, 16 * cout * tiles);
        for (k, (mk, vk)) in m
            .chunks_exact_mut(cout * tiles)
            .zip(v.chunks_exact(cin * tiles))
            .enumerate()
        {
            let uk =
                ArrayView2::from_shape((cout, cin), &self.winograd[k * cout * cin..][..cout * cin])
                    .expect("the Winograd weights are [16][cout][cin]");
            let vk = ArrayView2::from_shape((cin, tiles), vk)
                .expect("the transformed input is [16][cin][tiles]");
            let mut mk = ArrayViewMut2::from_shape((cout, tiles), mk)
                .expect("the products are [16][cout][tiles]");
            // beta = 0: the buffer's old contents are not read.
            mat_mul(1.0, &uk, &vk, 0.0, &mut mk);
        }
        let pooled = at_least(pooled, cout * tiles);
        winograd_output_pool_into(m, &self.bias, cout, tiles, pooled);
    }
}

/// Winograd F(2x2, 3x3) weights of a `[cout, cin * 9]` 3x3 kernel (rows `(c, ky, kx)`):
/// `U = G g G^T` for each `(o, c)`, with `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2],
/// [0, 0, 1]]` (Lavin and Gray 2016), laid out `[16][cout][cin]` (element `(i, j)` of the
/// 4x4 `U` in matrix `4 * i + j`). Computed in f64, stored as f32.
fn winograd_weights(weight: &Array2<f32>, cin: usize) -> Vec<f32> {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let cout = weight.nrows();
    let mut u = vec![0.0f32; 16 * cout * cin];
    for o in 0..cout {
        for c in 0..cin {
            let g = |ky: usize, kx: usize| f64::from(weight[[o, c * 9 + ky * 3 + kx]]);
            // G g: 4 x 3.
            let gg: [[f64; 3]; 4] = std::array::from_fn(|i| {
                std::array::from_fn(|kx| (0..3).map(|ky| G[i][ky] * g(ky, kx)).sum())
            });
            for (i, row) in gg.iter().enumerate() {
                for (j, g_row) in G.iter().enumerate() {
                    let value: f64 = (0..3).map(|kx| row[kx] * g_row[kx]).sum();
                    #[allow(clippy::cast_possible_truncation)]
                    let value = value as f32;
                    u[((4 * i + j) * cout + o) * cin + c] = value;
                }
            }
        }
    }
    u
}

/// The Winograd F(2x2, 3x3) input transform: `x` is `[cin][batch][side][side]` (`side`
/// even), read with a zero padding of 1; the 4x4 tile at padded rows and columns `2 * ty ..
/// 2 * ty + 4`, `2 * tx .. 2 * tx + 4` becomes `V = B^T d B`, with `B^T = [[1, 0, -1, 0],
/// [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`. `v` is `[16][cin][tiles]`, tile `(b, ty,
/// tx)` at `(b * half + ty) * half + tx`; every element is written. `scratch` is a working
/// buffer (grown as needed).
///
/// The transform is separable and done in two passes per plane: `d B` along each padded
/// row for all its tiles at once (`h[j][y][tx]`), then `B^T (d B)` down the columns, whole
/// rows of tiles at a time, each result row a contiguous run of `v`. Transforming tile by
/// tile (16 loads and 16 scattered stores per tile) cost as much as the products it saves.
///
/// # Panics
/// When `x` or `v` has another length, or `side` is odd.
pub(crate) fn winograd_input_into(
    x: &[f32],
    cin: usize,
    batch: usize,
    side: usize,
    scratch: &mut Vec<f32>,
    v: &mut [f32],
) {
    assert!(
        side.is_multiple_of(2),
        "Winograd F(2x2, 3x3) needs an even side"
    );
    let (plane, half) = (side * side, side / 2);
    let tiles = batch * half * half;
    assert_eq!(
        x.len(),
        cin * batch * plane,
        "input is [cin][batch][side][side]"
    );
    assert_eq!(v.len(), 16 * cin * tiles, "output is [16][cin][tiles]");
    if tiles == 0 {
        return;
    }
    let wide = side + 2;
    // The padded plane, then h: [4][wide][half].
    let buf = at_least(scratch, wide * wide + 4 * wide * half);
    let (pad, h) = buf.split_at_mut(wide * wide);
    pad.fill(0.0);
    for c in 0..cin {
        for b in 0..batch {
            let src = &x[(c * batch + b) * plane..][..plane];
            for (y, row) in src.chunks_exact(side).enumerate() {
                pad[(y + 1) * wide + 1..][..side].copy_from_slice(row);
            }
            // d B along each padded row: h[j][y][tx] from columns 2 tx .. 2 tx + 4.
            let (h0, rest) = h.split_at_mut(wide * half);
            let (h1, rest) = rest.split_at_mut(wide * half);
            let (h2, h3) = rest.split_at_mut(wide * half);
            for (y, r) in pad.chunks_exact(wide).enumerate() {
                let at = y * half;
                let rows = h0[at..][..half]
                    .iter_mut()
                    .zip(&mut h1[at..][..half])
                    .zip(&mut h2[at..][..half])
                    .zip(&mut h3[at..][..half]);
                for ((((o0, o1), o2), o3), d) in rows.zip(r.windows(4).step_by(2)) {
                    *o0 = d[0] - d[2];
                    *o1 = d[1] + d[2];
                    *o2 = d[2] - d[1];
                    *o3 = d[1] - d[3];
                }
            }
            // B^T (d B) down the columns: for each j, four result rows per tile row.
            let first = b * half * half;
            for (j, hj) in [&*h0, &*h1, &*h2, &*h3].into_iter().enumerate() {
                for ty in 0..half {
                    let row = |k: usize| &hj[(2 * ty + k) * half..][..half];
                    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                    let out = |i: usize| ((4 * i + j) * cin + c) * tiles + first + ty * half;
                    for (o, (a, b2)) in v[out(0)..][..half].iter_mut().zip(r0.iter().zip(r2)) {
                        *o = a - b2;
                    }
                    for (o, (a, b2)) in v[out(1)..][..half].iter_mut().zip(r1.iter().zip(r2)) {
                        *o = a + b2;
                    }
                    for (o, (a, b2)) in v[out(2)..][..half].iter_mut().zip(r2.iter().zip(r1)) {
                        *o = a - b2;
                    }
                    for (o, (a, b2)) in v[out(3)..][..half].iter_mut().zip(r1.iter().zip(r3)) {
                        *o = a - b2;
                    }
                }
            }
        }
    }
}

/// The Winograd F(2x2, 3x3) output transform `Y = A^T M A` (`A^T = [[1, 1, 1, 0], [0, 1, -1,
/// -1]]`) of each tile's 16 products `m` (`[16][cout][tiles]`), fused with bias, ReLU and
/// the 2x2 max-pool (a 2x2 output tile is one pooling window): `pooled[o][p] = max(0,
/// max(Y) + bias[o])`, `[cout][tiles]` = `[cout][batch][side / 2][side / 2]`. Every element
/// of `pooled` is written.
///
/// # Panics
/// When `m` or `pooled` has another length.
pub(crate) fn winograd_output_pool_into(
    m: &[f32],
    bias: &[f32],
    cout: usize,
    tiles: usize,
    pooled: &mut [f32],
) {
    assert_eq!(m.len(), 16 * cout * tiles, "products are [16][cout][tiles]");
    assert_eq!(pooled.len(), cout * tiles, "pooled is [cout][tiles]");
    for (o, dst) in pooled.chunks_exact_mut(tiles.max(1)).enumerate() {
        let bias = bias[o];
        let q: [&[f32]; 16] = std::array::from_fn(|k| &m[(k * cout + o) * tiles..][..tiles]);
        for (p, d) in dst.iter_mut().enumerate() {
            // A^T M: two rows of four.
            let t0: [f32; 4] = std::array::from_fn(|j| q[j][p] + q[4 + j][p] + q[8 + j][p]);
            let t1: [f32; 4] = std::array::from_fn(|j| q[4 + j][p] - q[8 + j][p] - q[12 + j][p]);
            // (A^T M) A.
            let y00 = t0[0] + t0[1] + t0[2];
            let y01 = t0[1] - t0[2] - t0[3];
            let y10 = t1[0] + t1[1] + t1[2];
            let y11 = t1[1] - t1[2] - t1[3];
            *d = (y00.max(y01).max(y10).max(y11) + bias).max(0.0);
        }
    }
}

/// im2col of a 3x3 convolution with padding 1: `x` is `[cin][batch][side][side]`; row
/// `(c, ky, kx)` of `cols`, column `(b, y, x)`, receives `x[c][b][y + ky - 1][x + kx - 1]`
/// (0 outside the image). `cols` is `[cin * 9, batch * side * side]` row-major; every
/// element is written, the zero padding included, so it may hold anything before.
///
/// # Panics
/// When `cols` or `x` has another length.
pub(crate) fn im2col_into(x: &[f32], cin: usize, batch: usize, side: usize, cols: &mut [f32]) {
    let plane = side * side;
    assert_eq!(
        x.len(),
        cin * batch * plane,
        "im2col input is [cin][batch][side][side]"
    );
    assert_eq!(
        cols.len(),
        cin * 9 * batch * plane,
        "im2col output is [cin * 9, batch * plane]"
    );
    if plane == 0 || batch == 0 {
        return;
    }
    for (row, dst) in cols.chunks_exact_mut(batch * plane).enumerate() {
        let (c, ky, kx) = (row / 9, (row % 9) / 3, row % 3);
        for b in 0..batch {
            let src = &x[(c * batch + b) * plane..][..plane];
            let out = &mut dst[b * plane..][..plane];
            shifted_plane(src, side, ky, kx, out);
        }
    }
}

/// One im2col plane: `out[y][x] = src[y + ky - 1][x + kx - 1]`, 0 outside the image
/// (`src` and `out` are `side * side`, row-major; `ky`, `kx` in 0..3). The rows in range are
/// one flat copy at a constant offset (one `memcpy` per plane rather than one per row, the
/// rows being 8 to 32 floats); the column shifted in from the neighbouring row is then zeroed.
fn shifted_plane(src: &[f32], side: usize, ky: usize, kx: usize, out: &mut [f32]) {
    let plane = side * side;
    // Output rows whose source row is inside the image.
    let ys = usize::from(ky == 0);
    let ye = if ky == 2 { side - 1 } else { side };
    out[..ys * side].fill(0.0);
    out[ye * side..].fill(0.0);
    if ys >= ye {
        return;
    }
    // out[i] = src[i + shift - (side + 1)] for i in start..end, clipped to the source's
    // bounds (the at most one element cut at either end is an edge column, zeroed below).
    let (start, end, shift) = (ys * side, ye * side, ky * side + kx);
    let lo = (start + shift).max(side + 1) - shift;
    let hi = (end + shift).min(plane + side + 1) - shift;
    if hi > lo {
        let from = lo + shift - (side + 1);
        out[lo..hi].copy_from_slice(&src[from..from + (hi - lo)]);
    }
    zero_edge_column(&mut out[start..end], side, kx);
}

/// Zeroes the edge column a horizontal shift of `kx` (0..3) wraps in from the neighbouring
/// row, in `rows` (whole rows of `side` values): the first column for `kx == 0`, the last
/// for `kx == 2`, none for 1.
fn zero_edge_column(rows: &mut [f32], side: usize, kx: usize) {
    let first = match kx {
        0 => 0,
        2 => side - 1,
        _ => return,
    };
    if let Some(rows) = rows.get_mut(first..) {
        rows.iter_mut().step_by(side).for_each(|v| *v = 0.0);
    }
}

/// The adjoint of [`im2col_into`]: sums each column entry back onto the input position it
/// was read from. `cols` is `[cin * 9, batch * side * side]` (row-major); `x` receives
/// `[cin][batch][side][side]`, every element written.
///
/// Each (row, image) plane is one flat add at a constant offset, the transpose of
/// [`shifted_plane`]'s one copy: the entries `im2col` pads with zeros (the edge column a
/// horizontal shift wraps in) are first set to 0 in `cols`, so the flat add carries nothing
/// from them. That is why `cols` is mutable; it is a scratch buffer of the caller's.
///
/// # Panics
/// When `cols` or `x` has another length.
pub(crate) fn col2im_into(cols: &mut [f32], cin: usize, batch: usize, side: usize, x: &mut [f32]) {
    let plane = side * side;
    assert_eq!(
        cols.len(),
        cin * 9 * batch * plane,
        "col2im input is [cin * 9, batch * plane]"
    );
    assert_eq!(
        x.len(),
        cin * batch * plane,
        "col2im output is [cin][batch][side][side]"
    );
    x.fill(0.0);
    if plane == 0 || batch == 0 {
        return;
    }
    for (row, src_all) in cols.chunks_exact_mut(batch * plane).enumerate() {
        let (c, ky, kx) = (row / 9, (row % 9) / 3, row % 3);
        // As in `shifted_plane`: output rows ys..ye read the image, at offset `shift`.
        let ys = usize::from(ky == 0);
        let ye = if ky == 2 { side - 1 } else { side };
        if ys >= ye {
            continue;
        }
        let (start, end, shift) = (ys * side, ye * side, ky * side + kx);
        let lo = (start + shift).max(side + 1) - shift;
        let hi = (end + shift).min(plane + side + 1) - shift;
        if hi <= lo {
            continue;
        }
        for b in 0..batch {
            let src = &mut src_all[b * plane..][..plane];
            zero_edge_column(&mut src[start..end], side, kx);
            let dst = &mut x[(c * batch + b) * plane..][..plane];
            let from = lo + shift - (side + 1);
            add_into(&mut dst[from..from + (hi - lo)], &src[lo..hi]);
        }
    }
}

/// `dst[i] += src[i]`.
pub(crate) fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Bias, ReLU and 2x2 max-pool over a convolution's output `conv` (`[cout, batch * side *
/// side]`, without bias), in one pass (max with 0 commutes with the max of the pool), into
/// `pooled`: `[cout][batch][side / 2][side / 2]`, which may hold anything before (every
/// element is written). With `argmax`, also records for each pooled value the flat index
/// into `conv` it came from, or `u32::MAX` where ReLU gave 0 (no gradient flows there).
///
/// # Panics
/// When `pooled` has another length.
pub(crate) fn pool_relu_into(
    conv: ArrayView2<'_, f32>,
    bias: &[f32],
    batch: usize,
    side: usize,
    mut argmax: Option<&mut Vec<u32>>,
    pooled: &mut [f32],
) {
    let plane = side * side;
    let columns = batch * plane;
    let half = side / 2;
    let cout = conv.nrows();
    assert_eq!(
        pooled.len(),
        cout * batch * half * half,
        "pool output is [cout][batch][side / 2][side / 2]"
    );
    if let Some(a) = argmax.as_deref_mut() {
        // Only positive values are written below; the rest are ReLU's zeros.
        pooled.fill(0.0);
        a.clear();
        a.resize(pooled.len(), u32::MAX);
    }
    let conv = conv
        .to_slice()
        .expect("the convolution output is a standard-layout matrix");
    for (o, conv_plane) in conv.chunks_exact(columns).enumerate() {
        let bias = bias[o];
        for b in 0..batch {
            let img = &conv_plane[b * plane..][..plane];
            let base = (o * batch + b) * half * half;
            for py in 0..half {
                let r0 = &img[2 * py * side..][..side];
                let r1 = &img[(2 * py + 1) * side..][..side];
                let dst = &mut pooled[base + py * half..][..half];
                match argmax.as_deref_mut() {
                    None => {
                        // Pairs by chunks: no bounds checks in the loop.
                        let pairs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
                        for (d, (p0, p1)) in dst.iter_mut().zip(pairs) {
                            let m = p0[0].max(p0[1]).max(p1[0]).max(p1[1]);
                            *d = (m + bias).max(0.0);
                        }
                    }
                    Some(a) => {
                        let winners = &mut a[base + py * half..][..half];
                        let row0 = o * columns + b * plane + 2 * py * side;
                        for (px, (d, w)) in dst.iter_mut().zip(winners).enumerate() {
                            let (x0, x1) = (2 * px, 2 * px + 1);
                            let (m0, i0) = if r0[x1] > r0[x0] {
                                (r0[x1], x1)
                            } else {
                                (r0[x0], x0)
                            };
                            let (m1, i1) = if r1[x1] > r1[x0] {
                                (r1[x1], side + x1)
                            } else {
                                (r1[x0], side + x0)
                            };
                            let (m, at) = if m1 > m0 { (m1, i1) } else { (m0, i0) };
                            let v = m + bias;
                            if v > 0.0 {
                                *d = v;
                                #[allow(clippy::cast_possible_truncation)]
                                let flat = (row0 + at) as u32;
                                *w = flat;
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Dense {
    /// `x`: `[batch, in]`; returns `[batch, out]`, ReLU'd when `relu`.
    fn forward(&self, x: ArrayView2<'_, f32>, relu: bool) -> Array2<f32> {
        let mut y = Array2::<f32>::zeros((x.nrows(), self.weight.ncols()));
        mat_mul(1.0, &x, &self.weight, 0.0, &mut y);
        for mut row in y.rows_mut() {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v += b;
                if relu {
                    *v = v.max(0.0);
                }
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::training::probabilities;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// im2col by its definition, element by element.
    fn im2col_by_definition(x: &[f32], cin: usize, batch: usize, side: usize) -> Vec<f32> {
        let plane = side * side;
        let mut cols = vec![0.0f32; cin * 9 * batch * plane];
        for c in 0..cin {
            for k in 0..9 {
                let (ky, kx) = (k / 3, k % 3);
                for b in 0..batch {
                    for y in 0..side {
                        for xx in 0..side {
                            let (sy, sx) = (y + ky, xx + kx);
                            let inside = (1..=side).contains(&sy) && (1..=side).contains(&sx);
                            cols[((c * 9 + k) * batch + b) * plane + y * side + xx] = if inside {
                                x[(c * batch + b) * plane + (sy - 1) * side + sx - 1]
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
        }
        cols
    }

    /// The plane-at-a-time im2col equals the definition for every side the networks use
    /// and the small ones where the edge cases meet (1 to 6), writing over a buffer full of
    /// garbage.
    #[test]
    fn im2col_equals_its_definition() {
        let mut rng = StdRng::seed_from_u64(7);
        for side in [1, 2, 3, 4, 5, 6, 8, 16, 32] {
            let (cin, batch) = (2, 3);
            let x: Vec<f32> = (0..cin * batch * side * side)
                .map(|_| rng.random_range(0.5..1.5))
                .collect();
            let mut cols = vec![f32::NAN; cin * 9 * batch * side * side];
            im2col_into(&x, cin, batch, side, &mut cols);
            let want = im2col_by_definition(&x, cin, batch, side);
            assert!(
                cols.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "side {side}: im2col differs from its definition"
            );
        }
    }

    /// col2im by its definition: each column entry added onto the input position im2col
    /// read it from, in im2col's row order.
    fn col2im_by_definition(cols: &[f32], cin: usize, batch: usize, side: usize) -> Vec<f32> {
        let plane = side * side;
        let mut x = vec![0.0f32; cin * batch * plane];
        for c in 0..cin {
            for k in 0..9 {
                let (ky, kx) = (k / 3, k % 3);
                for b in 0..batch {
                    for y in 0..side {
                        for xx in 0..side {
                            let (sy, sx) = (y + ky, xx + kx);
                            if (1..=side).contains(&sy) && (1..=side).contains(&sx) {
                                x[(c * batch + b) * plane + (sy - 1) * side + sx - 1] +=
                                    cols[((c * 9 + k) * batch + b) * plane + y * side + xx];
                            }
                        }
                    }
                }
            }
        }
        x
    }

    /// The plane-at-a-time col2im equals its definition bit for bit (same additions in the
    /// same order), for the same sides as im2col, writing over an output full of garbage;
    /// and it is im2col's adjoint: <im2col(x), y> = <x, col2im(y)>.
    #[test]
    fn col2im_equals_its_definition_and_is_the_adjoint() {
        let mut rng = StdRng::seed_from_u64(8);
        for side in [1, 2, 3, 4, 5, 6, 8, 16, 32] {
            let (cin, batch) = (2, 3);
            let cols: Vec<f32> = (0..cin * 9 * batch * side * side)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let want = col2im_by_definition(&cols, cin, batch, side);
            let mut scratch = cols.clone();
            let mut got = vec![f32::NAN; cin * batch * side * side];
            col2im_into(&mut scratch, cin, batch, side, &mut got);
            assert!(
                got.iter().zip(&want).all(|(a, b)| a == b && a.is_finite()),
                "side {side}: col2im differs from its definition"
            );

            let x: Vec<f32> = (0..cin * batch * side * side)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let mut image = vec![0.0f32; cols.len()];
            im2col_into(&x, cin, batch, side, &mut image);
            let lhs: f64 = image
                .iter()
                .zip(&cols)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&got)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            assert!(
                (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
                "side {side}: <im2col(x), y> = {lhs} but <x, col2im(y)> = {rhs}"
            );
        }
    }

    /// A freshly initialised network (random weights, random rasters, batch sizes on both
    /// sides of the threading threshold): the native pass gives burn's probabilities. The
    /// batch of 2 after the batch of 3, and the second network after the first, run on
    /// working buffers an earlier, larger pass left full (the padding must be rewritten).
    #[test]
    fn equals_burn() {
        let device = Backend::Cpu.device();
        for network in [
            RecognizerConfig::new(6),
            RecognizerConfig {
                channels: [8, 16, 24],
                hidden: 32,
                input_size: 16,
                ..RecognizerConfig::new(4)
            },
        ] {
            let model = network.init(&device);
            for algorithm in [
                ConvAlgorithm::Auto,
                ConvAlgorithm::Winograd,
                ConvAlgorithm::Im2col,
            ] {
                let native = NativeRecognizer::from_burn(&model, &network)
                    .unwrap()
                    .with_algorithm(algorithm);
                let n = network.input_size;
                let mut rng = StdRng::seed_from_u64(3);
                for batch in [1, 3, 17, 64, 2] {
                    let rasters: Vec<f32> =
                        (0..batch * n * n).map(|_| rng.random::<f32>()).collect();
                    let want = probabilities(&model, rasters.clone(), batch, n, &device);
                    let got = native.probabilities(&rasters, batch);
                    assert_eq!(got.len(), batch);
                    for (w, g) in want.iter().zip(&got) {
                        for (a, b) in w.iter().zip(g) {
                            assert!(
                                (a - b).abs() < 1e-5,
                                "{algorithm:?}: burn {w:?} vs native {g:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A convolution block by Winograd F(2x2, 3x3) gives the im2col block's pooled
    /// activations to float rounding, for every side from 2 to 32, with biases that make
    /// ReLU cut some values, writing over buffers full of NaN from a larger pass.
    #[test]
    fn winograd_equals_im2col() {
        let mut rng = StdRng::seed_from_u64(9);
        let (cin, cout) = (12, 20);
        let values: Vec<f32> = (0..cout * cin * 9)
            .map(|_| rng.random_range(-0.5..0.5))
            .collect();
        let weight = Array2::from_shape_vec((cout, cin * 9), values).unwrap();
        let block = ConvBlock {
            cin,
            cout,
            winograd: winograd_weights(&weight, cin),
            weight,
            bias: (0..cout).map(|_| rng.random_range(-0.5..0.5)).collect(),
        };
        let mut scratch = Scratch {
            cols: vec![f32::NAN; 1 << 20],
            out: vec![f32::NAN; 1 << 20],
            transform: vec![f32::NAN; 64 * 64],
            ..Scratch::default()
        };
        for (side, batch) in [(32, 2), (2, 1), (4, 3), (6, 2), (8, 5), (16, 4), (32, 1)] {
            let x: Vec<f32> = (0..cin * batch * side * side)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let mut want = vec![f32::NAN; 1];
            block.forward(&x, batch, side, &mut scratch, &mut want);
            let mut got = vec![f32::NAN; 1];
            block.forward_winograd(&x, batch, side, &mut scratch, &mut got);
            let len = cout * batch * (side / 2) * (side / 2);
            let zeros = want[..len].iter().filter(|v| **v == 0.0).count();
            assert!(
                zeros > 0 && zeros < len,
                "side {side}: ReLU should cut some values"
            );
            for (i, (w, g)) in want[..len].iter().zip(&got[..len]).enumerate() {
                assert!(
                    (w - g).abs() <= 1e-5 * w.abs().max(1.0),
                    "side {side}, value {i}: im2col {w} vs Winograd {g}"
                );
            }
        }
    }

    #[test]
    fn refuses_weights_of_another_network() {
        let device = Backend::Cpu.device();
        let model = RecognizerConfig::new(6).init(&device);
        let other = RecognizerConfig {
            hidden: 64,
            ..RecognizerConfig::new(6)
        };
        let err = NativeRecognizer::from_burn(&model, &other).unwrap_err();
        assert!(err.0.contains("fc1"), "{err}");
    }
}
