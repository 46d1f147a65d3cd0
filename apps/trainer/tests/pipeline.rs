//! The whole model pipeline over HTTP on the real drawings in ../shared/data: import, start a
//! job, a trainer claims and completes it (in-process, and an `inkset-trainer` process that
//! is killed mid-job), the version is registered, activated and serves held-out drawings
//! through `/api/inference/classify` and the Open Inference Protocol.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use inkset_model::dataset::{Split, UNKNOWN};
use inkset_protocol::quickdraw::{Record, ndjson_files};
use inkset_server::testing::{Storage, TestServer};
use serde_json::{Value, json};

const SHAPES: [&str; 4] = ["circle", "line", "square", "triangle"];

struct Server {
    base: String,
    http: reqwest::Client,
    token: String,
    /// Port of its Prometheus listener.
    metrics_port: u16,
    server: TestServer,
}

impl Server {
    async fn start(in_process: bool, lease_secs: u64) -> Self {
        let metrics_port = inkset_testkit::free_port();
        let server = TestServer::start_with(Storage::SqliteLocal, |settings| {
            settings.training.in_process = in_process;
            settings.training.lease_secs = lease_secs;
            settings.inference.alias_poll_ms = 500;
            settings.metrics_listen =
                Some(std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port)));
        })
        .await;
        let token = server.admin("root", "correct horse battery").await;
        Self {
            base: server.base.clone(),
            http: server.client.clone(),
            token,
            metrics_port,
            server,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Imports every ndjson file under `quickdraw/raw` over HTTP (distractors included).
    async fn import_quickdraw_raw(&self) {
        for file in ndjson_files(&[inkset_testkit::shared_data().join("quickdraw/raw")]).unwrap() {
            let body = std::fs::read(&file).unwrap();
            let r = self
                .http
                .post(format!("{}/api/admin/import?distractors=true", self.base))
                .bearer_auth(&self.token)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", file.display());
            let report: Value = r.json().await.unwrap();
            assert_eq!(
                report["rejected"],
                json!({}),
                "{}: {report}",
                file.display()
            );
        }
    }

    async fn wait_for_job(&self, id: &str, until: impl Fn(&Value) -> bool, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (s, job) = self.get(&format!("/api/admin/training/{id}")).await;
            assert_eq!(s, 200, "{job}");
            if until(&job) {
                return job;
            }
            assert!(job["status"] != "failed", "job failed: {}", job["error"]);
            assert!(Instant::now() < deadline, "timed out; job: {job}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until job `id` runs and has reported progress.
    async fn wait_running(&self, id: &str) -> Value {
        self.wait_for_job(
            id,
            |j| j["status"] == "running" && !j["progress"].as_array().unwrap().is_empty(),
            300,
        )
        .await
    }

    /// A new worker token's secret.
    async fn worker_token(&self, name: &str) -> String {
        let (s, token) = self
            .post("/api/admin/worker-tokens", json!({"name": name}))
            .await;
        assert_eq!(s, 201, "{token}");
        token["token"].as_str().unwrap().to_owned()
    }

    /// Starts a recognizer job of `epochs`; returns its id.
    async fn start_job(&self, epochs: u32) -> String {
        let (_, created) = self
            .post(
                "/api/admin/training/start",
                json!({"config": {"epochs": epochs}}),
            )
            .await;
        created["id"].as_str().unwrap().to_owned()
    }

    /// An `inkset-trainer work` process on the CPU polling this server every 0.2 s.
    fn spawn_trainer(
        &self,
        token: &str,
        extra: &[&str],
        stdout: std::process::Stdio,
    ) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_inkset-trainer"))
            .args(["work", "--server", &self.base, "--token", token])
            .args(["--backend", "cpu", "--poll-secs", "0.2"])
            .args(extra)
            .stdout(stdout)
            .spawn()
            .unwrap()
    }

    async fn stop(&mut self) {
        self.server.stop().await;
    }

    async fn shutdown(mut self) {
        self.stop().await;
    }

    /// Stops the server and returns its data directory (still on disk).
    async fn shutdown_keeping_data(mut self) -> tempfile::TempDir {
        self.stop().await;
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.server.dir, dir)
    }
}

/// A held-out record as a player upload prompted with `prompt`.
fn as_upload(r: &Record, prompt: &str, base: i64) -> Value {
    let mut d = r.clone().into_drawing();
    let (mut w, mut h) = (1.0f64, 1.0f64);
    for s in &mut d.strokes {
        s.pointer_type = Some("mouse".into());
        s.pressure_measured = Some(false);
        s.color = Some("#1d1d1f".into());
        s.width = Some(4.0);
        for p in &mut s.points {
            w = w.max(p.x + 1.0);
            h = h.max(p.y + 1.0);
            p.pressure = Some(0.5);
            p.timestamp = Some(base + p.timestamp.unwrap_or(0));
        }
    }
    let last = d
        .strokes
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|p| p.timestamp)
        .max()
        .unwrap();
    d.id = uuid::Uuid::new_v4();
    d.shape = prompt.to_owned();
    d.source = None;
    d.canvas = Some(inkset_protocol::Canvas {
        width: w,
        height: h,
    });
    d.device = Some(inkset_protocol::Device::Mouse);
    d.user_agent = Some("inkset tests".into());
    d.device_pixel_ratio = Some(1.0);
    d.prompt_to_first_point_ms = Some(600);
    d.duration_ms = Some(u64::try_from(last - base).unwrap());
    serde_json::to_value(d).unwrap()
}

/// Uploads the held-out shapes under their own prompt and the held-out distractors under a
/// wrong one, waits for the server's quality scores and returns the ROC AUC of the score
/// separating the two (with the counts).
async fn quality_auc(server: &Server) -> (f64, usize, usize, String) {
    let session: Value = server
        .http
        .post(format!("{}/api/sessions", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap();
    let sid = session["session_id"].as_str().unwrap();
    let mut truth = std::collections::HashMap::new();
    let mut drawings = Vec::new();
    for (i, r) in held_out().iter().enumerate() {
        let real = SHAPES.contains(&r.word.as_str());
        let prompt = if real {
            r.word.as_str()
        } else {
            SHAPES[i % SHAPES.len()]
        };
        let d = as_upload(
            r,
            prompt,
            1_764_400_000_000 + i64::try_from(i).unwrap() * 60_000,
        );
        truth.insert(d["id"].as_str().unwrap().to_owned(), real);
        drawings.push(d);
    }
    for chunk in drawings.chunks(100) {
        let r: Value = server
            .http
            .post(format!("{}/api/drawings/batch", server.base))
            .bearer_auth(token)
            .json(&json!({ "drawings": chunk }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in r["results"].as_array().unwrap() {
            assert_eq!(item["status"], 201, "{item}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let scored = loop {
        let (_, page) = server
            .get(&format!("/api/admin/drawings?session={sid}&limit=1000"))
            .await;
        let rows = page["drawings"].as_array().unwrap().clone();
        if rows.len() == truth.len() && rows.iter().all(|d| d["quality_score"].is_f64()) {
            break rows;
        }
        assert!(Instant::now() < deadline, "drawings not scored: {page}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The scorer stored the production recognizer's answer too: the console's model
    // verdict filter and confidence order read it.
    let mut agrees = 0u64;
    for d in &scored {
        let guess = d["model_guess"]
            .as_str()
            .unwrap_or_else(|| panic!("no verdict: {d}"));
        let confidence = d["model_confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence), "{d}");
        agrees += u64::from(guess == d["shape"].as_str().unwrap());
    }
    let (_, n) = server
        .get(&format!(
            "/api/admin/drawings/count?session={sid}&verdict=agrees"
        ))
        .await;
    assert_eq!(n["count"].as_u64(), Some(agrees), "{n}");
    assert!(agrees as f64 >= 0.7 * 53.0, "{agrees} agreements");
    let (_, page) = server
        .get(&format!(
            "/api/admin/drawings?session={sid}&sort=confidence_asc&limit=1000"
        ))
        .await;
    let c: Vec<f64> = page["drawings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["model_confidence"].as_f64().unwrap())
        .collect();
    assert_eq!(c.len(), scored.len());
    assert!(c.windows(2).all(|w| w[0] <= w[1]), "{c:?}");
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for d in &scored {
        let q = d["quality_score"].as_f64().unwrap();
        if truth[d["id"].as_str().unwrap()] {
            pos.push(q);
        } else {
            neg.push(q);
        }
    }
    // Mann-Whitney: the chance a real drawing outscores a distractor (ties count half).
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    // An admin's score overrides the automatic one (and survives rescoring; see below).
    let id = scored[0]["id"].as_str().unwrap().to_owned();
    let put = |body: Value, id: String| {
        let req = server
            .http
            .put(format!("{}/api/admin/drawings/{id}/quality", server.base))
            .bearer_auth(&server.token)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    assert_eq!(put(json!({"score": 0.125}), id.clone()).await.0, 204);
    let (s, e) = put(json!({"score": 1.5}), id.clone()).await;
    assert_eq!(s, 422, "{e}");
    assert!(e.contains("\"field\":\"score\""), "{e}");
    let missing = "00000000-0000-4000-8000-000000000000".to_owned();
    assert_eq!(put(json!({"score": 0.5}), missing).await.0, 404);
    (
        wins / (pos.len() * neg.len()) as f64,
        pos.len(),
        neg.len(),
        id,
    )
}

/// Held-out (test split) records of the Quick, Draw! raw files: (word, record).
/// Resident memory of this process, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// Sends a 64 MiB OIP infer body (zeros, declared shape `[1, 1, 28, 28]`) over a raw
/// connection, with a `Content-Length` or chunked; returns the status and the largest growth
/// of resident memory seen while it was sent and answered, KiB.
fn oversized_oip(base: &str, chunked: bool) -> (u16, u64) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let before = rss_kib();
    let peak = std::sync::Arc::new(AtomicU64::new(before));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(rss_kib(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let prefix = br#"{"inputs":[{"name":"raster","shape":[1,1,28,28],"datatype":"FP32","data":["#;
    let suffix = b"0]}]}";
    let chunk = "0,".repeat(1 << 20).into_bytes();
    let chunks = 32; // 32 x 2 MiB
    let total = prefix.len() + chunk.len() * chunks + suffix.len();
    let addr = base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The answer is read while the body is still being sent: the server may answer early
    // and close, and a reset would discard an answer read only afterwards.
    let reader = {
        let mut conn = conn.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
            answer
        })
    };
    let head = if chunked {
        format!(
            "POST /v2/models/recognizer/infer HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
    } else {
        format!(
            "POST /v2/models/recognizer/infer HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n"
        )
    };
    let send = |conn: &mut std::net::TcpStream, bytes: &[u8]| -> std::io::Result<()> {
        if chunked {
            conn.write_all(format!("{:x}\r\n", bytes.len()).as_bytes())?;
            conn.write_all(bytes)?;
            conn.write_all(b"\r\n")
        } else {
            conn.write_all(bytes)
        }
    };
    // The server may answer and close before the body is sent: later writes then fail.
    let _ = conn.write_all(head.as_bytes()).and_then(|()| {
        send(&mut conn, prefix)?;
        for _ in 0..chunks {
            send(&mut conn, &chunk)?;
        }
        send(&mut conn, suffix)?;
        if chunked {
            conn.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    });
    let answer = reader.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let status = String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, peak.load(Ordering::SeqCst).saturating_sub(before))
}

fn held_out() -> Vec<Record> {
    let mut out = Vec::new();
    for file in ndjson_files(&[inkset_testkit::shared_data().join("quickdraw/raw")]).unwrap() {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let r = Record::parse_line(line).unwrap();
            if Split::of(r.key_id) == Split::Test {
                out.push(r);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_trainer_trains_registers_and_serves() {
    let server = Server::start(true, 30).await;
    server.import_quickdraw_raw().await;

    // A required shape without drawings fails the job, saying which.
    let (s, failed) = server
        .post(
            "/api/admin/training/start",
            json!({"config": {"required_shapes": ["heart"]}}),
        )
        .await;
    assert_eq!(s, 201, "{failed}");
    assert_eq!(failed["status"], "failed");
    let (_, job) = server
        .get(&format!(
            "/api/admin/training/{}",
            failed["id"].as_str().unwrap()
        ))
        .await;
    assert!(job["error"].as_str().unwrap().contains("heart"), "{job}");
    // Bad config fields are named.
    let (s, e) = server
        .post(
            "/api/admin/training/start",
            json!({"config": {"epochs": 0}}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (422, Some("config.epochs"))
    );
    let (s, e) = server
        .post("/api/admin/training/start", json!({"config": {"epoch": 3}}))
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("epoch"),
        "{e}"
    );

    // `{"config": {}}` trains on every shape with drawings; heart is left out with a warning.
    let (s, created) = server
        .post("/api/admin/training/start", json!({"config": {}}))
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(
        created["plan"]["classes"],
        json!(["circle", "line", "square", "triangle", UNKNOWN])
    );
    assert!(
        created["warnings"][0].as_str().unwrap().contains("heart"),
        "{created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let job = server
        .wait_for_job(&id, |j| j["status"] == "completed", 900)
        .await;
    let progress = job["progress"].as_array().unwrap();
    assert!(progress.iter().any(|p| p["kind"] == "step"), "{job}");
    let epochs: Vec<&Value> = progress.iter().filter(|p| p["kind"] == "epoch").collect();
    assert_eq!(epochs.len(), 45, "default epochs");
    assert!(epochs.last().unwrap()["loss"].as_f64() < epochs[0]["loss"].as_f64());
    assert!(
        epochs
            .iter()
            .all(|p| p["samples_per_sec"].as_f64().unwrap() > 0.0)
    );
    let model_id = job["model_id"].as_str().unwrap().to_owned();
    assert!(job["metrics"]["accuracy"].as_f64().unwrap() > 0.8, "{job}");

    // Registered, then activated; the move is in the history.
    let (_, models) = server.get("/api/admin/models").await;
    assert_eq!(models["models"].as_array().unwrap().len(), 1);
    assert_eq!(models["models"][0]["version"], 1);
    assert_eq!(models["models"][0]["id"], model_id.as_str());
    // The first version goes to production by itself; activating it again is recorded.
    let (_, history) = server.get("/api/admin/aliases/history").await;
    assert_eq!(history["moves"].as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history["moves"][0]["moved_by"], Value::Null);
    let (s, moved) = server
        .post(&format!("/api/admin/models/{model_id}/activate"), json!({}))
        .await;
    assert_eq!(s, 200, "{moved}");
    let (_, history) = server.get("/api/admin/aliases/history").await;
    assert_eq!(history["moves"].as_array().unwrap().len(), 2);
    assert_eq!(history["moves"][1]["model_id"], model_id.as_str());
    assert_eq!(history["moves"][1]["moved_by"], "root");
    let (s, info) = server.get("/api/inference/model/info").await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["version"], 1);

    // Held-out drawings through the API.
    let (mut shape_total, mut shape_right) = (0, 0);
    let (mut distractor_total, mut distractor_unknown) = (0, 0);
    for r in held_out() {
        let drawing = r.clone().into_drawing();
        let (s, c) = server
            .post(
                "/api/inference/classify",
                json!({ "strokes": drawing.strokes }),
            )
            .await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(c["model_version"], 1);
        let sum: f64 = c["probabilities"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-3, "{c}");
        if SHAPES.contains(&r.word.as_str()) {
            shape_total += 1;
            shape_right += usize::from(c["label"] == r.word.as_str());
        } else {
            distractor_total += 1;
            distractor_unknown += usize::from(c["label"] == UNKNOWN);
        }
    }
    let accuracy = shape_right as f64 / shape_total as f64;
    eprintln!(
        "held-out through the API: shapes {shape_right}/{shape_total} = {accuracy:.3}; \
         distractors unknown {distractor_unknown}/{distractor_total}"
    );
    assert!(shape_total > 40 && distractor_total > 30);
    // Trained on the Quick, Draw! raw files alone (~180 training shapes and ~180
    // distractors; the full data set is measured in BENCHMARKS.md), far above chance (20 %)
    // on both sides of the reject rule. Training on two busy cores is not bit-reproducible
    // (threaded reductions): 53 held-out shapes scored 42 (0.792) in one CI run and 50 in
    // BENCHMARKS.md, so the bound is 0.7, 3.5 times chance ...
    assert!(accuracy >= 0.7, "held-out shape accuracy {accuracy}");
    assert!(
        distractor_unknown as f64 >= 0.8 * distractor_total as f64,
        "held-out distractors rejected {distractor_unknown}/{distractor_total}"
    );
    // ... and the API answers exactly as the trainer's own held-out evaluation said.
    let overall =
        (shape_right + distractor_unknown) as f64 / (shape_total + distractor_total) as f64;
    let reported = job["metrics"]["accuracy"].as_f64().unwrap();
    assert!(
        (overall - reported).abs() < 1e-9,
        "API {overall} vs the job's held-out metrics {reported}"
    );

    // The automatic quality score separates real drawings of the prompted shape from
    // Quick, Draw! distractors filed under a wrong prompt (held-out drawings, uploaded by a
    // player): ROC AUC.
    let (auc, positives, negatives, overridden) = quality_auc(&server).await;
    eprintln!(
        "quality score ROC AUC {auc:.3} ({positives} real drawings of the prompted shape vs \
         {negatives} distractors under a wrong prompt)"
    );
    assert!(auc >= 0.9, "quality ROC AUC {auc}");

    // Empty drawings and taps are refused before the network, naming the field.
    let (s, e) = server
        .post("/api/inference/classify", json!({ "strokes": [] }))
        .await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("strokes")));
    // A tap is judged against the canvas (the tap rule is scale-free: without a canvas, half
    // a unit may be a whole line in a pen's page units).
    let tap = json!({ "strokes": [{ "points": [{"x": 5, "y": 5}, {"x": 5.5, "y": 5}] }],
                      "canvas": {"width": 400, "height": 300} });
    let (s, e) = server.post("/api/inference/classify", tap).await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (422, Some("strokes")),
        "{e}"
    );

    // The tap rule and the raster are scale-free: one held-out drawing in a smart pen's
    // page units (0..1), at 100 and at 100,000 times that gets one answer. A 3-point speck
    // is a drawing where nothing says how large the surface was, and a tap on a canvas it
    // is 1 % of.
    let record = held_out()
        .into_iter()
        .find(|r| SHAPES.contains(&r.word.as_str()))
        .unwrap();
    let strokes = record.into_drawing().strokes;
    let all = || strokes.iter().flat_map(|s| s.points.iter());
    let lo = all().fold((f64::MAX, f64::MAX), |(x, y), p| (x.min(p.x), y.min(p.y)));
    let hi = all().fold((f64::MIN, f64::MIN), |(x, y), p| (x.max(p.x), y.max(p.y)));
    let extent = (hi.0 - lo.0).max(hi.1 - lo.1);
    let mut answers = Vec::new();
    for k in [1.0, 100.0, 100_000.0] {
        let mut scaled = strokes.clone();
        for p in scaled.iter_mut().flat_map(|s| s.points.iter_mut()) {
            p.x = (p.x - lo.0) / extent * k;
            p.y = (p.y - lo.1) / extent * k;
        }
        let (s, c) = server
            .post("/api/inference/classify", json!({ "strokes": scaled }))
            .await;
        assert_eq!(s, 200, "scale {k}: {c}");
        answers.push(c);
    }
    for c in &answers[1..] {
        assert_eq!(c["label"], answers[0]["label"], "{c} vs {}", answers[0]);
        for (class, p) in c["probabilities"].as_object().unwrap() {
            let q = answers[0]["probabilities"][class].as_f64().unwrap();
            assert!(
                (p.as_f64().unwrap() - q).abs() < 0.05,
                "{class}: {p} vs {q}"
            );
        }
    }
    let speck = json!([{ "points": [{"x": 5, "y": 5}, {"x": 7, "y": 6}, {"x": 6, "y": 8}] }]);
    let (s, _) = server
        .post("/api/inference/classify", json!({ "strokes": speck }))
        .await;
    assert_eq!(s, 200);
    let (s, e) = server
        .post(
            "/api/inference/classify",
            json!({ "strokes": speck, "canvas": {"width": 400, "height": 300} }),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (422, Some("strokes")),
        "{e}"
    );

    // The Open Inference Protocol gives the same probabilities for the same raster.
    let (s, meta) = server.get("/v2/models/recognizer").await;
    assert_eq!(s, 200, "{meta}");
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 1, 32, 32]));
    let record = held_out().into_iter().next().unwrap();
    let lines = inkset_model::raster::polylines(&record.clone().into_drawing().strokes);
    let raster = inkset_model::raster::rasterize(&lines, 32).unwrap();
    let (s, oip) = server
        .post(
            "/v2/models/recognizer/infer",
            json!({"id": "q1", "inputs": [{"name": "raster", "shape": [1, 1, 32, 32],
                   "datatype": "FP32", "data": raster}]}),
        )
        .await;
    assert_eq!(s, 200, "{oip}");
    assert_eq!(oip["id"], "q1");
    let (_, c) = server
        .post(
            "/api/inference/classify",
            json!({ "strokes": record.into_drawing().strokes }),
        )
        .await;
    let classes = info["classes"].as_array().unwrap();
    for (i, class) in classes.iter().enumerate() {
        let a = oip["outputs"][0]["data"][i].as_f64().unwrap();
        let b = c["probabilities"][class.as_str().unwrap()]
            .as_f64()
            .unwrap();
        assert!((a - b).abs() < 1e-5, "{class}: {a} vs {b}");
    }
    let (s, e) = server
        .post(
            "/v2/models/recognizer/infer",
            json!({"inputs": [{"name": "raster", "shape": [1, 1, 28, 28],
                   "datatype": "FP32", "data": vec![0.0; 784]}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("expected [batch, 1, 32, 32]"),
        "{e}"
    );
    let (s, e) = server
        .post(
            "/v2/models/recognizer/infer",
            json!({"inputs": [{"name": "raster", "shape": [1, 1, 32, 32],
                   "datatype": "INT8", "data": vec![0; 1024]}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["error"].as_str().unwrap().contains("expected \"FP32\""),
        "{e}"
    );
    assert_eq!(server.get("/v2/health/ready").await.0, 200);

    // Stock Open Inference Protocol clients (Triton's and KServe's Python SDKs), JSON and
    // binary tensors, batch 1 and 8, against a plain JSON request for the same rasters.
    let rasters: Vec<Vec<f32>> = held_out()
        .into_iter()
        .take(8)
        .map(|r| {
            let lines = inkset_model::raster::polylines(&r.into_drawing().strokes);
            inkset_model::raster::rasterize(&lines, 32).unwrap()
        })
        .collect();
    let (s, plain) = server
        .post(
            "/v2/models/recognizer/infer",
            json!({"inputs": [{"name": "raster", "shape": [8, 1, 32, 32],
                   "datatype": "FP32", "data": rasters.concat()}]}),
        )
        .await;
    assert_eq!(s, 200, "{plain}");
    let expected: Vec<Vec<f64>> = plain["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .chunks(classes.len())
        .map(|row| row.iter().map(|v| v.as_f64().unwrap()).collect())
        .collect();
    let cases_dir = tempfile::tempdir().unwrap();
    let cases = cases_dir.path().join("cases.json");
    std::fs::write(
        &cases,
        json!({"n": 32, "classes": classes, "rasters": rasters, "expected": expected}).to_string(),
    )
    .unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oip_clients.py");
    let out = std::process::Command::new(inkset_testkit::oip_python())
        .arg(&script)
        .args(["--url", &server.base, "--cases"])
        .arg(&cases)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stock OIP clients failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));

    // 64 MiB bodies of zeros declaring the wrong shape: refused with the process's resident
    // memory (server and test share it) growing by less than 100 MiB.
    for chunked in [false, true] {
        let (status, growth_kib) = oversized_oip(&server.base, chunked);
        eprintln!(
            "64 MiB OIP body, {}: {status}, resident memory +{} MiB",
            if chunked { "chunked" } else { "Content-Length" },
            growth_kib / 1024
        );
        assert!([400, 413].contains(&status), "{status}");
        assert!(growth_kib < 100 * 1024, "grew {growth_kib} KiB");
    }

    // A second version, compared with the first and activated: the server swaps.
    let (_, second) = server
        .post(
            "/api/admin/training/start",
            json!({"config": {"epochs": 3, "seed": 7}}),
        )
        .await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let job2 = server
        .wait_for_job(&second_id, |j| j["status"] == "completed", 900)
        .await;
    let model2 = job2["model_id"].as_str().unwrap().to_owned();
    let (s, cmp) = server
        .get(&format!(
            "/api/admin/models/compare?a={model_id}&b={model2}"
        ))
        .await;
    assert_eq!(s, 200, "{cmp}");
    assert!(cmp["evaluated"].as_u64().unwrap() > 60, "{cmp}");
    assert_eq!(cmp["per_class"].as_array().unwrap().len(), 5);
    let (s, _) = server
        .post(&format!("/api/admin/models/{model2}/activate"), json!({}))
        .await;
    assert_eq!(s, 200);
    let (_, info2) = server.get("/api/inference/model/info").await;
    assert_eq!(info2["version"], 2);
    let (_, history) = server.get("/api/admin/aliases/history").await;
    assert_eq!(history["moves"][2]["previous_model_id"], model_id.as_str());
    // The new production model rescored the drawings; the admin's score stayed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, detail) = server
        .get(&format!("/api/admin/drawings/{overridden}"))
        .await;
    assert_eq!(detail["summary"]["quality_score"], 0.125, "{detail}");

    // Cancelling a pending or running job.
    let (_, third) = server
        .post(
            "/api/admin/training/start",
            json!({"config": {"epochs": 50}}),
        )
        .await;
    let third_id = third["id"].as_str().unwrap().to_owned();
    let (s, cancelled) = server
        .post(&format!("/api/admin/training/{third_id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (s, _) = server
        .post(&format!("/api/admin/training/{third_id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 409);

    // Every metric of the server's Prometheus listener has real values by now: drawings
    // imported, jobs completed and cancelled, classifications, quality scores (rejections
    // are checked in sync-server/tests/api/protection.rs).
    let text = server
        .http
        .get(format!("http://127.0.0.1:{}/metrics", server.metrics_port))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "inkset_http_requests_total{method=\"POST\",route=\"/api/inference/classify\",status=\"200\"}",
        "inkset_http_request_duration_seconds_count",
        "inkset_drawings_accepted_total{origin=\"import\"}",
        "inkset_ingest_queue_depth",
        "inkset_ingest_commit_size_count",
        "inkset_ingest_commit_duration_seconds_count",
        "inkset_inference_duration_seconds_count{model=\"recognizer\"}",
        "inkset_inference_batch_size_count",
        "inkset_training_jobs_total{kind=\"recognizer\",outcome=\"completed\"}",
        "inkset_training_jobs_total{kind=\"recognizer\",outcome=\"cancelled\"}",
        "inkset_training_job_duration_seconds_count",
        "inkset_production_model_accuracy{kind=\"recognizer\"}",
        "inkset_quality_score_count",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle} missing from /metrics:\n{text}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value > 0.0 || needle.contains("queue_depth"), "{line}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_trainer_process_loses_its_lease_and_the_job_completes_once() {
    let server = Server::start(false, 3).await;
    server.import_quickdraw_raw().await;
    let token = server.worker_token("gpu-host-1").await;
    let id = server.start_job(20).await;

    let trainer = |extra: &[&str]| server.spawn_trainer(&token, extra, std::process::Stdio::null());
    let mut first = trainer(&["--name", "doomed"]);
    let running = server.wait_running(&id).await;
    assert!(
        running["lease"]["owner"]
            .as_str()
            .unwrap()
            .contains("doomed")
    );
    first.kill().unwrap(); // SIGKILL: no goodbye, the lease just stops being renewed.
    first.wait().unwrap();
    let (_, models) = server.get("/api/admin/models").await;
    assert_eq!(models["models"], json!([]), "nothing registered mid-job");

    let mut second = trainer(&["--name", "survivor", "--max-jobs", "1"]);
    let done = server
        .wait_for_job(&id, |j| j["status"] == "completed", 900)
        .await;
    assert!(second.wait().unwrap().success());
    assert_eq!(done["attempts"], 2, "{done}");
    let logs: Vec<&str> = done["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("expired") && l.contains("doomed")),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l.contains("survivor")), "{logs:?}");
    let (_, models) = server.get("/api/admin/models").await;
    let models = models["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "exactly one version: {models:?}");
    assert_eq!(models[0]["job_id"], id.as_str());
    assert_eq!(done["model_id"], models[0]["id"]);
    // The curve shown is the completed attempt's: epochs 1..=20 once each.
    let epochs = done["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "epoch")
        .count();
    assert_eq!(epochs, 20);

    // A revoked token is refused.
    let (_, tokens) = server.get("/api/admin/worker-tokens").await;
    let token_id = tokens[0]["id"].as_str().unwrap().to_owned();
    let (s, _) = server
        .call(
            reqwest::Method::DELETE,
            &format!("/api/admin/worker-tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let r = server
        .http
        .post(format!("{}/api/worker/claim", server.base))
        .bearer_auth(&token)
        .json(&json!({"worker": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    server.shutdown().await;
}

/// A generator job through the same job system: `"model_kind": "generator"`, trained by the
/// in-process trainer, registered with its own `production` alias, served by
/// `POST /api/inference/generate`; the recognizer's alias is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_job_trains_registers_and_generates() {
    let server = Server::start(true, 30).await;
    server.import_quickdraw_raw().await;

    // Nothing to generate with yet.
    let (s, e) = server
        .post("/api/inference/generate", json!({"shape": "circle"}))
        .await;
    assert_eq!(s, 503, "{e}");
    let (s, e) = server
        .post(
            "/api/admin/training/start",
            json!({"config": {"model_kind": "painter"}}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (422, Some("config.model_kind")),
        "{e}"
    );

    let (s, created) = server
        .post(
            "/api/admin/training/start",
            json!({"config": {"model_kind": "generator", "epochs": 3}}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    // Shapes only: a generator has no unknown class.
    assert_eq!(
        created["plan"]["classes"],
        json!(["circle", "line", "square", "triangle"])
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let job = server
        .wait_for_job(&id, |j| j["status"] == "completed", 900)
        .await;
    let progress = job["progress"].as_array().unwrap();
    let steps: Vec<f64> = progress
        .iter()
        .filter(|p| p["kind"] == "step")
        .map(|p| p["loss"].as_f64().unwrap())
        .collect();
    assert!(steps.len() > 10, "{job}");
    assert!(steps.iter().all(|l| l.is_finite()));
    let epochs: Vec<&Value> = progress.iter().filter(|p| p["kind"] == "epoch").collect();
    assert_eq!(epochs.len(), 3);
    assert!(
        epochs.iter().all(|p| p["test_loss"].as_f64().is_some()),
        "{job}"
    );
    assert!(
        epochs[2]["loss"].as_f64() < epochs[0]["loss"].as_f64(),
        "reconstruction loss falls: {epochs:?}"
    );
    let model_id = job["model_id"].as_str().unwrap().to_owned();

    // Registered as generator v1 and in the generator's production alias.
    let (_, models) = server.get("/api/admin/models?model_kind=generator").await;
    assert_eq!(models["models"][0]["id"], model_id.as_str(), "{models}");
    assert_eq!(models["models"][0]["version"], 1);
    assert_eq!(models["models"][0]["aliases"], json!(["production"]));
    let (_, recognizers) = server.get("/api/admin/models?model_kind=recognizer").await;
    assert_eq!(recognizers["models"], json!([]));
    let (s, _) = server.get("/api/inference/model/info").await;
    assert_eq!(s, 503, "no recognizer in production");

    // Generate: valid drawings, repeatable per seed. The job shows `completed` a moment
    // before the server has loaded the first version it registered (the completion request
    // moves the alias, then loads it), so the first answer may be 503 for that moment.
    let ask = |seed: u64| json!({"shape": "circle", "temperature": 0.5, "seed": seed});
    let mut tries = 0;
    let (s, a) = loop {
        let (s, a) = server.post("/api/inference/generate", ask(7)).await;
        tries += 1;
        if s != 503 || tries >= 100 {
            break (s, a);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["model_id"], model_id.as_str());
    assert_eq!(a["model_version"], 1);
    assert!(a["latency_ms"].as_f64().unwrap() > 0.0);
    let d = &a["drawing"];
    assert_eq!(d["shape"], "circle");
    let strokes = d["strokes"].as_array().unwrap();
    assert!(!strokes.is_empty());
    for p in strokes.iter().flat_map(|s| s["points"].as_array().unwrap()) {
        let (x, y) = (p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
        assert!(
            (0.0..=255.0).contains(&x) && (0.0..=255.0).contains(&y),
            "{p}"
        );
    }
    assert!(
        d["source"]["origin"].as_str().unwrap().contains("seed 7"),
        "{d}"
    );
    let (_, b) = server.post("/api/inference/generate", ask(7)).await;
    assert_eq!(a["drawing"], b["drawing"], "same seed, same drawing");
    let mut differ = 0;
    for seed in 8..13 {
        let (s, c) = server.post("/api/inference/generate", ask(seed)).await;
        assert_eq!(s, 200, "{c}");
        differ += usize::from(c["drawing"]["strokes"] != a["drawing"]["strokes"]);
    }
    assert!(differ >= 4, "other seeds give other drawings");

    // Bad requests name the field.
    for (body, field) in [
        (json!({"shape": "star"}), "shape"),
        (
            json!({"shape": "circle", "temperature": 0.0}),
            "temperature",
        ),
        (
            json!({"shape": "circle", "temperature": 3.5}),
            "temperature",
        ),
        (json!({"shape": "circle", "max_points": 1}), "max_points"),
        (json!({"temperature": 0.5}), "shape"),
        (json!({"shape": "circle", "colour": "red"}), "colour"),
    ] {
        let (s, e) = server.post("/api/inference/generate", body.clone()).await;
        assert!(s == 400 || s == 422, "{body}: {s} {e}");
        assert!(
            e["error"]["field"].as_str() == Some(field)
                || e["error"]["message"].as_str().unwrap_or("").contains(field),
            "{body}: {e}"
        );
    }

    // The served OpenAPI document, against schemathesis: a recognizer in production too,
    // then the server restarted without its in-process trainer (the jobs schemathesis
    // starts stay queued), every operation fuzzed with real data behind it.
    let recognizer = server.start_job(1).await;
    server
        .wait_for_job(&recognizer, |j| j["status"] == "completed", 900)
        .await;
    let mut server = server;
    server.server.settings.training.in_process = false;
    server.server.restart().await;
    run_schemathesis(&server).await;
    server.shutdown().await;
}

/// Runs schemathesis (PyPI) against `GET /api/openapi.json` of `server`: its example,
/// coverage and fuzzing phases on every operation, valid and invalid data, with a fixed
/// seed. Any 5xx answer, or an answer whose status, content type, headers or body its
/// operation does not declare, fails the test. One run per credential: anonymous and
/// player routes with a session token, the worker protocol with a worker token, the
/// admin API with an admin token, and last the routes that revoke the token they are
/// called with.
async fn run_schemathesis(server: &Server) {
    let (s, doc) = server.get("/api/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(
        doc["openapi"].as_str().map(|v| &v[..2]),
        Some("3."),
        "{doc}"
    );
    let (_, session) = server.post("/api/sessions", json!({})).await;
    let session = session["token"].as_str().unwrap().to_owned();
    let worker = server.worker_token("schemathesis").await;
    let revoke = "/api/admin/users/{username}/revoke-tokens";
    let runs: [(&str, &str, Vec<&str>); 5] = [
        (
            "anonymous and player routes",
            session.as_str(),
            vec![
                "--include-path-regex",
                "^/(health|v2|api/(openapi|shapes|sessions|auth/(login|signup|link)|user|drawings|inference))",
            ],
        ),
        (
            "worker protocol",
            worker.as_str(),
            vec!["--include-path-regex", "^/api/worker/"],
        ),
        (
            "admin API",
            server.token.as_str(),
            vec![
                "--include-path-regex",
                "^/api/admin/",
                "--exclude-path",
                revoke,
            ],
        ),
        // These two may revoke the very token they are called with.
        (
            "revoking an account's tokens",
            server.token.as_str(),
            vec!["--include-path", revoke],
        ),
        (
            "logout",
            session.as_str(),
            vec!["--include-path", "/api/auth/logout"],
        ),
    ];
    let report = tempfile::tempdir().unwrap();
    for (i, (name, token, filter)) in runs.iter().enumerate() {
        let junit = report.path().join(format!("run{i}.xml"));
        let out = std::process::Command::new(inkset_testkit::python_tool("schemathesis"))
            .arg("run")
            .arg(format!("{}/api/openapi.json", server.base))
            .args(["--url", &server.base])
            .args(filter)
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--mode",
                "all",
                "--max-examples",
                "30",
                "--seed",
                "20261130",
                // One worker: hypothesis's lambda cache is not thread-safe (a runtime error
                // with two, schemathesis 4.32).
                "--workers",
                "1",
                "--request-timeout",
                "60",
                "--suppress-health-check",
                "all",
                "--report",
                "junit",
            ])
            .arg("--report-junit-path")
            .arg(&junit)
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            // Its cache and reports go to the temporary directory, not the checkout.
            .current_dir(report.path())
            .env("NO_COLOR", "1")
            // scripts/schemathesis_hooks.py: ndjson request bodies are sent as text.
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .env(
                "PYTHONPATH",
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts"),
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("schemathesis, {name}:\n{}", tail(&stdout, 2_500));
        assert!(
            out.status.success(),
            "schemathesis found failures ({name}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // It ran: operations were tested (the JUnit report lists a test case each).
        let xml = std::fs::read_to_string(&junit).unwrap();
        let cases = xml.matches("<testcase").count();
        assert!(cases >= 1, "{name}: no operation tested:\n{xml}");
    }
}

/// The last `n` bytes of `text` (at a char boundary).
fn tail(text: &str, n: usize) -> &str {
    let mut start = text.len().saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A trainer told to stop (SIGTERM, as systemd or Kubernetes send) stops training at the
/// next step, releases its job and exits; the job is queued again and the next claim takes
/// it at once, long before the 60 s lease would have expired. The same for the in-process
/// trainer when `inkset-server` shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_trainers_release_their_job_to_the_queue() {
    let server = Server::start(false, 60).await;
    server.import_quickdraw_raw().await;
    let token = server.worker_token("gpu-host-2").await;
    // Far more epochs than this test runs: the job can only end by being released.
    let id = server.start_job(500).await;
    let mut leaving =
        server.spawn_trainer(&token, &["--name", "leaving"], std::process::Stdio::piped());
    server.wait_running(&id).await;
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &leaving.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(120);
    let exit = loop {
        if let Some(status) = leaving.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the trainer kept running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit}");
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut leaving.stdout.take().unwrap(), &mut printed).unwrap();
    assert_eq!(printed.trim(), "Released");

    let (_, job) = server.get(&format!("/api/admin/training/{id}")).await;
    assert_eq!(job["status"], "pending", "{job}");
    assert_eq!(job["lease"], Value::Null, "{job}");
    let logs: Vec<&str> = job["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        logs.iter().any(
            |l| l.contains("released by leaving (gpu-host-2) (attempt 1)")
                && l.contains("shutting down")
        ),
        "{logs:?}"
    );
    // Claimable at once: no waiting for the 60 s lease.
    let claim = |worker: &'static str| {
        server
            .http
            .post(format!("{}/api/worker/claim", server.base))
            .bearer_auth(&token)
            .json(&json!({"worker": worker}))
            .send()
    };
    let r = claim("next").await.unwrap();
    assert_eq!(r.status(), 200);
    let claimed: Value = r.json().await.unwrap();
    assert_eq!(
        (claimed["id"].as_str(), &claimed["attempt"]),
        (Some(id.as_str()), &json!(2))
    );
    // Only the attempt holding the lease may release it; bad bodies name the field.
    let release = |body: Value| {
        server
            .http
            .post(format!("{}/api/worker/jobs/{id}/release", server.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = release(json!({"attempt": 1, "reason": "late"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "attempt"
    );
    let r = release(json!({"attempt": 2})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("reason"));
    let (s, _) = server
        .post(&format!("/api/admin/training/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 200);
    let (_, models) = server.get("/api/admin/models").await;
    assert_eq!(models["models"], json!([]), "nothing registered");
    server.shutdown().await;

    // In-process: stopping the server releases the job its trainer was running.
    let server = Server::start(true, 60).await;
    server.import_quickdraw_raw().await;
    let id = server.start_job(500).await;
    server.wait_running(&id).await;
    let stopping = Instant::now();
    let data = tokio::time::timeout(Duration::from_secs(120), server.shutdown_keeping_data())
        .await
        .expect("the server kept running its in-process training after shutdown");
    eprintln!("server stopped in {:?}", stopping.elapsed());
    let db = inkset_server::db::Db::connect(&format!(
        "sqlite://{}",
        data.path().join("data/inkset.sqlite3").display()
    ))
    .await
    .unwrap();
    let job = db
        .job_detail(uuid::Uuid::parse_str(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.status,
        inkset_protocol::ml::JobStatus::Pending,
        "{job:?}"
    );
    assert!(job.lease.is_none());
    assert!(
        job.logs
            .iter()
            .any(|l| l.message.contains("released by in-process-")),
        "{:?}",
        job.logs
    );
}
