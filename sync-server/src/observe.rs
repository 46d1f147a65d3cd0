//! Observability: Prometheus metrics (the `metrics` facade with
//! `metrics-exporter-prometheus`, served on their own listener, `metrics_listen`) and the
//! per-request metrics middleware. Metric names follow Prometheus's conventions (base units:
//! seconds, bytes; `_total` counters).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `inkset_http_requests_total` | counter | `method`, `route`, `status` |
//! | `inkset_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `inkset_drawings_accepted_total` | counter | `origin` (`player`, `import`) |
//! | `inkset_drawings_rejected_total` | counter | `reason` (the validation code) |
//! | `inkset_ingest_queue_depth` | gauge | |
//! | `inkset_ingest_commit_size` | histogram (drawings) | |
//! | `inkset_ingest_commit_duration_seconds` | histogram | |
//! | `inkset_inference_duration_seconds` | histogram | `model` |
//! | `inkset_inference_batch_size` | histogram (rasters) | |
//! | `inkset_training_jobs_total` | counter | `kind`, `outcome` |
//! | `inkset_training_job_duration_seconds` | histogram | `kind`, `outcome` |
//! | `inkset_production_model_accuracy` | gauge (0..=1, held-out) | `kind` |
//! | `inkset_quality_score` | histogram (0..=1) | |

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests by method, route template and status.
pub const HTTP_REQUESTS: &str = "inkset_http_requests_total";
/// Request latency, seconds.
pub const HTTP_DURATION: &str = "inkset_http_request_duration_seconds";
/// Drawings stored (new ones), by origin.
pub const DRAWINGS_ACCEPTED: &str = "inkset_drawings_accepted_total";
/// Drawings refused, by reason.
pub const DRAWINGS_REJECTED: &str = "inkset_drawings_rejected_total";
/// Drawings waiting for a committer.
pub const INGEST_QUEUE_DEPTH: &str = "inkset_ingest_queue_depth";
/// Drawings per group commit.
pub const INGEST_COMMIT_SIZE: &str = "inkset_ingest_commit_size";
/// Group commit latency (segment write, fsync and SQL transaction), seconds.
pub const INGEST_COMMIT_DURATION: &str = "inkset_ingest_commit_duration_seconds";
/// Inference latency through the micro-batcher, seconds.
pub const INFERENCE_DURATION: &str = "inkset_inference_duration_seconds";
/// Rasters per computed batch.
pub const INFERENCE_BATCH_SIZE: &str = "inkset_inference_batch_size";
/// Training jobs ended, by model kind and outcome (`completed`, `failed`, `cancelled`).
pub const TRAINING_JOBS: &str = "inkset_training_jobs_total";
/// Training job duration from first claim to end, seconds.
pub const TRAINING_DURATION: &str = "inkset_training_job_duration_seconds";
/// Held-out accuracy of the production model, by kind.
pub const PRODUCTION_ACCURACY: &str = "inkset_production_model_accuracy";
/// Quality scores given by the scorer.
pub const QUALITY_SCORE: &str = "inkset_quality_score";
/// Orphaned segments (written, never committed) the sweeper deleted.
pub const ORPHAN_SEGMENTS_DELETED: &str = "inkset_orphan_segments_deleted_total";

const SECONDS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 1_800.0, 7_200.0,
];
const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1_024.0, 2_048.0,
];
const UNIT: &[f64] = &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (once; later calls
/// return the same handle). `None` when another recorder was installed first.
pub fn recorder() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZES))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(QUALITY_SCORE.into()), UNIT));
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency");
    describe_counter!(DRAWINGS_ACCEPTED, "Drawings stored, by origin");
    describe_counter!(DRAWINGS_REJECTED, "Drawings refused, by reason");
    describe_gauge!(INGEST_QUEUE_DEPTH, "Drawings waiting for a committer");
    describe_counter!(
        ORPHAN_SEGMENTS_DELETED,
        "Orphaned segments (written, never committed) deleted by the sweeper"
    );
    describe_histogram!(INGEST_COMMIT_SIZE, Unit::Count, "Drawings per group commit");
    describe_histogram!(
        INGEST_COMMIT_DURATION,
        Unit::Seconds,
        "Group commit latency"
    );
    describe_histogram!(INFERENCE_DURATION, Unit::Seconds, "Inference latency");
    describe_histogram!(
        INFERENCE_BATCH_SIZE,
        Unit::Count,
        "Rasters per computed batch"
    );
    describe_counter!(TRAINING_JOBS, "Training jobs ended, by kind and outcome");
    describe_histogram!(TRAINING_DURATION, Unit::Seconds, "Training job duration");
    describe_gauge!(
        PRODUCTION_ACCURACY,
        "Held-out accuracy of the production model"
    );
    describe_histogram!(QUALITY_SCORE, "Quality scores given by the scorer");
}

/// Serves `GET /metrics` (Prometheus text format) on `addr` until `stop` is set.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    handle: PrometheusHandle,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    // Histograms keep their samples until upkeep drains them into buckets: without it a
    // server nobody scrapes would grow by every request's latency sample.
    let upkeep = handle.clone();
    let mut upkeep_stop = stop.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => upkeep.run_upkeep(),
                _ = upkeep_stop.wait_for(|s| *s) => return,
            }
        }
    });
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "metrics listener stopped");
        }
    });
    tracing::info!(addr = %bound, "metrics on http://{bound}/metrics");
    Ok(bound)
}

/// Middleware counting every request and its latency by method, route template (not the
/// raw path, so ids do not explode the label space) and status.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Keeps a client's `x-request-id` only when it is 1 to 64 printable ASCII characters
/// (else it is dropped and a new UUID is set), so a log line cannot be forged or bloated
/// through it.
pub fn sanitize_request_id<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let bad = request.headers().get("x-request-id").is_some_and(|v| {
        let b = v.as_bytes();
        b.is_empty() || b.len() > 64 || !b.iter().all(|c| c.is_ascii_graphic())
    });
    if bad {
        request.headers_mut().remove("x-request-id");
    }
    request
}
