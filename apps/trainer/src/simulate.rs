//! `inkset-trainer simulate-prompts`: what prompts chosen by need save over random prompts,
//! measured on real drawings ([`inkset_model::active::simulate`]): the learning curves of
//! both policies for several seeds, and the drawings the active policy needs to reach the
//! accuracy random prompting ends at.

use std::path::PathBuf;

use anyhow::Context;
use inkset_model::active::{
    PromptSettings, SimulationConfig, SimulationRun, drawings_to_match, simulate,
};
use inkset_model::backend::Backend;
use inkset_model::dataset::Dataset;
use inkset_model::training::TrainConfig;

/// Arguments of `simulate-prompts`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// ndjson files or folders: the pool players would draw from.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// The shapes (classes) prompted.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "line,heart,circle,square,triangle"
    )]
    shapes: Vec<String>,
    /// Drawings per shape before the first round.
    #[arg(long, default_value_t = 8)]
    seed_per_class: usize,
    /// Drawings collected per round.
    #[arg(long, default_value_t = 40)]
    round_size: usize,
    /// Rounds.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Seeds, one run per seed and policy.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Epochs of each retraining.
    #[arg(long, default_value_t = 15)]
    epochs: usize,
    /// Write every curve as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs the command.
///
/// # Errors
/// When the data cannot be read or a run fails.
#[allow(
    clippy::cast_precision_loss,
    clippy::print_stdout,
    clippy::print_stderr
)]
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let ds = Dataset::load(&args.data, &args.shapes, false).context("reading data")?;
    let config = SimulationConfig {
        seed_per_class: args.seed_per_class,
        round_size: args.round_size,
        rounds: args.rounds,
        seeds: args.seeds.clone(),
        train: TrainConfig {
            epochs: args.epochs,
            ..TrainConfig::default()
        },
        prompts: PromptSettings::default(),
    };
    eprintln!(
        "pool: {} drawings of {:?} ({:?}); held out: the test split",
        ds.samples.len(),
        ds.classes,
        ds.counts()
    );
    let started = std::time::Instant::now();
    let runs = simulate(&ds, &config, Backend::Cpu, |run, p| {
        eprintln!(
            "{:?} seed {}: {:>4} drawings {:?}  accuracy {:.4}  macro-F1 {:.4}  ({:.0} s)",
            run.policy,
            run.seed,
            p.drawings,
            p.per_class,
            p.accuracy,
            p.macro_f1,
            started.elapsed().as_secs_f64()
        );
    })?;
    print_curves(&runs);
    let matched = drawings_to_match(&runs);
    println!("\nDrawings to reach random prompting's final accuracy:");
    println!(
        "{:>5} {:>10} {:>8} {:>8} {:>8}",
        "seed", "target", "random", "active", "saved"
    );
    let mut saved = Vec::new();
    for (seed, target, random, active) in &matched {
        match active {
            Some(a) => {
                let s = *random as f64 - a;
                saved.push(s / *random as f64);
                println!("{seed:>5} {target:>10.4} {random:>8} {a:>8.0} {s:>8.0}");
            }
            None => println!(
                "{seed:>5} {target:>10.4} {random:>8} {:>8} {:>8}",
                "never", "-"
            ),
        }
    }
    if !saved.is_empty() {
        let mean = saved.iter().sum::<f64>() / saved.len() as f64;
        let sd = (saved.iter().map(|s| (s - mean).powi(2)).sum::<f64>()
            / (saved.len().max(2) - 1) as f64)
            .sqrt();
        println!(
            "reached in {} of {} seeds, saving {:.1} % of random's drawings on average there \
             (sd {:.1} %); the other seeds did not reach it within the budget",
            saved.len(),
            matched.len(),
            mean * 100.0,
            sd * 100.0
        );
    }
    if let Some(path) = &args.json {
        let out = serde_json::json!({
            "config": config,
            "classes": ds.classes,
            "runs": runs,
            "matched": matched,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The mean curve of each policy over the seeds (points in step).
#[allow(clippy::cast_precision_loss, clippy::print_stdout)]
fn print_curves(runs: &[SimulationRun]) {
    println!(
        "\n{:>8} {:>16} {:>16}",
        "drawings", "random acc (sd)", "active acc (sd)"
    );
    let points = runs.first().map_or(0, |r| r.points.len());
    for i in 0..points {
        let stat = |policy| {
            let acc: Vec<f64> = runs
                .iter()
                .filter(|r| r.policy == policy)
                .filter_map(|r| r.points.get(i).map(|p| p.accuracy))
                .collect();
            let mean = acc.iter().sum::<f64>() / acc.len().max(1) as f64;
            let sd = (acc.iter().map(|a| (a - mean).powi(2)).sum::<f64>()
                / (acc.len().max(2) - 1) as f64)
                .sqrt();
            format!("{mean:.4} ({sd:.4})")
        };
        let drawings = runs[0].points[i].drawings;
        println!(
            "{drawings:>8} {:>16} {:>16}",
            stat(inkset_protocol::api::PromptPolicy::Random),
            stat(inkset_protocol::api::PromptPolicy::Active)
        );
    }
}
