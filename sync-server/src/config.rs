//! Settings, layered with figment: built-in defaults, then a TOML file (`--config FILE` or
//! `INKSET_CONFIG`), then `INKSET_*` environment variables (`__` separates nested keys,
//! e.g. `INKSET_S3__ENDPOINT`), then command-line flags, which win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// All server settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Directory for the embedded defaults: `inkset.sqlite3` and `objects/`.
    pub data_dir: PathBuf,
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://...`; default: `sqlite://DATA_DIR/inkset.sqlite3`.
    pub database_url: Option<String>,
    /// `file:///PATH` or `s3://bucket/prefix`; default: `DATA_DIR/objects`.
    pub object_store_url: Option<String>,
    /// S3 connection settings (also read from the usual `AWS_*` variables).
    pub s3: S3Settings,
    /// Lifetime of admin login tokens, seconds.
    pub token_ttl_secs: u64,
    /// Group commit tuning.
    pub ingest: IngestSettings,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Training jobs and the in-process trainer.
    pub training: TrainingSettings,
    /// The inference API.
    pub inference: InferenceSettings,
}

/// Training jobs and the in-process trainer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingSettings {
    /// Run a trainer inside `serve` (the embedded default); `false` leaves jobs to
    /// `inkset-trainer work` on GPU hosts.
    pub in_process: bool,
    /// Backend of the in-process trainer: `cpu` or `wgpu`.
    pub backend: inkset_model::backend::Backend,
    /// Lease length of a claimed job, seconds; a trainer that misses heartbeats this long
    /// loses the job to the next claim.
    pub lease_secs: u64,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        Self {
            in_process: true,
            backend: inkset_model::backend::Backend::Cpu,
            lease_secs: 30,
        }
    }
}

/// The inference API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InferenceSettings {
    /// Require a bearer token (an admin login or a player session) on `/api/inference/*`
    /// and `/v2/*`; default open.
    pub require_token: bool,
    /// Backend of the served model: `cpu` or `wgpu`.
    pub backend: inkset_model::backend::Backend,
    /// Largest micro-batch.
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch, microseconds.
    pub max_delay_us: u64,
    /// How often to look for a moved `production` alias (moved by another replica), ms.
    pub alias_poll_ms: u64,
    /// Batches computed at once (default: one per core).
    pub parallel_batches: Option<usize>,
}

impl Default for InferenceSettings {
    fn default() -> Self {
        Self {
            require_token: false,
            backend: inkset_model::backend::Backend::Cpu,
            max_batch: 64,
            max_delay_us: 0,
            alias_poll_ms: 2_000,
            parallel_batches: None,
        }
    }
}

/// Connection settings of an S3-compatible store.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    /// Endpoint URL for non-AWS stores, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Allow plain HTTP endpoints.
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Group commit tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestSettings {
    /// Most drawings committed in one transaction and one segment object.
    pub max_batch: usize,
    /// Concurrent committers: 1 for SQLite (one writer anyway), more for PostgreSQL.
    pub writers: Option<usize>,
    /// Submissions waiting for a committer before new ones wait for room.
    pub queue: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_batch: 2_000,
            writers: None,
            queue: 20_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("inkset-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            object_store_url: None,
            s3: S3Settings::default(),
            token_ttl_secs: 12 * 3600,
            ingest: IngestSettings::default(),
            log_format: "text".into(),
            training: TrainingSettings::default(),
            inference: InferenceSettings::default(),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("object_store_url", &self.object_store_url)
            .field("s3", &self.s3)
            .field("ingest", &self.ingest)
            .field("training", &self.training)
            .field("inference", &self.inference)
            .finish_non_exhaustive()
    }
}

/// Hides the password of a URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Loads settings from the layers; `overrides` are the flags given on the command line.
    ///
    /// # Errors
    /// When the file cannot be read or a value has the wrong type (figment names the key).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Self::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("INKSET_CONFIG").map(PathBuf::from));
        if let Some(file) = file {
            fig = fig.merge(Toml::file_exact(file));
        }
        fig = fig
            .merge(Env::prefixed("INKSET_").ignore(&["config"]).split("__"))
            .merge(Serialized::defaults(overrides));
        fig.extract().map_err(Box::new)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join("inkset.sqlite3").display()
            )
        })
    }
}

/// Command-line values that override the other layers (absent ones are left out).
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--object-store-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_store_url: Option<String>,
    /// `--no-trainer` (as `training.in_process = false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns figment::Error
    fn flags_beat_environment_beat_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "inkset.toml",
                "listen = \"127.0.0.1:9000\"\ndata_dir = \"from-file\"\n\
                 [s3]\nendpoint = \"http://from-file\"\n[ingest]\nmax_batch = 7\n",
            )?;
            jail.set_env("INKSET_DATA_DIR", "from-env");
            jail.set_env("INKSET_S3__REGION", "eu-west-1");
            let flags = Overrides {
                listen: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
                ..Overrides::default()
            };
            let s = Settings::load(Some(Path::new("inkset.toml")), &flags).map_err(|e| *e)?;
            assert_eq!(s.listen.port(), 9100);
            assert_eq!(s.data_dir, PathBuf::from("from-env"));
            assert_eq!(s.s3.endpoint.as_deref(), Some("http://from-file"));
            assert_eq!(s.s3.region.as_deref(), Some("eu-west-1"));
            assert_eq!(s.ingest.max_batch, 7);
            assert_eq!(s.database_url(), "sqlite://from-env/inkset.sqlite3");

            jail.create_file("bad.toml", "listen = 12\n")?;
            let err = Settings::load(Some(Path::new("bad.toml")), &Overrides::default())
                .expect_err("a number is no address");
            assert!(err.to_string().contains("listen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://me:secret@db:5432/x"),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
