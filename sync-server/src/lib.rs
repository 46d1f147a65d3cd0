//! `inkset-server`: ingest, storage, curation, training jobs, the model registry and
//! inference of Inkset. See ARCHITECTURE.md for where each part lives.
//!
//! Infrastructure, used by every domain:
//! * [`config`]: layered settings (defaults, TOML file, `INKSET_*` environment, flags).
//! * [`db`]: the SQL store, SQLite (embedded default) or PostgreSQL, one schema.
//! * [`objects`]: the object store, a local directory (default) or any S3-compatible store.
//! * [`error`], [`http`]: the API's error type and body parsing.
//! * [`observe`]: Prometheus metrics (own listener) and the request metrics middleware.
//! * [`edge`]: the listener (timeouts, connection cap), client addresses, rate limits,
//!   CORS and security headers.
//!
//! Domains, each with its SQL, its logic and its handlers:
//! * [`shapes`]: the shape catalogue and distractor words.
//! * [`drawings`]: ingest, drawing rows, segments.
//! * [`curation`]: filters, lists, statistics, flag / remove, the quality score,
//!   contributor quality.
//! * [`players`]: sessions, accounts, tokens, progress.
//! * [`training`]: training jobs, leases, worker tokens, the worker protocol.
//! * [`registry`]: model versions, aliases and their history, comparison.
//! * [`inference`]: the served recognizer and generator.
//! * [`dataset`]: Quick, Draw! import, exports, dataset releases.
//! * [`prompts`]: which shapes players are asked for (active learning).
//!
//! On top: [`state`] ([`state::AppState`]), [`app`] (the route table and router),
//! [`openapi`] (the OpenAPI document), [`health`], [`server`]
//! (launch and shutdown), [`cli`]. With the `testing` feature, `testing::TestServer`: a
//! server on a free port for tests and benchmarks.

pub mod app;
pub mod cli;
pub mod config;
pub mod curation;
pub mod dataset;
pub mod db;
pub mod drawings;
pub mod edge;
pub mod error;
pub mod health;
pub mod http;
pub mod inference;
pub mod objects;
pub mod observe;
pub mod openapi;
pub mod players;
pub mod prompts;
pub mod registry;
pub mod server;
pub mod shapes;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;
pub mod training;

/// Milliseconds since the Unix epoch, server clock.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
