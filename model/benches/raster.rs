//! Rasterizer benchmark: every version this build has, on every real drawing under
//! `../shared/data` (Quick, Draw! raw with its distractors, and the derived sources), at the
//! served size (32 x 32), one thread: time per drawing (median and mean over the passes)
//! and drawings/s.
//!
//! ```text
//! cargo bench -p inkset-model --bench raster
//! ```
//!
//! Environment: `BENCH_PASSES` (default 5), `INKSET_SHARED_DATA` (default ../shared/data).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use inkset_model::raster::{
    OLDEST_RASTERIZER_VERSION, Polyline, RASTERIZER_VERSION, polylines, rasterize_version_into,
};
use inkset_model::stats::quantile;
use inkset_protocol::quickdraw::{Record, ndjson_files};
use inkset_testkit::{env_or, shared_data};

fn main() {
    let passes: usize = env_or("BENCH_PASSES", 5);
    let data = shared_data();
    let files = ndjson_files(&[data.join("quickdraw/raw"), data.join("derived")]).unwrap();
    let drawings: Vec<Vec<Polyline>> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter_map(|l| Record::parse_line(l).ok())
                .map(|r| polylines(&r.into_drawing().strokes))
                .collect::<Vec<_>>()
        })
        .collect();
    let points: usize = drawings.iter().flatten().map(Vec::len).sum();
    println!(
        "{} drawings from {} files, {:.0} points each on average, 32 x 32, {passes} passes",
        drawings.len(),
        files.len(),
        points as f64 / drawings.len() as f64
    );
    let mut out = vec![0.0f32; 32 * 32];
    for version in OLDEST_RASTERIZER_VERSION..=RASTERIZER_VERSION {
        let mut us = Vec::with_capacity(drawings.len() * passes);
        let started = Instant::now();
        let mut done = 0usize;
        for _ in 0..passes {
            for d in &drawings {
                let t = Instant::now();
                if rasterize_version_into(version, d, 32, &mut out).is_ok() {
                    us.push(t.elapsed().as_secs_f64() * 1e6);
                    done += 1;
                }
            }
        }
        let total = started.elapsed().as_secs_f64();
        let mean = us.iter().sum::<f64>() / us.len() as f64;
        us.sort_by(f64::total_cmp);
        println!(
            "version {version}: p50 {:.1} us, mean {mean:.1} us, p99 {:.1} us per drawing; \
             {:.0} drawings/s",
            quantile(&us, 0.5),
            quantile(&us, 0.99),
            done as f64 / total
        );
    }
}
