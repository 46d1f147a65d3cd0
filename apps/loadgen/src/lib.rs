//! `inkset-loadgen`: simulated players against a running `inkset-server`, in a process of
//! their own (so the server's numbers are not the load generator's).
//!
//! Each player, as Inkset Draw does: creates an anonymous session (`POST /api/sessions`),
//! fetches the shapes, then plays rounds. A round is one real drawing from `--data` (Quick,
//! Draw! raw and the derived sets with timing: their real point counts and timings), of a
//! shape the server prompts, re-timed to now, sent as the game sends it (canvas, pressure,
//! epoch timestamps, colour, width, device) with a fresh UUID, after a think time drawn from
//! an exponential distribution of mean `--think-ms`. Online players upload each round at
//! once (a batch of one); `--offline-share` of them keep 5–20 rounds and then sync them as
//! one batch, as a device coming back online does; `--guess-share` ask for a live guess
//! (`POST /api/inference/classify`) before each upload when the server serves a recognizer.
//! Players start evenly over `--ramp-seconds`; the measured window is the `--seconds` after
//! the ramp.
//!
//! Reported (text, and JSON with `--json FILE`): acknowledged drawings (201 in a batch
//! answer: durable on the server) per second over the window; acknowledgement latency
//! p50/p95/p99/max (request sent to answer read, HdrHistogram, µs resolution); errors by
//! kind (HTTP status or transport); and, with `--server-pid` (once per replica), the server
//! processes' CPU (cores busy, from `/proc/<pid>/stat`) and resident memory
//! (`/proc/<pid>/status`), summed, each second.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use inkset_client::{Client, ClientError, Retry};
use inkset_protocol::api::BatchUpload;
use inkset_protocol::ml::ClassifyRequest;
use inkset_protocol::quickdraw::Record;
use inkset_protocol::{Canvas, Device, Drawing};
use rand::Rng;
use uuid::Uuid;

pub mod classify;
pub mod crash;
pub mod queries;

/// The command line: `players` (a load run against a running server) or `crash` (kill -9
/// cycles under load against a server it starts, then a durability check).
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Simulated Inkset Draw players against an inkset-server"
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Simulated players against a running server; reports drawings/s, acknowledgement
    /// latency, errors and the server's CPU and memory.
    Players(Args),
    /// Starts a server, kills it with SIGKILL at random moments under load and restarts it,
    /// then checks every acknowledged drawing is stored once and byte-identical, and that
    /// the orphaned segments the crashes left were swept.
    Crash(crash::CrashArgs),
    /// Times the admin's read paths against a running server (statistics, counts, browse
    /// filters and sorts, the review queue, the training plan) and, optionally, a training
    /// job's data stream.
    Queries(queries::QueryArgs),
    /// Closed-loop clients asking the production recognizer for answers
    /// (`POST /api/inference/classify`); reports answers/s, latency and errors.
    Classify(classify::ClassifyArgs),
}

/// Settings of a players run.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Players at once.
    #[arg(long, default_value_t = 1_000)]
    pub players: usize,
    /// Seconds over which the players start.
    #[arg(long, default_value_t = 10)]
    pub ramp_seconds: u64,
    /// Measured seconds after the ramp.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Mean think time before each round's upload, ms (exponentially distributed).
    #[arg(long, default_value_t = 2_000)]
    pub think_ms: u64,
    /// Share of players that play offline and sync 5–20 rounds as one batch.
    #[arg(long, default_value_t = 0.1)]
    pub offline_share: f64,
    /// Share of players that ask for a live guess before each upload.
    #[arg(long, default_value_t = 0.1)]
    pub guess_share: f64,
    /// The shared data folder (its `quickdraw/` and `derived/` ndjson files).
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// The server's process id, to sample its CPU and resident memory; repeat it for
    /// several replicas (their sum is reported).
    #[arg(long)]
    pub server_pid: Vec<u32>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs the harness with the command line's settings.
///
/// # Errors
/// When the data cannot be read or the server cannot be reached at all.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Players(args) => {
            let report = rt.block_on(run(args.clone()))?;
            println!("{}", report.text());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
            }
            Ok(())
        }
        Command::Crash(args) => {
            let report = rt.block_on(crash::run(args.clone()))?;
            println!("{}", report.text());
            if let Some(path) = &args.players.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
            }
            anyhow::ensure!(report.passed(), "durability check failed (see above)");
            Ok(())
        }
        Command::Classify(args) => {
            let report = rt.block_on(classify::run(args.clone()))?;
            println!("{}", report.text());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
            }
            Ok(())
        }
        Command::Queries(args) => {
            let report = rt.block_on(queries::run(args.clone()))?;
            println!("{}", report.text());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
            }
            Ok(())
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Players started.
    pub players: usize,
    /// Measured window, s.
    pub seconds: f64,
    /// Drawings acknowledged (201) in the window.
    pub acknowledged: u64,
    /// Drawings acknowledged in the whole run.
    pub acknowledged_total: u64,
    /// Upload requests answered in the window.
    pub uploads: u64,
    /// Live guesses answered in the whole run.
    pub guesses: u64,
    /// Acknowledgement latency in the window, ms: p50, p95, p99, max.
    pub latency_ms: [f64; 4],
    /// Failures by kind over the whole run.
    pub errors: BTreeMap<String, u64>,
    /// The server's CPU, cores busy: mean and peak over the window's seconds.
    pub server_cpu: Option<(f64, f64)>,
    /// The server's resident memory, MiB: at the start and the peak.
    pub server_rss_mib: Option<(f64, f64)>,
}

impl Report {
    /// Human-readable lines.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} players, {:.0} s measured: {:.0} acknowledged drawings/s ({} in the window, {} \
             in all; {} uploads in the window, {} live guesses in all)\n\
             acknowledgement latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
            self.players,
            self.seconds,
            self.acknowledged as f64 / self.seconds,
            self.acknowledged,
            self.acknowledged_total,
            self.uploads,
            self.guesses,
            self.latency_ms[0],
            self.latency_ms[1],
            self.latency_ms[2],
            self.latency_ms[3],
        );
        if self.errors.is_empty() {
            s.push_str("errors: none\n");
        }
        for (kind, n) in &self.errors {
            s.push_str(&format!("errors {kind}: {n}\n"));
        }
        if let Some((mean, peak)) = self.server_cpu {
            s.push_str(&format!(
                "server CPU: {mean:.2} cores busy on average, {peak:.2} at peak\n"
            ));
        }
        if let Some((start, peak)) = self.server_rss_mib {
            s.push_str(&format!(
                "server resident memory: {start:.0} MiB at the start, {peak:.0} MiB at peak\n"
            ));
        }
        s
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "players": self.players,
            "seconds": self.seconds,
            "acknowledged_per_second": self.acknowledged as f64 / self.seconds,
            "acknowledged": self.acknowledged,
            "acknowledged_total": self.acknowledged_total,
            "uploads": self.uploads,
            "guesses": self.guesses,
            "latency_ms": {"p50": self.latency_ms[0], "p95": self.latency_ms[1],
                           "p99": self.latency_ms[2], "max": self.latency_ms[3]},
            "errors": self.errors,
            "server_cpu_cores": self.server_cpu.map(|(m, p)| serde_json::json!({"mean": m, "peak": p})),
            "server_rss_mib": self.server_rss_mib.map(|(s, p)| serde_json::json!({"start": s, "peak": p})),
        })
    }
}

/// Every timed real drawing under `data` (`quickdraw/raw` and `derived/`), by word.
///
/// # Errors
/// When the folder cannot be read.
pub fn real_drawings(data: &std::path::Path) -> anyhow::Result<BTreeMap<String, Vec<Drawing>>> {
    let dirs = [data.join("quickdraw/raw"), data.join("derived")];
    let files = inkset_protocol::quickdraw::ndjson_files(&dirs)
        .with_context(|| format!("reading {}", data.display()))?;
    let mut out: BTreeMap<String, Vec<Drawing>> = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| f.display().to_string())?;
        for line in text.lines() {
            if let Ok(r) = Record::parse_line(line) {
                let d = r.into_drawing();
                out.entry(d.shape.clone()).or_default().push(d);
            }
        }
    }
    Ok(out)
}

/// A real drawing as Inkset Draw sends it: a fresh id, a canvas around the points (plus a
/// margin), the real timings moved to `start` (ms since the Unix epoch), mouse input with
/// the browser's reported 0.5 pressure, the game's ink.
pub fn as_upload(real: &Drawing, start: i64) -> Drawing {
    let mut d = real.clone();
    let (mut w, mut h) = (1.0_f64, 1.0_f64);
    let t0 = d.first_timestamp().unwrap_or(0);
    // Moved into the canvas whole: some real strokes start left of or above 0.
    let all = || real.strokes.iter().flat_map(|s| &s.points);
    let dx = all().map(|p| p.x).fold(0.0_f64, f64::min);
    let dy = all().map(|p| p.y).fold(0.0_f64, f64::min);
    let mut i = 0;
    for s in &mut d.strokes {
        s.color = Some("#1d1d1f".into());
        s.width = Some(4.0);
        s.pointer_type = Some("mouse".into());
        s.pressure_measured = Some(false);
        for p in &mut s.points {
            p.x -= dx;
            p.y -= dy;
            w = w.max(p.x + 1.0);
            h = h.max(p.y + 1.0);
            p.pressure = Some(0.5);
            // Without timing (simplified data), 16 ms a point.
            p.timestamp = Some(start + p.timestamp.map_or(i * 16, |t| t - t0));
            i += 1;
        }
    }
    let times = || {
        d.strokes
            .iter()
            .flat_map(|s| &s.points)
            .filter_map(|p| p.timestamp)
    };
    let duration = times().max().unwrap_or(start) - times().min().unwrap_or(start);
    d.id = Uuid::new_v4();
    d.source = None;
    d.canvas = Some(Canvas {
        width: w.min(16_384.0),
        height: h.min(16_384.0),
    });
    d.duration_ms = Some(u64::try_from(duration).unwrap_or(0));
    d.device = Some(Device::Mouse);
    d.user_agent = Some("inkset-loadgen".into());
    d.device_pixel_ratio = Some(1.0);
    d.prompt_to_first_point_ms = Some(600);
    d
}

/// Counters shared by the players.
struct Shared {
    /// Every acknowledged drawing's expected forms, when a durability check follows.
    acked: Option<Mutex<HashMap<Uuid, crash::Ack>>>,
    measuring: AtomicBool,
    acknowledged: AtomicU64,
    acknowledged_total: AtomicU64,
    uploads: AtomicU64,
    guesses: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn error(&self, kind: String) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(kind).or_default() += 1;
        }
    }

    fn client_error(&self, what: &str, e: &ClientError) {
        let kind = match e.status() {
            Some(s) => format!("{what}: HTTP {s}"),
            None if e.is_transport() => format!("{what}: transport"),
            None => format!("{what}: {e}"),
        };
        self.error(kind);
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One simulated player until `stop`.
async fn player(
    client: Client,
    pool: Arc<BTreeMap<String, Vec<Drawing>>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    think_ms: u64,
    offline: bool,
    guess: bool,
) {
    let session = loop {
        match client.create_session().await {
            Ok(s) => break s,
            Err(e) => {
                shared.client_error("session", &e);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let me = client.with_token(&session.token);
    let shapes: Vec<String> = match me.shapes().await {
        Ok(s) => s
            .into_iter()
            .map(|s| s.name)
            .filter(|s| pool.contains_key(s))
            .collect(),
        Err(e) => {
            shared.client_error("shapes", &e);
            pool.keys().cloned().collect()
        }
    };
    if shapes.is_empty() {
        shared.error("no shape of the server's has real drawings in --data".into());
        return;
    }
    let mut queued: Vec<Drawing> = Vec::new();
    let mut hold = rand::rng().random_range(5..=20);
    while !stop.load(Ordering::Relaxed) {
        let think = {
            let u: f64 = rand::rng().random_range(f64::EPSILON..1.0);
            #[allow(clippy::cast_precision_loss)]
            let mean = think_ms as f64;
            Duration::from_secs_f64(-u.ln() * mean / 1_000.0)
        };
        tokio::time::sleep(think).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let real = {
            let mut rng = rand::rng();
            let drawings = &pool[&shapes[rng.random_range(0..shapes.len())]];
            &drawings[rng.random_range(0..drawings.len())]
        };
        let mut drawing = as_upload(real, now_ms());
        // As the game sends it: the session is named (the server would fill it in).
        drawing.session_id = Some(session.session_id);
        if guess {
            let req = ClassifyRequest {
                strokes: drawing.strokes.clone(),
                canvas: drawing.canvas,
            };
            match me.classify(&req).await {
                Ok(_) => {
                    shared.guesses.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => shared.client_error("classify", &e),
            }
        }
        queued.push(drawing);
        if offline && queued.len() < hold {
            continue;
        }
        hold = rand::rng().random_range(5..=20);
        let batch = BatchUpload {
            drawings: std::mem::take(&mut queued),
            sent_at: Some(now_ms()),
        };
        let started = Instant::now();
        let answer = me.upload_batch(&batch).await;
        let took = started.elapsed();
        let measuring = shared.measuring.load(Ordering::Relaxed);
        match answer {
            Ok(result) => {
                let ok = result.results.iter().filter(|r| r.status == 201).count() as u64;
                if let Some(acked) = &shared.acked {
                    let sent: HashMap<Uuid, &Drawing> =
                        batch.drawings.iter().map(|d| (d.id, d)).collect();
                    let acks: Vec<(Uuid, crash::Ack)> = result
                        .results
                        .iter()
                        .filter(|r| r.status == 201)
                        .filter_map(|r| {
                            let d = sent.get(&r.id?)?;
                            Some((d.id, crash::Ack::of(d, r.received_at?)))
                        })
                        .collect();
                    if let Ok(mut a) = acked.lock() {
                        a.extend(acks);
                    }
                }
                for r in result.results.iter().filter(|r| r.status != 201) {
                    shared.error(format!("drawing refused: HTTP {}", r.status));
                }
                shared.acknowledged_total.fetch_add(ok, Ordering::Relaxed);
                if measuring {
                    shared.acknowledged.fetch_add(ok, Ordering::Relaxed);
                    shared.uploads.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut h) = shared.latency.lock() {
                        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                        let _ = h.record(us.max(1));
                    }
                }
            }
            Err(e) => {
                shared.client_error("upload", &e);
                // Kept for the next round, as the game's outbox keeps them.
                queued = batch.drawings;
            }
        }
    }
}

/// `(utime + stime in clock ticks, resident KiB)` summed over processes (None: none given,
/// or one is gone).
pub(crate) fn sample_all(pids: &[u32]) -> Option<(u64, u64)> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold((0, 0), |(t, r), pid| {
        let (ticks, rss) = sample(*pid)?;
        Some((t + ticks, r + rss))
    })
}

/// `(utime + stime in clock ticks, resident KiB)` of a process.
fn sample(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((ticks, rss))
}

/// Running players.
struct Players {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// When the last player has started.
    ramped: Instant,
}

impl Players {
    /// Loads the real drawings and starts `args.players` players over the ramp; with
    /// `record_acks`, every acknowledged drawing's expected forms are kept
    /// ([`crash::Ack`]).
    async fn start(args: &Args, record_acks: bool) -> anyhow::Result<Self> {
        let pool = Arc::new(real_drawings(&args.data)?);
        anyhow::ensure!(
            !pool.is_empty(),
            "no real drawings under {}",
            args.data.display()
        );
        // One pool of connections for every player: each holds its own keep-alive
        // connection while it has a request out, as a device would.
        let client = Client::builder(&args.server)
            .timeout(Duration::from_secs(60))
            .user_agent("inkset-loadgen")
            .retry(Retry::NONE)
            .build()?;
        let shared = Arc::new(Shared {
            acked: record_acks.then(|| Mutex::new(HashMap::new())),
            measuring: AtomicBool::new(false),
            acknowledged: AtomicU64::new(0),
            acknowledged_total: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
            guesses: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
            errors: Mutex::new(BTreeMap::new()),
        });
        // Live guesses only when the server serves a recognizer.
        let first = pool
            .values()
            .flatten()
            .next()
            .context("no real drawing to probe the server with")?;
        let probe = ClassifyRequest {
            strokes: as_upload(first, now_ms()).strokes,
            canvas: None,
        };
        let guessing = args.guess_share > 0.0 && client.classify(&probe).await.is_ok();
        if args.guess_share > 0.0 && !guessing {
            eprintln!("the server serves no recognizer: no live guesses");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::with_capacity(args.players);
        let ramp = Duration::from_secs(args.ramp_seconds);
        let started = Instant::now();
        for i in 0..args.players {
            #[allow(clippy::cast_precision_loss)]
            let at = ramp.mul_f64(i as f64 / args.players.max(1) as f64);
            let (offline, guess) = {
                let mut rng = rand::rng();
                (
                    rng.random_bool(args.offline_share.clamp(0.0, 1.0)),
                    guessing && rng.random_bool(args.guess_share.clamp(0.0, 1.0)),
                )
            };
            let (client, pool, shared, stop) =
                (client.clone(), pool.clone(), shared.clone(), stop.clone());
            let think_ms = args.think_ms;
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(started + at)).await;
                player(client, pool, shared, stop, think_ms, offline, guess).await;
            }));
        }
        Ok(Self {
            shared,
            stop,
            tasks,
            ramped: started + ramp,
        })
    }

    /// Stops every player (each finishes its request in flight) and waits for them.
    async fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(90), t).await;
        }
    }

    /// Failures by kind so far.
    fn errors(&self) -> BTreeMap<String, u64> {
        self.shared
            .errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

/// Runs the players and measures.
///
/// # Errors
/// When the data cannot be read or the server's URL is malformed.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    let mut players = Players::start(&args, false).await?;
    let shared = players.shared.clone();
    tokio::time::sleep_until(tokio::time::Instant::from_std(players.ramped)).await;
    shared.measuring.store(true, Ordering::SeqCst);
    let window = Instant::now();
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let first = sample_all(&args.server_pid);
    let (mut cpu, mut rss_peak) = (Vec::new(), first.map_or(0, |f| f.1));
    let mut last = first;
    for _ in 0..args.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(prev) = last
            && let Some(now) = sample_all(&args.server_pid)
        {
            #[allow(clippy::cast_precision_loss)]
            cpu.push((now.0.saturating_sub(prev.0)) as f64 / ticks_per_s);
            rss_peak = rss_peak.max(now.1);
            last = Some(now);
        }
    }
    shared.measuring.store(false, Ordering::SeqCst);
    let seconds = window.elapsed().as_secs_f64();
    players.stop().await;
    let latency = shared
        .latency
        .lock()
        .map_err(|_| anyhow::anyhow!("latency histogram poisoned"))?
        .clone();
    #[allow(clippy::cast_precision_loss)]
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1_000.0;
    #[allow(clippy::cast_precision_loss)]
    let server_cpu = (!cpu.is_empty()).then(|| {
        (
            cpu.iter().sum::<f64>() / cpu.len() as f64,
            cpu.iter().copied().fold(0.0, f64::max),
        )
    });
    #[allow(clippy::cast_precision_loss)]
    let server_rss_mib = first.map(|f| (f.1 as f64 / 1024.0, rss_peak as f64 / 1024.0));
    let errors = players.errors();
    Ok(Report {
        players: args.players,
        seconds,
        acknowledged: shared.acknowledged.load(Ordering::SeqCst),
        acknowledged_total: shared.acknowledged_total.load(Ordering::SeqCst),
        uploads: shared.uploads.load(Ordering::SeqCst),
        guesses: shared.guesses.load(Ordering::SeqCst),
        #[allow(clippy::cast_precision_loss)]
        latency_ms: [ms(0.5), ms(0.95), ms(0.99), latency.max() as f64 / 1_000.0],
        errors,
        server_cpu,
        server_rss_mib,
    })
}
