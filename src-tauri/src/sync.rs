//! The background sync of the outbox: batches, exponential backoff with jitter, exactly-once
//! delivery.
//!
//! Exactly once comes from the pair "client UUID + idempotent server": a drawing's id is
//! made on the device, and `POST /api/drawings/batch` answers 201 with the original
//! `received_at` when the same id and content arrive again. So when an answer is lost after
//! the server committed (a dropped connection, a killed app), the drawing stays `pending`,
//! is sent again, and the server still holds it once. A drawing leaves `pending` only on
//! the server's word: 201 (`synced`) or a final refusal (`rejected`, kept with the reason).

use std::sync::Arc;
use std::time::Duration;

use inkset_protocol::api::BatchUpload;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::store::{OutboxCounts, Store, StoreError};
use inkset_client::{Client, ClientError};

/// Setting key: the anonymous session's bearer token.
pub const SESSION_TOKEN: &str = "session_token";
/// Setting key: the anonymous session's id.
pub const SESSION_ID: &str = "session_id";

/// Sync timing and sizes.
#[derive(Debug, Clone, Copy)]
pub struct SyncConfig {
    /// Most drawings per `POST /api/drawings/batch`.
    pub batch_size: usize,
    /// Most bytes of JSON per batch body. The server refuses a larger body as a whole
    /// (413; `Limits::max_batch_body_bytes`, 16 MiB by default), so a batch is cut to fit,
    /// and a batch that is refused as too large anyway (a server with a lower limit) is
    /// halved until it fits; a single drawing that no server limit admits is marked
    /// rejected, so no upload can jam the outbox.
    pub batch_bytes: usize,
    /// Delay after the first failure; doubles with each further one.
    pub base_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
    /// How often an idle sync looks at the outbox without being woken.
    pub idle_poll: Duration,
    /// The device clock, ms since the Unix epoch ([`now_ms`]); sent as `sent_at` so the
    /// server can correct drawing times for a wrong device clock.
    pub clock: fn() -> i64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            batch_size: 25,
            batch_bytes: inkset_protocol::Limits::DEFAULT.max_batch_body_bytes,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            idle_poll: Duration::from_secs(30),
            clock: now_ms,
        }
    }
}

/// What the UI shows about syncing (event `sync://status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Outbox counts.
    #[serde(flatten)]
    pub counts: OutboxCounts,
    /// Whether the last attempt reached the server.
    pub online: bool,
    /// Whether an upload is in flight.
    pub syncing: bool,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// When the next attempt is due after a failure, ms from now.
    pub retry_in_ms: Option<u64>,
    /// Consecutive failed attempts.
    pub failures: u32,
}

/// Why one sync round stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server could not be reached or answered with a retryable error.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outbox's uploader. One runs per app; [`Syncer::run`] is its background loop.
pub struct Syncer {
    store: Arc<Store>,
    client: Client,
    config: SyncConfig,
    wake: Notify,
    status: watch::Sender<SyncStatus>,
    /// Serialises rounds so "sync now" and the loop never upload the same rows at once.
    round: tokio::sync::Mutex<()>,
    /// Drawings per batch now: halved when a batch is refused as too large (413) or lost in
    /// transit, doubled back towards `batch_size` after each delivered batch.
    cap: std::sync::atomic::AtomicUsize,
}

/// Bytes the batch envelope adds around its drawings (`{"drawings":[...],"sent_at":N}`
/// with commas), rounded up.
const ENVELOPE_BYTES: usize = 64;

/// Cuts `batch` (oldest first) to the longest prefix whose JSON body fits in `max_bytes`;
/// the first drawing always stays (the server judges it alone).
fn fit_bytes(batch: &mut Vec<inkset_protocol::Drawing>, max_bytes: usize) {
    let mut total = ENVELOPE_BYTES;
    let mut keep = 0;
    for d in batch.iter() {
        let size = serde_json::to_vec(d).map_or(usize::MAX, |v| v.len() + 1);
        if keep > 0 && total.saturating_add(size) > max_bytes {
            break;
        }
        total = total.saturating_add(size);
        keep += 1;
    }
    batch.truncate(keep.max(1));
}

/// Time now, ms since the Unix epoch (device clock).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Syncer {
    /// A syncer for `store` talking to `client`.
    pub fn new(store: Arc<Store>, client: Client, config: SyncConfig) -> Self {
        let counts = store.counts().unwrap_or_default();
        Self {
            store,
            client,
            config,
            wake: Notify::new(),
            status: watch::channel(SyncStatus {
                counts,
                ..SyncStatus::default()
            })
            .0,
            round: tokio::sync::Mutex::new(()),
            cap: std::sync::atomic::AtomicUsize::new(config.batch_size.max(1)),
        }
    }

    /// The server client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Current status; subscribe for changes.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    /// Asks the loop to sync now (a drawing was queued, or the player pressed retry).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn publish(&self, f: impl FnOnce(&mut SyncStatus)) {
        let counts = self.store.counts().ok();
        self.status.send_modify(|s| {
            if let Some(c) = counts {
                s.counts = c;
            }
            f(s);
        });
    }

    /// The session token, creating an anonymous session on first use.
    ///
    /// # Errors
    /// [`SyncError`] when the server cannot be reached to create it.
    pub async fn session_token(&self) -> Result<String, SyncError> {
        if let Some(t) = self.store.get(SESSION_TOKEN)? {
            return Ok(t);
        }
        let created = self.client.create_session().await?;
        self.store
            .set(SESSION_ID, Some(&created.session_id.to_string()))?;
        self.store.set(SESSION_TOKEN, Some(&created.token))?;
        tracing::info!(session = %created.session_id, "anonymous session created");
        Ok(created.token)
    }

    /// Uploads every pending drawing, batch by batch. Returns how many were stored.
    ///
    /// # Errors
    /// [`SyncError`] at the first batch that could not be delivered; what was stored
    /// before it stays stored.
    pub async fn sync_round(&self) -> Result<usize, SyncError> {
        let _one = self.round.lock().await;
        let mut stored = 0;
        let mut reauthenticated = false;
        loop {
            let cap = self.cap.load(std::sync::atomic::Ordering::Relaxed).max(1);
            let mut batch = self.store.pending(cap)?;
            if batch.is_empty() {
                return Ok(stored);
            }
            fit_bytes(&mut batch, self.config.batch_bytes);
            let token = self.session_token().await?;
            let ids: Vec<Uuid> = batch.iter().map(|d| d.id).collect();
            self.publish(|s| s.syncing = true);
            let upload = BatchUpload {
                drawings: batch,
                sent_at: Some((self.config.clock)()),
            };
            let result = match self.client.with_token(&token).upload_batch(&upload).await {
                Ok(r) => r,
                Err(e) if e.is_unauthorized() && !reauthenticated => {
                    // The server forgot the session (a reset database): start a new one.
                    tracing::warn!("session token refused; creating a new session");
                    self.store.set(SESSION_TOKEN, None)?;
                    reauthenticated = true;
                    continue;
                }
                Err(e) if e.status() == Some(413) && ids.len() > 1 => {
                    let half = ids.len() / 2;
                    self.cap.store(half, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        drawings = ids.len(),
                        half,
                        "batch too large for the server; splitting it"
                    );
                    continue;
                }
                Err(e) if e.status() == Some(413) => {
                    let why = format!("413: too large for the server even alone: {}", e.message());
                    tracing::warn!(id = %ids[0], %why, "server refused a drawing");
                    self.store.mark_rejected(ids[0], &why)?;
                    continue;
                }
                Err(e) => {
                    // A server that closes the connection on a body over its limit reads as a
                    // transport error: smaller batches next time, as after a 413.
                    if e.is_transport() && ids.len() > 1 {
                        self.cap
                            .store(ids.len() / 2, std::sync::atomic::Ordering::Relaxed);
                    }
                    self.store.record_failure(&ids, &e.to_string())?;
                    return Err(e.into());
                }
            };
            let grown = (ids.len() * 2).min(self.config.batch_size.max(1));
            self.cap
                .fetch_max(grown, std::sync::atomic::Ordering::Relaxed);
            let mut done = Vec::new();
            let mut retry_later = Vec::new();
            // Results come in the order of the batch; a result without an id is the
            // drawing at its position.
            if result.results.len() != ids.len() {
                tracing::warn!(
                    sent = ids.len(),
                    answered = result.results.len(),
                    "batch answer does not match the batch"
                );
            }
            for (sent, item) in ids.iter().zip(result.results) {
                let id = item.id.unwrap_or(*sent);
                match (item.status, item.received_at) {
                    (201, Some(at)) => done.push((id, at)),
                    (s, _) if s == 408 || s == 429 || s >= 500 => retry_later.push(id),
                    (s, _) => {
                        let why = item.error.map_or_else(
                            || format!("refused with status {s}"),
                            |e| match e.field {
                                Some(f) => format!("{s} {f}: {}", e.message),
                                None => format!("{s}: {}", e.message),
                            },
                        );
                        tracing::warn!(%id, %why, "server refused a drawing");
                        self.store.mark_rejected(id, &why)?;
                    }
                }
            }
            stored += done.len();
            self.store.mark_synced(&done)?;
            if !retry_later.is_empty() {
                let e = ClientError::Status {
                    url: self.client.url("/api/drawings/batch"),
                    status: 503,
                    code: None,
                    message: format!("{} drawings not stored yet", retry_later.len()),
                    field: None,
                    retry_after_secs: None,
                };
                self.store.record_failure(&retry_later, &e.to_string())?;
                return Err(e.into());
            }
            self.publish(|s| {
                s.online = true;
                s.last_error = None;
            });
        }
    }

    /// The delay before attempt `failures + 1`: exponential from `base_backoff`, capped,
    /// with "equal jitter" (half fixed, half random) so many devices coming back online at
    /// once do not retry in lockstep.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let capped = exp.min(self.config.max_backoff);
        let half = capped / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    /// The background loop: syncs when woken, on a timer, and after failures with backoff,
    /// until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            let outcome = self.sync_round().await;
            let delay = match outcome {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(stored = n, "outbox synced");
                    }
                    failures = 0;
                    self.publish(|s| {
                        s.syncing = false;
                        s.online = true;
                        s.last_error = None;
                        s.retry_in_ms = None;
                        s.failures = 0;
                    });
                    self.config.idle_poll
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = self.backoff(failures);
                    tracing::info!(error = %e, failures, retry_in = ?delay, "sync failed");
                    let online = matches!(&e, SyncError::Client(ClientError::Status { .. }));
                    self.publish(|s| {
                        s.syncing = false;
                        s.online = online;
                        s.last_error = Some(e.to_string());
                        s.retry_in_ms = u64::try_from(delay.as_millis()).ok();
                        s.failures = failures;
                    });
                    delay
                }
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
