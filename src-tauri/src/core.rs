//! The game's state behind the commands: the store, the syncer, the guesser, cached shapes
//! and progress. Free of Tauri so it can be driven directly too.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use inkset_protocol::api::{LoginRequest, ShapeInfo, UserStats};
use inkset_protocol::reduce::fit_to_limits;
use inkset_protocol::validate::validate;
use inkset_protocol::{Drawing, Limits, Origin, Stroke};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::guess::{Guesser, LiveGuess, ModelSummary};
use crate::store::{OutboxEntry, Store, StoreError};
use crate::sync::{SESSION_ID, SESSION_TOKEN, SyncConfig, SyncStatus, Syncer, now_ms};
use inkset_client::{Client, ClientError};

/// Rounds in one game (as in Quick, Draw!).
pub const ROUNDS_PER_GAME: u32 = 6;

const SHAPES: &str = "shapes";
const STATS: &str = "stats";
const USERNAME: &str = "username";
const ACCOUNT_TOKEN: &str = "account_token";
const ONBOARDED: &str = "onboarded";

/// An error answered to the UI: a stable code, a message, and the field at fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// Stable machine code, e.g. `invalid`, `offline`, `conflict`.
    pub code: String,
    /// What went wrong, for the player.
    pub message: String,
    /// The field at fault, e.g. `username` or `strokes[0].points[3].x`.
    pub field: Option<String>,
}

impl CommandError {
    fn new(code: &str, message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            field,
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        Self::new("storage", e.to_string(), None)
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Transport { .. } => Self::new(
                "offline",
                format!("the server cannot be reached ({e})"),
                None,
            ),
            ClientError::Url(_) => Self::new("invalid", e.to_string(), Some("server_url".into())),
            ClientError::Status {
                status,
                message,
                field,
                ..
            } => Self::new(
                match status {
                    401 => "unauthorized",
                    409 => "conflict",
                    400 | 422 => "invalid",
                    _ => "server",
                },
                message,
                field,
            ),
            ClientError::Decode { message, .. } => Self::new("server", message, None),
            other => Self::new("storage", other.to_string(), None),
        }
    }
}

/// Everything the UI needs at start (command `bootstrap`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Prompt shapes (server list, cached; built-in defaults before the first contact).
    pub shapes: Vec<ShapeInfo>,
    /// Rounds per game.
    pub rounds_per_game: u32,
    /// Whether the first-run instructions were dismissed.
    pub onboarded: bool,
    /// The signed-in account, if any.
    pub username: Option<String>,
    /// Sync state.
    pub sync: SyncStatus,
    /// The cached recognizer, if any.
    pub model: Option<ModelSummary>,
    /// The server's base URL.
    pub server_url: String,
    /// The threshold of the recognised verdict.
    pub recognized_at: f32,
}

/// Answer of command `submit_drawing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitReceipt {
    /// The drawing's id.
    pub id: Uuid,
    /// Drawings waiting to be uploaded, this one included.
    pub pending: u64,
}

/// Answer of command `progress`: the server's view when reachable, else the last one
/// cached plus what this device made since.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    /// The server's stats (fresh, or cached when `offline`).
    pub stats: Option<UserStats>,
    /// Whether the server could not be asked just now.
    pub offline: bool,
    /// Drawings made on this device per shape (synced or not).
    pub on_device: BTreeMap<String, u64>,
    /// Drawings not synced yet.
    pub pending: u64,
}

/// The game's state.
pub struct Core {
    store: Arc<Store>,
    syncer: Arc<Syncer>,
    guesser: Guesser,
    /// Prompts the server dealt and the game has not asked yet (the rest of a cycle).
    prompts: tokio::sync::Mutex<std::collections::VecDeque<String>>,
}

fn default_shapes() -> Vec<ShapeInfo> {
    [
        ("line", "Line"),
        ("heart", "Heart"),
        ("circle", "Circle"),
        ("square", "Square"),
        ("triangle", "Triangle"),
    ]
    .into_iter()
    .map(|(n, d)| ShapeInfo {
        name: n.into(),
        display_name: d.into(),
        round_seconds: 20,
        enabled: true,
    })
    .collect()
}

impl Core {
    /// Opens the game's state under `data_dir` (`draw.sqlite`, `models/`) for the server at
    /// `server_url`.
    ///
    /// # Errors
    /// [`CommandError`] when the store cannot be opened or the URL is unusable.
    pub fn open(data_dir: &Path, server_url: &str, sync: SyncConfig) -> Result<Self, CommandError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            CommandError::new("storage", format!("{}: {e}", data_dir.display()), None)
        })?;
        let store = Arc::new(Store::open(&data_dir.join("draw.sqlite"))?);
        let client = Client::builder(server_url)
            .timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("inkset-draw/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let syncer = Arc::new(Syncer::new(store.clone(), client, sync));
        Ok(Self {
            store,
            syncer,
            guesser: Guesser::new(data_dir.join("models")),
            prompts: tokio::sync::Mutex::default(),
        })
    }

    /// The syncer (its loop is started by the app).
    pub fn syncer(&self) -> &Arc<Syncer> {
        &self.syncer
    }

    /// The local store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn shapes(&self) -> Vec<ShapeInfo> {
        self.store
            .get_json::<Vec<ShapeInfo>>(SHAPES)
            .ok()
            .flatten()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(default_shapes)
    }

    /// The start-up state.
    ///
    /// # Errors
    /// [`CommandError`] when the store fails.
    pub fn bootstrap(&self) -> Result<Bootstrap, CommandError> {
        let mut sync = self.syncer.status().borrow().clone();
        sync.counts = self.store.counts()?;
        Ok(Bootstrap {
            shapes: self.shapes().into_iter().filter(|s| s.enabled).collect(),
            rounds_per_game: ROUNDS_PER_GAME,
            onboarded: self.store.get(ONBOARDED)?.is_some(),
            username: self.store.get(USERNAME)?,
            sync,
            model: self.guesser.model(),
            server_url: self.syncer.client().base_url().to_owned(),
            recognized_at: crate::guess::RECOGNIZED_AT,
        })
    }

    /// Remembers that the first-run instructions were read.
    ///
    /// # Errors
    /// [`CommandError`] when the store fails.
    pub fn finish_onboarding(&self) -> Result<(), CommandError> {
        Ok(self.store.set(ONBOARDED, Some("1"))?)
    }

    /// Refreshes what is cached for offline play: the shape list and the recognizer.
    /// Failures are logged; the cached copies stay.
    pub async fn refresh_cache(&self) -> Option<ModelSummary> {
        let client = self.syncer.client();
        match client.shapes().await {
            Ok(shapes) if !shapes.is_empty() => {
                if let Err(e) = self.store.set_json(SHAPES, &shapes) {
                    tracing::warn!(error = %e, "shape list not cached");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::info!(error = %e, "shape list not refreshed"),
        }
        match self.guesser.refresh(client).await {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(error = %e, "recognizer not refreshed");
                self.guesser.model()
            }
        }
    }

    /// Validates a finished drawing as the server will, writes it to the outbox (before
    /// anything else) and wakes the sync.
    ///
    /// # Errors
    /// [`CommandError`] `invalid` naming the field, or `storage`.
    pub fn submit(&self, mut drawing: Drawing) -> Result<SubmitReceipt, CommandError> {
        // The server binds the drawing to the uploading session.
        drawing.session_id = None;
        // A very detailed drawing (a 1,000 Hz mouse) is reduced to the upload limits here,
        // before it is stored, so it reaches the dataset (inkset_protocol::reduce).
        let reduction = fit_to_limits(&mut drawing, &Limits::DEFAULT);
        if reduction.changed() {
            tracing::info!(
                id = %drawing.id,
                before = reduction.points_before,
                after = reduction.points_after,
                repeats = reduction.duplicates_dropped,
                epsilon = ?reduction.epsilon,
                decimated = reduction.decimated,
                "drawing reduced to the upload limits"
            );
        }
        let shapes = self.shapes();
        validate(&drawing, Origin::Api, &Limits::DEFAULT, |s| {
            shapes.iter().any(|k| k.name == s)
        })
        .map_err(|e| CommandError::new("invalid", e.message, Some(e.field)))?;
        self.store
            .enqueue(&drawing, now_ms())
            .map_err(|e| match e {
                StoreError::Conflict(id) => CommandError::new(
                    "conflict",
                    format!("drawing {id} was already saved with other content"),
                    Some("id".into()),
                ),
                other => other.into(),
            })?;
        self.syncer.wake();
        Ok(SubmitReceipt {
            id: drawing.id,
            pending: self.store.counts()?.pending,
        })
    }

    /// The outbox rows of `ids` (the end-of-game summary shows each drawing's sync state).
    ///
    /// # Errors
    /// [`CommandError`] `storage`.
    pub fn entries(&self, ids: &[Uuid]) -> Result<Vec<OutboxEntry>, CommandError> {
        Ok(self.store.entries(ids)?)
    }

    /// A live guess for the strokes so far (`None` without a cached model or before there
    /// is more than a tap).
    pub fn guess(&self, shape: &str, strokes: &[Stroke], final_round: bool) -> Option<LiveGuess> {
        self.guesser.guess(shape, strokes, final_round)
    }

    /// Syncs now and answers the status after the round.
    pub async fn sync_now(&self) -> SyncStatus {
        if let Err(e) = self.syncer.sync_round().await {
            tracing::info!(error = %e, "sync now failed");
        }
        self.syncer.wake();
        let mut s = self.syncer.status().borrow().clone();
        if let Ok(c) = self.store.counts() {
            s.counts = c;
        }
        s
    }

    /// The next `count` prompts, as the server's prompt policy chose them for this player
    /// (`GET /api/prompts`), kept to the shapes cached on the device. Whole cycles are asked
    /// (every shape at least once each) and what a game leaves is kept for the next, so a
    /// player sees every shape. `None` when the server cannot be reached and too few are
    /// left (the game then rotates through the cached shapes itself).
    pub async fn prompts(&self, count: usize) -> Option<Vec<String>> {
        let known: Vec<String> = self
            .shapes()
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| s.name)
            .collect();
        let mut queue = self.prompts.lock().await;
        queue.retain(|p| known.contains(p));
        while queue.len() < count {
            let token = match self.syncer.session_token().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(error = %e, "prompts: no session, local rotation");
                    return None;
                }
            };
            match self.syncer.client().with_token(&token).prompts(None).await {
                Ok(deal) => {
                    let before = queue.len();
                    queue.extend(deal.prompts.into_iter().filter(|p| known.contains(p)));
                    if queue.len() == before {
                        return None;
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "prompts from the server failed, local rotation");
                    return None;
                }
            }
        }
        Some(queue.drain(..count).collect())
    }

    /// The player's progress (see [`Progress`]).
    ///
    /// # Errors
    /// [`CommandError`] `storage`.
    pub async fn progress(&self, utc_offset_min: i32) -> Result<Progress, CommandError> {
        let fresh = async {
            let token = self.syncer.session_token().await.map_err(|e| match e {
                crate::sync::SyncError::Client(c) => c,
                crate::sync::SyncError::Store(s) => ClientError::Decode {
                    url: String::new(),
                    message: s.to_string(),
                },
            })?;
            self.syncer
                .client()
                .with_token(&token)
                .user_stats(utc_offset_min)
                .await
        };
        let (stats, offline) = match fresh.await {
            Ok(s) => {
                self.store.set_json(STATS, &s)?;
                (Some(s), false)
            }
            Err(e) => {
                tracing::info!(error = %e, "progress from cache");
                (self.store.get_json::<UserStats>(STATS)?, true)
            }
        };
        Ok(Progress {
            stats,
            offline,
            on_device: self.store.local_counts()?.into_iter().collect(),
            pending: self.store.counts()?.pending,
        })
    }

    /// Signs up (`link == false`) or signs in (`link == true`) with a username and password,
    /// linking this device's session to the account.
    ///
    /// # Errors
    /// [`CommandError`]: `invalid`/`conflict` naming `username` or `password`,
    /// `unauthorized` for a wrong password, `offline`.
    pub async fn account(
        &self,
        username: String,
        password: String,
        link: bool,
    ) -> Result<String, CommandError> {
        let token = self.syncer.session_token().await.map_err(|e| match e {
            crate::sync::SyncError::Client(c) => CommandError::from(c),
            crate::sync::SyncError::Store(s) => CommandError::from(s),
        })?;
        let account = self
            .syncer
            .client()
            .with_token(&token)
            .account(&LoginRequest { username, password }, link)
            .await?;
        self.store.set(USERNAME, Some(&account.username))?;
        self.store.set(ACCOUNT_TOKEN, Some(&account.token))?;
        self.store.set(STATS, None)?;
        Ok(account.username)
    }

    /// Signs out: this device starts a new anonymous session (created at the next sync);
    /// drawings already made stay with the account.
    ///
    /// # Errors
    /// [`CommandError`] `storage`; `pending` while unsynced drawings would change owner.
    pub async fn sign_out(&self) -> Result<(), CommandError> {
        let _ = self.syncer.sync_round().await;
        if self.store.counts()?.pending > 0 {
            return Err(CommandError::new(
                "pending",
                "some drawings are not synced yet; sign out once they are",
                None,
            ));
        }
        for key in [USERNAME, ACCOUNT_TOKEN, SESSION_TOKEN, SESSION_ID, STATS] {
            self.store.set(key, None)?;
        }
        Ok(())
    }
}
