//! Model artifacts: a directory (or object-store prefix) with `manifest.json` and
//! `weights.bpk` (burn's Burnpack format). The same artifact loads on every backend.

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::raster::{OLDEST_RASTERIZER_VERSION, RASTERIZER_VERSION};
use crate::recognizer::{Recognizer, RecognizerConfig};
use crate::training::{EpochMetrics, Evaluation, TrainConfig};

/// Manifest file name.
pub const MANIFEST: &str = "manifest.json";
/// Weights file name.
pub const WEIGHTS: &str = "weights.bpk";
/// The burn version the weights were written with.
pub const BURN_VERSION: &str = "0.22.1";

/// Errors reading or writing artifacts.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The manifest is not valid JSON for this version.
    #[error("manifest: {0}")]
    Manifest(#[from] serde_json::Error),
    /// The weights do not match the manifest's checksum.
    #[error("weights sha256 {actual} differs from the manifest's {expected}")]
    Checksum {
        /// In the manifest.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// The weights do not fit the network of the manifest.
    #[error("weights: {0}")]
    Weights(String),
    /// A rasterizer version this build does not implement.
    #[error(
        "artifact needs rasterizer version {0}, this build has {OLDEST_RASTERIZER_VERSION}..={RASTERIZER_VERSION}"
    )]
    Rasterizer(u32),
}

/// The input a model expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Raster side N.
    pub size: usize,
    /// Tensor layout and range.
    pub layout: String,
}

/// Which drawings a model was trained and tested on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSnapshot {
    /// Where they came from (files, or a server query).
    pub sources: Vec<String>,
    /// How the split was made.
    pub split: String,
    /// Training drawings per class.
    pub train_counts: Vec<usize>,
    /// Held-out drawings per class.
    pub test_counts: Vec<usize>,
    /// Validation drawings per class (tune the reject threshold).
    #[serde(default)]
    pub validation_counts: Vec<usize>,
    /// Which drawings: sha256 (hex) of the sorted, de-duplicated source `key_id`s of every
    /// sample, each as 8 little-endian bytes.
    #[serde(default)]
    pub key_ids_sha256: String,
    /// Records skipped (duplicates, taps, unreadable).
    pub skipped: usize,
    /// The dataset release the drawings came from (a server job that named one), so the
    /// model can be trained again on exactly the same drawings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

/// Everything about a model but its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Artifact format version.
    pub format: u32,
    /// `recognizer`.
    pub model_kind: String,
    /// Registry version (0 until registered).
    pub version: u64,
    /// Class names, in output order; `unknown` is the reject class.
    pub classes: Vec<String>,
    /// Input.
    pub input: InputSpec,
    /// [`RASTERIZER_VERSION`] the model was trained with.
    pub rasterizer_version: u32,
    /// Network sizes.
    pub network: RecognizerConfig,
    /// Training settings.
    pub training: TrainConfig,
    /// Training data.
    pub data: DataSnapshot,
    /// A drawing whose best shape probability is below this is answered `unknown` (see
    /// `training::decide`); tuned on the validation split.
    #[serde(default)]
    pub unknown_threshold: f32,
    /// What was added to the `unknown` logit after training (0 or below), already folded
    /// into the last layer's bias of the weights: recorded here, never applied again. Tuned
    /// on the validation split with the threshold (`training::tune_reject_rule`); 0 in
    /// artifacts from before it existed.
    #[serde(default)]
    pub unknown_logit_adjustment: f32,
    /// Held-out evaluation (with the threshold applied).
    pub metrics: Option<Evaluation>,
    /// Per-epoch curves.
    pub history: Vec<EpochMetrics>,
    /// burn version of the weights.
    pub burn_version: String,
    /// sha256 of `weights.bpk`, hex.
    pub weights_sha256: String,
}

impl Manifest {
    /// A manifest for a freshly trained recognizer (checksum filled in by [`save`]).
    pub fn recognizer(
        classes: Vec<String>,
        network: RecognizerConfig,
        training: TrainConfig,
        data: DataSnapshot,
    ) -> Self {
        Self {
            format: 1,
            model_kind: "recognizer".into(),
            version: 0,
            classes,
            input: InputSpec {
                size: network.input_size,
                layout: format!(
                    "raster [batch, 1, {n}, {n}] f32 in 0..=1 (inkset_model::raster v{RASTERIZER_VERSION})",
                    n = network.input_size
                ),
            },
            rasterizer_version: RASTERIZER_VERSION,
            network,
            training,
            data,
            unknown_threshold: 0.0,
            unknown_logit_adjustment: 0.0,
            metrics: None,
            history: Vec::new(),
            burn_version: BURN_VERSION.into(),
            weights_sha256: String::new(),
        }
    }
}

/// The weights of `model` in Burnpack form.
///
/// # Errors
/// [`ArtifactError::Weights`] when burn cannot serialise them.
pub fn weights_bytes(model: &Recognizer) -> Result<Vec<u8>, ArtifactError> {
    let mut store = BurnpackStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| ArtifactError::Weights(e.to_string()))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| ArtifactError::Weights(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// sha256 of `bytes`, lowercase hex (the manifest's `weights_sha256`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `manifest.json` and `weights.bpk` into `dir` (created if needed); returns the
/// manifest with its checksum.
///
/// # Errors
/// On I/O or serialisation failure.
pub fn save(
    dir: &Path,
    mut manifest: Manifest,
    model: &Recognizer,
) -> Result<Manifest, ArtifactError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ArtifactError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let weights = weights_bytes(model)?;
    manifest.weights_sha256 = hex::encode(Sha256::digest(&weights));
    let wpath = dir.join(WEIGHTS);
    std::fs::write(&wpath, &weights).map_err(io(&wpath))?;
    let mpath = dir.join(MANIFEST);
    std::fs::write(&mpath, serde_json::to_vec_pretty(&manifest)?).map_err(io(&mpath))?;
    Ok(manifest)
}

/// Builds the network of `manifest` on `device` and loads `weights` into it, after checking
/// the checksum and the rasterizer version.
///
/// # Errors
/// [`ArtifactError`] on a checksum mismatch, unknown rasterizer or weights that do not fit.
pub fn load_bytes(
    manifest: &Manifest,
    weights: Vec<u8>,
    device: &Device,
) -> Result<Recognizer, ArtifactError> {
    let actual = hex::encode(Sha256::digest(&weights));
    if actual != manifest.weights_sha256 {
        return Err(ArtifactError::Checksum {
            expected: manifest.weights_sha256.clone(),
            actual,
        });
    }
    if !(OLDEST_RASTERIZER_VERSION..=RASTERIZER_VERSION).contains(&manifest.rasterizer_version) {
        return Err(ArtifactError::Rasterizer(manifest.rasterizer_version));
    }
    let mut model = manifest.network.init(device);
    let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(weights)));
    let result = model
        .load_from(&mut store)
        .map_err(|e| ArtifactError::Weights(e.to_string()))?;
    if !result.missing.is_empty() {
        return Err(ArtifactError::Weights(format!(
            "missing tensors: {:?}",
            result.missing
        )));
    }
    Ok(model.valid())
}

/// Reads an artifact directory onto `device`.
///
/// # Errors
/// As [`load_bytes`], and on I/O failure.
pub fn load(dir: &Path, device: &Device) -> Result<(Manifest, Recognizer), ArtifactError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| ArtifactError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let manifest: Manifest = serde_json::from_slice(&read(MANIFEST)?)?;
    let model = load_bytes(&manifest, read(WEIGHTS)?, device)?;
    Ok((manifest, model))
}
