//! Drawings: ingest (validated, group-committed, idempotent), their rows, and their strokes
//! packed in segment objects.
//!
//! * [`ingest`]: the queue and the committers that write a segment and its rows.
//! * [`segments`]: reading a drawing at its location (one ranged read, many at once, or a
//!   whole segment in order).
//! * [`sql`]: the drawing rows.
//! * [`sweeper`]: deleting segments written but never committed (a crash between the
//!   segment's write and the SQL commit).
//! * [`handlers`]: `POST /api/drawings` and `/api/drawings/batch`.

pub mod handlers;
pub mod ingest;
pub mod segments;
pub mod sql;
pub mod sweeper;
