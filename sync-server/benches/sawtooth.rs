//! A pathological but valid upload against the server's simplification: two strokes of
//! 10,000 points in a sawtooth (y jumping between 0 and 800 at every sample), stored among
//! 99 real drawings. Measures how long a thumbnail page holding it and exports holding it
//! (Quick, Draw! simplified, PNG) take, while a separate thread asks `/health/live` every
//! 10 ms on its own connections: its latencies say whether the work stalls the server.
//!
//! ```text
//! cargo bench -p inkset-server --bench sawtooth
//! ```
//!
//! Environment: `BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`;
//! `off` runs SQLite only), `INKSET_SHARED_DATA` (default `../shared/data`).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inkset_model::stats::quantile;
use inkset_server::testing::{Storage, TestServer};
use serde_json::{Value, json};
use uuid::Uuid;

/// Two strokes of `n` points each: x one step of 1.6 px per sample, y 0 or 800.
fn sawtooth(n: u32) -> Value {
    let stroke = |offset: f64| {
        let points: Vec<Value> = (0..n)
            .map(|i| {
                json!({
                    "x": f64::from(i) * 1.6,
                    "y": if i % 2 == 0 { offset } else { offset + 800.0 },
                    "pressure": 0.5,
                    "timestamp": 1_764_400_000_000_i64 + i64::from(i),
                })
            })
            .collect();
        json!({"points": points, "color": "#1d1d1f", "width": 4, "pointer_type": "mouse"})
    };
    json!({
        "id": Uuid::new_v4(),
        "shape": "line",
        "canvas": {"width": 16_000, "height": 2_000},
        "strokes": [stroke(100.0), stroke(1_000.0)],
        "duration_ms": n - 1,
        "device": "mouse",
        "user_agent": "inkset-bench",
        "device_pixel_ratio": 1,
        "prompt_to_first_point_ms": 500,
    })
}

/// `GET /health/live` on a fresh connection; the time to the whole answer.
fn probe(addr: std::net::SocketAddr) -> Duration {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    started.elapsed()
}

async fn wait_export(server: &TestServer, admin: &str, body: Value) -> Duration {
    let started = Instant::now();
    let (status, job) = server.post_json("/api/admin/exports", admin, &body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    loop {
        let (_, job) = server
            .get_json(&format!("/api/admin/exports/{id}"), admin)
            .await;
        match job["status"].as_str() {
            Some("completed") => return started.elapsed(),
            Some("running") => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => panic!("export failed: {job}"),
        }
    }
}

async fn run(storage: Storage) {
    let server = TestServer::start(storage).await;
    let admin = server.admin("bench", "correct horse battery").await;
    let (_, player) = server.session().await;
    let text =
        std::fs::read_to_string(inkset_testkit::shared_data().join("quickdraw/raw/circle.ndjson"))
            .unwrap();
    let (status, r) = server
        .post_raw("/api/admin/import", &admin, text.into_bytes())
        .await;
    assert_eq!(status, 200, "{r}");
    let saw = sawtooth(10_000);
    let bytes = serde_json::to_vec(&saw).unwrap().len();
    let (status, r) = server.post_json("/api/drawings", &player, &saw).await;
    assert_eq!(status, 201, "{r}");

    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (stop, addr) = (stop.clone(), server.addr());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let at = Instant::now();
                seen.push((at, probe(addr).as_secs_f64() * 1e3));
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_end = Instant::now();
    let started = Instant::now();
    let (status, page) = server
        .get_json("/api/admin/drawings?limit=100&thumbnails=true", &admin)
        .await;
    let page_time = started.elapsed();
    assert_eq!(status, 200);
    let thumbs = page["drawings"].as_array().unwrap();
    let saw_thumb = thumbs
        .iter()
        .find(|d| d["id"] == saw["id"])
        .map(|d| {
            d["thumbnail"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s[0].as_array().unwrap().len())
                .sum::<usize>()
        })
        .unwrap();
    let page_end = Instant::now();
    let simplified = wait_export(&server, &admin, json!({"format": "quickdraw_simplified"})).await;
    let simplified_end = Instant::now();
    let png = wait_export(&server, &admin, json!({"format": "png", "raster_size": 28})).await;
    let png_end = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = prober.join().unwrap();
    // The worst probe started in each phase: idle, the page, each export.
    let worst = |from: Instant, to: Instant| {
        seen.iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, ms)| *ms)
            .fold(0.0_f64, f64::max)
    };
    let phases = format!(
        "worst probe while idle {:.1} ms, during the page {:.1} ms, the simplified export \
         {:.1} ms, the png export {:.1} ms",
        worst(started - Duration::from_secs(3600), idle_end),
        worst(idle_end, page_end),
        worst(page_end, simplified_end),
        worst(simplified_end, png_end),
    );
    let mut probes: Vec<f64> = seen.iter().map(|(_, ms)| *ms).collect();
    probes.sort_by(f64::total_cmp);
    println!(
        "{storage:?}: sawtooth upload {bytes} bytes (2 x 10,000 points) among {} drawings; \
         thumbnail page of 100 {:.0} ms (the sawtooth's thumbnail: {saw_thumb} points); \
         export quickdraw_simplified {:.0} ms, png {:.0} ms; /health/live over {} probes: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {phases}",
        thumbs.len(),
        page_time.as_secs_f64() * 1e3,
        simplified.as_secs_f64() * 1e3,
        png.as_secs_f64() * 1e3,
        probes.len(),
        quantile(&probes, 0.5),
        quantile(&probes, 0.99),
        probes.last().copied().unwrap_or_default(),
    );
    server.finish().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(Storage::SqliteLocal));
    if inkset_testkit::env_or("BENCH_POSTGRES_URL", String::from("on")) != "off" {
        rt.block_on(run(Storage::PostgresS3));
    }
}
