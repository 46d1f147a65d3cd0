//! Durable, group-committed, idempotent ingest.
//!
//! Every accepted drawing goes through one queue. Committers take everything waiting (up to
//! `max_batch`) at once: the batch's records are packed into one segment object (written
//! and made durable first), then its rows go into SQL in one transaction; only after the
//! commit does any submitter get its answer. While one batch commits, the next one gathers,
//! so under load thousands of drawings share one fsync and one transaction.
//!
//! Idempotency is by drawing id and the sha256 of the packed record: the same id with the
//! same content answers as the first time (same `received_at`); the same id with other
//! content is a conflict. A segment whose rows were not committed is never referenced and
//! is harmless.

use crate::config::IngestSettings;
use crate::db::{Backend, Db};
use crate::drawings::sql::NewDrawingRow;
use crate::objects::Objects;
use bytes::Bytes;
use inkset_protocol::packed;
use inkset_protocol::{Drawing, Origin};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How a submission ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now.
    Stored {
        /// Server receive time, ms since the epoch.
        received_at: i64,
    },
    /// The same drawing was stored before.
    AlreadyStored {
        /// When it was first stored.
        received_at: i64,
    },
}

impl Outcome {
    /// The receive time of the stored drawing.
    pub fn received_at(self) -> i64 {
        match self {
            Self::Stored { received_at } | Self::AlreadyStored { received_at } => received_at,
        }
    }
}

/// Why a submission was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The id is stored with other content.
    #[error("drawing {0} already exists with different content")]
    Conflict(Uuid),
    /// The server is shutting down.
    #[error("ingest is shutting down")]
    Closed,
    /// The queue stayed full for the whole queue wait.
    #[error("the ingest queue is full; retry shortly")]
    Overloaded,
    /// Storage failed; nothing of the batch was acknowledged.
    #[error("storage failed: {0}")]
    Storage(String),
}

struct Job {
    drawing: Drawing,
    origin: Origin,
    /// Server clock minus the client's clock at upload, ms (`BatchUpload::sent_at`).
    clock_offset_ms: Option<i64>,
    reply: oneshot::Sender<Result<Outcome, IngestError>>,
}

/// Handle to the ingest queue. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
    wait: std::time::Duration,
}

/// The running committers; await [`Committers::join`] after dropping every [`Ingest`] to
/// drain the queue on shutdown.
pub struct Committers {
    tasks: JoinSet<()>,
}

impl Committers {
    /// Waits until every queued drawing is committed or answered.
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Ingest {
    /// Starts the committers.
    pub fn start(db: Db, objects: Objects, settings: &IngestSettings) -> (Self, Committers) {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let writers = settings.writers.unwrap_or(match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        });
        let mut tasks = JoinSet::new();
        for _ in 0..writers.max(1) {
            let committer = Committer {
                db: db.clone(),
                objects: objects.clone(),
                rx: rx.clone(),
                max_batch: settings.max_batch.max(1),
            };
            tasks.spawn(committer.run());
        }
        let wait = std::time::Duration::from_millis(settings.queue_wait_ms.max(1));
        (Self { tx, wait }, Committers { tasks })
    }

    /// Stores a validated drawing and returns once it is durable.
    ///
    /// # Errors
    /// [`IngestError`] on conflict, shutdown or storage failure.
    pub async fn submit(&self, drawing: Drawing, origin: Origin) -> Result<Outcome, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.enqueue(Job {
            drawing,
            origin,
            clock_offset_ms: None,
            reply,
        })
        .await?;
        rx.await.map_err(|_| IngestError::Closed)?
    }

    /// Queues a job, waiting at most the queue wait for room.
    async fn enqueue(&self, job: Job) -> Result<(), IngestError> {
        let sent = self.tx.send_timeout(job, self.wait).await;
        // Queue depth as this submission sees it (the receiving side is held by whichever
        // committer waits for work, so it is read here).
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(crate::observe::INGEST_QUEUE_DEPTH)
            .set((self.tx.max_capacity() - self.tx.capacity()) as f64);
        match sent {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(IngestError::Overloaded),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(IngestError::Closed),
        }
    }

    /// Stores many validated drawings; results in the same order. `clock_offset_ms` is the
    /// server clock minus the uploading client's clock (None: trust no client time and date
    /// drawings by their receipt).
    pub async fn submit_many(
        &self,
        drawings: Vec<(Drawing, Origin)>,
        clock_offset_ms: Option<i64>,
    ) -> Vec<Result<Outcome, IngestError>> {
        let mut waits = Vec::with_capacity(drawings.len());
        for (drawing, origin) in drawings {
            let (reply, rx) = oneshot::channel();
            let sent = self
                .enqueue(Job {
                    drawing,
                    origin,
                    clock_offset_ms,
                    reply,
                })
                .await;
            waits.push(sent.map(|()| rx));
        }
        let mut out = Vec::with_capacity(waits.len());
        for w in waits {
            out.push(match w {
                Ok(rx) => rx.await.unwrap_or(Err(IngestError::Closed)),
                Err(e) => Err(e),
            });
        }
        out
    }
}

struct Committer {
    db: Db,
    objects: Objects,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
}

struct Prepared {
    job: Job,
    frame_tag: u8,
    bytes: Vec<u8>,
    hash: String,
}

/// Records at least this long are offered to zstd; shorter ones rarely shrink.
const COMPRESS_FROM_BYTES: usize = 256;

impl Committer {
    async fn run(self) {
        let mut buf = Vec::with_capacity(self.max_batch);
        loop {
            let n = {
                let mut rx = self.rx.lock().await;
                rx.recv_many(&mut buf, self.max_batch).await
            };
            if n == 0 {
                return;
            }
            self.commit(std::mem::take(&mut buf)).await;
        }
    }

    async fn commit(&self, jobs: Vec<Job>) {
        let started = std::time::Instant::now();
        let count = jobs.len();
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!(crate::observe::INGEST_COMMIT_SIZE).record(count as f64);
        let prepared = tokio::task::spawn_blocking(move || jobs.into_iter().map(prepare).collect())
            .await
            .unwrap_or_default();
        let result = self.store(prepared).await;
        metrics::histogram!(crate::observe::INGEST_COMMIT_DURATION)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => tracing::debug!(
                drawings = count,
                millis = started.elapsed().as_millis(),
                "group commit"
            ),
            Err(e) => tracing::error!(drawings = count, error = %e, "group commit failed"),
        }
    }

    async fn store(&self, prepared: Vec<Prepared>) -> anyhow::Result<()> {
        // Primary submission per id; later ones in the same batch follow it.
        let mut primary: HashMap<Uuid, usize> = HashMap::new();
        let mut followers: Vec<(usize, usize)> = Vec::new();
        for (i, p) in prepared.iter().enumerate() {
            match primary.get(&p.job.drawing.id) {
                Some(&first) => followers.push((i, first)),
                None => {
                    primary.insert(p.job.drawing.id, i);
                }
            }
        }
        let ids: Vec<Uuid> = primary.keys().copied().collect();
        let mut answers: Vec<Option<Result<Outcome, IngestError>>> = vec![None; prepared.len()];
        let result = self
            .store_new(&prepared, &primary, &ids, &mut answers)
            .await;
        if let Err(e) = &result {
            for a in answers.iter_mut().filter(|a| a.is_none()) {
                *a = Some(Err(IngestError::Storage(e.to_string())));
            }
        }
        for (i, first) in followers {
            answers[i] = Some(match &answers[first] {
                Some(Ok(o)) if prepared[i].hash == prepared[first].hash => {
                    Ok(Outcome::AlreadyStored {
                        received_at: o.received_at(),
                    })
                }
                Some(Ok(_)) => Err(IngestError::Conflict(prepared[i].job.drawing.id)),
                Some(Err(e)) => Err(e.clone()),
                None => Err(IngestError::Closed),
            });
        }
        for (p, answer) in prepared.into_iter().zip(answers) {
            let _ = p.job.reply.send(answer.unwrap_or(Err(IngestError::Closed)));
        }
        result
    }

    async fn store_new(
        &self,
        prepared: &[Prepared],
        primary: &HashMap<Uuid, usize>,
        ids: &[Uuid],
        answers: &mut [Option<Result<Outcome, IngestError>>],
    ) -> anyhow::Result<()> {
        let existing = self.db.existing(ids).await?;
        let mut new_rows = Vec::new();
        let mut segment = Vec::new();
        let received_at = crate::now_ms();
        for (&id, &i) in primary {
            let p = &prepared[i];
            if let Some(e) = existing.get(&id) {
                answers[i] = Some(if e.content_hash == p.hash {
                    Ok(Outcome::AlreadyStored {
                        received_at: e.received_at,
                    })
                } else {
                    Err(IngestError::Conflict(id))
                });
                continue;
            }
            let (offset, length) = packed::push_framed(&mut segment, p.frame_tag, &p.bytes);
            new_rows.push((i, row_for(p, received_at, offset, length)));
        }
        if new_rows.is_empty() {
            return Ok(());
        }
        let key = segment_key(received_at);
        let byte_count = i64::try_from(segment.len()).unwrap_or(i64::MAX);
        self.objects.put_durable(&key, Bytes::from(segment)).await?;
        let rows: Vec<NewDrawingRow> = new_rows.iter().map(|(_, r)| r.clone()).collect();
        let inserted = self.db.insert_segment(&key, byte_count, &rows).await?;
        let inserted: std::collections::HashSet<Uuid> = inserted.into_iter().collect();
        let mut raced = Vec::new();
        for (i, row) in &new_rows {
            if inserted.contains(&row.id) {
                answers[*i] = Some(Ok(Outcome::Stored { received_at }));
                let origin = match prepared[*i].job.origin {
                    Origin::Api => "player",
                    Origin::Import => "import",
                };
                metrics::counter!(crate::observe::DRAWINGS_ACCEPTED, "origin" => origin)
                    .increment(1);
            } else {
                raced.push((*i, row.id));
            }
        }
        if !raced.is_empty() {
            // Another committer stored the same id between our check and our insert.
            let ids: Vec<Uuid> = raced.iter().map(|(_, id)| *id).collect();
            let now = self.db.existing(&ids).await?;
            for (i, id) in raced {
                answers[i] = Some(match now.get(&id) {
                    Some(e) if e.content_hash == prepared[i].hash => Ok(Outcome::AlreadyStored {
                        received_at: e.received_at,
                    }),
                    _ => Err(IngestError::Conflict(id)),
                });
            }
        }
        Ok(())
    }
}

fn prepare(job: Job) -> Prepared {
    let stored = encode_for_storage(&job.drawing);
    Prepared {
        job,
        frame_tag: stored.tag,
        bytes: stored.bytes,
        hash: stored.content_hash,
    }
}

/// A drawing in the form it is stored in a segment.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Compression tag ([`packed::COMPRESSION_NONE`] or [`packed::COMPRESSION_ZSTD`]).
    pub tag: u8,
    /// The record, compressed when that made it smaller.
    pub bytes: Vec<u8>,
    /// sha256 (hex) of the uncompressed record: the drawing's content identity.
    pub content_hash: String,
}

impl StoredRecord {
    /// Bytes the record takes in a segment, frame header included.
    pub fn framed_len(&self) -> usize {
        self.bytes.len() + 5
    }
}

/// Packs a drawing as ingest stores it: [`packed::encode`], then zstd (level 3) for records
/// of at least 256 bytes when that shrinks them.
pub fn encode_for_storage(drawing: &Drawing) -> StoredRecord {
    let record = packed::encode(drawing);
    let content_hash = hex::encode(Sha256::digest(&record));
    thread_local! {
        // One compression context per thread: creating one per record costs more than
        // compressing a small record.
        static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Compressor::new(3).ok());
    }
    let compress = |record: &[u8]| {
        ZSTD.with(|z| match z.borrow_mut().as_mut() {
            Some(c) => c.compress(record),
            None => zstd::bulk::compress(record, 3),
        })
    };
    let (tag, bytes) = if record.len() >= COMPRESS_FROM_BYTES {
        match compress(&record) {
            Ok(z) if z.len() < record.len() => (packed::COMPRESSION_ZSTD, z),
            _ => (packed::COMPRESSION_NONE, record),
        }
    } else {
        (packed::COMPRESSION_NONE, record)
    };
    StoredRecord {
        tag,
        bytes,
        content_hash,
    }
}

fn row_for(p: &Prepared, received_at: i64, offset: usize, length: usize) -> NewDrawingRow {
    let d = &p.job.drawing;
    let src = d.source.as_ref();
    NewDrawingRow {
        id: d.id,
        shape: d.shape.clone(),
        session_id: d.session_id,
        origin: match p.job.origin {
            Origin::Api => "api",
            Origin::Import => "import",
        },
        received_at,
        client_started_at: d.first_timestamp(),
        duration_ms: d.duration_ms.and_then(|v| i64::try_from(v).ok()),
        device: d.device.map(inkset_protocol::Device::as_str),
        stroke_count: i64::try_from(d.strokes.len()).unwrap_or(i64::MAX),
        point_count: i64::try_from(d.point_count()).unwrap_or(i64::MAX),
        segment_offset: i64::try_from(offset).unwrap_or(i64::MAX),
        segment_length: i64::try_from(length).unwrap_or(i64::MAX),
        content_hash: p.hash.clone(),
        source_key_id: src.map(|s| s.key_id.to_string()),
        source_recognized: src.and_then(|s| s.recognized).map(i64::from),
        source_countrycode: src.and_then(|s| s.countrycode.clone()),
        source_timestamp_us: src
            .and_then(|s| s.timestamp.as_deref())
            .and_then(|t| inkset_protocol::quickdraw::parse_timestamp(t).ok()),
        drawn_at: drawn_at(d.first_timestamp(), p.job.clock_offset_ms, received_at),
        guess_recognized: d.guess.as_ref().map(|g| i64::from(g.recognized)),
        guess_confidence: d.guess.as_ref().map(|g| g.confidence),
        guess_model_version: d.guess.as_ref().map(|g| i64::from(g.model_version)),
        pointer_types: pointer_types(d),
        prompt_to_first_point_ms: d
            .prompt_to_first_point_ms
            .and_then(|v| i64::try_from(v).ok()),
    }
}

/// The distinct reported pointer types of a drawing's strokes, sorted, comma-separated.
fn pointer_types(d: &Drawing) -> Option<String> {
    let types: std::collections::BTreeSet<&str> = d
        .strokes
        .iter()
        .filter_map(|s| s.pointer_type.as_deref())
        .collect();
    (!types.is_empty()).then(|| types.into_iter().collect::<Vec<_>>().join(","))
}

/// Server-corrected time a drawing was made, ms: its first point's client time plus the
/// device clock's offset, never after the server received it; the receive time when either
/// is unknown.
fn drawn_at(first_point: Option<i64>, clock_offset_ms: Option<i64>, received_at: i64) -> i64 {
    match (first_point, clock_offset_ms) {
        (Some(t), Some(off)) => t.saturating_add(off).min(received_at),
        _ => received_at,
    }
}

/// `segments/YYYY/MM/DD/<uuid>.seg` ([`crate::drawings::sweeper::day_prefix`]), dated by the
/// server receive time.
fn segment_key(received_at_ms: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(received_at_ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{}/{}.seg",
        crate::drawings::sweeper::day_prefix(date),
        Uuid::new_v4()
    )
}
