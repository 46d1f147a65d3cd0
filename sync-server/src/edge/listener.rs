//! Serving the router on a TCP listener with hyper's HTTP/1.1 connection builder: a
//! header-read timeout (slow or half-sent requests are closed), a cap on open connections,
//! the peer address in each request, and a graceful shutdown with a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::HttpSettings;

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish (each connection closes after its current request) and gives
/// up on them after `http.shutdown_deadline_secs`.
///
/// * A client that has not sent a request's headers within `http.header_read_timeout_secs`
///   is disconnected (hyper's `header_read_timeout`).
/// * At most `http.max_connections` connections are open; further ones wait in the kernel's
///   accept backlog until one closes.
/// * Each request carries [`ConnectInfo<SocketAddr>`] (the TCP peer).
///
/// # Errors
/// Never for accept errors (they are logged and retried); the signature leaves room for
/// listener setup failures.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    http: &HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(http.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(http.header_read_timeout_secs.max(1)))
        .keep_alive(true);
    tokio::pin!(shutdown);
    // Connection tasks, so the ones still running at the deadline can be stopped (each
    // holds a clone of the router, and with it the ingest queue the caller drains next).
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tasks.spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts, resets and malformed requests end here.
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    drop(app);
    let deadline = Duration::from_secs(http.shutdown_deadline_secs);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(deadline) => {
            tracing::warn!(
                deadline_secs = deadline.as_secs(),
                "requests still in flight at the shutdown deadline; closing their connections"
            );
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(())
}
