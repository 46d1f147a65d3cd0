//! Latency bookkeeping: per stage, the cold call apart from the warm ones.
//!
//! Quantiles use the nearest-rank method on the kept samples (the last
//! [`LatencyStats::WINDOW`] warm calls), as Triton's perf_analyzer reports them.

use std::collections::VecDeque;
use std::time::Duration;

/// The stages of one classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Strokes to the `[1, 1, N, N]` raster (the shared rasterizer).
    Rasterize,
    /// The network's forward pass and softmax, including the device round trip.
    Inference,
    /// Both.
    Total,
}

impl Stage {
    /// Every stage, in display order.
    pub const ALL: [Self; 3] = [Self::Rasterize, Self::Inference, Self::Total];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rasterize => "rasterize",
            Self::Inference => "inference",
            Self::Total => "total",
        }
    }
}

/// Time spent in each stage of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Rasterizing.
    pub rasterize: Duration,
    /// The network.
    pub inference: Duration,
}

impl Timing {
    /// One stage's time (total: the sum).
    pub fn get(&self, stage: Stage) -> Duration {
        match stage {
            Stage::Rasterize => self.rasterize,
            Stage::Inference => self.inference,
            Stage::Total => self.rasterize + self.inference,
        }
    }
}

/// Summary of one stage over the warm calls, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// The most recent warm call.
    pub last: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Cold and warm latencies since the model (or backend) was loaded.
#[derive(Debug, Clone, Default)]
pub struct LatencyStats {
    cold: Option<Timing>,
    warm: VecDeque<Timing>,
    warm_total: u64,
}

impl LatencyStats {
    /// Warm calls kept for the quantiles.
    pub const WINDOW: usize = 10_000;

    /// Records a call: the first after a reset is the cold one.
    pub fn record(&mut self, timing: Timing) {
        if self.cold.is_none() {
            self.cold = Some(timing);
            return;
        }
        if self.warm.len() == Self::WINDOW {
            self.warm.pop_front();
        }
        self.warm.push_back(timing);
        self.warm_total += 1;
    }

    /// The first call after loading, when there was one.
    pub fn cold(&self) -> Option<Timing> {
        self.cold
    }

    /// Warm calls recorded since the reset (including those out of the window).
    pub fn warm_count(&self) -> u64 {
        self.warm_total
    }

    /// Last, p50, p95 and p99 of a stage over the warm calls; `None` before the first.
    pub fn summary(&self, stage: Stage) -> Option<Summary> {
        let last = self.warm.back()?.get(stage);
        let mut ms: Vec<f64> = self.warm.iter().map(|t| millis(t.get(stage))).collect();
        ms.sort_by(f64::total_cmp);
        Some(Summary {
            last: millis(last),
            p50: quantile(&ms, 0.50),
            p95: quantile(&ms, 0.95),
            p99: quantile(&ms, 0.99),
        })
    }
}

/// Milliseconds as f64.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub use inkset_model::stats::quantile;

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Timing {
        Timing {
            rasterize: Duration::from_millis(1),
            inference: Duration::from_millis(v),
        }
    }

    #[test]
    fn first_call_is_cold_and_kept_apart() {
        let mut s = LatencyStats::default();
        assert!(s.summary(Stage::Total).is_none());
        s.record(ms(500));
        assert_eq!(s.cold(), Some(ms(500)));
        assert!(s.summary(Stage::Total).is_none());
        for v in 1..=100 {
            s.record(ms(v));
        }
        let total = s.summary(Stage::Total).unwrap_or_default();
        assert_eq!(total.last, 101.0);
        assert_eq!(total.p50, 51.0);
        assert_eq!(total.p95, 96.0);
        assert_eq!(total.p99, 100.0);
        assert_eq!(s.summary(Stage::Rasterize).unwrap_or_default().p99, 1.0);
        assert_eq!(s.warm_count(), 100);
    }

    #[test]
    fn nearest_rank() {
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
    }
}
