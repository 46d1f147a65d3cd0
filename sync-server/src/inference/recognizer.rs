//! Serving the `production` recognizer: one loaded model at a time, swapped atomically when
//! the alias moves, and a dynamic micro-batcher in front of it.
//!
//! Requests rasterize on the HTTP workers and queue their rasters; once a compute slot is
//! free, the batcher takes every request waiting (up to `max_batch` rows, waiting at most
//! `max_delay_us` for more, 0 by default as in Triton's dynamic batcher without a queue
//! delay) and runs them as one
//! `[batch, 1, N, N]` forward pass on a blocking thread; up to `parallel_batches` (default:
//! one per core) batches run at once. Each request holds an `Arc` of the
//! model it was rasterized for, so a hot swap never drops or mixes requests: batches in
//! flight finish on the old model, new requests see the new one.

use std::sync::Arc;
use std::time::Duration;

use inkset_model::artifact::Manifest;
use inkset_model::backend::Backend;
use inkset_model::inference::Classifier;
use inkset_model::native::ConvAlgorithm;
use inkset_protocol::ml::RECOGNIZER;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::config::InferenceSettings;
use crate::db::Db;
use crate::objects::Objects;

use super::served::{HotSwap, Version};

/// A loaded model version.
#[derive(Debug)]
pub struct Served {
    /// Registry id.
    pub model_id: Uuid,
    /// Version number.
    pub version: u64,
    /// The network, its manifest and device.
    pub classifier: Classifier,
}

struct BatchJob {
    served: Arc<Served>,
    rasters: Vec<f32>,
    rows: usize,
    reply: oneshot::Sender<Vec<Vec<f32>>>,
}

struct Inner {
    current: HotSwap<Served>,
    tx: mpsc::Sender<BatchJob>,
    backend: Backend,
    conv_algorithm: ConvAlgorithm,
    max_batch: usize,
    deadline: Duration,
}

/// The served model and its batcher (cheap to clone).
#[derive(Clone)]
pub struct Inference {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Inference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inference")
            .field("model", &self.current().map(|s| s.model_id))
            .finish_non_exhaustive()
    }
}

pub use super::served::read_artifact;

/// Artifact object keys of a model version.
pub fn artifact_prefix(kind: &str, model_id: Uuid) -> String {
    format!("models/{kind}/{model_id}")
}

/// Why a request to the micro-batcher got no probabilities.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The queue was full, or the answer did not come, within the deadline.
    #[error("{0}; retry shortly")]
    Overloaded(&'static str),
    /// The batcher has stopped (the server is shutting down).
    #[error("the inference batcher has stopped")]
    Stopped,
}

impl From<RunError> for crate::error::ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Overloaded(_) => Self::Overloaded {
                message: e.to_string(),
                retry_after_secs: 1,
            },
            RunError::Stopped => Self::Unavailable("the inference batcher has stopped"),
        }
    }
}

impl Inference {
    /// Starts the batcher (no model loaded yet). Needs a tokio runtime.
    pub fn start(settings: &InferenceSettings) -> Self {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let max_batch = settings.max_batch.clamp(1, 1024);
        let parallel = settings.parallel_batches.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        tokio::spawn(batcher(
            rx,
            max_batch,
            Duration::from_micros(settings.max_delay_us),
            parallel,
            run_batch,
        ));
        Self {
            inner: Arc::new(Inner {
                current: HotSwap::new(RECOGNIZER),
                tx,
                backend: settings.backend,
                conv_algorithm: settings.conv_algorithm,
                max_batch,
                deadline: Duration::from_millis(settings.deadline_ms.max(1)),
            }),
        }
    }

    /// The served model, if any.
    pub fn current(&self) -> Option<Arc<Served>> {
        self.inner.current.current()
    }

    /// The backend's name (`cpu`, `wgpu`).
    pub fn backend_name(&self) -> String {
        serde_json::to_value(self.inner.backend)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Largest micro-batch.
    pub fn max_batch(&self) -> usize {
        self.inner.max_batch
    }

    /// Probabilities for `rows` rasters of `served`'s input size, through the batcher,
    /// within the deadline (`inference.deadline_ms`): queueing and computing included.
    ///
    /// # Errors
    /// [`RunError::Overloaded`] when the queue stays full or the answer does not come within
    /// the deadline; [`RunError::Stopped`] when the batcher has stopped.
    pub async fn run(
        &self,
        served: Arc<Served>,
        rasters: Vec<f32>,
        rows: usize,
    ) -> Result<Vec<Vec<f32>>, RunError> {
        let deadline = tokio::time::Instant::now() + self.inner.deadline;
        let (reply, rx) = oneshot::channel();
        let job = BatchJob {
            served,
            rasters,
            rows,
            reply,
        };
        match self.inner.tx.send_timeout(job, self.inner.deadline).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                return Err(RunError::Overloaded("the inference queue is full"));
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => return Err(RunError::Stopped),
        }
        let started = std::time::Instant::now();
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(probs)) => {
                metrics::histogram!(crate::observe::INFERENCE_DURATION, "model" => RECOGNIZER)
                    .record(started.elapsed().as_secs_f64());
                Ok(probs)
            }
            Ok(Err(_)) => Err(RunError::Stopped),
            Err(_) => Err(RunError::Overloaded(
                "the inference queue did not answer within its deadline",
            )),
        }
    }

    /// Loads the version `production` points at, if it is not the one served; swaps it in
    /// once it has answered a warm-up batch. Returns whether the served model changed.
    ///
    /// # Errors
    /// When the registry or the artifact cannot be read or the weights do not load.
    pub async fn refresh(&self, db: &Db, objects: &Objects) -> anyhow::Result<bool> {
        let device = self.inner.backend.device();
        let conv_algorithm = self.inner.conv_algorithm;
        self.inner
            .current
            .refresh(
                db,
                objects,
                |model_id, version, manifest: Manifest, weights| async move {
                    if let Some(eval) = &manifest.metrics {
                        metrics::gauge!(crate::observe::PRODUCTION_ACCURACY, "kind" => RECOGNIZER)
                            .set(eval.accuracy);
                    }
                    let classifier = tokio::task::spawn_blocking(move || {
                        let mut c = Classifier::from_bytes(manifest, weights.to_vec(), device)?;
                        c.set_conv_algorithm(conv_algorithm);
                        let n = c.input_size();
                        let _ = c.probabilities(vec![0.0; n * n], 1);
                        Ok::<_, inkset_model::artifact::ArtifactError>(c)
                    })
                    .await??;
                    Ok(Served {
                        model_id,
                        version,
                        classifier,
                    })
                },
            )
            .await
    }

    /// Follows the `production` alias every `every` (so a move made through another replica
    /// is picked up) until the process ends.
    pub fn watch(&self, db: Db, objects: Objects, every: Duration) {
        let me = self.clone();
        HotSwap::<Served>::watch(
            move || {
                let (me, db, objects) = (me.clone(), db.clone(), objects.clone());
                async move { me.refresh(&db, &objects).await }
            },
            every,
            "model",
        );
    }
}

impl Version for Served {
    fn model_id(&self) -> Uuid {
        self.model_id
    }

    fn version(&self) -> u64 {
        self.version
    }
}

/// A queued request as the batcher sees it: how many rows it adds to a batch.
trait Rows {
    fn rows(&self) -> usize;
}

impl Rows for BatchJob {
    fn rows(&self) -> usize {
        self.rows
    }
}

/// Forms batches from `rx` and runs each with `run` on a blocking thread, at most
/// `parallel` at once. A batch is formed when a slot is free: it takes the first request
/// waiting and every one queued behind it, up to `max_batch` rows (a request is never
/// split), waiting at most `delay` for more when the queue runs dry.
async fn batcher<J: Rows + Send + 'static>(
    mut rx: mpsc::Receiver<J>,
    max_batch: usize,
    delay: Duration,
    parallel: usize,
    run: fn(Vec<J>),
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    while let Some(first) = rx.recv().await {
        // A compute slot first, then the batch: every request that queued while all slots
        // were busy joins this batch (as Triton's dynamic batcher forms a batch when a model
        // instance becomes free). Forming the batch first and then waiting for a slot sent
        // out whatever had arrived at that moment (often one request) while the rest
        // waited a whole pass more.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut rows = first.rows();
        let mut jobs = vec![first];
        let deadline = tokio::time::Instant::now() + delay;
        while rows < max_batch {
            match rx.try_recv() {
                Ok(j) => {
                    rows += j.rows();
                    jobs.push(j);
                }
                Err(mpsc::error::TryRecvError::Empty) if !delay.is_zero() => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(j)) => {
                            rows += j.rows();
                            jobs.push(j);
                        }
                        _ => break,
                    }
                }
                Err(_) => break,
            }
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!(crate::observe::INFERENCE_BATCH_SIZE).record(rows as f64);
        // Up to `parallel` batches run at once, each on its own blocking thread.
        tokio::spawn(async move {
            let done = tokio::task::spawn_blocking(move || run(jobs)).await;
            drop(permit);
            if let Err(e) = done {
                tracing::error!(error = %e, "inference batch panicked");
            }
        });
    }
}

/// Runs queued jobs, one forward pass per model among them.
fn run_batch(mut jobs: Vec<BatchJob>) {
    while !jobs.is_empty() {
        let served = jobs[0].served.clone();
        let (mine, rest): (Vec<BatchJob>, Vec<BatchJob>) = jobs
            .into_iter()
            .partition(|j| Arc::ptr_eq(&j.served, &served));
        jobs = rest;
        let rows: usize = mine.iter().map(|j| j.rows).sum();
        let mut rasters = Vec::with_capacity(mine.iter().map(|j| j.rasters.len()).sum());
        for j in &mine {
            rasters.extend_from_slice(&j.rasters);
        }
        let mut probs = served.classifier.probabilities(rasters, rows).into_iter();
        for j in mine {
            let mine: Vec<Vec<f32>> = probs.by_ref().take(j.rows).collect();
            let _ = j.reply.send(mine);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::Notify;

    use super::*;

    /// A request of one row that records the size of the batch it ran in.
    struct Probe {
        batches: Arc<Mutex<Vec<usize>>>,
        started: Arc<Notify>,
        done: oneshot::Sender<()>,
    }

    impl Rows for Probe {
        fn rows(&self) -> usize {
            1
        }
    }

    /// A forward pass that takes 150 ms.
    fn slow_pass(jobs: Vec<Probe>) {
        jobs[0].started.notify_one();
        std::thread::sleep(Duration::from_millis(150));
        jobs[0].batches.lock().unwrap().push(jobs.len());
        for j in jobs {
            let _ = j.done.send(());
        }
    }

    /// The batch sizes when one request is being computed on the only slot and `queued`
    /// more arrive meanwhile (the first of them 20 ms before the others).
    async fn batches_behind_a_busy_slot(queued: usize, max_batch: usize) -> Vec<usize> {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(batcher(rx, max_batch, Duration::ZERO, 1, slow_pass));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(Notify::new());
        let mut answers = Vec::new();
        for i in 0..=queued {
            let (done, answer) = oneshot::channel();
            answers.push(answer);
            let probe = Probe {
                batches: batches.clone(),
                started: started.clone(),
                done,
            };
            assert!(tx.send(probe).await.is_ok(), "the batcher stopped");
            if i == 0 {
                // The first request's pass is running: the others queue behind it.
                started.notified().await;
            } else if i == 1 {
                // The batcher has seen the second request before the rest arrive.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        for answer in answers {
            answer.await.expect("every request is answered");
        }
        batches.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_queued_behind_a_busy_slot_run_as_one_batch() {
        assert_eq!(batches_behind_a_busy_slot(10, 64).await, vec![1, 10]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_never_exceeds_max_batch_rows() {
        assert_eq!(batches_behind_a_busy_slot(10, 4).await, vec![1, 4, 4, 2]);
    }
}
