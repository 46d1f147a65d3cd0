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
    /// Address of the Prometheus metrics listener (`GET /metrics`); `None`: no metrics.
    pub metrics_listen: Option<SocketAddr>,
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
    /// Timeouts, connection cap, CORS and trusted proxies of the HTTP listener.
    pub http: HttpSettings,
    /// Request rates per client address or token, by route class.
    pub rate_limits: RateLimitSettings,
    /// Player sessions, password hashing and login back-off.
    pub auth: AuthSettings,
    /// Thresholds of the contributor junk detection (marks for review only).
    pub contributors: crate::curation::contributors::ContributorSettings,
    /// The license and publisher of dataset releases.
    pub releases: crate::dataset::releases::ReleaseSettings,
    /// How players' prompts are chosen (`active` or `random`) and the policy's weights.
    pub prompts: inkset_model::active::PromptSettings,
}

/// The HTTP listener's edge protection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Longest a client may take to send a request's headers, seconds; the connection is
    /// closed after it (slow-header attacks). hyper counts it from the end of the previous
    /// answer, so it is also how long an idle keep-alive connection stays open: clients
    /// should not reuse a connection idle that long (`inkset-client` stops at 20 s).
    pub header_read_timeout_secs: u64,
    /// Longest a request may take, body read included, seconds; 408 after it.
    pub request_timeout_secs: u64,
    /// The same for the routes that move large bodies or streams: import, weights upload,
    /// job completion, the worker data stream and export downloads.
    pub streaming_timeout_secs: u64,
    /// Most open connections; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// After a shutdown signal, longest the server waits for requests in flight, seconds.
    pub shutdown_deadline_secs: u64,
    /// Origins a browser may call the API from (CORS). The default is Inkset Draw's own
    /// webview origins (Tauri 2: `tauri://localhost` on macOS and iOS,
    /// `http(s)://tauri.localhost` on Windows and Android). `"*"` allows any origin.
    pub cors_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` header is believed (reverse proxies, load balancers),
    /// as addresses or CIDR networks. Empty: the client address is the socket's peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 30,
            request_timeout_secs: 30,
            streaming_timeout_secs: 3_600,
            max_connections: 10_000,
            shutdown_deadline_secs: 30,
            cors_origins: vec![
                "tauri://localhost".into(),
                "http://tauri.localhost".into(),
                "https://tauri.localhost".into(),
            ],
            trusted_proxies: Vec::new(),
        }
    }
}

/// A token bucket: `per_minute` requests a minute on average, `burst` at once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per minute (at least 1).
    pub per_minute: u32,
    /// Requests allowed back to back before the sustained rate applies (at least 1).
    pub burst: u32,
}

/// Request rates by route class. A request is counted against its bearer token when it has
/// one, else against the client address. Past the rate: 429 with `Retry-After`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Apply the limits (default on).
    pub enabled: bool,
    /// `POST /api/sessions`, per address.
    pub sessions: Rate,
    /// `POST /api/auth/{login,signup,link}`, per address.
    pub auth: Rate,
    /// `POST /api/drawings` and `/api/drawings/batch`, per token.
    pub uploads: Rate,
    /// `/api/inference/*` and `/v2/*`, per token or address.
    pub inference: Rate,
    /// `/api/admin/*`, per token.
    pub admin: Rate,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            // A household or a classroom behind one address starts a few games a minute.
            sessions: Rate {
                per_minute: 30,
                burst: 20,
            },
            auth: Rate {
                per_minute: 10,
                burst: 10,
            },
            // A fast player finishes a drawing every 2 s; an outbox sync is one batch call.
            uploads: Rate {
                per_minute: 120,
                burst: 60,
            },
            inference: Rate {
                per_minute: 600,
                burst: 120,
            },
            admin: Rate {
                per_minute: 6_000,
                burst: 1_000,
            },
        }
    }
}

/// Player sessions, password hashing and login back-off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Lifetime of an anonymous player session token, seconds (default 365 days). A
    /// session in use is extended (sliding expiry), so this is the longest a player may
    /// stay away before the app starts a new session.
    pub session_ttl_secs: u64,
    /// Lifetime of a worker token created without one, days; `None`: no expiry.
    pub worker_token_ttl_days: Option<u64>,
    /// Password hashes (argon2id, 19 MiB each) computed at once; default: half the cores.
    pub hashing_concurrency: Option<usize>,
    /// Logins waiting for a hashing slot before new ones get 503.
    pub hashing_queue: usize,
    /// Failed logins for one username or from one address before back-off starts.
    pub free_failures: u32,
    /// Longest back-off after repeated failures, seconds (it doubles from 1 s per failure).
    pub max_backoff_secs: u64,
    /// How often expired and long-revoked tokens are deleted, seconds.
    pub purge_interval_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            session_ttl_secs: 365 * 86_400,
            worker_token_ttl_days: Some(90),
            hashing_concurrency: None,
            hashing_queue: 64,
            free_failures: 5,
            max_backoff_secs: 900,
            purge_interval_secs: 3_600,
        }
    }
}

/// Training jobs and the in-process trainer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingSettings {
    /// Run a trainer inside `serve` (the embedded default); `false` leaves jobs to
    /// `inkset-trainer work` on GPU hosts.
    pub in_process: bool,
    /// Backend of the in-process trainer: `cpu`, or `wgpu` in a server built with the
    /// `wgpu` feature (the release packages are; `scripts/run`'s build is not).
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
    /// Backend of the served model: `cpu`, or `wgpu` in a server built with the `wgpu`
    /// feature (the release packages are; `scripts/run`'s build is not).
    pub backend: inkset_model::backend::Backend,
    /// Largest micro-batch.
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch, microseconds.
    pub max_delay_us: u64,
    /// Longest a batch being formed waits for more when the server is busy (more requests
    /// pending, parsed and not yet answered, than the batch holds), microseconds; 0 turns it
    /// off. A lone request never waits; under load batches fill instead of each pass taking
    /// one or two rows. tokio's timer rounds the wait up to its next millisecond tick.
    pub busy_delay_us: u64,
    /// How often to look for a moved `production` alias (moved by another replica), ms;
    /// also how often the shape catalogue (shapes, distractor words) is reloaded.
    pub alias_poll_ms: u64,
    /// Batches computed at once (default: one per core).
    pub parallel_batches: Option<usize>,
    /// How the CPU engine computes the recognizer's convolutions: `auto` (the default:
    /// Winograd F(2x2, 3x3) on every layer but the first for batches of 8 rows or more per
    /// thread, im2col below), `winograd` or `im2col` (one matrix product per layer, 2.25x
    /// the multiply-adds). The same answers to float rounding. Ignored on `wgpu`.
    pub conv_algorithm: inkset_model::native::ConvAlgorithm,
    /// Requests waiting for the micro-batcher; past it callers wait up to `deadline_ms`.
    pub queue: usize,
    /// Longest a request waits for the batcher (or a generator slot) and its answer, ms;
    /// then 503 with `Retry-After`.
    pub deadline_ms: u64,
}

impl Default for InferenceSettings {
    fn default() -> Self {
        Self {
            require_token: false,
            backend: inkset_model::backend::Backend::Cpu,
            max_batch: 64,
            max_delay_us: 0,
            busy_delay_us: 200,
            alias_poll_ms: 2_000,
            parallel_batches: None,
            conv_algorithm: inkset_model::native::ConvAlgorithm::default(),
            queue: 4_096,
            deadline_ms: 10_000,
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
    /// Longest an upload waits for room in the queue, ms; then 503 with `Retry-After`.
    pub queue_wait_ms: u64,
    /// Seconds between passes of the orphaned-segment sweeper (segments written but never
    /// committed, [`crate::drawings::sweeper`]); 0: no sweeper.
    pub sweep_interval_secs: u64,
    /// Age in seconds before an unreferenced segment counts as orphaned. It must exceed the
    /// longest commit, on every replica sharing the store (commits take milliseconds).
    pub orphan_grace_secs: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_batch: 2_000,
            writers: None,
            queue: 20_000,
            queue_wait_ms: 5_000,
            sweep_interval_secs: 300,
            orphan_grace_secs: 900,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("inkset-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            database_url: None,
            object_store_url: None,
            s3: S3Settings::default(),
            token_ttl_secs: 12 * 3600,
            ingest: IngestSettings::default(),
            log_format: "text".into(),
            training: TrainingSettings::default(),
            inference: InferenceSettings::default(),
            http: HttpSettings::default(),
            rate_limits: RateLimitSettings::default(),
            auth: AuthSettings::default(),
            contributors: crate::curation::contributors::ContributorSettings::default(),
            releases: crate::dataset::releases::ReleaseSettings::default(),
            prompts: inkset_model::active::PromptSettings::default(),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("object_store_url", &self.object_store_url)
            .field("s3", &self.s3)
            .field("ingest", &self.ingest)
            .field("training", &self.training)
            .field("inference", &self.inference)
            .field("http", &self.http)
            .field("rate_limits", &self.rate_limits)
            .field("auth", &self.auth)
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
