//! Training jobs: the queue, leases and heartbeats, worker tokens, and the worker protocol
//! trainers speak (`/api/worker/...`).
//!
//! * [`sql`]: jobs, leases, events and worker tokens.
//! * [`handlers`]: the admin's routes (`/api/admin/training...`, `/api/admin/worker-tokens`).
//! * [`worker_api`]: the trainers' routes (claim, data, heartbeat, weights, complete, fail,
//!   release).

pub mod handlers;
pub mod sql;
pub mod worker_api;
