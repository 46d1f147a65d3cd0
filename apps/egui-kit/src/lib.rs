//! `inkset-egui-kit`: what the console and the workbench share, so both look and draw ink
//! the same way (rerun's `re_ui` idea, at our size).
//!
//! * [`tokens`]: colours and spacing by name; screens use these, never `Color32` literals
//!   (clippy's `disallowed-methods` in `clippy.toml` enforces it).
//! * [`ink`]: the one stroke painter: polylines fitted into a rect, thumbnails from
//!   simplified strokes, full drawings with replay, variable-width canvas strokes.
//! * [`kv`]: the key/value grid of detail views.
//! * [`task`]: a background computation on its own thread, polled by the UI each frame.

pub mod ink;
pub mod kv;
pub mod task;
pub mod tokens;
