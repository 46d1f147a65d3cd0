//! Network-only speed of a recognizer: training steps on a ready batch, batch-1 latency and
//! batch-64 throughput (on burn, and on the native CPU engine that serves), on random rasters (the weights and the pixels do not change the
//! arithmetic). The same three numbers the PyTorch side of `scripts/bench vs-pytorch`
//! measures, so the two are comparable line by line.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::native::{ConvAlgorithm, NativeRecognizer};
use crate::native_train::NativeLearner;
use crate::recognizer::RecognizerConfig;
use crate::stats::quantile;
use crate::training::{Learner, probabilities};

/// How long each part runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeedPlan {
    /// Rows of a training batch and of the throughput batch.
    pub batch: usize,
    /// Timed training steps (after 3 untimed ones).
    pub train_steps: usize,
    /// Timed batch-1 forward passes (after 20 untimed ones).
    pub single_runs: usize,
    /// Timed forward passes of `batch` rows (after 3 untimed ones).
    pub batch_runs: usize,
}

impl Default for SpeedPlan {
    /// 64 rows; 40 training steps, 300 single passes, 30 batch passes (what the PyTorch
    /// side runs).
    fn default() -> Self {
        Self {
            batch: 64,
            train_steps: 40,
            single_runs: 300,
            batch_runs: 30,
        }
    }
}

/// What [`measure`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedReport {
    /// Training samples/s on burn's autodiff: forward, loss, backward and Adam on a ready
    /// batch (no rasterization).
    pub train_samples_per_sec: f64,
    /// The same on the native CPU training step ([`crate::native_train`], what training
    /// runs on the CPU).
    pub native_train_samples_per_sec: f64,
    /// One drawing's forward pass, ms: median.
    pub single_p50_ms: f64,
    /// One drawing's forward pass, ms: 99th percentile.
    pub single_p99_ms: f64,
    /// Rows/s through forward passes of `batch` rows.
    pub batch_rows_per_sec: f64,
    /// The same three on the native CPU engine ([`crate::native`], what serving runs on
    /// the CPU): batch-1 p50 and p99, ms.
    pub native_single_ms: [f64; 2],
    /// Native engine: rows/s through passes of `batch` rows.
    pub native_batch_rows_per_sec: f64,
    /// The native engine's batch-1 p50 and p99 (ms) and rows/s through `batch` rows with its
    /// convolutions always by im2col (the figures above use the default,
    /// [`ConvAlgorithm::Auto`]: Winograd from [`crate::native::WINOGRAD_MIN_ROWS`] rows per
    /// thread).
    #[serde(default)]
    pub native_im2col: Option<([f64; 2], f64)>,
    /// Largest difference between burn's and the native engine's probabilities on the
    /// timed batch.
    pub native_max_difference: f32,
    /// The batch size used.
    pub batch: usize,
    /// Threads of the CPU backend's pool: `RAYON_NUM_THREADS` when set, else one per core
    /// (rayon's rule).
    pub threads: usize,
}

/// Times `network` on `backend` following `plan` (seeded random rasters in 0..=1 and
/// labels). The inference passes run on the weights after the timed training steps.
pub fn measure(network: &RecognizerConfig, backend: Backend, plan: SpeedPlan) -> SpeedReport {
    let n = network.input_size;
    let batch = plan.batch.max(1);
    let mut rng = StdRng::seed_from_u64(7);
    let mut raster =
        |rows: usize| -> Vec<f32> { (0..rows * n * n).map(|_| rng.random::<f32>()).collect() };
    let classes = i64::try_from(network.classes.max(1)).unwrap_or(1);
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % classes).collect();
    let x = raster(batch);

    let mut learner = Learner::new(network, &backend.training_device());
    for _ in 0..3 {
        learner.step(x.clone(), &labels, 1e-3);
    }
    let started = Instant::now();
    for _ in 0..plan.train_steps {
        learner.step(x.clone(), &labels, 1e-3);
    }
    let train_secs = started.elapsed().as_secs_f64();

    let training_device = backend.training_device();
    let native_train_samples_per_sec =
        match NativeLearner::from_burn(&network.init(&training_device), network, 7) {
            Ok(mut native) => {
                for _ in 0..3 {
                    native.step(&x, &labels, 1e-3);
                }
                let started = Instant::now();
                for _ in 0..plan.train_steps {
                    native.step(&x, &labels, 1e-3);
                }
                (plan.train_steps * batch) as f64 / started.elapsed().as_secs_f64().max(1e-9)
            }
            Err(_) => f64::NAN,
        };

    let model = learner.valid();
    let device = backend.device();
    let one = raster(1);
    for _ in 0..20 {
        probabilities(&model, one.clone(), 1, n, &device);
    }
    let mut single: Vec<f64> = (0..plan.single_runs.max(1))
        .map(|_| {
            let t = Instant::now();
            probabilities(&model, one.clone(), 1, n, &device);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    single.sort_by(f64::total_cmp);
    for _ in 0..3 {
        probabilities(&model, x.clone(), batch, n, &device);
    }
    let started = Instant::now();
    for _ in 0..plan.batch_runs.max(1) {
        probabilities(&model, x.clone(), batch, n, &device);
    }
    let batch_secs = started.elapsed().as_secs_f64();

    let native = NativeRecognizer::from_burn(&model, network).ok();
    let (native_single_ms, native_batch_rows_per_sec) =
        native.as_ref().map_or(([f64::NAN; 2], f64::NAN), |native| {
            native_speed(native, &one, &x, batch, plan)
        });
    let native_im2col = native.as_ref().map(|native| {
        native_speed(
            &native.clone().with_algorithm(ConvAlgorithm::Im2col),
            &one,
            &x,
            batch,
            plan,
        )
    });
    let native_max_difference = native.as_ref().map_or(f32::NAN, |native| {
        let theirs = probabilities(&model, x.clone(), batch, n, &device);
        let ours = native.probabilities(&x, batch);
        theirs
            .iter()
            .flatten()
            .zip(ours.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    });

    SpeedReport {
        train_samples_per_sec: (plan.train_steps * batch) as f64 / train_secs.max(1e-9),
        native_train_samples_per_sec,
        single_p50_ms: quantile(&single, 0.5),
        single_p99_ms: quantile(&single, 0.99),
        batch_rows_per_sec: (plan.batch_runs.max(1) * batch) as f64 / batch_secs.max(1e-9),
        native_single_ms,
        native_batch_rows_per_sec,
        native_im2col,
        native_max_difference,
        batch,
        threads: std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&t: &usize| t > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            }),
    }
}

/// Batch-1 p50 and p99 (ms) and rows/s through `x` (`batch` rows) on the native engine.
fn native_speed(
    native: &NativeRecognizer,
    one: &[f32],
    x: &[f32],
    batch: usize,
    plan: SpeedPlan,
) -> ([f64; 2], f64) {
    for _ in 0..20 {
        native.probabilities(one, 1);
    }
    let mut single: Vec<f64> = (0..plan.single_runs.max(1))
        .map(|_| {
            let t = Instant::now();
            native.probabilities(one, 1);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    single.sort_by(f64::total_cmp);
    for _ in 0..3 {
        native.probabilities(x, batch);
    }
    let started = Instant::now();
    for _ in 0..plan.batch_runs.max(1) {
        native.probabilities(x, batch);
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rows_per_sec = (plan.batch_runs.max(1) * batch) as f64 / secs.max(1e-9);
    (
        [quantile(&single, 0.5), quantile(&single, 0.99)],
        rows_per_sec,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_both_engines_on_the_same_network() {
        let network = RecognizerConfig {
            channels: [4, 8, 8],
            hidden: 16,
            input_size: 16,
            ..RecognizerConfig::new(3)
        };
        let plan = SpeedPlan {
            batch: 8,
            train_steps: 2,
            single_runs: 5,
            batch_runs: 2,
        };
        let r = measure(&network, Backend::Cpu, plan);
        for v in [
            r.train_samples_per_sec,
            r.native_train_samples_per_sec,
            r.single_p50_ms,
            r.batch_rows_per_sec,
            r.native_single_ms[0],
            r.native_batch_rows_per_sec,
            r.native_im2col.map_or(f64::NAN, |(single, _)| single[0]),
            r.native_im2col.map_or(f64::NAN, |(_, rows)| rows),
        ] {
            assert!(v.is_finite() && v > 0.0, "{r:?}");
        }
        assert!(r.single_p50_ms <= r.single_p99_ms);
        assert!(r.native_max_difference < 1e-5, "{r:?}");
        assert_eq!(r.batch, 8);
    }
}
