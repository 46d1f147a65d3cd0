//! Browse grid scrolling with 100,000 drawings in a fresh in-process `inkset-server`
//! (SQLite, a local directory): the console's frame time while the grid scrolls, after
//! every page and thumbnail has been loaded (`inkset_console::scroll_bench`).
//!
//! `cargo bench -p inkset-console --bench scroll` (`BENCH_DRAWINGS` to change the count).
//! The drawings are the real Quick, Draw! records of ../shared/data, imported over `POST
//! /api/admin/import`, each repeated with a small shift and its own key_id until there are
//! enough. Against an existing store (the million drawings of scripts/million):
//! `inkset-console-scroll --server URL --username U` (the same measurement; built by
//! `scripts/million`'s release build). Results: BENCHMARKS.md.
#![allow(clippy::unwrap_used, missing_docs, clippy::print_stdout)]

use std::time::{Duration, Instant};

use inkset_console::scroll_bench::{load_rows, scroll};
use inkset_protocol::api::DrawingFilter;
use inkset_protocol::quickdraw::Record;
use inkset_server::testing::{Storage, TestServer};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_DRAWINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(async {
        let server = TestServer::start(Storage::SqliteLocal).await;
        server.admin("admin", "bench password").await;
        server
    });
    import(&server.base, n)?;
    let client = inkset_console::sign_in(&server.base, "admin", "bench password")?;

    // Every page with thumbnails, as the grid loads them while it scrolls.
    let started = Instant::now();
    let filter = DrawingFilter::default();
    let rows = load_rows(&client, &filter)?;
    anyhow::ensure!(rows.len() == n, "listed {} of {n}", rows.len());
    let load = started.elapsed().as_secs_f64();
    println!(
        "loaded {} rows with thumbnails in {load:.1} s ({:.0} drawings/s)",
        rows.len(),
        rows.len() as f64 / load
    );
    println!("{}", scroll(client, rows, filter, 3_000));
    drop(server);
    Ok(())
}

/// Imports `n` drawings into the server at `base` over `POST /api/admin/import`: the real
/// records, repeated with a shift of one unit per round and their own key_id.
fn import(base: &str, n: usize) -> anyhow::Result<()> {
    // n drawings: the real records, repeated with a shift and a new key_id.
    let files = inkset_protocol::quickdraw::ndjson_files(&[
        inkset_testkit::shared_data().join("quickdraw/raw")
    ])?;
    let mut records = Vec::new();
    for f in &files {
        for line in std::fs::read_to_string(f)?.lines() {
            records.push(Record::parse_line(line).map_err(|e| anyhow::anyhow!("{e}"))?);
        }
    }
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let token = {
        let v: serde_json::Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": "bench password"}))
            .send()?
            .json()?;
        v["token"].as_str().unwrap().to_owned()
    };
    let started = Instant::now();
    let mut body = String::new();
    for i in 0..n {
        let mut r = records[i % records.len()].clone();
        let round = (i / records.len()) as f64;
        r.key_id = 1_000_000_000 + i as u64;
        for s in &mut r.drawing {
            for x in &mut s.x {
                *x += round;
            }
        }
        body.push_str(&r.to_line());
        body.push('\n');
        if (i + 1) % 5_000 == 0 || i + 1 == n {
            let resp = http
                .post(format!("{base}/api/admin/import?distractors=true"))
                .bearer_auth(&token)
                .body(std::mem::take(&mut body))
                .send()?;
            anyhow::ensure!(resp.status().is_success(), "import: {}", resp.text()?);
        }
    }
    println!(
        "imported {n} drawings in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    Ok(())
}
