//! Serving models: the `production` recognizer (hot swap, dynamic micro-batching) and the
//! `production` generator, over Inkset's inference API and the Open Inference Protocol.
//!
//! * [`served`]: the one hot-swap holder of a served version (both models use it).
//! * [`recognizer`]: the served recognizer and its micro-batcher.
//! * [`generator`]: the served generator.
//! * [`handlers`]: the REST routes under `/api/inference`.
//! * [`oip`]: the Open Inference Protocol routes under `/v2` (JSON and binary tensors).

pub mod generator;
pub mod handlers;
pub mod oip;
pub mod recognizer;
pub mod served;
