//! Inkset Workbench: the offline workbench for implementors.
//!
//! Load a recognizer from a server's registry (cached on disk, then usable offline) or from
//! a local artifact; run it on burn's wgpu backend or the CPU; draw and see every class's
//! probability live; read cold and warm latency per stage; benchmark batch sizes 1..=256;
//! check CPU/wgpu parity; evaluate Quick, Draw! files with the numbers
//! `inkset-trainer evaluate` gives.
//!
//! * [`app`]: the window ([`Workbench`]).
//! * [`engine`]: the model on a backend (classification, benchmark, parity, evaluation).
//! * [`registry`] and [`cache`]: downloading versions and keeping them.
//! * [`canvas`]: pointer, touch and pen input.
//! * [`latency`]: per-stage latency quantiles.
//! * [`worker`]: the background threads.

pub mod app;
pub mod cache;
pub mod canvas;
pub mod engine;
pub mod latency;
pub mod registry;
pub mod shapes;
pub mod worker;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use inkset_model::backend::Backend;

pub use app::{Options, Workbench};

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "inkset-workbench", version, about)]
pub struct Cli {
    /// Model cache directory (default `$XDG_CACHE_HOME/inkset-workbench`).
    #[arg(long, env = "INKSET_WORKBENCH_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Server URL for the registry.
    #[arg(long, env = "INKSET_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An artifact directory to load at start.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Backend to start on.
    #[arg(long, value_enum, default_value = "wgpu")]
    pub backend: BackendArg,
}

/// Backend choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// burn's wgpu backend.
    Wgpu,
    /// burn's flex CPU backend.
    Cpu,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Wgpu => Self::Wgpu,
            BackendArg::Cpu => Self::Cpu,
        }
    }
}

/// Parses the command line and runs the window until it is closed.
///
/// # Errors
/// When no window can be opened (no display, no graphics adapter).
pub fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("inkset_workbench=info,warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cli = Cli::parse();
    let options = Options {
        cache_dir: cli
            .cache_dir
            .unwrap_or_else(cache::ModelCache::default_root),
        server: cli.server,
        model: cli.model,
        backend: cli.backend.into(),
    };
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Inkset Workbench")
            .with_inner_size([1200.0, 820.0])
            .with_min_inner_size([640.0, 480.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Inkset Workbench",
        native,
        Box::new(move |_cc| Ok(Box::new(Workbench::new(options)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
