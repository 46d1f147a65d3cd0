//! `inkset-worker`: the training worker loop, shared by `inkset-trainer work` (a GPU host)
//! and `inkset-server`'s in-process trainer.
//!
//! A worker claims a job from the server with a lease, streams the job's data snapshot,
//! trains with the shared recipe (`inkset_model::pipeline` for recognizers,
//! `inkset_model::generator` for generators), reports progress in heartbeats that renew
//! the lease, uploads the artifact and completes the job. Every call goes through
//! [`inkset_client::Client`] with a worker token (the protocol is listed there).
//!
//! * A worker that dies simply stops heartbeating: its lease expires and the server hands
//!   the job to the next claim.
//! * A worker told to shut down (Ctrl-C, SIGTERM, the server stopping an in-process trainer)
//!   stops training at the next step and releases the job, which the next claim takes at
//!   once.
//! * A worker whose lease was taken over (409) abandons its attempt.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use inkset_client::{Client, ClientError};
use inkset_model::artifact::{self, ArtifactError};
use inkset_model::backend::Backend;
use inkset_model::dataset::{Dataset, shapes_of};
use inkset_model::generator::{GeneratorTrainConfig, generator_weights, train_generator_pipeline};
use inkset_model::pipeline::{PipelineError, train_recognizer};
use inkset_model::training::{Control, Progress, TrainConfig};
use inkset_protocol::ml::{ClaimedJob, GENERATOR, Heartbeat, ProgressPoint, RECOGNIZER};
use tokio::sync::mpsc;

/// Why a job could not be trained (reported to the server as the job's error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// A server call failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Streaming the job's data snapshot failed.
    #[error("streaming the data snapshot: {0}")]
    Data(#[source] ClientError),
    /// The job asks for a model kind this worker cannot train.
    #[error("this trainer cannot train model kind {0:?}")]
    ModelKind(String),
    /// Training failed (no data of the classes, ...).
    #[error(transparent)]
    Training(#[from] PipelineError),
    /// The trained model could not be serialized.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The manifest could not be written as JSON.
    #[error("manifest: {0}")]
    Manifest(#[from] serde_json::Error),
    /// The training thread panicked.
    #[error("training thread: {0}")]
    Thread(String),
}

/// How a worker connects and trains.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// Worker token (`inkset-server worker-token create`).
    pub token: String,
    /// Name shown as the lease owner.
    pub name: String,
    /// Backend to train on.
    pub backend: Backend,
    /// Wait between claims when there is no job.
    pub poll: Duration,
    /// Stop after this many jobs (None: run until shut down).
    pub max_jobs: Option<usize>,
}

/// What happened to a claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Registered as this model version.
    Completed(u64),
    /// Cancelled by an admin.
    Cancelled,
    /// The lease moved to another worker; this attempt was dropped.
    LeaseLost,
    /// Failed and reported.
    Failed(String),
    /// Given back unfinished because the worker is shutting down; the job is queued again.
    Released,
}

/// The model kinds this worker trains.
pub const MODEL_KINDS: [&str; 2] = [RECOGNIZER, GENERATOR];

/// A client for the worker protocol: `server` with `token`, and a 10 s connect timeout.
///
/// # Errors
/// [`ClientError::Url`] for a server URL that is not http(s).
pub fn client(server: &str, token: &str) -> Result<Client, ClientError> {
    Client::builder(server)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(3600))
        .user_agent(concat!("inkset-worker/", env!("CARGO_PKG_VERSION")))
        .token(token)
        .build()
}

enum Report {
    Point(ProgressPoint),
    Log(String, String),
}

/// Sets a training stop flag when dropped, so a training thread never outlives the job's
/// future (a dropped future would otherwise leave it running to the last epoch).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs one claimed job to its end, or until `shutdown` is set: then training stops at the
/// next step and the job is released to the queue ([`JobOutcome::Released`]).
///
/// # Errors
/// Only when even reporting the failure (or the release) to the server fails.
pub async fn run_job(
    client: &Client,
    job: ClaimedJob,
    backend: Backend,
    shutdown: Arc<AtomicBool>,
) -> Result<JobOutcome, ClientError> {
    tracing::info!(job = %job.id, attempt = job.attempt, "claimed training job");
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let lost = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::unbounded_channel::<Report>();

    // Heartbeats renew the lease and carry the progress; they also learn of cancellation.
    let beat_every = Duration::from_millis((job.lease_secs * 1000 / 3).clamp(200, 10_000));
    let hb = tokio::spawn(heartbeats(
        client.clone(),
        job.clone(),
        beat_every,
        rx,
        stop.clone(),
        lost.clone(),
    ));
    let result = train_job(client, &job, backend, &tx, &stop, &shutdown).await;
    drop(tx);
    let cancelled = hb.await.unwrap_or(false);
    if lost.load(Ordering::Relaxed) {
        tracing::warn!(job = %job.id, "lease lost; attempt abandoned");
        return Ok(JobOutcome::LeaseLost);
    }
    match result {
        Ok(Some((manifest, weights))) => match complete(client, &job, manifest, weights).await {
            Ok(version) => {
                tracing::info!(job = %job.id, version, "model registered");
                Ok(JobOutcome::Completed(version))
            }
            Err(e) => {
                let msg = format!("completing: {e}");
                client.fail(&job, &msg).await?;
                Ok(JobOutcome::Failed(msg))
            }
        },
        Ok(None) if cancelled => Ok(JobOutcome::Cancelled),
        Ok(None) if shutdown.load(Ordering::Relaxed) => {
            client.release(&job, "the trainer is shutting down").await?;
            tracing::info!(job = %job.id, "shutting down; job released to the queue");
            Ok(JobOutcome::Released)
        }
        Ok(None) => Ok(JobOutcome::LeaseLost),
        Err(e) => {
            let msg = error_chain(&e);
            tracing::warn!(job = %job.id, error = %msg, "training job failed");
            client.fail(&job, &msg).await?;
            Ok(JobOutcome::Failed(msg))
        }
    }
}

/// `e` and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

async fn complete(
    client: &Client,
    job: &ClaimedJob,
    manifest: serde_json::Value,
    weights: Vec<u8>,
) -> Result<u64, ClientError> {
    client.upload_weights(job, weights).await?;
    Ok(client.complete(job, manifest).await?.version)
}

/// Sends a heartbeat every `every` with what `rx` reported since, until `rx` closes.
/// Returns whether an admin cancelled the job; sets `lost` when the lease moved.
async fn heartbeats(
    client: Client,
    job: ClaimedJob,
    every: Duration,
    mut rx: mpsc::UnboundedReceiver<Report>,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) -> bool {
    let mut cancelled = false;
    loop {
        let mut done = false;
        let mut beat = Heartbeat {
            attempt: job.attempt,
            ..Heartbeat::default()
        };
        let timer = tokio::time::sleep(every);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                () = &mut timer => break,
                r = rx.recv() => match r {
                    None => {
                        done = true;
                        break;
                    }
                    Some(Report::Point(p)) => beat.progress.push(p),
                    Some(Report::Log(level, text)) => beat.logs.push((level, text)),
                },
            }
        }
        match client.heartbeat(&job, &beat).await {
            Ok(Some(ack)) => {
                if ack.cancel {
                    cancelled = true;
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Ok(None) => {
                lost.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                return cancelled;
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed; retrying"),
        }
        if done {
            return cancelled;
        }
    }
}

/// A trained artifact: its manifest (as JSON, whatever the kind) and Burnpack weights.
type Artifact = (serde_json::Value, Vec<u8>);

fn point(p: Progress<'_>, test_loss: Option<f64>) -> ProgressPoint {
    match p {
        Progress::Step(m) => ProgressPoint {
            step: m.step,
            epoch: u32::try_from(m.epoch).unwrap_or(u32::MAX),
            kind: "step".into(),
            loss: m.loss,
            accuracy: m.accuracy,
            test_accuracy: None,
            test_loss: None,
            samples_per_sec: m.samples_per_sec,
        },
        Progress::Epoch(m) => ProgressPoint {
            step: 0,
            epoch: u32::try_from(m.epoch).unwrap_or(u32::MAX),
            kind: "epoch".into(),
            loss: m.train_loss,
            accuracy: m.train_accuracy,
            test_accuracy: m.test_accuracy,
            test_loss,
            samples_per_sec: m.samples_per_sec,
        },
    }
}

/// Fetches data and trains; `Ok(None)` when stopped (cancelled, lease lost or shutdown).
async fn train_job(
    client: &Client,
    job: &ClaimedJob,
    backend: Backend,
    tx: &mpsc::UnboundedSender<Report>,
    stop: &Arc<AtomicBool>,
    shutdown: &Arc<AtomicBool>,
) -> Result<Option<Artifact>, WorkerError> {
    if job.model_kind != RECOGNIZER && job.model_kind != GENERATOR {
        return Err(WorkerError::ModelKind(job.model_kind.clone()));
    }
    let (shapes, with_unknown) = shapes_of(&job.plan.classes);
    let mut ds = Dataset::new(&shapes, with_unknown);
    client
        .job_data(job, &mut |line: &str| ds.add_line(line))
        .await
        .map_err(WorkerError::Data)?;
    let counts = ds.counts();
    let _ = tx.send(Report::Log(
        "info".into(),
        format!(
            "data snapshot: {} drawings {:?} for classes {:?} ({} skipped as duplicates or taps)",
            ds.samples.len(),
            counts,
            ds.classes,
            ds.skipped
        ),
    ));
    if shutdown.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let tx = tx.clone();
    let stop = stop.clone();
    let shutdown = shutdown.clone();
    let release = job.config.release.clone();
    let sources = vec![match &release {
        Some(r) => format!("inkset-server job {}, dataset release {r:?}", job.id),
        None => format!(
            "inkset-server job {} (drawings received before {} ms, not flagged or removed)",
            job.id, job.plan.snapshot_at
        ),
    }];
    let control = move |stop: &AtomicBool| {
        if stop.load(Ordering::Relaxed) || shutdown.load(Ordering::Relaxed) {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let is_generator = job.model_kind == GENERATOR;
    let config = job.config.clone();

    tokio::task::spawn_blocking(move || -> Result<Option<Artifact>, WorkerError> {
        let result = if is_generator {
            let config = GeneratorTrainConfig::from(&config);
            train_generator_pipeline(&ds, &config, sources, backend, |p, epoch| {
                let _ = tx.send(Report::Point(point(p, epoch.and_then(|e| e.test_loss))));
                control(&stop)
            })
            .map_err(WorkerError::from)
            .and_then(|(mut manifest, model)| {
                manifest.data.release.clone_from(&release);
                let weights = generator_weights(&model)?;
                manifest.weights_sha256 = artifact::sha256_hex(&weights);
                Ok((serde_json::to_value(manifest)?, weights))
            })
        } else {
            let config = TrainConfig::from(&config);
            train_recognizer(&ds, &config, sources, backend, |p| {
                let _ = tx.send(Report::Point(point(p, None)));
                control(&stop)
            })
            .map_err(WorkerError::from)
            .and_then(|(mut manifest, model)| {
                manifest.data.release.clone_from(&release);
                let weights = artifact::weights_bytes(&model)?;
                manifest.weights_sha256 = artifact::sha256_hex(&weights);
                Ok((serde_json::to_value(manifest)?, weights))
            })
        };
        match result {
            Ok(a) => Ok(Some(a)),
            Err(WorkerError::Training(PipelineError::Stopped(_))) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(|e| WorkerError::Thread(e.to_string()))?
}

/// Claims and runs jobs until `shutdown` completes (or `max_jobs` are done).
///
/// # Errors
/// When the client cannot be built. Transport errors are logged and retried.
pub async fn run(
    options: WorkerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<Vec<JobOutcome>, ClientError> {
    let client = client(&options.server, &options.token)?;
    let mut outcomes = Vec::new();
    tokio::pin!(shutdown);
    loop {
        if options.max_jobs.is_some_and(|m| outcomes.len() >= m) {
            return Ok(outcomes);
        }
        let claimed = tokio::select! {
            () = &mut shutdown => return Ok(outcomes),
            c = client.claim(&options.name, &MODEL_KINDS) => c,
        };
        match claimed {
            Ok(Some(job)) => {
                // On shutdown the job is not dropped mid-flight: training stops at its next
                // step and the job is released, so the next claim need not wait out the lease.
                let halt = Arc::new(AtomicBool::new(false));
                let running = run_job(&client, job, options.backend, halt.clone());
                tokio::pin!(running);
                let outcome = tokio::select! {
                    () = &mut shutdown => {
                        halt.store(true, Ordering::Relaxed);
                        match running.await {
                            Ok(o) => outcomes.push(o),
                            Err(e) => tracing::warn!(error = %e, "could not release the job"),
                        }
                        return Ok(outcomes);
                    }
                    o = &mut running => o,
                };
                match outcome {
                    Ok(o) => outcomes.push(o),
                    Err(e) => tracing::warn!(error = %e, "could not report a job's end"),
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, server = %options.server, "claim failed"),
        }
        tokio::select! {
            () = &mut shutdown => return Ok(outcomes),
            () = tokio::time::sleep(options.poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkset_protocol::ml::TrainingConfig;

    #[test]
    fn a_jobs_config_fills_in_the_models_defaults() {
        let c = TrainingConfig {
            epochs: Some(3),
            seed: Some(7),
            ..TrainingConfig::default()
        };
        let r = TrainConfig::from(&c);
        assert_eq!((r.epochs, r.seed), (3, 7));
        assert_eq!(r.batch_size, TrainConfig::default().batch_size);
        let g = GeneratorTrainConfig::from(&c);
        assert_eq!((g.epochs, g.seed), (3, 7));
        assert_eq!(
            g.learning_rate,
            GeneratorTrainConfig::default().learning_rate
        );
    }

    #[test]
    fn a_failure_reports_its_causes() {
        let e = WorkerError::ModelKind("painter".into());
        assert_eq!(
            error_chain(&e),
            "this trainer cannot train model kind \"painter\""
        );
    }
}
