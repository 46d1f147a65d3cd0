//! Starting and stopping the server: open the stores, start the committers, serve HTTP
//! until told to stop, then drain the ingest queue.

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::{AppState, router};
use crate::config::{Settings, redact_url};
use crate::db::Db;
use crate::ingest::{Committers, Ingest};
use crate::objects::Objects;

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
    let state = AppState::new(db, objects, ingest, settings.token_ttl_secs).await?;
    tracing::info!(
        database = %redact_url(&url),
        objects = state.objects.describe(),
        "stores open"
    );
    Ok((state, committers))
}

/// Serves the API on `listener` until `shutdown` completes, then stops taking requests,
/// finishes the ones in flight and commits everything queued.
///
/// # Errors
/// When the stores cannot be opened or the listener fails.
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (state, committers) = open(&settings).await?;
    tracing::info!(addr = %listener.local_addr()?, "inkset-server listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    // The router (and with it every Ingest handle) is gone: committers drain and stop.
    committers.join().await;
    tracing::info!("inkset-server stopped");
    Ok(())
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
