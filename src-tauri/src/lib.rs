//! Inkset Draw: the drawing game.
//!
//! The web UI (`ui/`) captures raw pointer samples and runs the game; this crate keeps every
//! finished drawing in a local SQLite outbox ([`store`]) before anything else, syncs it to
//! `inkset-server` exactly once ([`sync`]), and runs the server's recognizer on the device
//! for live guesses ([`guess`]). [`run`] is the desktop and mobile entry point.
//!
//! Configuration: `--server-url` / `INKSET_SERVER_URL` (default `http://127.0.0.1:8080`),
//! `--data-dir` / `INKSET_DRAW_DATA_DIR` (default: the platform's app data directory),
//! `RUST_LOG`.

// Tauri's `mobile_entry_point` adds an undocumented `start_app` for the phones' glue code.
#![cfg_attr(mobile, allow(missing_docs))]

pub mod commands;
pub mod core;
pub mod guess;
pub mod store;
pub mod sync;

use std::path::PathBuf;
use std::sync::Arc;

use tauri::{Emitter, Manager, Runtime};

use crate::core::Core;
use crate::sync::SyncConfig;

/// The server used when neither `--server-url` nor `INKSET_SERVER_URL` is given: the
/// `INKSET_DRAW_DEFAULT_SERVER` of the build (mobile apps have no command line), else
/// `http://127.0.0.1:8080`.
pub const DEFAULT_SERVER_URL: &str = match option_env!("INKSET_DRAW_DEFAULT_SERVER") {
    Some(url) => url,
    None => "http://127.0.0.1:8080",
};

/// Event carrying [`sync::SyncStatus`] whenever it changes.
pub const SYNC_EVENT: &str = "sync://status";

/// Where the app keeps its data and which server it talks to.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Data directory; `None`: the platform's app data directory.
    pub data_dir: Option<PathBuf>,
    /// The server's base URL.
    pub server_url: String,
    /// Sync timing.
    pub sync: SyncConfig,
}

/// Desktop command line (mobile apps get no arguments and use the defaults).
#[derive(Debug, clap::Parser)]
#[command(name = "inkset-draw", version, about = "Inkset Draw: the drawing game")]
struct Cli {
    /// The Inkset server's base URL.
    #[arg(long, env = "INKSET_SERVER_URL", default_value = DEFAULT_SERVER_URL)]
    server_url: String,
    /// Where the outbox and the cached model live (default: the app data directory).
    #[arg(long, env = "INKSET_DRAW_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

impl AppConfig {
    /// From the command line (`--server-url`, `--data-dir`) or the environment
    /// (`INKSET_SERVER_URL`, `INKSET_DRAW_DATA_DIR`). Arguments it does not know (a
    /// platform's own) are ignored with a warning.
    pub fn from_args() -> Self {
        use clap::Parser as _;
        let cli = Cli::try_parse().unwrap_or_else(|e| {
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) {
                e.exit();
            }
            tracing::warn!(error = %e, "command line ignored");
            Cli::parse_from(["inkset-draw"])
        });
        Self {
            data_dir: cli.data_dir,
            server_url: cli.server_url,
            sync: SyncConfig::default(),
        }
    }
}

/// Adds the game's commands to `builder` and starts the game ([`start`]) in `setup`.
pub fn configure<R: Runtime>(builder: tauri::Builder<R>, config: AppConfig) -> tauri::Builder<R> {
    with_commands(builder).setup(move |app| {
        start(app.handle(), &config)?;
        Ok(())
    })
}

/// Adds the game's commands to `builder` (any runtime: the real one, or
/// `tauri::test::mock_builder()` in tests, which then call [`start`] themselves).
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::bootstrap,
        commands::finish_onboarding,
        commands::submit_drawing,
        commands::guess,
        commands::prompts,
        commands::drawing_states,
        commands::sync_now,
        commands::progress,
        commands::sign_up,
        commands::sign_in,
        commands::sign_out,
        commands::refresh,
    ])
}

/// Opens the [`Core`] (managed as `Arc<Core>` state for the commands) and starts its sync
/// loop, the `sync://status` events and the cache refresh.
///
/// # Errors
/// When the data directory cannot be found or the local store cannot be opened.
pub fn start<R: Runtime>(
    app: &tauri::AppHandle<R>,
    config: &AppConfig,
) -> Result<Arc<Core>, Box<dyn std::error::Error>> {
    let dir = match &config.data_dir {
        Some(d) => d.clone(),
        None => app.path().app_data_dir()?,
    };
    tracing::info!(data = %dir.display(), server = %config.server_url, "Inkset Draw starting");
    let core = Arc::new(Core::open(&dir, &config.server_url, config.sync)?);
    app.manage(core.clone());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    app.manage(SyncStop(stop));
    tauri::async_runtime::spawn(core.syncer().clone().run(shutdown));
    let mut status = core.syncer().status();
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        while status.changed().await.is_ok() {
            let s = status.borrow_and_update().clone();
            let _ = handle.emit(SYNC_EVENT, s);
        }
    });
    let refresher = core.clone();
    tauri::async_runtime::spawn(async move {
        refresher.refresh_cache().await;
    });
    Ok(core)
}

/// Stops the sync loop when sent `true` (or dropped with the app's state).
struct SyncStop(tokio::sync::watch::Sender<bool>);

impl Drop for SyncStop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// Stops the app's background sync (on exit; tests that reopen the same data directory).
/// An upload in flight finishes or is abandoned; either way the outbox keeps the drawing
/// until the server's answer is recorded.
pub fn shutdown<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(stop) = app.try_state::<SyncStop>() {
        let _ = stop.0.send(true);
    }
}

/// Runs the app (desktop `main`, and the mobile entry point), configured from the
/// environment ([`AppConfig::from_env`]). Exits with status 1 when the app cannot start.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    let app = configure(tauri::Builder::default(), AppConfig::from_args())
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|handle, event| {
            if let tauri::RunEvent::Exit = event {
                shutdown(handle);
            }
        }),
        Err(e) => {
            tracing::error!(error = %e, "Inkset Draw could not start");
            std::process::exit(1);
        }
    }
}
