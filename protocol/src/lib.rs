//! Inkset's wire formats, shared by the game, the server, the trainer and the apps.
//!
//! * [`drawing`]: the drawing format of the API (`POST /api/drawings`), as JSON.
//! * [`validate`]: the limits every drawing must meet, with errors that name the field.
//! * [`quickdraw`]: Google's Quick, Draw! ndjson, raw and simplified, both ways.
//! * [`reduce`]: fitting a very detailed drawing (a 1,000 Hz mouse) within the limits on
//!   the client, losslessly where possible.
//! * [`api`]: request and response bodies of the HTTP API, and its error envelope.
//! * [`ml`]: training jobs, the trainer worker protocol, the model registry, inference and
//!   the Open Inference Protocol v2's metadata types.
//! * [`oip`]: Open Inference Protocol v2 `infer` requests (JSON and binary tensors),
//!   checked before their data is read.
//!
//! This crate depends on serde and little else so that every client can use it.

pub mod api;
pub mod drawing;
pub mod ml;
pub mod oip;
pub mod packed;
pub mod quickdraw;
pub mod reduce;
pub mod validate;

pub use drawing::{Canvas, Device, Drawing, Guess, Point, SourceMeta, Stroke};
pub use validate::{FieldError, Limits, Origin, ParseError};
