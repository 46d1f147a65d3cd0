//! Generation through the server: `POST /api/inference/generate` latency (p50/p99, client
//! side and the server's own `latency_ms`) one request at a time and with 8 concurrent
//! clients, for each shape at temperature 0.5, with the generator trained by the server's
//! own job system from the real drawings in ../shared/data.
//!
//! ```text
//! cargo bench -p inkset-server --bench generate
//! ```
//!
//! Environment: `BENCH_EPOCHS` (generator epochs, default 60), `BENCH_REQUESTS` (per
//! shape, default 100), `INKSET_SHARED_DATA`.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use inkset_model::stats::quantile;
use inkset_protocol::quickdraw::ndjson_files;
use inkset_server::testing::{Storage, TestServer};
use inkset_testkit::env_or;
use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let epochs: usize = env_or("BENCH_EPOCHS", 60);
    let requests: u64 = env_or("BENCH_REQUESTS", 100);
    let mut server = TestServer::start(Storage::SqliteLocal).await;
    let token = server.admin("bench", "bench password").await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let data = [
        inkset_testkit::shared_data().join("quickdraw/raw"),
        inkset_testkit::shared_data().join("derived"),
    ];
    for f in ndjson_files(&data).unwrap() {
        http.post(format!("{base}/api/admin/import?distractors=true"))
            .bearer_auth(&token)
            .body(std::fs::read(&f).unwrap())
            .send()
            .await
            .unwrap();
    }
    let created: Value = http
        .post(format!("{base}/api/admin/training/start"))
        .bearer_auth(&token)
        .json(&json!({"config": {"model_kind": "generator", "epochs": epochs}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
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
    let epoch_points: Vec<&Value> = job["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "epoch")
        .collect();
    println!(
        "generator training (in-process, CPU): {} epochs in {:.0} s on {:?}; held-out loss {} -> {}",
        epoch_points.len(),
        started.elapsed().as_secs_f64(),
        created["plan"]["counts"],
        epoch_points
            .first()
            .map_or(Value::Null, |p| p["test_loss"].clone()),
        epoch_points
            .last()
            .map_or(Value::Null, |p| p["test_loss"].clone()),
    );
    let shapes: Vec<String> = created["plan"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let url = format!("{base}/api/inference/generate");
    let ask = move |shape: &str, seed: u64| {
        let http = http.clone();
        let url = url.clone();
        let body = json!({"shape": shape, "temperature": 0.5, "seed": seed});
        async move {
            let t = Instant::now();
            let r: Value = http
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let points: usize = r["drawing"]["strokes"].as_array().map_or(0, |s| {
                s.iter()
                    .map(|s| s["points"].as_array().map_or(0, Vec::len))
                    .sum()
            });
            (
                t.elapsed().as_secs_f64() * 1e3,
                r["latency_ms"].as_f64().unwrap_or(f64::NAN),
                points,
            )
        }
    };
    println!("\none request at a time, {requests} per shape, temperature 0.5:");
    println!(
        "{:<10} {:>8} {:>8} {:>10} {:>10} {:>7}",
        "shape", "p50 ms", "p99 ms", "server p50", "server p99", "points"
    );
    let mut all = Vec::new();
    for shape in &shapes {
        let (mut client, mut server_ms, mut points) = (Vec::new(), Vec::new(), 0usize);
        for seed in 0..requests {
            let (c, s, p) = ask(shape, seed).await;
            client.push(c);
            server_ms.push(s);
            points += p;
        }
        all.extend(client.iter().copied());
        client.sort_by(f64::total_cmp);
        server_ms.sort_by(f64::total_cmp);
        println!(
            "{shape:<10} {:>8.2} {:>8.2} {:>10.2} {:>10.2} {:>7.1}",
            quantile(&client, 0.5),
            quantile(&client, 0.99),
            quantile(&server_ms, 0.5),
            quantile(&server_ms, 0.99),
            points as f64 / requests as f64
        );
    }
    all.sort_by(f64::total_cmp);
    println!(
        "{:<10} {:>8.2} {:>8.2}",
        "all",
        quantile(&all, 0.5),
        quantile(&all, 0.99)
    );
    let clients = 8u64;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let shapes = shapes.clone();
        let ask = ask.clone();
        tasks.push(tokio::spawn(async move {
            let mut v = Vec::new();
            for k in 0..requests {
                let shape = &shapes[((c + k) as usize) % shapes.len()];
                v.push(ask(shape, 1000 + c * requests + k).await.0);
            }
            v
        }));
    }
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.unwrap());
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "\n{clients} concurrent clients: {:.0} drawings/s, p50 {:.2} ms, p99 {:.2} ms",
        lat.len() as f64 / t.elapsed().as_secs_f64(),
        quantile(&lat, 0.5),
        quantile(&lat, 0.99)
    );
    server.stop().await;
}
