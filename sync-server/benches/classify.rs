//! Inference benchmark: `POST /api/inference/classify` requests/s and p50/p99 latency
//! through the server at 64 concurrent clients (micro-batching on), on real held-out
//! drawings; the training throughput of the job that made the model; local single-drawing
//! latency (rasterize + forward), cold (first call after load) and warm, on the CPU backend
//! (and wgpu with `BENCH_WGPU=1`).
//!
//! ```text
//! cargo bench -p inkset-server --bench classify
//! ```
//!
//! Environment: `BENCH_CLIENTS` (default 64), `BENCH_SECONDS` (default 20), `BENCH_EPOCHS`
//! (default 15), `BENCH_WGPU` (default off), `INKSET_SHARED_DATA` (default ../shared/data).
//!
//! The server trains its model itself: the Quick, Draw! raw files (shapes and distractors)
//! are imported over HTTP, a job is started with the given epochs, the in-process trainer
//! runs it, the version is activated. The load then replays the held-out drawings.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inkset_model::backend::Backend;
use inkset_model::dataset::Split;
use inkset_model::inference::Classifier;
use inkset_model::stats::quantile;
use inkset_protocol::quickdraw::{Record, ndjson_files};
use inkset_server::testing::{Storage, TestServer};
use inkset_testkit::env_or;
use serde_json::{Value, json};

fn local_latency(
    name: &str,
    manifest: &Value,
    weights: &[u8],
    backend: Backend,
    lines: &[Vec<Vec<[f32; 2]>>],
) {
    let device = backend.device();
    let t = Instant::now();
    let c = Classifier::from_bytes(
        serde_json::from_value(manifest.clone()).unwrap(),
        weights.to_vec(),
        device,
    )
    .unwrap();
    let load = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    c.classify(&lines[0]).unwrap();
    let cold = t.elapsed().as_secs_f64() * 1000.0;
    let (mut raster_ms, mut total_ms) = (Vec::new(), Vec::new());
    let n = c.input_size();
    for i in 0..2000 {
        let l = &lines[i % lines.len()];
        let t0 = Instant::now();
        let mut r = vec![0.0; n * n];
        c.rasterize_into(l, &mut r).unwrap();
        let t1 = Instant::now();
        let p = c.probabilities(r, 1);
        let _ = c.decide(&p[0]);
        raster_ms.push((t1 - t0).as_secs_f64() * 1000.0);
        total_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    raster_ms.sort_by(f64::total_cmp);
    total_ms.sort_by(f64::total_cmp);
    println!(
        "local {name}: load {load:.1} ms, cold first classify {cold:.2} ms; warm over 2000: \
         rasterize p50 {:.3} ms, total p50 {:.3} ms p99 {:.3} ms",
        quantile(&raster_ms, 0.5),
        quantile(&total_ms, 0.5),
        quantile(&total_ms, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let clients: usize = env_or("BENCH_CLIENTS", 64);
    let seconds: u64 = env_or("BENCH_SECONDS", 20);
    let epochs: usize = env_or("BENCH_EPOCHS", 15);
    let metrics_port = inkset_testkit::free_port();
    let mut server = TestServer::start_with(Storage::SqliteLocal, |s| {
        s.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port)));
    })
    .await;
    let token = server.admin("bench", "bench password").await;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 2)
        .build()
        .unwrap();
    let files = ndjson_files(&[inkset_testkit::shared_data().join("quickdraw/raw")]).unwrap();
    let mut held_out = Vec::new();
    for f in &files {
        let body = std::fs::read(f).unwrap();
        for line in String::from_utf8_lossy(&body).lines() {
            let r = Record::parse_line(line).unwrap();
            if Split::of(r.key_id) == Split::Test {
                held_out.push(r.into_drawing());
            }
        }
        http.post(format!("{base}/api/admin/import?distractors=true"))
            .bearer_auth(&token)
            .body(body)
            .send()
            .await
            .unwrap();
    }
    let created: Value = http
        .post(format!("{base}/api/admin/training/start"))
        .bearer_auth(&token)
        .json(&json!({"config": {"epochs": epochs}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let job = loop {
        let job: Value = http
            .get(format!("{base}/api/admin/training/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "completed" {
            break job;
        }
        assert_ne!(job["status"], "failed", "{job}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let rates: Vec<f64> = job["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "epoch")
        .map(|p| p["samples_per_sec"].as_f64().unwrap())
        .collect();
    let mean_rate = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    println!(
        "training (in-process, CPU flex backend, 32x32): {} epochs, mean {mean_rate:.0} samples/s \
         (rasterize + augment + forward + backward + Adam); held-out accuracy {}",
        rates.len(),
        job["metrics"]["accuracy"]
    );
    let model_id = job["model_id"].as_str().unwrap().to_owned();
    http.post(format!("{base}/api/admin/models/{model_id}/activate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    // Local latency on the same artifact.
    let manifest: Value = http
        .get(format!("{base}/api/inference/model/artifact/manifest.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let weights = http
        .get(format!("{base}/api/inference/model/artifact/weights.bpk"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let lines: Vec<_> = held_out
        .iter()
        .map(|d| inkset_model::raster::polylines(&d.strokes))
        .collect();
    local_latency("cpu (flex)", &manifest, &weights, Backend::Cpu, &lines);
    #[cfg(feature = "wgpu")]
    if std::env::var("BENCH_WGPU").is_ok_and(|v| v == "1") {
        local_latency("wgpu", &manifest, &weights, Backend::Wgpu, &lines);
    }

    // Closed loop: `clients` tasks, each sending the next held-out drawing when answered.
    let bodies: Arc<Vec<String>> = Arc::new(
        held_out
            .iter()
            .map(|d| json!({ "strokes": d.strokes }).to_string())
            .collect(),
    );
    let measuring = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, bodies, measuring, done) = (
            http.clone(),
            base.clone(),
            bodies.clone(),
            measuring.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut i = c;
            while !done.load(Ordering::Relaxed) {
                let body = bodies[i % bodies.len()].clone();
                i += clients;
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/api/inference/classify"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    all.sort_by(f64::total_cmp);
    println!(
        "classify through the server, {clients} clients, {seconds} s: {:.0} requests/s, \
         p50 {:.2} ms, p99 {:.2} ms, {errors} errors ({} requests)",
        all.len() as f64 / elapsed,
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        all.len()
    );
    // The server's own account (Prometheus metrics, buckets left out).
    if let Ok(r) = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        && let Ok(text) = r.text().await
    {
        eprintln!("/metrics after the benchmark:");
        for line in text.lines() {
            if line.starts_with("inkset_") && !line.contains("_bucket") {
                eprintln!("  {line}");
            }
        }
    }
    server.stop().await;
}
