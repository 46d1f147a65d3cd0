//! Inference with a loaded artifact: rasterize, run the network, apply the reject rule.
//! The server, the game and the workbench all classify through [`Classifier`].

use burn::tensor::Device;

use crate::artifact::{ArtifactError, Manifest, load_bytes};
use crate::dataset::Sample;
use crate::raster::{Polyline, RasterError, rasterize_into};
use crate::recognizer::Recognizer;
use crate::training::{Decision, Evaluation, decide, evaluate, probabilities};

/// A recognizer ready to answer, with its manifest.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// The artifact's manifest.
    pub manifest: Manifest,
    model: Recognizer,
    device: Device,
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
        Ok(Self {
            manifest,
            model,
            device,
        })
    }

    /// Loads an artifact directory onto `device`.
    ///
    /// # Errors
    /// As [`crate::artifact::load`].
    pub fn load(dir: &std::path::Path, device: Device) -> Result<Self, ArtifactError> {
        let (manifest, model) = crate::artifact::load(dir, &device)?;
        Ok(Self {
            manifest,
            model,
            device,
        })
    }

    /// Raster side N.
    pub fn input_size(&self) -> usize {
        self.manifest.input.size
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Rasterizes one drawing into `out` (`N * N` values in 0..=1).
    ///
    /// # Errors
    /// [`RasterError`] for an empty drawing or a single tap (refused before the network).
    pub fn rasterize_into(&self, lines: &[Polyline], out: &mut [f32]) -> Result<(), RasterError> {
        let n = u32::try_from(self.input_size()).unwrap_or(32);
        rasterize_into(lines, n, out)
    }

    /// Softmax probabilities for `batch` rasters laid out as `[batch, 1, N, N]`.
    pub fn probabilities(&self, rasters: Vec<f32>, batch: usize) -> Vec<Vec<f32>> {
        probabilities(&self.model, rasters, batch, self.input_size(), &self.device)
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

    /// Evaluates labelled samples (labels index the manifest's classes).
    pub fn evaluate(&self, samples: &[Sample]) -> Evaluation {
        evaluate(
            &self.model,
            &self.manifest.classes,
            samples,
            self.input_size(),
            self.manifest.unknown_threshold,
            &self.device,
        )
    }
}
