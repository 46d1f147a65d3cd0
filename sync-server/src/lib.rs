//! `inkset-server`: ingest, storage and the admin API of Inkset.
//!
//! * [`config`]: layered settings (defaults, TOML file, `INKSET_*` environment, flags).
//! * [`db`]: the SQL store, SQLite (embedded default) or PostgreSQL, one schema.
//! * [`objects`]: the object store, a local directory (default) or any S3-compatible store.
//! * [`ingest`]: durable, group-committed, idempotent ingest of drawings.
//! * [`app`]: the axum router and [`app::AppState`].
//! * [`dataset`]: Quick, Draw! import and export.
//! * [`exports`]: background exports for the admin API.
//! * [`jobs`]: training jobs with leases, worker tokens, the model registry and aliases.
//! * [`inference`]: the served `production` model, hot swap and micro-batching.
//! * [`cli`]: the `inkset-server` command line.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dataset;
pub mod db;
pub mod error;
pub mod exports;
pub mod generation;
pub mod handlers;
pub mod inference;
pub mod ingest;
pub mod jobs;
pub mod objects;
pub mod progress;
pub mod quality;
pub mod server;

/// Milliseconds since the Unix epoch, server clock.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
