//! Workbench latency: one drawing at a time through the workbench's own path
//! (`Engine::classify`: the shared rasterizer, then the network), cold (the first call
//! after loading) and warm (p50/p99 over the held-out drawings of ../shared/data), per
//! stage, on the CPU backend and on wgpu.
//!
//! ```text
//! cargo bench -p inkset-workbench --bench latency
//! ```
//!
//! Environment: `BENCH_MODEL` (an artifact directory; default: the default recognizer
//! trained here from ../shared/data for `BENCH_EPOCHS`, default 4, cached under the target
//! directory), `BENCH_CALLS` (warm calls per backend, default 2000), `BENCH_BACKENDS`
//! (default `cpu,wgpu`), `INKSET_SHARED_DATA`.
//!
//! On a machine without a GPU, wgpu runs on Mesa's lavapipe (software Vulkan on the same
//! CPU cores): that figure is not a GPU figure. The cold wgpu call includes compiling the
//! kernels unless `~/.cache/cubecl` already holds them.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::path::PathBuf;
use std::time::Instant;

use inkset_model::artifact;
use inkset_model::backend::Backend;
use inkset_model::dataset::{Dataset, Split};
use inkset_model::pipeline::train_recognizer;
use inkset_model::training::{Control, TrainConfig};
use inkset_testkit::env_or;
use inkset_workbench::engine::{Artifact, Engine, backend_label};
use inkset_workbench::latency::{Stage, millis};

fn main() {
    let shapes: Vec<String> = ["line", "heart", "circle", "square", "triangle"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let data = inkset_protocol::quickdraw::ndjson_files(&[
        inkset_testkit::shared_data().join("quickdraw/raw"),
        inkset_testkit::shared_data().join("derived"),
    ])
    .unwrap();
    let ds = Dataset::load(&data, &shapes, true).unwrap();
    let model_dir = std::env::var_os("BENCH_MODEL").map_or_else(
        || {
            let epochs: usize = env_or("BENCH_EPOCHS", 4);
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("bench-default-recognizer-e{epochs}"));
            if artifact::load(&dir, &Backend::Cpu.device()).is_err() {
                println!("training the default recognizer for {epochs} epochs…");
                let config = TrainConfig {
                    epochs,
                    ..TrainConfig::default()
                };
                let (manifest, model) = train_recognizer(
                    &ds,
                    &config,
                    vec!["quickdraw/raw".into(), "derived".into()],
                    Backend::Cpu,
                    |_| Control::Continue,
                )
                .unwrap();
                artifact::save(&dir, manifest, &model).unwrap();
            }
            dir
        },
        PathBuf::from,
    );
    let test = ds.split(Split::Test);
    let calls: usize = env_or("BENCH_CALLS", 2000);
    let backends: String = env_or("BENCH_BACKENDS", "cpu,wgpu".to_owned());
    let art = Artifact::read_dir(&model_dir).unwrap();
    println!(
        "model {} (channels {:?}, hidden {}), {} held-out drawings, {calls} warm calls",
        model_dir.display(),
        art.manifest.network.channels,
        art.manifest.network.hidden,
        test.len()
    );
    for name in backends.split(',') {
        let backend = match name.trim() {
            "cpu" => Backend::Cpu,
            "wgpu" => Backend::Wgpu,
            other => panic!("BENCH_BACKENDS: unknown backend {other:?} (cpu, wgpu)"),
        };
        let t = Instant::now();
        let mut engine = Engine::load(art.clone(), backend).unwrap();
        let load = millis(t.elapsed());
        for s in test.iter().cycle().take(calls + 1) {
            engine.classify(&s.lines).unwrap();
        }
        let cold = engine.stats.cold().unwrap();
        println!("\n{} — load {load:.1} ms", backend_label(backend));
        println!(
            "  cold: rasterize {:.3} ms, inference {:.3} ms, total {:.3} ms",
            millis(cold.rasterize),
            millis(cold.inference),
            millis(cold.rasterize + cold.inference)
        );
        println!(
            "  warm ({} calls)   p50 ms    p95 ms    p99 ms",
            engine.stats.warm_count()
        );
        for stage in Stage::ALL {
            let s = engine.stats.summary(stage).unwrap();
            println!(
                "  {:<16} {:>8.3}  {:>8.3}  {:>8.3}",
                stage.name(),
                s.p50,
                s.p95,
                s.p99
            );
        }
    }
}
