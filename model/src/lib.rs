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
//! * [`pipeline`]: the training recipe every trainer runs, and leave-one-source-out.
//! * [`speed`]: network-only training and inference speed (the PyTorch comparison's).
//! * [`inference`]: classifying with a loaded artifact.
//! * [`native`]: the recognizer's CPU inference engine (what [`inference`] runs on the CPU).
//! * [`native_train`]: the recognizer's CPU training step (what [`training`] runs on the CPU).
//! * [`backend`]: picking a device (flex CPU, wgpu, CUDA).
//! * [`active`]: prompts chosen by what the model needs, and the collection simulation
//!   that measures them.

pub mod active;
pub mod artifact;
pub mod augment;
pub mod backend;
pub mod dataset;
mod gemm;
pub mod generator;
pub mod inference;
pub mod native;
pub mod native_train;
pub mod pipeline;
pub mod raster;
pub mod recognizer;
pub mod speed;
pub mod stats;
pub mod training;
