//! The Tauri commands the web UI invokes (`invoke("submit_drawing", {drawing})`, ...).
//! Each is a thin wrapper over [`Core`]; errors reach the UI as
//! `{code, message, field}` ([`CommandError`]).

use std::sync::Arc;

use inkset_protocol::{Drawing, Stroke};
use tauri::State;
use uuid::Uuid;

use crate::core::{Bootstrap, CommandError, Core, Progress, SubmitReceipt};
use crate::guess::LiveGuess;
use crate::store::OutboxEntry;
use crate::sync::SyncStatus;

/// Start-up state: shapes, rounds, account, sync status, cached model.
#[tauri::command]
pub fn bootstrap(core: State<'_, Arc<Core>>) -> Result<Bootstrap, CommandError> {
    core.bootstrap()
}

/// Dismisses the first-run instructions for good.
#[tauri::command]
pub fn finish_onboarding(core: State<'_, Arc<Core>>) -> Result<(), CommandError> {
    core.finish_onboarding()
}

/// Saves a finished drawing to the outbox and wakes the sync.
#[tauri::command]
pub fn submit_drawing(
    core: State<'_, Arc<Core>>,
    drawing: Drawing,
) -> Result<SubmitReceipt, CommandError> {
    core.submit(drawing)
}

/// The live guess for the strokes drawn so far for prompt `shape`; `finalRound` when the
/// round is over.
#[tauri::command]
pub async fn guess(
    core: State<'_, Arc<Core>>,
    shape: String,
    strokes: Vec<Stroke>,
    final_round: bool,
) -> Result<Option<LiveGuess>, CommandError> {
    let core = core.inner().clone();
    // Inference is CPU work: keep it off the async workers.
    tauri::async_runtime::spawn_blocking(move || core.guess(&shape, &strokes, final_round))
        .await
        .map_err(|e| CommandError {
            code: "internal".into(),
            message: e.to_string(),
            field: None,
        })
}

/// The next `count` prompts from the server's policy; `None` when offline (the UI rotates
/// through the cached shapes instead).
#[tauri::command]
pub async fn prompts(
    core: State<'_, Arc<Core>>,
    count: usize,
) -> Result<Option<Vec<String>>, CommandError> {
    Ok(core.prompts(count).await)
}

/// The outbox rows of these drawings (end-of-game summary).
#[tauri::command]
pub fn drawing_states(
    core: State<'_, Arc<Core>>,
    ids: Vec<Uuid>,
) -> Result<Vec<OutboxEntry>, CommandError> {
    core.entries(&ids)
}

/// Syncs now; answers the status afterwards.
#[tauri::command]
pub async fn sync_now(core: State<'_, Arc<Core>>) -> Result<SyncStatus, CommandError> {
    Ok(core.sync_now().await)
}

/// The player's progress: counts, streaks, achievements (cached when offline).
#[tauri::command]
pub async fn progress(
    core: State<'_, Arc<Core>>,
    utc_offset_min: i32,
) -> Result<Progress, CommandError> {
    core.progress(utc_offset_min).await
}

/// Creates an account and links this device to it.
#[tauri::command]
pub async fn sign_up(
    core: State<'_, Arc<Core>>,
    username: String,
    password: String,
) -> Result<String, CommandError> {
    core.account(username, password, false).await
}

/// Signs in to an existing account on this device.
#[tauri::command]
pub async fn sign_in(
    core: State<'_, Arc<Core>>,
    username: String,
    password: String,
) -> Result<String, CommandError> {
    core.account(username, password, true).await
}

/// Signs out (a new anonymous session from now on).
#[tauri::command]
pub async fn sign_out(core: State<'_, Arc<Core>>) -> Result<(), CommandError> {
    core.sign_out().await
}

/// Refreshes the cached shape list and recognizer; answers the bootstrap state.
#[tauri::command]
pub async fn refresh(core: State<'_, Arc<Core>>) -> Result<Bootstrap, CommandError> {
    core.refresh_cache().await;
    core.bootstrap()
}
