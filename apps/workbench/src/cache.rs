//! The on-disk model cache: every version downloaded from a registry is kept so that the
//! workbench works with the server stopped.
//!
//! Layout: `<root>/models/<model id>/{manifest.json, weights.bpk, version.json}`, where
//! `version.json` is the registry's `ModelVersion` plus the server it came from. A version
//! is written into a temporary directory and renamed into place, so a cached entry is
//! always whole.

use std::path::{Path, PathBuf};

use inkset_model::artifact::{MANIFEST, WEIGHTS};
use inkset_protocol::ml::ModelVersion;
use serde::{Deserialize, Serialize};

use crate::engine::{Artifact, EngineError};

/// What the cache knows of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedVersion {
    /// The registry's description of the version.
    pub version: ModelVersion,
    /// The server's base URL.
    pub server: String,
    /// When it was downloaded, ms since the Unix epoch.
    pub downloaded_at: i64,
}

/// One cached model.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedModel {
    /// Its directory (an artifact directory).
    pub dir: PathBuf,
    /// Its registry description.
    pub info: CachedVersion,
}

impl CachedModel {
    /// Reads the artifact.
    ///
    /// # Errors
    /// As [`Artifact::read_dir`].
    pub fn artifact(&self) -> Result<Artifact, EngineError> {
        let mut a = Artifact::read_dir(&self.dir)?;
        a.origin = format!(
            "{} v{} from {} (cached)",
            self.info.version.model_kind, self.info.version.version, self.info.server
        );
        Ok(a)
    }
}

/// The cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    root: PathBuf,
}

const VERSION_FILE: &str = "version.json";

impl ModelCache {
    /// A cache under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$XDG_CACHE_HOME/inkset-workbench`, else `~/.cache/inkset-workbench`, else
    /// `./inkset-workbench-cache`.
    pub fn default_root() -> PathBuf {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map_or_else(
                || PathBuf::from("inkset-workbench-cache"),
                |c| c.join("inkset-workbench"),
            )
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn models(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Where saved test cases go.
    pub fn test_cases(&self) -> PathBuf {
        self.root.join("test-cases")
    }

    /// Cached models, newest download first. Entries that cannot be read are left out.
    pub fn list(&self) -> Vec<CachedModel> {
        let Ok(entries) = std::fs::read_dir(self.models()) else {
            return Vec::new();
        };
        let mut out: Vec<CachedModel> = entries
            .flatten()
            .filter_map(|e| {
                let dir = e.path();
                let info = std::fs::read(dir.join(VERSION_FILE)).ok()?;
                let info = serde_json::from_slice(&info).ok()?;
                dir.join(WEIGHTS)
                    .is_file()
                    .then_some(CachedModel { dir, info })
            })
            .collect();
        out.sort_by_key(|m| std::cmp::Reverse(m.info.downloaded_at));
        out
    }

    /// The cached copy of a version, if any.
    pub fn get(&self, id: uuid::Uuid) -> Option<CachedModel> {
        self.list().into_iter().find(|m| m.info.version.id == id)
    }

    /// Stores a downloaded version (replacing an older copy of it).
    ///
    /// # Errors
    /// I/O errors.
    pub fn store(
        &self,
        info: CachedVersion,
        manifest: &[u8],
        weights: &[u8],
    ) -> std::io::Result<CachedModel> {
        let models = self.models();
        std::fs::create_dir_all(&models)?;
        let dir = models.join(info.version.id.to_string());
        let tmp = models.join(format!(".{}.{}.tmp", info.version.id, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        std::fs::write(tmp.join(MANIFEST), manifest)?;
        std::fs::write(tmp.join(WEIGHTS), weights)?;
        std::fs::write(
            tmp.join(VERSION_FILE),
            serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?,
        )?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::rename(&tmp, &dir)?;
        Ok(CachedModel { dir, info })
    }
}
