//! The model registry: immutable model versions with their metrics and artifacts, aliases
//! (`production`, `candidate`, ...) with an append-only history, and the comparison of two
//! versions on the same held-out drawings.
//!
//! * [`sql`]: versions, aliases and their history.
//! * [`handlers`]: `/api/admin/models...` and `/api/admin/aliases...`.

pub mod handlers;
pub mod sql;
