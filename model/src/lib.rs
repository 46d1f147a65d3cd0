//! Inkset's models: the shared rasterizer, the shape recognizer, its training, evaluation
//! and artifacts (burn 0.22).
//!
//! * [`raster`]: the one rasterizer every component uses (strokes to an N x N raster).
//! * [`dataset`]: labelled drawings from Quick, Draw! style ndjson, split by source record.
//! * [`augment`]: training-time stroke augmentation.
//! * [`recognizer`]: the CNN.
//! * [`training`]: the training loop, prediction and evaluation.
//! * [`generator`]: the class-conditional stroke generator (Sketch-RNN decoder).
//! * [`artifact`]: manifest + weights, loadable on every backend.
//! * [`pipeline`]: the training recipe every trainer runs.
//! * [`inference`]: classifying with a loaded artifact.
//! * [`backend`]: picking a device (flex CPU, wgpu, CUDA).

pub mod artifact;
pub mod augment;
pub mod backend;
pub mod dataset;
pub mod generator;
pub mod inference;
pub mod pipeline;
pub mod raster;
pub mod recognizer;
pub mod stats;
pub mod training;
