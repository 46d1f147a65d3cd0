//! Live guesses on the device: the server's `production` recognizer, downloaded once,
//! cached on disk, and run through the model crate on the CPU while the player draws.
//!
//! The verdict follows Quick, Draw!'s rule: a round is recognised when the *prompted*
//! shape's probability reaches [`RECOGNIZED_AT`], not merely when it is the top class, and
//! never on the first stroke alone (after one stroke every drawing looks like a line); a
//! one-stroke drawing gets its verdict when the round ends.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use inkset_model::artifact::Manifest;
use inkset_model::backend::Backend;
use inkset_model::inference::Classifier;
use inkset_model::raster::polylines;
use inkset_protocol::Stroke;
use serde::{Deserialize, Serialize};

use inkset_client::{Client, ClientError};

/// The prompted shape's probability at which a round counts as recognised.
pub const RECOGNIZED_AT: f32 = 0.8;

/// Why the model could not be fetched or loaded.
#[derive(Debug, thiserror::Error)]
pub enum GuessError {
    /// The server could not be asked.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The cache directory could not be written or read.
    #[error("model cache {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The artifact is not one this build can load (checksum, rasterizer, shapes).
    #[error("model artifact refused: {0}")]
    Artifact(String),
}

/// One class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassProbability {
    /// Shape name or `unknown`.
    pub class: String,
    /// Softmax probability in 0..=1.
    pub probability: f32,
}

/// A live guess for the strokes drawn so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveGuess {
    /// Every class, most probable first.
    pub classes: Vec<ClassProbability>,
    /// The prompted shape's probability.
    pub prompted: f32,
    /// Whether the round is recognised by the rule above.
    pub recognized: bool,
    /// Whether a verdict was allowed (more than one stroke, or the round is over).
    pub verdict_allowed: bool,
    /// Recognizer version.
    pub model_version: u32,
    /// Rasterize + network time on this device, ms.
    pub latency_ms: f64,
}

/// The cached model as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Registry version.
    pub version: u32,
    /// Output classes.
    pub classes: Vec<String>,
}

/// The on-device recognizer and its disk cache (`<dir>/current/manifest.json`,
/// `weights.bpk`).
pub struct Guesser {
    dir: PathBuf,
    loaded: RwLock<Option<Loaded>>,
}

/// A loaded classifier and its registry version (the manifest's own `version` is 0 until
/// the server registers it, so the version comes from `GET /api/inference/model/info`).
#[derive(Clone)]
struct Loaded {
    classifier: Arc<Classifier>,
    version: u32,
}

/// The cache's record of which registry version `current/` holds.
const VERSION_FILE: &str = "version";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GuessError + '_ {
    move |source| GuessError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Guesser {
    /// A guesser caching under `dir`; loads the cached model if there is one (a broken
    /// cache is logged and ignored: the next refresh replaces it).
    pub fn new(dir: PathBuf) -> Self {
        let g = Self {
            dir,
            loaded: RwLock::new(None),
        };
        match g.load_cached() {
            Ok(Some(_)) | Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cached model not usable"),
        }
        g
    }

    fn current(&self) -> PathBuf {
        self.dir.join("current")
    }

    fn load_cached(&self) -> Result<Option<ModelSummary>, GuessError> {
        let dir = self.current();
        if !dir.join("manifest.json").exists() {
            return Ok(None);
        }
        let classifier = Classifier::load(&dir, Backend::Cpu.device())
            .map_err(|e| GuessError::Artifact(e.to_string()))?;
        let vf = dir.join(VERSION_FILE);
        let version = std::fs::read_to_string(&vf)
            .map_err(io(&vf))?
            .trim()
            .parse()
            .map_err(|_| GuessError::Artifact("cached version file unreadable".into()))?;
        let loaded = Loaded {
            classifier: Arc::new(classifier),
            version,
        };
        let s = summary(&loaded);
        if let Ok(mut l) = self.loaded.write() {
            *l = Some(loaded);
        }
        Ok(Some(s))
    }

    /// The loaded model, if any.
    pub fn model(&self) -> Option<ModelSummary> {
        self.loaded().map(|l| summary(&l))
    }

    fn loaded(&self) -> Option<Loaded> {
        self.loaded.read().ok().and_then(|l| l.clone())
    }

    /// Fetches the server's production recognizer when it differs from the cached one,
    /// checks that it loads, then replaces the cache atomically (a rename).
    ///
    /// # Errors
    /// [`GuessError`]; the cached model stays in use.
    pub async fn refresh(&self, client: &Client) -> Result<Option<ModelSummary>, GuessError> {
        let info = client.model_info().await?;
        if self
            .model()
            .is_some_and(|m| u64::from(m.version) == info.version)
        {
            return Ok(self.model());
        }
        let manifest = client.production_artifact("manifest.json").await?;
        let weights = client.production_artifact("weights.bpk").await?;
        let parsed: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| GuessError::Artifact(format!("manifest.json: {e}")))?;
        let classifier = Classifier::from_bytes(parsed, weights.clone(), Backend::Cpu.device())
            .map_err(|e| GuessError::Artifact(e.to_string()))?;
        let staging = self.dir.join(format!("staging-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        let m = staging.join("manifest.json");
        std::fs::write(&m, &manifest).map_err(io(&m))?;
        let w = staging.join("weights.bpk");
        std::fs::write(&w, &weights).map_err(io(&w))?;
        let version = u32::try_from(info.version)
            .map_err(|_| GuessError::Artifact(format!("version {} too large", info.version)))?;
        let vf = staging.join(VERSION_FILE);
        std::fs::write(&vf, version.to_string()).map_err(io(&vf))?;
        let current = self.current();
        let old = self.dir.join(format!("old-{}", uuid::Uuid::new_v4()));
        if current.exists() {
            std::fs::rename(&current, &old).map_err(io(&current))?;
        }
        std::fs::rename(&staging, &current).map_err(io(&current))?;
        let _ = std::fs::remove_dir_all(&old);
        let loaded = Loaded {
            classifier: Arc::new(classifier),
            version,
        };
        let s = summary(&loaded);
        tracing::info!(version = s.version, "recognizer cached for offline play");
        if let Ok(mut l) = self.loaded.write() {
            *l = Some(loaded);
        }
        Ok(Some(s))
    }

    /// Classifies the strokes drawn so far for the prompt `shape`. `final_round` is true
    /// when the round is over (a verdict is then allowed on one stroke). `None` when no
    /// model is cached yet or the strokes are a single tap or empty.
    pub fn guess(&self, shape: &str, strokes: &[Stroke], final_round: bool) -> Option<LiveGuess> {
        let Loaded {
            classifier,
            version,
        } = self.loaded()?;
        let started = Instant::now();
        let lines = polylines(strokes);
        let (_, probs) = classifier.classify(&lines).ok()?;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        let classes = &classifier.manifest.classes;
        let prompted = classes
            .iter()
            .position(|c| c == shape)
            .and_then(|i| probs.get(i).copied())
            .unwrap_or(0.0);
        let mut ranked: Vec<ClassProbability> = classes
            .iter()
            .zip(&probs)
            .map(|(c, &p)| ClassProbability {
                class: c.clone(),
                probability: p,
            })
            .collect();
        ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        let verdict_allowed = final_round || strokes.len() > 1;
        Some(LiveGuess {
            classes: ranked,
            prompted,
            recognized: verdict_allowed && prompted >= RECOGNIZED_AT,
            verdict_allowed,
            model_version: version,
            latency_ms,
        })
    }
}

fn summary(l: &Loaded) -> ModelSummary {
    ModelSummary {
        version: l.version,
        classes: l.classifier.manifest.classes.clone(),
    }
}
