//! The generator's artifact: its manifest and Burnpack weights.

use serde::{Deserialize, Serialize};

use super::*;

/// The generator's model kind in the registry.
pub const GENERATOR: &str = "generator";

/// Everything about a generator but its weights (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorManifest {
    /// Artifact format version.
    pub format: u32,
    /// [`GENERATOR`].
    pub model_kind: String,
    /// Registry version (0 until registered).
    pub version: u64,
    /// The shapes it draws, in condition order.
    pub classes: Vec<String>,
    /// Network sizes.
    pub network: GeneratorConfig,
    /// Training settings.
    pub training: GeneratorTrainConfig,
    /// Offsets are in units of this many simplified pixels (0..=255 scale).
    pub scale: f32,
    /// Training data.
    pub data: crate::artifact::DataSnapshot,
    /// Held-out reconstruction loss after the last epoch.
    pub test_loss: Option<f64>,
    /// Per-epoch curves.
    pub history: Vec<GeneratorEpoch>,
    /// burn version of the weights.
    pub burn_version: String,
    /// sha256 of `weights.bpk`, hex.
    pub weights_sha256: String,
}

/// The model kind named in a manifest (`recognizer` when absent), without parsing the rest.
///
/// # Errors
/// When the bytes are not a JSON object.
pub fn manifest_kind(manifest: &[u8]) -> Result<String, serde_json::Error> {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(default)]
        model_kind: Option<String>,
    }
    let k: Kind = serde_json::from_slice(manifest)?;
    Ok(k.model_kind.unwrap_or_else(|| "recognizer".into()))
}

/// The weights of a generator in Burnpack form.
///
/// # Errors
/// [`crate::artifact::ArtifactError::Weights`] when burn cannot serialise them.
pub fn generator_weights(model: &Generator) -> Result<Vec<u8>, crate::artifact::ArtifactError> {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    let mut store = BurnpackStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| crate::artifact::ArtifactError::Weights(e.to_string()))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| crate::artifact::ArtifactError::Weights(e.to_string()))?;
    Ok(bytes.to_vec())
}
