//! `inkset-loadgen classify`: clients asking a running server's production recognizer for
//! answers (`POST /api/inference/classify`), in one of the two modes of Triton's
//! `perf_analyzer`:
//!
//! - **closed loop** (`--concurrency-range`'s mode, the default): each client sends its next
//!   request as soon as the last is answered, so the run measures the most the server
//!   answers with that many requests in flight;
//! - **open loop** (`--rate R`, `--request-rate-range`'s mode, and wrk2's): the clients
//!   together offer `R` requests/s at steady intervals, each client `R / clients` of them,
//!   whatever the answers take. Latency counts from the moment a request was due, not from
//!   when it was sent, so a client held up by a slow answer does not hide the wait of the
//!   requests behind it (the "coordinated omission" wrk2 corrects).
//!
//! The drawings are the real ones under `--data` (every word, in turn), as the game sends
//! them. The first `--warmup-seconds` are not counted.
//!
//! Like `perf_analyzer` and wrk, the generator keeps its own cost per request small, since
//! it shares the machine with the server: every request body is serialized once before the
//! run, and an answer is checked (status 200, a JSON object with a `label`) without
//! building the whole [`inkset_protocol::ml::Classification`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use inkset_client::{Client, Retry};
use inkset_protocol::ml::ClassifyRequest;

use crate::{as_upload, now_ms, real_drawings, sample_all};

/// Settings of a classify run.
#[derive(Debug, Clone, clap::Args)]
pub struct ClassifyArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Clients (connections); in the closed loop, requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Open loop: requests/s offered by all clients together, at steady intervals (each
    /// client `rate / clients`). Without it, the closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Seconds before the measured window (not counted).
    #[arg(long, default_value_t = 3)]
    pub warmup_seconds: u64,
    /// The shared data folder (its `quickdraw/raw/` and `derived/` ndjson files).
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// The server's process id, to sample its CPU and resident memory.
    #[arg(long)]
    pub server_pid: Vec<u32>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What a classify run measured.
#[derive(Debug, Clone)]
pub struct ClassifyReport {
    /// Clients (requests in flight).
    pub clients: usize,
    /// Open loop: requests/s offered; `None` for the closed loop.
    pub offered: Option<f64>,
    /// Measured window, s.
    pub seconds: f64,
    /// Answers (200) in the window.
    pub answered: u64,
    /// Answers per second over the window.
    pub per_second: f64,
    /// Latency in the window, ms, p50, p95, p99, max: request sent (closed loop) or due
    /// (open loop) to answer read.
    pub latency_ms: [f64; 4],
    /// The server's own latency in the window, ms, p50, p95, p99, max: each answer's
    /// `latency_ms` (the server's clock, from its parse of the request to the answer built).
    /// What `latency_ms` adds to it is spent outside the handler: in the network stack,
    /// HTTP reads and writes on both sides, and either side's wait for a core. `None` when
    /// no answer carried it.
    pub server_latency_ms: Option<[f64; 4]>,
    /// Failures by kind over the whole run.
    pub errors: BTreeMap<String, u64>,
    /// The server's CPU, cores busy: mean over the window's seconds.
    pub server_cpu: Option<f64>,
}

impl ClassifyReport {
    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "clients": self.clients,
            "offered_per_second": self.offered,
            "seconds": self.seconds,
            "answered": self.answered,
            "per_second": self.per_second,
            "latency_ms": {
                "p50": self.latency_ms[0],
                "p95": self.latency_ms[1],
                "p99": self.latency_ms[2],
                "max": self.latency_ms[3],
            },
            "server_latency_ms": self.server_latency_ms.map(|l| serde_json::json!({
                "p50": l[0],
                "p95": l[1],
                "p99": l[2],
                "max": l[3],
            })),
            "errors": self.errors,
            "server_cpu": self.server_cpu,
        })
    }

    /// Human-readable lines.
    pub fn text(&self) -> String {
        let mode = match self.offered {
            Some(rate) => format!("open loop, {rate:.0}/s offered"),
            None => "closed loop".to_owned(),
        };
        let mut s = format!(
            "{} clients, {mode}, {:.0} s measured: {:.0} answers/s ({} in the window)\n\
             latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            self.clients,
            self.seconds,
            self.per_second,
            self.answered,
            self.latency_ms[0],
            self.latency_ms[1],
            self.latency_ms[2],
            self.latency_ms[3],
        );
        if let Some(l) = self.server_latency_ms {
            s.push_str(&format!(
                "server's own latency (parse to answer) p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, \
                 max {:.2} ms\n",
                l[0], l[1], l[2], l[3],
            ));
        }
        if self.errors.is_empty() {
            s.push_str("errors: none\n");
        }
        for (kind, n) in &self.errors {
            s.push_str(&format!("errors {kind}: {n}\n"));
        }
        if let Some(cpu) = self.server_cpu {
            s.push_str(&format!("server CPU: {cpu:.2} cores busy on average\n"));
        }
        s
    }
}

/// Runs the clients and measures.
///
/// # Errors
/// When the data cannot be read, or the server does not answer a first request (no
/// recognizer in production, or not reachable).
pub async fn run(args: ClassifyArgs) -> anyhow::Result<ClassifyReport> {
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    // Each client's interval between requests in the open loop.
    #[allow(clippy::cast_precision_loss)]
    let clients_f64 = args.clients as f64;
    let interval = match args.rate {
        Some(rate) if rate.is_finite() && rate > 0.0 => {
            Some(Duration::from_secs_f64(clients_f64 / rate))
        }
        Some(rate) => anyhow::bail!("--rate must be a positive number of requests/s, not {rate}"),
        None => None,
    };
    let pool = real_drawings(&args.data)?;
    let requests: Vec<ClassifyRequest> = pool
        .values()
        .flatten()
        .map(|d| ClassifyRequest {
            strokes: as_upload(d, now_ms()).strokes,
            canvas: None,
        })
        .collect();
    anyhow::ensure!(
        !requests.is_empty(),
        "no real drawings under {}",
        args.data.display()
    );
    let client = Client::builder(&args.server)
        .timeout(Duration::from_secs(30))
        .user_agent("inkset-loadgen")
        .retry(Retry::NONE)
        .build()?;
    client
        .classify(&requests[0])
        .await
        .context("a first classify request (is a recognizer in production?)")?;
    // Bodies serialized once (cloning `Bytes` is a reference count).
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new(
        requests
            .iter()
            .map(|r| serde_json::to_vec(r).map(bytes::Bytes::from))
            .collect::<Result<_, _>>()?,
    );
    let url = format!(
        "{}/api/inference/classify",
        args.server.trim_end_matches('/')
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent("inkset-loadgen")
        .build()?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let histogram = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3);
    let latency = Arc::new(Mutex::new(histogram()?));
    let server_latency = Arc::new(Mutex::new(histogram()?));
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let mut tasks = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let (http, url, bodies, measuring, stop, answered, errors) = (
            http.clone(),
            url.clone(),
            bodies.clone(),
            measuring.clone(),
            stop.clone(),
            answered.clone(),
            errors.clone(),
        );
        let (latency, server_latency) = (latency.clone(), server_latency.clone());
        tasks.push(tokio::spawn(async move {
            // Each client walks the drawings from its own offset.
            let mut i = c * 7919;
            // Open loop: clients start spread over one interval, then keep their schedule.
            let mut due = interval.map(|every| {
                #[allow(clippy::cast_precision_loss)]
                let phase = every.mul_f64(c as f64 / clients_f64);
                tokio::time::Instant::now() + phase
            });
            while !stop.load(Ordering::Relaxed) {
                let body = bodies[i % bodies.len()].clone();
                i += 1;
                let t = match (&mut due, interval) {
                    (Some(due), Some(every)) => {
                        tokio::time::sleep_until(*due).await;
                        let t = due.into_std();
                        *due += every;
                        t
                    }
                    _ => Instant::now(),
                };
                let result = answer(&http, &url, body).await;
                let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                match result {
                    Ok(server_ms) if measuring.load(Ordering::Relaxed) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut h) = latency.lock() {
                            h.saturating_record(us.max(1));
                        }
                        if let (Some(ms), Ok(mut h)) = (server_ms, server_latency.lock()) {
                            // us, rounded; a negative or absurd value is not recorded.
                            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                            if ms.is_finite() && ms >= 0.0 {
                                h.saturating_record(((ms * 1_000.0).round() as u64).max(1));
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(kind) => {
                        if let Ok(mut m) = errors.lock() {
                            *m.entry(kind).or_default() += 1;
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup_seconds)).await;
    measuring.store(true, Ordering::SeqCst);
    let window = Instant::now();
    let first = sample_all(&args.server_pid);
    tokio::time::sleep(Duration::from_secs(args.seconds.max(1))).await;
    let last = sample_all(&args.server_pid);
    measuring.store(false, Ordering::SeqCst);
    let seconds = window.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let h = latency
        .lock()
        .map_err(|_| anyhow::anyhow!("latency histogram poisoned"))?
        .clone();
    let hs = server_latency
        .lock()
        .map_err(|_| anyhow::anyhow!("latency histogram poisoned"))?
        .clone();
    #[allow(clippy::cast_precision_loss)]
    let quantiles = |h: &Histogram<u64>| {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
        [ms(0.5), ms(0.95), ms(0.99), h.max() as f64 / 1_000.0]
    };
    let answered = answered.load(Ordering::SeqCst);
    #[allow(clippy::cast_precision_loss)]
    let server_cpu = first
        .zip(last)
        .map(|(a, b)| b.0.saturating_sub(a.0) as f64 / 100.0 / seconds);
    #[allow(clippy::cast_precision_loss)]
    Ok(ClassifyReport {
        clients: args.clients,
        offered: args.rate,
        seconds,
        answered,
        per_second: answered as f64 / seconds,
        latency_ms: quantiles(&h),
        server_latency_ms: (!hs.is_empty()).then(|| quantiles(&hs)),
        errors: errors.lock().map(|e| e.clone()).unwrap_or_default(),
        server_cpu,
    })
}

/// The part of an answer the generator reads.
#[derive(serde::Deserialize)]
struct Answer {
    label: String,
    /// The server's own latency, ms (`Classification::latency_ms`).
    latency_ms: Option<f64>,
}

/// One classify request: the server's own latency (ms) when the answer gives it; `Err`
/// names the failure kind (the HTTP status, `transport`, or `decode` for a 200 that is not
/// an answer).
async fn answer(
    http: &reqwest::Client,
    url: &str,
    body: bytes::Bytes,
) -> Result<Option<f64>, String> {
    let resp = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|_| "transport".to_owned())?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|_| "transport".to_owned())?;
    if !status.is_success() {
        return Err(status.to_string());
    }
    match serde_json::from_slice::<Answer>(&bytes) {
        Ok(a) if !a.label.is_empty() => Ok(a.latency_ms),
        _ => Err("decode".to_owned()),
    }
}
