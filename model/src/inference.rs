//! Inference with a loaded artifact: rasterize, run the network, apply the reject rule.
//! The server, the game and the workbench all classify through [`Classifier`].
//!
//! On the CPU device the forward pass runs on [`crate::native`] (the same weights, burn's
//! results to float rounding, 3-4x less time per drawing); on wgpu or CUDA it runs on burn.

use burn::tensor::Device;

use crate::artifact::{ArtifactError, Manifest, load_bytes};
use crate::dataset::Sample;
use crate::native::{ConvAlgorithm, NativeRecognizer};
use crate::raster::{Polyline, RasterError, rasterize_version_into};
use crate::recognizer::Recognizer;
use crate::training::{Decision, Evaluation, decide, evaluation, probabilities, raster_batch};

/// A recognizer ready to answer, with its manifest.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// The artifact's manifest.
    pub manifest: Manifest,
    model: Recognizer,
    device: Device,
    /// The CPU engine, on the CPU device.
    native: Option<NativeRecognizer>,
}

impl Classifier {
    /// Loads `weights` (Burnpack bytes) for `manifest` onto `device`.
    ///
    /// # Errors
    /// As [`load_bytes`]: checksum, rasterizer version or weights that do not fit.
    pub fn from_bytes(
        manifest: Manifest,
        weights: Vec<u8>,
        device: Device,
    ) -> Result<Self, ArtifactError> {
        let model = load_bytes(&manifest, weights, &device)?;
        Self::new(manifest, model, device)
    }

    /// Loads an artifact directory onto `device`.
    ///
    /// # Errors
    /// As [`crate::artifact::load`].
    pub fn load(dir: &std::path::Path, device: Device) -> Result<Self, ArtifactError> {
        let (manifest, model) = crate::artifact::load(dir, &device)?;
        Self::new(manifest, model, device)
    }

    fn new(manifest: Manifest, model: Recognizer, device: Device) -> Result<Self, ArtifactError> {
        let native = if device == Device::flex() {
            Some(
                NativeRecognizer::from_burn(&model, &manifest.network)
                    .map_err(|e| ArtifactError::Weights(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Self {
            manifest,
            model,
            device,
            native,
        })
    }

    /// Which engine runs the forward pass: `native` (CPU) or `burn`.
    pub fn engine(&self) -> &'static str {
        if self.native.is_some() {
            "native"
        } else {
            "burn"
        }
    }

    /// Raster side N.
    pub fn input_size(&self) -> usize {
        self.manifest.input.size
    }

    /// On the native CPU engine, computes the convolutions with `algorithm` (the default is
    /// [`ConvAlgorithm::Auto`]); no effect on burn's devices.
    pub fn set_conv_algorithm(&mut self, algorithm: ConvAlgorithm) {
        if let Some(native) = self.native.take() {
            self.native = Some(native.with_algorithm(algorithm));
        }
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Rasterizes one drawing into `out` (`N * N` values in 0..=1) with the rasterizer
    /// version the model was trained on (its manifest's `rasterizer_version`).
    ///
    /// # Errors
    /// [`RasterError`] for an empty drawing or a single tap (refused before the network).
    pub fn rasterize_into(&self, lines: &[Polyline], out: &mut [f32]) -> Result<(), RasterError> {
        let n = u32::try_from(self.input_size()).unwrap_or(32);
        rasterize_version_into(self.manifest.rasterizer_version, lines, n, out)
    }

    /// Softmax probabilities for `batch` rasters laid out as `[batch, 1, N, N]`.
    pub fn probabilities(&self, rasters: Vec<f32>, batch: usize) -> Vec<Vec<f32>> {
        match &self.native {
            Some(native) => native.probabilities(&rasters, batch),
            None => probabilities(&self.model, rasters, batch, self.input_size(), &self.device),
        }
    }

    /// The answer for one row of probabilities (the manifest's reject threshold applied).
    pub fn decide(&self, probs: &[f32]) -> Decision {
        decide(
            &self.manifest.classes,
            probs,
            self.manifest.unknown_threshold,
        )
    }

    /// Classifies one drawing: its decision and every class's probability.
    ///
    /// # Errors
    /// [`RasterError`] for an empty drawing or a single tap.
    pub fn classify(&self, lines: &[Polyline]) -> Result<(Decision, Vec<f32>), RasterError> {
        let n = self.input_size();
        let mut raster = vec![0.0; n * n];
        self.rasterize_into(lines, &mut raster)?;
        let probs = self
            .probabilities(raster, 1)
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok((self.decide(&probs), probs))
    }

    /// Evaluates labelled samples (labels index the manifest's classes), rasterized with the
    /// model's own rasterizer version. Answers through [`Self::probabilities`], the path that
    /// serves.
    pub fn evaluate(&self, samples: &[Sample]) -> Evaluation {
        let n = self.input_size();
        let mut predicted = Vec::with_capacity(samples.len());
        for chunk in samples.chunks(256) {
            let refs: Vec<&Sample> = chunk.iter().collect();
            let rasters = raster_batch(&refs, n, None, self.manifest.rasterizer_version);
            predicted.extend(
                self.probabilities(rasters, chunk.len())
                    .iter()
                    .map(|p| self.decide(p).index),
            );
        }
        evaluation(&self.manifest.classes, samples, &predicted)
    }
}
