//! Starting and stopping the server: open the stores, start the committers, serve HTTP
//! until told to stop, then drain the ingest queue.

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::router;
use crate::config::{Settings, redact_url};
use crate::db::Db;
use crate::drawings::ingest::{Committers, Ingest};
use crate::objects::Objects;
use crate::state::AppState;

/// Opens the SQL and object stores of `settings` and starts ingest.
///
/// # Errors
/// When a store cannot be opened or migrated.
pub async fn open(settings: &Settings) -> anyhow::Result<(AppState, Committers)> {
    let url = settings.database_url();
    let db = Db::connect(&url)
        .await
        .with_context(|| format!("opening database {}", redact_url(&url)))?;
    let objects = Objects::open(settings).context("opening object store")?;
    let (ingest, committers) = Ingest::start(db.clone(), objects.clone(), &settings.ingest);
    let interrupted = crate::dataset::exports::fail_interrupted(&db).await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "exports interrupted by the last stop marked failed"
        );
    }
    let state = AppState::new(db, objects, ingest, settings).await?;
    tracing::info!(
        database = %redact_url(&url),
        objects = state.objects.describe(),
        "stores open"
    );
    Ok((state, committers))
}

/// Serves the API on `listener` until `shutdown` completes, then stops the in-process
/// trainer (its running job is released to the queue), stops taking requests, finishes the
/// ones in flight and commits everything queued.
///
/// # Errors
/// When the stores cannot be opened or the listener fails.
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (state, committers) = open(&settings).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "inkset-server listening");
    state.inference.watch(
        state.db.clone(),
        state.objects.clone(),
        std::time::Duration::from_millis(settings.inference.alias_poll_ms.max(100)),
    );
    state.generation.watch(
        state.db.clone(),
        state.objects.clone(),
        std::time::Duration::from_millis(settings.inference.alias_poll_ms.max(100)),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_rx_purge = stop_rx.clone();
    state.watch_shapes(
        std::time::Duration::from_millis(settings.inference.alias_poll_ms.max(100)),
        stop_rx.clone(),
    );
    crate::curation::quality::spawn(
        state.db.clone(),
        state.objects.clone(),
        state.inference.clone(),
        state.quality_wake.clone(),
        stop_rx,
    );
    let (trainer_stop_tx, trainer_stop_rx) = tokio::sync::watch::channel(false);
    let trainer = if settings.training.in_process {
        Some(start_in_process_trainer(&state, addr, &settings, trainer_stop_rx).await?)
    } else {
        None
    };
    let (trainer_handle, trainer_token) = trainer.unzip();
    if let Some(addr) = settings.metrics_listen
        && let Some(handle) = crate::observe::recorder()
        && let Err(e) = crate::observe::serve(addr, handle, stop_rx_purge.clone()).await
    {
        // Another server on this host may hold the port: the API still serves.
        tracing::warn!(%addr, error = %e, "metrics listener not started");
    }
    if settings.ingest.sweep_interval_secs > 0 {
        crate::drawings::sweeper::spawn(
            state.db.clone(),
            state.objects.clone(),
            std::time::Duration::from_secs(settings.ingest.sweep_interval_secs),
            std::time::Duration::from_secs(settings.ingest.orphan_grace_secs),
            stop_rx_purge.clone(),
        );
    }
    crate::curation::tallies::spawn_folder(
        state.db.clone(),
        std::time::Duration::from_secs(1),
        stop_rx_purge.clone(),
    );
    state.rate_limits.spawn_purge();
    crate::players::handlers::spawn_purge(&state, stop_rx_purge);
    let http = settings.http.clone();
    crate::edge::listener::serve(listener, router(state.clone()), &http, async move {
        shutdown.await;
        // The trainer stops first, while this server still answers: it stops training at
        // the next step and releases its job over loopback, so the job is queued again
        // instead of waiting out its lease.
        let _ = trainer_stop_tx.send(true);
        if let Some(handle) = trainer_handle {
            let _ = handle.await;
        }
        let _ = stop_tx.send(true);
    })
    .await?;
    if let Some(token_id) = trainer_token {
        let _ = state.db.revoke_worker_token(&token_id).await;
    }
    drop(state);
    // The router (and with it every Ingest handle) is gone: committers drain and stop.
    committers.join().await;
    tracing::info!("inkset-server stopped");
    Ok(())
}

/// Starts the trainer in this process: a worker token of its own (revoked at shutdown) and
/// the same worker loop `inkset-trainer work` runs, talking to this server over loopback.
async fn start_in_process_trainer(
    state: &AppState,
    addr: std::net::SocketAddr,
    settings: &Settings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, String)> {
    let name = format!("in-process-{}", std::process::id());
    // Revoked at shutdown; the expiry covers a crash.
    let token = state
        .db
        .create_worker_token(
            &name,
            crate::training::handlers::worker_token_expiry(Some(7)),
        )
        .await?;
    let host = if addr.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let options = inkset_worker::WorkerOptions {
        server: format!("http://{host}"),
        token: token.token.clone().unwrap_or_default(),
        name: name.clone(),
        backend: settings.training.backend,
        poll: std::time::Duration::from_millis(500),
        max_jobs: None,
    };
    tracing::info!(backend = ?settings.training.backend, "in-process trainer started");
    let handle = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = inkset_worker::run(options, stopped).await {
            tracing::error!(error = format!("{e:#}"), "in-process trainer stopped");
        }
    });
    Ok((handle, token.id.to_string()))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
