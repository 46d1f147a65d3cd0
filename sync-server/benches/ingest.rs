//! Ingest benchmark: stored bytes per drawing against the seed's JSON, and durable
//! drawings/s with p50/p99 acknowledgement latency under many concurrent clients, on
//! SQLite + a local directory and on PostgreSQL + a local directory.
//!
//! ```text
//! ulimit -n 65536   # 1,000 clients need 2,000+ sockets in this one process
//! cargo bench -p inkset-server --bench ingest
//! ```
//!
//! Environment: `BENCH_CLIENTS` (default 1000), `BENCH_SECONDS` (measured window, default
//! 20), `BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`; `off` skips
//! PostgreSQL), `BENCH_METRICS` (default `on`; `off` runs the server without its Prometheus
//! recorder, to measure what the metrics cost), `INKSET_SHARED_DATA` (default
//! `../shared/data`).
//!
//! Every drawing is a real one from the shared data, sent as a player's client would send it
//! in the seed's format (canvas, pressure, epoch timestamps, colour, width, device), each
//! with a fresh UUID. A request counts once the server answered 201, which it does only
//! after the drawing's segment and SQL rows are durable.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inkset_protocol::quickdraw::Record;
use inkset_protocol::{Canvas, Device, Drawing};
use inkset_server::drawings::ingest::encode_for_storage;
use inkset_server::testing::{Storage, TestServer};
use inkset_testkit::env_or;
use uuid::Uuid;

const SHAPES: [&str; 5] = ["line", "heart", "circle", "square", "triangle"];

/// Every real drawing in Quick, Draw! form (raw, simplified, derived sets).
fn real_records() -> Vec<Record> {
    let dirs = [
        inkset_testkit::shared_data().join("quickdraw"),
        inkset_testkit::shared_data().join("derived"),
    ];
    let files = inkset_server::dataset::ndjson_files(&dirs).unwrap();
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            if let Ok(r) = Record::parse_line(line) {
                out.push(r);
            }
        }
    }
    out
}

/// The drawing as a player's client sends it (the seed's format plus our additions).
fn as_upload(rec: &Record) -> Drawing {
    let mut d = rec.clone().into_drawing();
    let base = 1_764_400_000_000_i64;
    let (mut max_x, mut max_y) = (1.0_f64, 1.0_f64);
    let mut i = 0;
    for s in &mut d.strokes {
        for p in &mut s.points {
            max_x = max_x.max(p.x);
            max_y = max_y.max(p.y);
            p.timestamp = Some(base + p.timestamp.unwrap_or(i * 16));
            p.pressure = Some(0.5);
            i += 1;
        }
        s.color = Some("#1d1d1f".into());
        s.width = Some(4.0);
        s.pointer_type = Some("mouse".into());
        s.pressure_measured = Some(false);
    }
    d.canvas = Some(Canvas {
        width: max_x.ceil() + 1.0,
        height: max_y.ceil() + 1.0,
    });
    d.device = Some(Device::Mouse);
    d.user_agent = Some(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36"
            .into(),
    );
    d.device_pixel_ratio = Some(1.0);
    d.prompt_to_first_point_ms = Some(700);
    d.duration_ms = Some(d.duration_ms.unwrap_or(0));
    d.source = None;
    d.id = Uuid::new_v4();
    d
}

fn storage_report(records: &[Record]) {
    let mut json_bytes = 0usize;
    let mut stored_bytes = 0usize;
    let mut packed_bytes = 0usize;
    let mut worst: f64 = f64::MAX;
    for r in records {
        let d = as_upload(r);
        let json = serde_json::to_vec(&d).unwrap().len();
        let stored = encode_for_storage(&d);
        json_bytes += json;
        stored_bytes += stored.framed_len();
        packed_bytes += inkset_protocol::packed::encode(&d).len();
        #[allow(clippy::cast_precision_loss)]
        let ratio = json as f64 / stored.framed_len() as f64;
        worst = worst.min(ratio);
    }
    let n = records.len();
    #[allow(clippy::cast_precision_loss)]
    let ratio = json_bytes as f64 / stored_bytes as f64;
    println!("## Stored bytes per drawing ({n} real drawings)\n");
    println!("| | bytes/drawing |");
    println!("|---|---|");
    println!("| seed JSON (compact) | {} |", json_bytes / n);
    println!("| packed record, before zstd | {} |", packed_bytes / n);
    println!(
        "| stored in a segment (framed, zstd when smaller) | {} |",
        stored_bytes / n
    );
    println!("\nOverall {ratio:.1}x smaller; the worst single drawing {worst:.1}x.\n");
}

struct Run {
    label: String,
    drawings_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    ok: u64,
    failed: u64,
    sql_bytes_per_drawing: Option<u64>,
}

/// Closed loop (`rate` = None): every client sends its next drawing as soon as the last
/// one is acknowledged, which finds the most the server can take. Open loop
/// (`rate` = Some(r)): the clients together offer r drawings/s at steady intervals, which
/// shows the acknowledgement latency a player sees at that load.
async fn run_ingest(
    label: &str,
    database_url: Option<String>,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: Option<f64>,
) -> Run {
    let clients: usize = env_or("BENCH_CLIENTS", 1000);
    let seconds: u64 = env_or("BENCH_SECONDS", 20);
    let metrics_port = inkset_testkit::free_port();
    // TestServer: a local object directory in a temp dir, rate limits off (one address plays
    // 1,000 players at many times a player's pace); SQLite there, or `database_url`.
    let metrics = env_or("BENCH_METRICS", "on".to_owned()) != "off";
    let mut server = TestServer::start_with(Storage::SqliteLocal, |s| {
        s.database_url.clone_from(&database_url);
        s.metrics_listen =
            metrics.then(|| std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port)));
    })
    .await;
    let settings = server.settings.clone();
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut tokens = Vec::with_capacity(clients);
    for _ in 0..clients {
        let v: serde_json::Value = http
            .post(format!("{base}/api/sessions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    let measuring = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::with_capacity(clients);
    for (c, token) in tokens.into_iter().enumerate() {
        let http = http.clone();
        let url = format!("{base}/api/drawings");
        let bodies = bodies.clone();
        let measuring = measuring.clone();
        let running = running.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0u64;
            let mut i = c;
            let mut ticker = rate.map(|r| {
                #[allow(clippy::cast_precision_loss)]
                let period = Duration::from_secs_f64(clients as f64 / r);
                let offset = period.mul_f64(c as f64 / clients as f64);
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while running.load(Ordering::Relaxed) {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                // A fresh UUID in the template's id slot: every upload is a new drawing.
                let mut body = bodies[i % bodies.len()].clone();
                body[7..43].copy_from_slice(Uuid::new_v4().to_string().as_bytes());
                i += clients;
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = matches!(&r, Ok(r) if r.status() == 201);
                if !ok && failed == 0 && measuring.load(Ordering::Relaxed) {
                    eprintln!("client {c}: first failure: {r:?}");
                }
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                }
            }
            (latencies, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // warm-up: connections, caches
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await.unwrap();
        all.extend(l);
        failed += f;
    }
    // The server's own account of the run (Prometheus metrics, buckets left out).
    if metrics
        && let Ok(r) = http
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
        && let Ok(text) = r.text().await
    {
        eprintln!("/metrics after {label}:");
        for line in text.lines() {
            if line.starts_with("inkset_") && !line.contains("_bucket") {
                eprintln!("  {line}");
            }
        }
    }
    server.stop().await;
    all.sort();
    let all_ms: Vec<f64> = all.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let pct = |q: f64| inkset_model::stats::quantile(&all_ms, q);
    let sqlite_file = settings.data_dir.join("inkset.sqlite3");
    let db = inkset_server::db::Db::connect(&settings.database_url())
        .await
        .unwrap();
    let stored: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM drawings")
            .fetch_one(db.pool())
            .await
            .unwrap(),
        "n",
    )
    .unwrap();
    let sql_bytes_per_drawing = (settings.database_url.is_none())
        .then(|| std::fs::metadata(&sqlite_file).map(|m| m.len()).ok())
        .flatten()
        .map(|b| b / u64::try_from(stored.max(1)).unwrap());
    #[allow(clippy::cast_precision_loss)]
    Run {
        label: match rate {
            Some(r) => format!("{label}, open loop at {r:.0}/s offered"),
            None => format!("{label}, closed loop (saturation)"),
        },
        drawings_per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        ok: all.len() as u64,
        failed,
        sql_bytes_per_drawing,
    }
}

fn main() {
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let records = real_records();
    assert!(
        !records.is_empty(),
        "no data under {}",
        inkset_testkit::shared_data().display()
    );
    storage_report(&records);

    let bodies: Vec<Vec<u8>> = records
        .iter()
        .filter(|r| SHAPES.contains(&r.word.as_str()))
        .map(as_upload)
        .filter(|d| {
            // A few derived records (single dots far outside a one-pixel canvas) are not
            // valid uploads; the benchmark sends only what a client could.
            inkset_protocol::validate::validate(
                d,
                inkset_protocol::Origin::Api,
                &inkset_protocol::Limits::DEFAULT,
                |s| SHAPES.contains(&s),
            )
            .is_ok()
        })
        .map(|d| {
            let body = serde_json::to_vec(&d).unwrap();
            assert_eq!(&body[..7], br#"{"id":""#);
            body
        })
        .collect();
    let bodies = Arc::new(bodies);
    let clients: usize = env_or("BENCH_CLIENTS", 1000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut runs = Vec::new();

    let rate: f64 = env_or("BENCH_RATE", 2_000.0);
    for mode in [None, Some(rate)] {
        runs.push(runtime.block_on(run_ingest("SQLite + local dir", None, bodies.clone(), mode)));
    }

    let pg = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if pg != "off" {
        runtime.block_on(async {
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&pg).await.unwrap();
            for mode in [None, Some(rate)] {
                let name = format!("inkset_bench_{}", Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                let root = &pg[..pg.rfind('/').unwrap()];
                let url = Some(format!("{root}/{name}"));
                runs.push(run_ingest("PostgreSQL + local dir", url, bodies.clone(), mode).await);
                let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await;
            }
        });
    }

    println!("## Ingest, {clients} concurrent clients\n");
    println!(
        "| storage | durable drawings/s | p50 ack ms | p99 ack ms | acknowledged | failed | SQL bytes/drawing |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in runs {
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {} | {} | {} |",
            r.label,
            r.drawings_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.ok,
            r.failed,
            r.sql_bytes_per_drawing
                .map_or_else(|| "n/a".to_owned(), |b| b.to_string())
        );
    }
}
