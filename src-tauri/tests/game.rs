//! Inkset Draw's commands through tauri's mock runtime (the real IPC path: JSON arguments,
//! command dispatch, managed state) against a real `inkset-server`, with real Quick, Draw!
//! drawings from ../shared/data.
//!
//! - 50 drawings made offline, then the server comes back behind a proxy that drops the
//!   HTTP response after the server committed for 30 % of uploads: the server ends with
//!   exactly 50, each once, and the app reports everything synced.
//! - An app process killed with unsynced drawings: on restart they sync.
//! - Accounts and progress through the commands, with a device clock 3 days ahead.
//! - Live guesses with the server's production recognizer, cached and used offline.
//! - A 1,000 Hz mouse round (12,000 points) and offline batches of 10,000-point rounds
//!   (22 MB as one batch): all reach the server, nothing stays pending.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use inkset_draw::sync::SyncConfig;
use inkset_draw::{AppConfig, with_commands};
use inkset_protocol::quickdraw::Record;
use inkset_protocol::{Canvas, Device, Drawing};
use inkset_server::testing::{Storage, TestServer};
use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use uuid::Uuid;

fn rt() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ------------------------------------------------------------------ the server

struct Server {
    base: String,
    addr: SocketAddr,
    admin: String,
    http: reqwest::Client,
    server: TestServer,
    dir: PathBuf,
}

impl Server {
    /// Starts a server on `addr` (port 0: any) with its data under `dir`.
    async fn start(dir: &Path, addr: SocketAddr, in_process_trainer: bool) -> Self {
        let data_dir = dir.to_owned();
        let server = TestServer::start_at(Storage::SqliteLocal, addr, |settings| {
            settings.data_dir = data_dir;
            settings.training.in_process = in_process_trainer;
            settings.inference.alias_poll_ms = 300;
        })
        .await;
        let admin = server.admin("root", "correct horse battery").await;
        Self {
            base: server.base.clone(),
            addr: server.addr(),
            admin,
            http: server.client.clone(),
            server,
            dir: dir.to_owned(),
        }
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    /// Every stored drawing (admin listing, all pages).
    async fn drawings(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/admin/drawings?limit=200&cursor={c}"),
                None => "/api/admin/drawings?limit=200".to_owned(),
            };
            let page = self.get(&path).await;
            out.extend(page["drawings"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }

    async fn stop(mut self) -> PathBuf {
        self.server.stop().await;
        self.dir.clone()
    }
}

// ------------------------------------------------------------------ a lossy proxy

/// Counts uploads and answers which to drop.
struct DropPolicy {
    uploads: AtomicUsize,
    dropped: AtomicUsize,
    /// Drops upload `n` (0-based) when `n % 10` is in this set: 3 of every 10 = 30 %.
    drop_when: [usize; 3],
}

/// A TCP proxy in front of the server. For `POST /api/drawings/batch` it forwards the
/// request, waits for the server's whole answer (so the server has committed), and for the
/// uploads the policy picks closes the client's connection without answering.
async fn lossy_proxy(listener: TcpListener, upstream: SocketAddr, policy: Arc<DropPolicy>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            return;
        };
        let policy = policy.clone();
        // One request per connection: the request asks the server to close after answering.
        tokio::spawn(async move {
            let Some(request) = read_request(&mut client).await else {
                return;
            };
            let is_upload = request.starts_with(b"POST /api/drawings/batch ");
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            if server.write_all(&request).await.is_err() {
                return;
            }
            let mut answer = Vec::new();
            if server.read_to_end(&mut answer).await.is_err() {
                return;
            }
            if is_upload {
                let n = policy.uploads.fetch_add(1, Ordering::SeqCst);
                if policy.drop_when.contains(&(n % 10)) {
                    policy.dropped.fetch_add(1, Ordering::SeqCst);
                    return; // the connection closes, unanswered
                }
            }
            let _ = client.write_all(&answer).await;
        });
    }
}

/// Reads one HTTP/1.1 request (head + Content-Length body) and rewrites it to ask the
/// server to close the connection after answering.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + 4 + length {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let kept: Vec<&str> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut out = kept.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out.extend_from_slice(&buf[head_end + 4..head_end + 4 + length]);
    Some(out)
}

/// A free loopback port, to start something on later.
/// A loopback address no other test in this binary is given ([`inkset_testkit::free_port`]).
fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], inkset_testkit::free_port()))
}

// ------------------------------------------------------------------ the app

struct Game {
    app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
}

impl Drop for Game {
    fn drop(&mut self) {
        inkset_draw::shutdown(self.app.handle());
    }
}

fn fast_sync() -> SyncConfig {
    fast_sync_batches_of(5)
}

fn fast_sync_batches_of(batch_size: usize) -> SyncConfig {
    SyncConfig {
        batch_size,
        base_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(800),
        idle_poll: Duration::from_millis(500),
        ..SyncConfig::default()
    }
}

impl Game {
    fn open(data_dir: &Path, server_url: &str, sync: SyncConfig) -> Self {
        let config = AppConfig {
            data_dir: Some(data_dir.to_owned()),
            server_url: server_url.to_owned(),
            sync,
        };
        let app = with_commands(mock_builder())
            .build(mock_context(noop_assets()))
            .unwrap();
        inkset_draw::start(app.handle(), &config).unwrap();
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        Self { app, webview }
    }

    /// Invokes a command as the web UI does; `Err` carries the command's error object.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        tauri::test::get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: tauri::ipc::InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    /// Waits until `check` holds on the `bootstrap` state.
    fn wait(&self, what: &str, secs: u64, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let b = self.ok("bootstrap", json!({}));
            if check(&b) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {b}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Real drawings from Quick, Draw! raw files, as the game would submit them (a canvas
/// around the points, client timestamps from `start`, mouse input with reported 0.5).
fn real_drawings(shape: &str, n: usize, start: i64) -> Vec<Drawing> {
    as_submitted(records(shape).into_iter().take(n).collect(), start)
}

fn records(shape: &str) -> Vec<Record> {
    std::fs::read_to_string(
        inkset_testkit::shared_data().join(format!("quickdraw/raw/{shape}.ndjson")),
    )
    .unwrap()
    .lines()
    .map(|l| Record::parse_line(l).unwrap())
    .collect()
}

/// Drawings of the held-out (test) split, never trained on.
fn held_out(shape: &str) -> Vec<Drawing> {
    let test: Vec<Record> = records(shape)
        .into_iter()
        .filter(|r| {
            inkset_model::dataset::Split::of(r.key_id) == inkset_model::dataset::Split::Test
        })
        .collect();
    as_submitted(test, now_ms())
}

fn as_submitted(records: Vec<Record>, start: i64) -> Vec<Drawing> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut d = r.into_drawing();
            let (mut w, mut h) = (1.0f64, 1.0f64);
            let t0 = start + i64::try_from(i).unwrap() * 30_000;
            for s in &mut d.strokes {
                s.pointer_type = Some("mouse".into());
                s.pressure_measured = Some(false);
                s.color = Some("#1d1d1f".into());
                s.width = Some(4.0);
                for p in &mut s.points {
                    w = w.max(p.x + 1.0);
                    h = h.max(p.y + 1.0);
                    p.pressure = Some(0.5);
                    p.timestamp = Some(t0 + p.timestamp.unwrap_or(0));
                }
            }
            d.id = Uuid::new_v4();
            d.source = None;
            d.canvas = Some(Canvas {
                width: w,
                height: h,
            });
            d.device = Some(Device::Mouse);
            d.user_agent = Some("inkset-draw tests".into());
            d.device_pixel_ratio = Some(1.0);
            d.prompt_to_first_point_ms = Some(700);
            let first = d.first_timestamp().unwrap();
            let last = d
                .strokes
                .iter()
                .flat_map(|s| s.points.iter())
                .filter_map(|p| p.timestamp)
                .max()
                .unwrap();
            d.duration_ms = Some(u64::try_from(last - first).unwrap());
            d
        })
        .collect()
}

fn now_ms() -> i64 {
    inkset_draw::sync::now_ms()
}

/// A real one-stroke drawing replayed as a mouse polled every millisecond would report it:
/// stretched to last `ms`, linearly interpolated at each millisecond (`ms + 1` points, at
/// fractional CSS px, as a zoomed canvas reports them).
fn at_one_khz(d: &Drawing, ms: i64) -> Drawing {
    assert_eq!(d.strokes.len(), 1);
    let mut d = d.clone();
    let pts = std::mem::take(&mut d.strokes[0].points);
    assert!(pts.len() >= 2);
    let time = |p: &inkset_protocol::Point| {
        #[allow(clippy::cast_precision_loss)]
        let t = p.timestamp.unwrap() as f64;
        t
    };
    let (t0, t1) = (time(&pts[0]), time(pts.last().unwrap()));
    let start = pts[0].timestamp.unwrap();
    let mut j = 0;
    for k in 0..=ms {
        #[allow(clippy::cast_precision_loss)]
        let t = t0 + k as f64 / ms as f64 * (t1 - t0);
        while j + 2 < pts.len() && time(&pts[j + 1]) <= t {
            j += 1;
        }
        let (a, b) = (pts[j], pts[j + 1]);
        let f = if time(&b) > time(&a) {
            ((t - time(&a)) / (time(&b) - time(&a))).clamp(0.0, 1.0)
        } else {
            0.0
        };
        d.strokes[0].points.push(inkset_protocol::Point {
            x: a.x + (b.x - a.x) * f + 0.123_456_789,
            y: a.y + (b.y - a.y) * f + 0.987_654_321,
            pressure: a.pressure,
            timestamp: Some(start + k),
            ..Default::default()
        });
    }
    d.duration_ms = Some(u64::try_from(ms).unwrap());
    let (mut w, mut h) = (1.0f64, 1.0f64);
    for p in &d.strokes[0].points {
        w = w.max(p.x + 1.0);
        h = h.max(p.y + 1.0);
    }
    d.canvas = Some(Canvas {
        width: w,
        height: h,
    });
    d.id = Uuid::new_v4();
    d
}

// ------------------------------------------------------------------ tests

#[test]
fn offline_drawings_sync_exactly_once_through_dropped_responses() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let proxy_addr = free_port();
    let game = Game::open(
        &tmp.path().join("app"),
        &format!("http://{proxy_addr}"),
        fast_sync(),
    );
    // Offline: nothing listens at the server address.
    let drawings: Vec<Drawing> = ["circle", "square", "triangle", "line"]
        .iter()
        .flat_map(|s| real_drawings(s, 13, now_ms() - 3_600_000))
        .take(50)
        .collect();
    assert_eq!(drawings.len(), 50);
    for d in &drawings {
        let r = game.ok("submit_drawing", json!({ "drawing": d }));
        assert_eq!(r["id"], json!(d.id));
    }
    let b = game.wait("a failed sync attempt", 20, |b| {
        b["sync"]["failures"].as_u64() > Some(0)
    });
    assert_eq!(b["sync"]["pending"], 50, "{b}");
    assert_eq!(b["sync"]["online"], false, "{b}");
    assert!(
        b["sync"]["last_error"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );

    // The server comes back behind the lossy proxy.
    let server = rt.block_on(Server::start(
        &tmp.path().join("server"),
        free_port(),
        false,
    ));
    let policy = Arc::new(DropPolicy {
        uploads: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
        drop_when: [1, 4, 7],
    });
    let listener = rt.block_on(TcpListener::bind(proxy_addr)).unwrap();
    rt.spawn(lossy_proxy(listener, server.addr, policy.clone()));
    let b = game.wait("every drawing synced", 120, |b| {
        b["sync"]["pending"] == 0 && b["sync"]["synced"] == 50
    });
    assert_eq!(b["sync"]["rejected"], 0, "{b}");
    let uploads = policy.uploads.load(Ordering::SeqCst);
    let dropped = policy.dropped.load(Ordering::SeqCst);
    eprintln!("uploads {uploads}, answers dropped after commit {dropped}");
    assert!(
        dropped >= 3,
        "the proxy must have dropped answers ({dropped} of {uploads})"
    );

    // The server holds exactly the 50 drawings, each once, with the points that were input.
    let stored = rt.block_on(server.drawings());
    assert_eq!(stored.len(), 50);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for d in &stored {
        *seen
            .entry(d["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for d in &drawings {
        assert_eq!(
            seen.get(&d.id.to_string()),
            Some(&1),
            "{} stored once",
            d.id
        );
    }
    for d in drawings.iter().step_by(7) {
        let detail = rt.block_on(server.get(&format!("/api/admin/drawings/{}", d.id)));
        let back: Drawing = serde_json::from_value(detail["drawing"].clone()).unwrap();
        assert_eq!(back.strokes, d.strokes);
        assert_eq!(back.shape, d.shape);
    }
    // The app's own rows say synced, with the server's receive times.
    let ids: Vec<Uuid> = drawings.iter().map(|d| d.id).collect();
    let rows = game.ok("drawing_states", json!({ "ids": ids }));
    assert_eq!(rows.as_array().unwrap().len(), 50);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "synced" && r["received_at"].is_i64())
    );
    rt.block_on(server.stop());
}

/// The child process of [`killed_app_syncs_its_outbox_on_restart`]: queues drawings while
/// the server is down, says so, and waits to be killed.
#[test]
#[ignore = "run by killed_app_syncs_its_outbox_on_restart as a child process"]
fn child_queues_then_waits_to_be_killed() {
    let dir = PathBuf::from(std::env::var("INKSET_TEST_CHILD_DIR").unwrap());
    let url = std::env::var("INKSET_TEST_CHILD_URL").unwrap();
    let game = Game::open(&dir, &url, fast_sync());
    for d in real_drawings("triangle", 10, now_ms() - 60_000) {
        game.ok("submit_drawing", json!({ "drawing": d }));
    }
    let b = game.ok("bootstrap", json!({}));
    assert_eq!(b["sync"]["pending"], 10);
    println!("QUEUED");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn killed_app_syncs_its_outbox_on_restart() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let app_dir = tmp.path().join("app");
    let server_addr = free_port();
    let url = format!("http://{server_addr}");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_queues_then_waits_to_be_killed",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("INKSET_TEST_CHILD_DIR", &app_dir)
        .env("INKSET_TEST_CHILD_URL", &url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.contains("QUEUED") {
        assert!(Instant::now() < deadline, "child never queued: {seen}");
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        assert!(n > 0, "child exited early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    child.wait().unwrap();

    let server = rt.block_on(Server::start(
        &tmp.path().join("server"),
        server_addr,
        false,
    ));
    let game = Game::open(&app_dir, &url, fast_sync());
    let b = game.wait("the killed app's drawings synced", 60, |b| {
        b["sync"]["pending"] == 0 && b["sync"]["synced"] == 10
    });
    assert_eq!(b["sync"]["rejected"], 0);
    let stored = rt.block_on(server.drawings());
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|d| d["shape"] == "triangle"));
    rt.block_on(server.stop());
}

/// A device clock three days ahead.
fn clock_ahead() -> i64 {
    now_ms() + 3 * 86_400_000
}

/// Waits, if needed, until `span_ms` have passed since the last UTC midnight, so drawings
/// dated up to `span_ms` in the past fall on the same UTC day as now (a run just after
/// midnight would otherwise see two active days).
fn clear_of_midnight(span_ms: i64) {
    let into_day = now_ms().rem_euclid(86_400_000);
    if into_day < span_ms {
        let wait = u64::try_from(span_ms - into_day).unwrap();
        std::thread::sleep(Duration::from_millis(wait));
    }
}

#[test]
fn accounts_and_progress_through_the_commands() {
    // The phone's drawings start two minutes back and last about a minute and a half.
    clear_of_midnight(150_000);
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let server = rt.block_on(Server::start(
        &tmp.path().join("server"),
        free_port(),
        false,
    ));
    let sync = SyncConfig {
        clock: clock_ahead,
        ..fast_sync()
    };
    let phone = Game::open(&tmp.path().join("phone"), &server.base, sync);
    // First launch: built-in shapes until the server's list is cached, instructions shown.
    let b = phone.ok("bootstrap", json!({}));
    assert_eq!(b["onboarded"], false);
    assert_eq!(b["rounds_per_game"], 6);
    phone.ok("finish_onboarding", json!({}));
    let b = phone.ok("refresh", json!({}));
    assert_eq!(b["onboarded"], true);
    let names: Vec<&str> = b["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 5, "{b}");
    assert_eq!(b["shapes"][0]["round_seconds"], 20);

    // Drawn today on a device whose clock is 3 days ahead: they count for today.
    for d in real_drawings("circle", 3, clock_ahead() - 120_000) {
        phone.ok("submit_drawing", json!({ "drawing": d }));
    }
    phone.wait("synced", 30, |b| b["sync"]["synced"] == 3);
    let p = phone.ok("progress", json!({ "utcOffsetMin": 0 }));
    assert_eq!(p["offline"], false, "{p}");
    assert_eq!(p["stats"]["total"], 3);
    assert_eq!(p["stats"]["streak_days"], 1, "{p}");
    assert_eq!(p["stats"]["days_active"], 1, "{p}");

    // A drawing the server would refuse is refused on the device, naming the field.
    let mut bad = real_drawings("line", 1, now_ms()).remove(0);
    bad.shape = "hexagon".into();
    let e = phone
        .invoke("submit_drawing", json!({ "drawing": bad }))
        .unwrap_err();
    assert_eq!(
        (e["code"].clone(), e["field"].clone()),
        (json!("invalid"), json!("shape"))
    );
    let e = phone
        .invoke("submit_drawing", json!({ "drawing": {"id": 5} }))
        .unwrap_err();
    assert!(e.to_string().contains("drawing"), "{e}");

    // Accounts: bad input names the field; sign-up links this device.
    let e = phone
        .invoke("sign_up", json!({"username": "ada", "password": "short"}))
        .unwrap_err();
    assert_eq!(
        (e["code"].clone(), e["field"].clone()),
        (json!("invalid"), json!("password"))
    );
    assert_eq!(
        phone.ok(
            "sign_up",
            json!({"username": "ada", "password": "lovelace-1815"})
        ),
        "ada"
    );
    assert_eq!(phone.ok("bootstrap", json!({}))["username"], "ada");

    // A second device signs in and sees the same progress.
    let laptop = Game::open(&tmp.path().join("laptop"), &server.base, fast_sync());
    let e = laptop
        .invoke(
            "sign_in",
            json!({"username": "ada", "password": "wrong-password"}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "unauthorized", "{e}");
    let e = laptop
        .invoke(
            "sign_up",
            json!({"username": "ada", "password": "lovelace-1815"}),
        )
        .unwrap_err();
    assert_eq!(
        (e["code"].clone(), e["field"].clone()),
        (json!("conflict"), json!("username"))
    );
    laptop.ok(
        "sign_in",
        json!({"username": "ada", "password": "lovelace-1815"}),
    );
    for d in real_drawings("square", 2, now_ms() - 60_000) {
        laptop.ok("submit_drawing", json!({ "drawing": d }));
    }
    laptop.wait("synced", 30, |b| b["sync"]["synced"] == 2);
    for game in [&phone, &laptop] {
        let p = game.ok("progress", json!({ "utcOffsetMin": 0 }));
        assert_eq!(p["stats"]["total"], 5, "{p}");
        assert_eq!(p["stats"]["username"], "ada");
        assert_eq!(p["stats"]["per_shape"]["square"], 2);
        let first = &p["stats"]["achievements"][0];
        assert_eq!(
            (first["id"].clone(), first["unlocked"].clone()),
            (json!("first-drawing"), json!(true))
        );
    }

    // Offline: the last progress known, plus what this device made since.
    let _ = rt.block_on(server.stop());
    for d in real_drawings("line", 2, now_ms() - 30_000) {
        laptop.ok("submit_drawing", json!({ "drawing": d }));
    }
    let p = laptop.ok("progress", json!({ "utcOffsetMin": 0 }));
    assert_eq!(p["offline"], true, "{p}");
    assert_eq!(p["stats"]["total"], 5);
    assert_eq!(p["pending"], 2);
    assert_eq!(p["on_device"]["line"], 2);
    // Signing out with unsynced drawings is refused (they would change owner).
    let e = laptop.invoke("sign_out", json!({})).unwrap_err();
    assert_eq!(e["code"], "pending");
}

#[test]
fn live_guesses_use_the_production_recognizer_offline() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let server_addr = free_port();
    let server = rt.block_on(Server::start(&tmp.path().join("server"), server_addr, true));
    // Real drawings, imported as an operator would; a short training job.
    for file in ["circle", "line", "square", "triangle"] {
        let body = std::fs::read(
            inkset_testkit::shared_data().join(format!("quickdraw/raw/{file}.ndjson")),
        )
        .unwrap();
        let status = rt.block_on(async {
            server
                .http
                .post(format!("{}/api/admin/import?distractors=true", server.base))
                .bearer_auth(&server.admin)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, 200);
    }
    let job = rt.block_on(server.post(
        "/api/admin/training/start",
        json!({"config": {"epochs": 4, "shapes": ["circle", "line", "square", "triangle"]}}),
    ));
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let j = rt.block_on(server.get(&format!("/api/admin/training/{id}")));
        if j["status"] == "completed" {
            break;
        }
        assert!(j["status"] != "failed", "{j}");
        assert!(Instant::now() < deadline, "training timed out: {j}");
        std::thread::sleep(Duration::from_millis(500));
    }

    let app_dir = tmp.path().join("app");
    let url = format!("http://{server_addr}");
    let game = Game::open(&app_dir, &url, fast_sync());
    let b = game.wait("the recognizer cached", 120, |b| b["model"].is_object());
    assert_eq!(b["model"]["version"], 1);
    // Held-out circles (never trained on): the live guess puts circle on top. No verdict
    // on one stroke until the round is over.
    let circles: Vec<Drawing> = held_out("circle")
        .into_iter()
        .filter(|d| d.strokes.len() == 1)
        .take(20)
        .collect();
    assert!(!circles.is_empty());
    let mut on_top = 0;
    for d in &circles {
        let live = game.ok(
            "guess",
            json!({"shape": "circle", "strokes": d.strokes, "finalRound": false}),
        );
        assert_eq!(live["verdict_allowed"], false, "one stroke: no verdict yet");
        assert_eq!(live["recognized"], false);
        assert_eq!(live["model_version"], 1);
        let fin = game.ok(
            "guess",
            json!({"shape": "circle", "strokes": d.strokes, "finalRound": true}),
        );
        assert_eq!(fin["verdict_allowed"], true);
        let prompted = fin["prompted"].as_f64().unwrap();
        assert_eq!(fin["recognized"], prompted >= 0.8, "{fin}");
        if fin["classes"][0]["class"] == "circle" {
            on_top += 1;
        }
    }
    eprintln!("circle on top for {on_top} of {}", circles.len());
    assert!(
        on_top * 10 >= circles.len() * 8,
        "{on_top}/{}",
        circles.len()
    );
    // A tap is no drawing: no guess.
    let tap = json!([{"points": [{"x": 3, "y": 4, "pressure": 0.5, "timestamp": 1}]}]);
    assert_eq!(
        game.ok(
            "guess",
            json!({"shape": "circle", "strokes": tap, "finalRound": true})
        ),
        Value::Null
    );
    drop(game);

    // Offline: the server is gone; a new app start still guesses from the cache, and the
    // guess travels with the drawing once the server is back.
    let server_dir = rt.block_on(server.stop());
    let game = Game::open(&app_dir, &url, fast_sync());
    let b = game.ok("bootstrap", json!({}));
    assert_eq!(
        b["model"]["version"], 1,
        "model cached for offline play: {b}"
    );
    let mut d = circles[0].clone();
    let fin = game.ok(
        "guess",
        json!({"shape": "circle", "strokes": d.strokes, "finalRound": true}),
    );
    d.guess = Some(inkset_protocol::Guess {
        recognized: fin["recognized"].as_bool().unwrap(),
        confidence: fin["prompted"].as_f64().unwrap(),
        top: fin["classes"][0]["class"].as_str().map(str::to_owned),
        model_version: 1,
    });
    d.id = Uuid::new_v4();
    game.ok("submit_drawing", json!({ "drawing": d }));
    let server = rt.block_on(Server::start(&server_dir, server_addr, false));
    game.wait("synced", 60, |b| b["sync"]["pending"] == 0);
    let detail = rt.block_on(server.get(&format!("/api/admin/drawings/{}", d.id)));
    let back: Drawing = serde_json::from_value(detail["drawing"].clone()).unwrap();
    assert_eq!(back.guess, d.guess);
    rt.block_on(server.stop());
}

#[test]
fn detailed_rounds_and_large_offline_batches_reach_the_server() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let addr = free_port();
    // One game sizes its batches by bytes (the default); the other believes any size goes
    // and learns from the server's 413.
    let sized = Game::open(
        &tmp.path().join("sized"),
        &format!("http://{addr}"),
        SyncConfig {
            batch_bytes: SyncConfig::default().batch_bytes,
            ..fast_sync_batches_of(25)
        },
    );
    let learning = Game::open(
        &tmp.path().join("learning"),
        &format!("http://{addr}"),
        SyncConfig {
            batch_bytes: usize::MAX,
            ..fast_sync_batches_of(25)
        },
    );
    // Single-stroke real circles, each replayed at 1 kHz.
    let circles: Vec<Drawing> = real_drawings("circle", 40, now_ms() - 3_600_000)
        .into_iter()
        .filter(|d| d.strokes.len() == 1)
        .collect();
    // A 12-second stroke: 12,000 points, over the 10,000 a stroke may have.
    let fast = at_one_khz(&circles[0], 12_000);
    assert_eq!(fast.point_count(), 12_001);
    let r = sized.ok("submit_drawing", json!({ "drawing": fast }));
    assert_eq!(r["id"], json!(fast.id));
    // 25 offline rounds of 10,000 points each, for each game.
    let mut large = Vec::new();
    for (game, n) in [(&sized, 0), (&learning, 25)] {
        for i in 0..25 {
            let d = at_one_khz(&circles[(n + i) % circles.len()], 9_999);
            assert_eq!(d.point_count(), 10_000);
            game.ok("submit_drawing", json!({ "drawing": d }));
            large.push(d);
        }
    }
    let one_batch: usize = large[..25]
        .iter()
        .map(|d| serde_json::to_vec(d).unwrap().len())
        .sum();
    eprintln!("25 large rounds are {one_batch} bytes of JSON");
    assert!(
        one_batch > 16 * 1024 * 1024,
        "{one_batch} bytes fit one batch anyway"
    );
    for g in [&sized, &learning] {
        let b = g.wait("a failed sync", 20, |b| {
            b["sync"]["failures"].as_u64() > Some(0)
        });
        assert!(b["sync"]["pending"].as_u64().unwrap() >= 25, "{b}");
    }

    let server = rt.block_on(Server::start(&tmp.path().join("server"), addr, false));
    for (g, total) in [(&sized, 26), (&learning, 25)] {
        let b = g.wait("every drawing synced", 180, |b| {
            b["sync"]["pending"] == 0 && b["sync"]["synced"] == total
        });
        assert_eq!(b["sync"]["rejected"], 0, "{b}");
    }
    let stored = rt.block_on(server.drawings());
    assert_eq!(stored.len(), 51);
    // The large rounds arrive exactly as drawn.
    for d in large.iter().step_by(6) {
        let detail = rt.block_on(server.get(&format!("/api/admin/drawings/{}", d.id)));
        let back: Drawing = serde_json::from_value(detail["drawing"].clone()).unwrap();
        assert_eq!(back.strokes, d.strokes);
    }
    // The fast round arrives reduced within a quarter pixel, its ends and duration exact.
    let detail = rt.block_on(server.get(&format!("/api/admin/drawings/{}", fast.id)));
    let back: Drawing = serde_json::from_value(detail["drawing"].clone()).unwrap();
    let (before, after) = (&fast.strokes[0].points, &back.strokes[0].points);
    eprintln!(
        "the 1 kHz round: {} points drawn, {} stored",
        before.len(),
        after.len()
    );
    // The replay interpolates linearly between the real samples, so its extra points lie
    // on straight runs: a quarter pixel keeps about the real samples' corners.
    assert!(after.len() <= 10_000, "{}", after.len());
    let distance = |p| inkset_protocol::reduce::distance_to_polyline(p, after);
    let worst = before.iter().map(distance).fold(0.0, f64::max);
    assert!(
        worst <= 0.25 + 1e-9,
        "a drawn point is {worst} px from the stored stroke"
    );
    assert_eq!(before.first(), after.first());
    assert_eq!(before.last(), after.last());
    assert_eq!(back.duration_ms, fast.duration_ms);
    let mut it = before.iter();
    assert!(
        after.iter().all(|p| it.any(|q| q == p)),
        "every stored point was drawn"
    );
    rt.block_on(server.stop());
}
