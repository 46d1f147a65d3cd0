//! The Browse grid's scrolling benchmark, shared by `cargo bench -p inkset-console --bench
//! scroll` (a fresh in-process server it fills) and the `inkset-console-scroll` binary (an
//! existing server, such as the million drawings of `scripts/million`).
//!
//! [`load_rows`] loads every drawing's row with its thumbnail through the console's own
//! client, pages of 1,000 (the grid itself loads 200-row pages as rows come into view);
//! [`scroll`] puts them in the Browse grid and drives the real [`Console::show`] at 1400 x
//! 1000 points: a warm-up, then a third of the frames scrolling down about 10 rows a
//! frame, a third back up, a third down slowly. A frame's time is the console's CPU share
//! of it: the egui pass (layout, the visible rows, the vector thumbnails) plus tessellation
//! into triangles; GPU rasterisation is not included.

use std::time::Instant;

use egui::{Event, MouseWheelUnit, RawInput, TouchPhase, pos2, vec2};
use inkset_client::ClientError;
use inkset_client::admin::PageRequest;
use inkset_client::blocking::BlockingClient;
use inkset_protocol::api::{DrawingFilter, DrawingSort, DrawingSummary};

use crate::{Console, Screen};

/// Rows per page of [`load_rows`].
pub const LOAD_PAGE: usize = 1_000;

/// A frame slower than this misses 60 Hz, ms.
pub const FRAME_BUDGET_MS: f64 = 16.0;

/// Frame times of a [`scroll`] run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrollReport {
    /// Frames measured (the warm-up excluded).
    pub frames: usize,
    /// Thumbnails painted per frame, on average.
    pub thumbnails_per_frame: f64,
    /// Median frame time, ms (from an HdrHistogram of microseconds, 3 significant digits).
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest frame, ms.
    pub max_ms: f64,
    /// Frames over [`FRAME_BUDGET_MS`].
    pub over_budget: usize,
}

impl std::fmt::Display for ScrollReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scroll: {} frames, {:.0} thumbnails painted per frame; frame time p50 {:.2} ms, \
             p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} frames over {FRAME_BUDGET_MS} ms",
            self.frames,
            self.thumbnails_per_frame,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.max_ms,
            self.over_budget
        )
    }
}

/// Every drawing matching `filter`, newest first, with thumbnails: pages of [`LOAD_PAGE`]
/// by keyset cursor.
///
/// # Errors
/// [`ClientError`] of the first page that fails.
pub fn load_rows(
    client: &BlockingClient,
    filter: &DrawingFilter,
) -> Result<Vec<DrawingSummary>, ClientError> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client.drawings(PageRequest {
            filter,
            sort: DrawingSort::Newest,
            cursor: cursor.as_deref(),
            limit: LOAD_PAGE,
            thumbnails: true,
        })?;
        rows.extend(page.drawings);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(rows),
        }
    }
}

/// Shows `rows` in the Browse grid of a console signed in with `client` and scrolls it
/// for `frames` frames (after 30 warm-up frames), timing each.
pub fn scroll(
    client: BlockingClient,
    rows: Vec<DrawingSummary>,
    filter: DrawingFilter,
    frames: usize,
) -> ScrollReport {
    let mut console = Console::with_session(client);
    console.open(Screen::Browse);
    console.browse.set_rows(rows, filter);
    let ctx = egui::Context::default();
    let size = vec2(1400.0, 1000.0);
    let mut t = 0.0;
    let mut frame = |console: &mut Console, events: Vec<Event>| -> f64 {
        t += 1.0 / 60.0;
        let raw = RawInput {
            screen_rect: Some(egui::Rect::from_min_size(pos2(0.0, 0.0), size)),
            time: Some(t),
            events,
            ..RawInput::default()
        };
        let start = Instant::now();
        let out = ctx.run_ui(raw, |ui| console.show(ui));
        let _triangles = ctx.tessellate(out.shapes, out.pixels_per_point);
        start.elapsed().as_secs_f64() * 1000.0
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
    let mut times = Vec::with_capacity(frames);
    let mut cells = 0usize;
    for i in 0..frames {
        // Down fast (about 10 rows a frame), then back up, then down slowly.
        let dy = match i * 3 / frames.max(1) {
            0 => -1_300.0,
            1 => 1_300.0,
            _ => -120.0,
        };
        times.push(frame(
            &mut console,
            vec![Event::PointerMoved(pos2(500.0, 600.0)), wheel(dy)],
        ));
        cells += console.browse.painted_cells;
    }
    // Microseconds from 1 µs to a minute, 3 significant digits (a slower frame counts as a
    // minute). Fixed bounds: an auto-sized histogram saturates at its initial bound.
    let mut histogram =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for ms in &times {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        histogram.saturating_record((ms * 1000.0).round() as u64);
    }
    #[allow(clippy::cast_precision_loss)]
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    #[allow(clippy::cast_precision_loss)]
    let thumbnails_per_frame = cells as f64 / frames.max(1) as f64;
    ScrollReport {
        frames,
        thumbnails_per_frame,
        p50_ms: ms(0.5),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: times.iter().copied().fold(0.0, f64::max),
        over_budget: times.iter().filter(|&&t| t > FRAME_BUDGET_MS).count(),
    }
}

/// Command line of `inkset-console-scroll`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "inkset-console-scroll",
    about = "Loads every drawing of a server into the console's Browse grid and times its \
             frames while it scrolls"
)]
struct Args {
    /// The server.
    #[arg(long, env = "INKSET_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An admin account.
    #[arg(long, default_value = "admin")]
    username: String,
    /// Its password.
    #[arg(long, env = "INKSET_PASSWORD", hide_env_values = true)]
    password: String,
    /// Frames to time.
    #[arg(long, default_value_t = 3_000)]
    frames: usize,
}

/// `inkset-console-scroll`: signs in, loads every row with its thumbnail, scrolls, prints
/// the load rate and the [`ScrollReport`].
///
/// # Errors
/// When signing in or loading fails.
pub fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let client = crate::sign_in(&args.server, &args.username, &args.password)?;
    let filter = DrawingFilter::default();
    let started = Instant::now();
    let rows = load_rows(&client, &filter)?;
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = rows.len() as f64 / seconds.max(1e-9);
    println!(
        "loaded {} rows with thumbnails in {seconds:.1} s ({rate:.0} drawings/s)",
        rows.len()
    );
    println!("{}", scroll(client, rows, filter, args.frames));
    Ok(())
}
