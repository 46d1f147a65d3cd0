//! Browse grid scrolling with 100,000 (or 1,000,000) drawings in the server: the console's frame time
//! (egui pass + tessellation, the CPU's share of a frame) while the grid scrolls, after
//! every page and thumbnail has been loaded from a real in-process `inkset-server`.
//!
//! `cargo bench -p inkset-console --bench scroll` (`BENCH_DRAWINGS` to change the count).
//! The drawings are the real Quick, Draw! records of ../shared/data, each repeated with a
//! small shift and its own key_id until there are enough. Or an existing store:
//! `BENCH_SERVER=http://127.0.0.1:PORT` (with `BENCH_USER`, `BENCH_PASSWORD`; default
//! scripts/million's admin) loads every drawing that server holds instead (the million of
//! scripts/million). Results: BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use egui::{Event, MouseWheelUnit, RawInput, TouchPhase, pos2, vec2};
use inkset_console::{Console, Screen};
use inkset_model::stats::quantile;
use inkset_protocol::api::{DrawingFilter, DrawingSort};
use inkset_protocol::quickdraw::Record;
use inkset_server::testing::{Storage, TestServer};

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let (_server, client, n) = match std::env::var("BENCH_SERVER") {
        // An existing store (scripts/million's): its server and an admin account.
        Ok(base) => {
            let user = std::env::var("BENCH_USER").unwrap_or_else(|_| "million-admin".into());
            let password =
                std::env::var("BENCH_PASSWORD").unwrap_or_else(|_| "million admin password".into());
            let client = inkset_console::sign_in(&base, &user, &password)?;
            let n = client.drawing_count(&DrawingFilter::default())?;
            println!("{base}: {n} drawings");
            (None, client, usize::try_from(n)?)
        }
        // A fresh in-process server, filled over the import API.
        Err(_) => {
            let n: usize = std::env::var("BENCH_DRAWINGS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100_000);
            let server = rt.block_on(async {
                let server = TestServer::start(Storage::SqliteLocal).await;
                server.admin("admin", "bench password").await;
                server
            });
            let client = inkset_console::sign_in(&server.base, "admin", "bench password")?;
            import(&server.base, n)?;
            (Some(server), client, n)
        }
    };

    // Every page with thumbnails, as the grid loads them while it scrolls.
    let started = Instant::now();
    let filter = DrawingFilter::default();
    let mut rows = Vec::with_capacity(n);
    let mut cursor: Option<String> = None;
    loop {
        let page = client.drawings(inkset_client::admin::PageRequest {
            filter: &filter,
            sort: DrawingSort::Newest,
            cursor: cursor.as_deref(),
            limit: 1000,
            thumbnails: true,
        })?;
        rows.extend(page.drawings);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    anyhow::ensure!(rows.len() == n, "listed {} of {n}", rows.len());
    let load = started.elapsed().as_secs_f64();
    println!(
        "loaded {} rows with thumbnails in {load:.1} s ({:.0} drawings/s)",
        rows.len(),
        rows.len() as f64 / load
    );

    let mut console = Console::with_session(client);
    console.open(Screen::Browse);
    console.browse.set_rows(rows, filter);
    let ctx = egui::Context::default();
    let size = vec2(1400.0, 1000.0);
    let mut t = 0.0;
    let mut frame = |console: &mut Console, events: Vec<Event>| -> (f64, usize) {
        t += 1.0 / 60.0;
        let raw = RawInput {
            screen_rect: Some(egui::Rect::from_min_size(pos2(0.0, 0.0), size)),
            time: Some(t),
            events,
            ..RawInput::default()
        };
        let start = Instant::now();
        let out = ctx.run_ui(raw, |ui| console.show(ui));
        let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
        let took = start.elapsed().as_secs_f64() * 1000.0;
        (took, prims.len())
    };
    // Warm up: fonts, layout caches; the pointer over the grid.
    for _ in 0..30 {
        frame(&mut console, vec![Event::PointerMoved(pos2(500.0, 600.0))]);
    }
    let wheel = |dy: f32| Event::MouseWheel {
        unit: MouseWheelUnit::Point,
        delta: vec2(0.0, dy),
        phase: TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::NONE,
    };
    let mut times = Vec::new();
    let mut cells = 0usize;
    let frames = 3_000;
    // Down fast (about 10 rows a frame), then back up, then down slowly.
    for i in 0..frames {
        let dy = match i * 3 / frames {
            0 => -1_300.0,
            1 => 1_300.0,
            _ => -120.0,
        };
        let (ms, _) = frame(
            &mut console,
            vec![Event::PointerMoved(pos2(500.0, 600.0)), wheel(dy)],
        );
        times.push(ms);
        cells += console.browse.painted_cells;
    }
    times.sort_by(f64::total_cmp);
    let over = times.iter().filter(|&&t| t > 16.0).count();
    println!(
        "scroll: {frames} frames, {:.0} thumbnails painted per frame; frame time p50 {:.2} ms, \
         p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {over} frames over 16 ms",
        cells as f64 / frames as f64,
        quantile(&times, 0.5),
        quantile(&times, 0.95),
        quantile(&times, 0.99),
        times[times.len() - 1],
    );
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
