//! Serving the `production` recognizer: one loaded model at a time, swapped atomically when
//! the alias moves, and a dynamic micro-batcher in front of it.
//!
//! Requests rasterize on the HTTP workers and queue their rasters; once a compute slot is
//! free, the batcher takes every request waiting (up to `max_batch` rows, waiting at most
//! `max_delay_us` for more, 0 by default as in Triton's dynamic batcher without a queue
//! delay). While other requests are pending ([`Inference::pending`]: parsed and not yet
//! answered), it waits up to `busy_delay_us` for them, so a lone request never waits and a
//! busy server fills its batches. It runs them as one
//! `[batch, 1, N, N]` forward pass; up to `parallel_batches` (default: one per core) batches
//! run at once. On the CPU backend a batch runs on the async worker that picks it up (the
//! native engine's pass over a few rows takes well under a millisecond, and handing it to a
//! blocking thread and back cost two thread wake-ups per batch on a machine whose cores are
//! all busy serving); on a GPU backend, whose pass waits for the device, it runs on a
//! blocking thread. Each request holds an `Arc` of the
//! model it was rasterized for, so a hot swap never drops or mixes requests: batches in
//! flight finish on the old model, new requests see the new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The requests between their parse and their answer: when there are more of them than a
/// batch being formed holds, the server is busy and the batch waits for more.
#[derive(Debug, Default)]
struct InFlight {
    /// Requests pending: parsed and not yet answered (or given up).
    requests: AtomicUsize,
}

/// A request pending in the server, from [`Inference::pending`] until it is dropped (after
/// its answer, or on an error before it reached the batcher). While other requests are
/// pending, a batch being formed waits for more, up to `inference.busy_delay_us`.
#[must_use = "a pending request counts until it is dropped"]
pub struct Pending {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.inner.in_flight.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Inner {
    current: HotSwap<Served>,
    in_flight: Arc<InFlight>,
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
        let on = if settings.backend == Backend::Cpu {
            RunOn::Worker
        } else {
            RunOn::BlockingThread
        };
        let in_flight = Arc::new(InFlight::default());
        let forming = Forming {
            max_batch,
            delay: Duration::from_micros(settings.max_delay_us),
            busy_delay: Duration::from_micros(settings.busy_delay_us),
            in_flight: in_flight.clone(),
        };
        tokio::spawn(batcher(rx, forming, parallel, (run_batch, on)));
        Self {
            inner: Arc::new(Inner {
                current: HotSwap::new(RECOGNIZER),
                in_flight,
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

    /// Counts a request as pending (call it once the request is parsed, before validating
    /// and rasterizing) until the returned guard is dropped; run it with [`Pending::run`].
    /// While other requests are pending, batches formed wait for more of them.
    pub fn pending(&self) -> Pending {
        self.inner.in_flight.requests.fetch_add(1, Ordering::AcqRel);
        Pending {
            inner: self.inner.clone(),
        }
    }

    /// Probabilities for `rows` rasters of `served`'s input size, through the batcher,
    /// within the deadline (`inference.deadline_ms`): queueing and computing included.
    /// A request counted earlier runs with [`Pending::run`] instead.
    ///
    /// # Errors
    /// As [`Pending::run`].
    pub async fn run(
        &self,
        served: Arc<Served>,
        rasters: Vec<f32>,
        rows: usize,
    ) -> Result<Vec<Vec<f32>>, RunError> {
        self.pending().run(served, rasters, rows).await
    }
}

impl Pending {
    /// Queues the pending request (`rows` rasters of `served`'s input size) and waits for
    /// its probabilities, within the deadline (`inference.deadline_ms`): queueing and
    /// computing included.
    ///
    /// # Errors
    /// [`RunError::Overloaded`] when the queue stays full or the answer does not come within
    /// the deadline; [`RunError::Stopped`] when the batcher has stopped.
    pub async fn run(
        self,
        served: Arc<Served>,
        rasters: Vec<f32>,
        rows: usize,
    ) -> Result<Vec<Vec<f32>>, RunError> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + inner.deadline;
        let (reply, rx) = oneshot::channel();
        let job = BatchJob {
            served,
            rasters,
            rows,
            reply,
        };
        match inner.tx.send_timeout(job, inner.deadline).await {
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
}

impl Inference {
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

/// Where the batcher runs a batch's forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunOn {
    /// In a task on the async runtime's workers: no thread hand-off (CPU passes, short).
    Worker,
    /// On tokio's blocking thread pool (passes that wait for a GPU).
    BlockingThread,
}

/// How the batcher forms a batch.
struct Forming {
    /// Most rows in a batch (a request is never split).
    max_batch: usize,
    /// Longest to wait for more once the queue runs dry (`inference.max_delay_us`).
    delay: Duration,
    /// Longest to wait for more while other requests are pending
    /// (`inference.busy_delay_us`).
    busy_delay: Duration,
    /// The pending requests.
    in_flight: Arc<InFlight>,
}

impl Forming {
    /// Takes `first` and what follows it from `rx` into one batch: every request queued, up
    /// to `max_batch` rows; when the queue runs dry, waiting for more up to `delay`, or up to
    /// `busy_delay` if more requests are pending than the batch holds at that moment (the
    /// others are being parsed and rasterized, or wait for another batch's answer and their
    /// clients will soon send more: under load a batch fills instead of each pass taking one
    /// or two rows; alone, a request never waits). Returns the batch and its rows.
    async fn batch<J: Rows>(&self, first: J, rx: &mut mpsc::Receiver<J>) -> (Vec<J>, usize) {
        let mut rows = first.rows();
        let mut jobs = vec![first];
        let now = tokio::time::Instant::now();
        let (delay_end, busy_end) = (now + self.delay, now + self.busy_delay);
        let mut until = None;
        while rows < self.max_batch {
            match rx.try_recv() {
                Ok(j) => {
                    rows += j.rows();
                    jobs.push(j);
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Whether the server is busy is judged once, when the queue first runs dry.
                    let until = *until.get_or_insert_with(|| {
                        if self.in_flight.requests.load(Ordering::Acquire) > jobs.len() {
                            delay_end.max(busy_end)
                        } else {
                            delay_end
                        }
                    });
                    if until <= now {
                        break;
                    }
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(j)) => {
                            rows += j.rows();
                            jobs.push(j);
                        }
                        _ => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        (jobs, rows)
    }
}

/// Forms batches from `rx` (see [`Forming::batch`]) and runs each with `run`, at most
/// `parallel` at once. A batch is formed when a slot is free: it takes the first request
/// waiting and every one queued behind it.
async fn batcher<J: Rows + Send + 'static>(
    mut rx: mpsc::Receiver<J>,
    forming: Forming,
    parallel: usize,
    (run, on): (fn(Vec<J>), RunOn),
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
        let (jobs, rows) = forming.batch(first, &mut rx).await;
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!(crate::observe::INFERENCE_BATCH_SIZE).record(rows as f64);
        // Up to `parallel` batches run at once, each in its own task.
        tokio::spawn(async move {
            let done = match on {
                RunOn::Worker => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(jobs)))
                        .map_err(|_| "panicked".to_owned())
                }
                RunOn::BlockingThread => tokio::task::spawn_blocking(move || run(jobs))
                    .await
                    .map_err(|e| e.to_string()),
            };
            drop(permit);
            if let Err(e) = done {
                tracing::error!(error = %e, "inference batch failed");
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
    /// more arrive meanwhile (the first of them 20 ms before the others), with the passes
    /// run `on` the workers or blocking threads.
    async fn batches_behind_a_busy_slot(queued: usize, max_batch: usize, on: RunOn) -> Vec<usize> {
        let (tx, rx) = mpsc::channel(256);
        let forming = forming(max_batch, Duration::ZERO, Arc::default());
        tokio::spawn(batcher(rx, forming, 1, (slow_pass, on)));
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
        for on in [RunOn::Worker, RunOn::BlockingThread] {
            assert_eq!(
                batches_behind_a_busy_slot(10, 64, on).await,
                vec![1, 10],
                "{on:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_never_exceeds_max_batch_rows() {
        for on in [RunOn::Worker, RunOn::BlockingThread] {
            assert_eq!(
                batches_behind_a_busy_slot(10, 4, on).await,
                vec![1, 4, 4, 2],
                "{on:?}"
            );
        }
    }

    fn forming(max_batch: usize, busy_delay: Duration, in_flight: Arc<InFlight>) -> Forming {
        Forming {
            max_batch,
            delay: Duration::ZERO,
            busy_delay,
            in_flight,
        }
    }

    /// A pass that records its batch's size at once.
    fn quick_pass(jobs: Vec<Probe>) {
        jobs[0].batches.lock().unwrap().push(jobs.len());
        for j in jobs {
            let _ = j.done.send(());
        }
    }

    /// Queues a request counted in `in_flight` until its answer (as [`Pending`] counts it);
    /// the returned task ends with the answer.
    async fn send_pending(
        tx: &mpsc::Sender<Probe>,
        in_flight: &Arc<InFlight>,
        batches: &Arc<Mutex<Vec<usize>>>,
        counted: bool,
    ) -> tokio::task::JoinHandle<bool> {
        if !counted {
            in_flight.requests.fetch_add(1, Ordering::AcqRel);
        }
        let (done, answer) = oneshot::channel();
        let probe = Probe {
            batches: batches.clone(),
            started: Arc::default(),
            done,
        };
        assert!(tx.send(probe).await.is_ok(), "the batcher stopped");
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            let answered = answer.await.is_ok();
            in_flight.requests.fetch_sub(1, Ordering::AcqRel);
            answered
        })
    }

    /// The batch sizes for two requests 100 ms apart on an idle batcher that waits up to 2 s
    /// for more when busy. With `other`, the second is pending already (being rasterized)
    /// when the first is queued.
    async fn two_requests_100_ms_apart(other: bool) -> Vec<usize> {
        let in_flight = Arc::new(InFlight::default());
        let (tx, rx) = mpsc::channel(8);
        let forming = forming(64, Duration::from_secs(2), in_flight.clone());
        tokio::spawn(batcher(rx, forming, 1, (quick_pass, RunOn::Worker)));
        let batches = Arc::new(Mutex::new(Vec::new()));
        if other {
            in_flight.requests.fetch_add(1, Ordering::AcqRel);
        }
        let first = send_pending(&tx, &in_flight, &batches, false).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = send_pending(&tx, &in_flight, &batches, other).await;
        // A busy batch waits its 2 s out; nothing waits longer.
        for answered in [first, second] {
            let answered = tokio::time::timeout(Duration::from_secs(5), answered).await;
            assert!(
                matches!(answered, Ok(Ok(true))),
                "a request was left waiting"
            );
        }
        batches.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_waits_for_more_only_while_other_requests_are_pending() {
        // Alone: the first request runs at once, and so does the second.
        assert_eq!(two_requests_100_ms_apart(false).await, vec![1, 1]);
        // The second was pending already: the first waits for it.
        assert_eq!(two_requests_100_ms_apart(true).await, vec![2]);
    }

    /// A pass that panics.
    fn panicking_pass(_jobs: Vec<Probe>) {
        panic!("a pass failed");
    }

    /// A panicking pass loses its own requests (their answers are dropped) but frees its
    /// slot: the batcher goes on serving, on either kind of thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_pass_frees_its_slot() {
        for on in [RunOn::Worker, RunOn::BlockingThread] {
            let (tx, rx) = mpsc::channel(8);
            let forming = forming(4, Duration::ZERO, Arc::default());
            tokio::spawn(batcher(rx, forming, 1, (panicking_pass, on)));
            for _ in 0..3 {
                let (done, answer) = oneshot::channel();
                let probe = Probe {
                    batches: Arc::default(),
                    started: Arc::default(),
                    done,
                };
                assert!(tx.send(probe).await.is_ok(), "the batcher stopped ({on:?})");
                let answer = tokio::time::timeout(Duration::from_secs(5), answer).await;
                assert!(
                    matches!(answer, Ok(Err(_))),
                    "{on:?}: the request's answer is dropped, not left waiting"
                );
            }
        }
    }
}
