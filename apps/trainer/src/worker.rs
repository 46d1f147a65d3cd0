//! The training worker: claims jobs from an `inkset-server` with a lease, streams the job's
//! data snapshot, trains with the shared recipe (`inkset_model::pipeline`), reports progress
//! in heartbeats that renew the lease, uploads the artifact and completes the job.
//!
//! Protocol (all calls carry `Authorization: Bearer <worker token>`; bodies in
//! `inkset_protocol::ml`):
//!
//! ```text
//! POST /api/worker/claim                        -> 200 ClaimedJob | 204 nothing to do
//! GET  /api/worker/jobs/{id}/data?attempt=N     -> Quick, Draw! raw ndjson, one drawing a line
//! POST /api/worker/jobs/{id}/heartbeat          -> HeartbeatAck (cancel?) | 409 lease lost
//! PUT  /api/worker/jobs/{id}/weights?attempt=N  -> 204 (Burnpack bytes)
//! POST /api/worker/jobs/{id}/complete           -> 200 ModelVersion (registered whole)
//! POST /api/worker/jobs/{id}/fail               -> 204
//! POST /api/worker/jobs/{id}/release            -> 204 (back in the queue)
//! ```
//!
//! A worker that dies simply stops heartbeating: its lease expires and the server hands the
//! job to the next claim. A worker told to shut down (Ctrl-C, SIGTERM, the server stopping an
//! in-process trainer) stops training at the next step and releases the job, which the next
//! claim takes at once. A worker whose lease was taken over (409) abandons its attempt.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use inkset_model::artifact;
use inkset_model::backend::Backend;
use inkset_model::dataset::{Dataset, shapes_of};
use inkset_model::generator::{GeneratorTrainConfig, generator_weights, train_generator_pipeline};
use inkset_model::pipeline::train_recognizer;
use inkset_model::training::{Control, Progress, TrainConfig};
use inkset_protocol::ml::{
    ClaimRequest, ClaimedJob, CompleteJob, FailJob, GENERATOR, Heartbeat, HeartbeatAck,
    ModelVersion, ProgressPoint, RECOGNIZER, ReleaseJob,
};
use reqwest::StatusCode;
use tokio::sync::mpsc;

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

/// A server connection.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// A client for `server` with `token`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(server: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()?,
            base: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.token)
    }

    /// Claims a job; `None` when there is none.
    ///
    /// # Errors
    /// Transport errors and refusals (a revoked token is a 401).
    pub async fn claim(&self, name: &str) -> anyhow::Result<Option<ClaimedJob>> {
        let resp = self
            .post("/api/worker/claim")
            .json(&ClaimRequest {
                worker: name.to_owned(),
                model_kinds: vec![RECOGNIZER.into(), GENERATOR.into()],
            })
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(checked(resp).await?.json().await?))
    }

    /// Streams the job's data snapshot into a dataset of its classes.
    ///
    /// # Errors
    /// Transport errors, refusals.
    pub async fn data(&self, job: &ClaimedJob) -> anyhow::Result<Dataset> {
        let (shapes, with_unknown) = shapes_of(&job.plan.classes);
        let mut ds = Dataset::new(&shapes, with_unknown);
        let mut resp = checked(
            self.http
                .get(self.url(&format!(
                    "/api/worker/jobs/{}/data?attempt={}",
                    job.id, job.attempt
                )))
                .bearer_auth(&self.token)
                .send()
                .await?,
        )
        .await?;
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
                ds.add_line(std::str::from_utf8(&pending[start..start + nl])?);
                start += nl + 1;
            }
            pending.drain(..start);
        }
        if !pending.is_empty() {
            ds.add_line(std::str::from_utf8(&pending)?);
        }
        Ok(ds)
    }

    /// Renews the lease and reports progress. `Ok(None)` when the lease is lost (409).
    ///
    /// # Errors
    /// Transport errors and other refusals.
    pub async fn heartbeat(
        &self,
        job: &ClaimedJob,
        beat: &Heartbeat,
    ) -> anyhow::Result<Option<HeartbeatAck>> {
        let resp = self
            .post(&format!("/api/worker/jobs/{}/heartbeat", job.id))
            .json(beat)
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        if resp.status() == StatusCode::CONFLICT {
            return Ok(None);
        }
        Ok(Some(checked(resp).await?.json().await?))
    }

    /// Uploads the weights and completes the job; the server registers the version whole.
    ///
    /// # Errors
    /// Transport errors, refusals (409 when the lease was lost meanwhile).
    pub async fn complete(
        &self,
        job: &ClaimedJob,
        manifest: &impl serde::Serialize,
        weights: Vec<u8>,
    ) -> anyhow::Result<ModelVersion> {
        checked(
            self.http
                .put(self.url(&format!(
                    "/api/worker/jobs/{}/weights?attempt={}",
                    job.id, job.attempt
                )))
                .bearer_auth(&self.token)
                .body(weights)
                .send()
                .await?,
        )
        .await?;
        let resp = self
            .post(&format!("/api/worker/jobs/{}/complete", job.id))
            .json(&CompleteJob {
                attempt: job.attempt,
                manifest: serde_json::to_value(manifest)?,
            })
            .send()
            .await?;
        Ok(checked(resp).await?.json().await?)
    }

    /// Gives the job back unfinished (this worker is shutting down).
    ///
    /// # Errors
    /// Transport errors, refusals (409 when the lease was lost meanwhile).
    pub async fn release(&self, job: &ClaimedJob, reason: &str) -> anyhow::Result<()> {
        checked(
            self.post(&format!("/api/worker/jobs/{}/release", job.id))
                .json(&ReleaseJob {
                    attempt: job.attempt,
                    reason: reason.to_owned(),
                })
                .send()
                .await?,
        )
        .await?;
        Ok(())
    }

    /// Reports a failure.
    ///
    /// # Errors
    /// Transport errors, refusals.
    pub async fn fail(&self, job: &ClaimedJob, error: &str) -> anyhow::Result<()> {
        checked(
            self.post(&format!("/api/worker/jobs/{}/fail", job.id))
                .json(&FailJob {
                    attempt: job.attempt,
                    error: error.to_owned(),
                })
                .send()
                .await?,
        )
        .await?;
        Ok(())
    }
}

async fn checked(resp: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    bail!("server answered {status}: {body}")
}

/// The model crate's training settings for a job's config.
pub fn train_config(job: &ClaimedJob) -> TrainConfig {
    let d = TrainConfig::default();
    let c = &job.config;
    TrainConfig {
        epochs: c.epochs.unwrap_or(d.epochs),
        batch_size: c.batch_size.unwrap_or(d.batch_size),
        learning_rate: c.learning_rate.unwrap_or(d.learning_rate),
        seed: c.seed.unwrap_or(d.seed),
        ..d
    }
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
) -> anyhow::Result<JobOutcome> {
    tracing::info!(job = %job.id, attempt = job.attempt, "claimed training job");
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let lost = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();

    // Heartbeats renew the lease and carry the progress; they also learn of cancellation.
    let beat_every = Duration::from_millis((job.lease_secs * 1000 / 3).clamp(200, 10_000));
    let hb = {
        let client = client.clone();
        let job = job.clone();
        let stop = stop.clone();
        let lost = lost.clone();
        tokio::spawn(async move {
            let mut cancelled = false;
            loop {
                let mut done = false;
                let mut beat = Heartbeat {
                    attempt: job.attempt,
                    ..Heartbeat::default()
                };
                let timer = tokio::time::sleep(beat_every);
                tokio::pin!(timer);
                loop {
                    tokio::select! {
                        () = &mut timer => break,
                        r = rx.recv() => match r {
                            None => {
                                done = true;
                                break;
                            }
                            Some(r) => push(&mut beat, r),
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
        })
    };
    let result = train_job(client, &job, backend, &tx, &stop, &shutdown).await;
    drop(tx);
    let cancelled = hb.await.unwrap_or(false);
    if lost.load(Ordering::Relaxed) {
        tracing::warn!(job = %job.id, "lease lost; attempt abandoned");
        return Ok(JobOutcome::LeaseLost);
    }
    match result {
        Ok(Some((manifest, weights))) => match client.complete(&job, &manifest, weights).await {
            Ok(v) => {
                tracing::info!(job = %job.id, version = v.version, "model registered");
                Ok(JobOutcome::Completed(v.version))
            }
            Err(e) => {
                let msg = format!("completing: {e:#}");
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
            let msg = format!("{e:#}");
            tracing::warn!(job = %job.id, error = %msg, "training job failed");
            client.fail(&job, &msg).await?;
            Ok(JobOutcome::Failed(msg))
        }
    }
}

fn push(beat: &mut Heartbeat, r: Report) {
    match r {
        Report::Point(p) => beat.progress.push(p),
        Report::Log(level, text) => beat.logs.push((level, text)),
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

/// The generator's training settings for a job's config.
pub fn generator_config(job: &ClaimedJob) -> GeneratorTrainConfig {
    let d = GeneratorTrainConfig::default();
    let c = &job.config;
    GeneratorTrainConfig {
        epochs: c.epochs.unwrap_or(d.epochs),
        batch_size: c.batch_size.unwrap_or(d.batch_size),
        learning_rate: c.learning_rate.unwrap_or(d.learning_rate),
        seed: c.seed.unwrap_or(d.seed),
        ..d
    }
}

/// Fetches data and trains; `Ok(None)` when stopped (cancelled or lease lost).
async fn train_job(
    client: &Client,
    job: &ClaimedJob,
    backend: Backend,
    tx: &mpsc::UnboundedSender<Report>,
    stop: &Arc<AtomicBool>,
    shutdown: &Arc<AtomicBool>,
) -> anyhow::Result<Option<Artifact>> {
    if job.model_kind != RECOGNIZER && job.model_kind != GENERATOR {
        bail!("this trainer cannot train model kind {:?}", job.model_kind);
    }
    let ds = client
        .data(job)
        .await
        .context("streaming the data snapshot")?;
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
    let sources = vec![format!(
        "inkset-server job {} (drawings received before {} ms, not flagged or removed)",
        job.id, job.plan.snapshot_at
    )];
    let control = move |stop: &AtomicBool| {
        if stop.load(Ordering::Relaxed) || shutdown.load(Ordering::Relaxed) {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let trained = if job.model_kind == GENERATOR {
        let config = generator_config(job);
        tokio::task::spawn_blocking(move || {
            train_generator_pipeline(&ds, &config, sources, backend, |p, epoch| {
                let _ = tx.send(Report::Point(point(p, epoch.and_then(|e| e.test_loss))));
                control(&stop)
            })
            .map(|(manifest, model)| {
                let weights = generator_weights(&model)?;
                let mut manifest = manifest;
                manifest.weights_sha256 = artifact::sha256_hex(&weights);
                Ok::<_, anyhow::Error>((serde_json::to_value(manifest)?, weights))
            })
        })
        .await
        .context("training thread")?
    } else {
        let config = train_config(job);
        tokio::task::spawn_blocking(move || {
            train_recognizer(&ds, &config, sources, backend, |p| {
                let _ = tx.send(Report::Point(point(p, None)));
                control(&stop)
            })
            .map(|(manifest, model)| {
                let weights = artifact::weights_bytes(&model)?;
                let mut manifest = manifest;
                manifest.weights_sha256 = artifact::sha256_hex(&weights);
                Ok::<_, anyhow::Error>((serde_json::to_value(manifest)?, weights))
            })
        })
        .await
        .context("training thread")?
    };
    match trained {
        Ok(r) => Ok(Some(r?)),
        Err(inkset_model::pipeline::PipelineError::Stopped(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Claims and runs jobs until `shutdown` completes (or `max_jobs` are done).
///
/// # Errors
/// When the client cannot be built. Transport errors are logged and retried.
pub async fn run(
    options: WorkerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<Vec<JobOutcome>> {
    let client = Client::new(&options.server, &options.token)?;
    let mut outcomes = Vec::new();
    tokio::pin!(shutdown);
    loop {
        if options.max_jobs.is_some_and(|m| outcomes.len() >= m) {
            return Ok(outcomes);
        }
        let claimed = tokio::select! {
            () = &mut shutdown => return Ok(outcomes),
            c = client.claim(&options.name) => c,
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
