//! `inkset-loadgen queries`: the admin's read paths against a large store, timed from a
//! client in its own process: the dashboard's statistics, counts, a browse page with each
//! filter and each sort, the review queue, the training plan, and a training job's data
//! stream (drawings/s read from storage and sent as Quick, Draw! ndjson).
//!
//! Each query is called `--calls` times one after the other (after one untimed warm-up
//! call); the report gives p50 / p95 / p99 / max per query in ms and whether p99 is within
//! `--budget-ms`. Results: BENCHMARKS.md ("A million drawings").

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

/// Settings of a queries run.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An admin account's name.
    #[arg(long)]
    pub username: String,
    /// Its password.
    #[arg(long)]
    pub password: String,
    /// Timed calls per query.
    #[arg(long, default_value_t = 50)]
    pub calls: usize,
    /// The p99 budget each query is held to, ms.
    #[arg(long, default_value_t = 200.0)]
    pub budget_ms: f64,
    /// Also stream a training job's data (needs a server without an in-process trainer,
    /// `--no-trainer`, so the job waits for this client's claim).
    #[arg(long)]
    pub data_stream: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One query's timings.
#[derive(Debug, Clone)]
pub struct Timing {
    /// What was asked.
    pub name: String,
    /// Method and path.
    pub request: String,
    /// p50, p95, p99 and max, ms.
    pub p50: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Slowest call, ms.
    pub max: f64,
    /// What the answer held (a count, rows on the page), for the report.
    pub answer: String,
}

/// A training job's data stream, read whole.
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    /// Drawings (ndjson lines) received.
    pub drawings: u64,
    /// Bytes received.
    pub bytes: u64,
    /// From the request to the last byte, s.
    pub seconds: f64,
}

/// What a queries run measured.
#[derive(Debug, Clone)]
pub struct QueryReport {
    /// Drawings in the store (the count of the default filter).
    pub total: u64,
    /// Timed calls per query.
    pub calls: usize,
    /// The p99 budget, ms.
    pub budget_ms: f64,
    /// Per query, in the order asked.
    pub timings: Vec<Timing>,
    /// The data stream, when asked for.
    pub stream: Option<StreamTiming>,
}

impl QueryReport {
    /// A table for people.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} drawings in the store; {} timed calls per query, one at a time; budget p99 {:.0} ms\n\
             {:<34} {:>9} {:>9} {:>9} {:>9}  {:<6} answer\n",
            self.total,
            self.calls,
            self.budget_ms,
            "query",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "budget"
        );
        for t in &self.timings {
            out.push_str(&format!(
                "{:<34} {:>9.1} {:>9.1} {:>9.1} {:>9.1}  {:<6} {}\n",
                t.name,
                t.p50,
                t.p95,
                t.p99,
                t.max,
                if t.p99 <= self.budget_ms {
                    "met"
                } else {
                    "MISSED"
                },
                t.answer
            ));
        }
        if let Some(s) = self.stream {
            out.push_str(&format!(
                "training data stream: {} drawings, {:.1} MiB in {:.2} s: {:.0} drawings/s\n",
                s.drawings,
                s.bytes as f64 / 1_048_576.0,
                s.seconds,
                s.drawings as f64 / s.seconds.max(1e-9)
            ));
        }
        out
    }

    /// The same as JSON.
    pub fn json(&self) -> Value {
        json!({
            "total": self.total,
            "calls": self.calls,
            "budget_ms": self.budget_ms,
            "queries": self.timings.iter().map(|t| json!({
                "name": t.name, "request": t.request, "p50_ms": t.p50, "p95_ms": t.p95,
                "p99_ms": t.p99, "max_ms": t.max, "answer": t.answer,
            })).collect::<Vec<_>>(),
            "data_stream": self.stream.map(|s| json!({
                "drawings": s.drawings, "bytes": s.bytes, "seconds": s.seconds,
                "drawings_per_second": s.drawings as f64 / s.seconds.max(1e-9),
            })),
        })
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "POST" => self.http.post(&url).json(body.unwrap_or(&Value::Null)),
            _ => self.http.get(&url),
        };
        let resp = req.bearer_auth(&self.token).send().await?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{method} {path}: {status} {v}");
        Ok(v)
    }
}

/// What an answer held, in a few words.
fn answer_of(v: &Value) -> String {
    if let Some(n) = v.get("count") {
        format!("count {n}")
    } else if let Some(rows) = v.get("drawings").and_then(Value::as_array) {
        format!("{} rows", rows.len())
    } else if let Some(n) = v.get("total") {
        format!("total {n}")
    } else if let Some(plan) = v.get("plan") {
        let n: u64 = plan["counts"]
            .as_object()
            .map(|c| c.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        format!("{n} drawings planned")
    } else {
        String::new()
    }
}

/// Runs the queries.
///
/// # Errors
/// When the server cannot be reached, refuses the login or answers a query with an error.
pub async fn run(args: QueryArgs) -> anyhow::Result<QueryReport> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let login: Value = http
        .post(format!("{}/api/auth/login", args.server))
        .json(&json!({"username": args.username, "password": args.password}))
        .send()
        .await?
        .error_for_status()
        .context("admin login")?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .context("login answer without a token")?
        .to_owned();
    let client = Client {
        http,
        base: args.server.clone(),
        token,
    };
    let total = client
        .call("GET", "/api/admin/drawings/count", None)
        .await?["count"]
        .as_u64()
        .unwrap_or(0);
    // A week in the middle of the store, and a cursor in the middle of the newest-first list.
    let (_, oldest) = (
        (),
        client
            .call("GET", "/api/admin/drawings?sort=oldest&limit=1", None)
            .await?,
    );
    let newest = client
        .call("GET", "/api/admin/drawings?limit=1", None)
        .await?;
    let t0 = oldest["drawings"][0]["received_at"].as_i64().unwrap_or(0);
    let t1 = newest["drawings"][0]["received_at"].as_i64().unwrap_or(0);
    let mid = t0 + (t1 - t0) / 2;
    let week = format!(
        "from={}&to={}",
        mid - 3 * 86_400_000 - 1_234,
        mid + 4 * 86_400_000 + 4_321
    );
    let second = client
        .call("GET", "/api/admin/drawings?limit=100", None)
        .await?;
    let cursor = second["next_cursor"].as_str().unwrap_or("").to_owned();

    let mut asked: Vec<(String, &str, String, Option<Value>)> = vec![
        (
            "dashboard stats".into(),
            "GET",
            "/api/admin/stats".into(),
            None,
        ),
        (
            "count, all".into(),
            "GET",
            "/api/admin/drawings/count".into(),
            None,
        ),
        (
            "count shape=circle".into(),
            "GET",
            "/api/admin/drawings/count?shape=circle".into(),
            None,
        ),
        (
            "count flagged=true".into(),
            "GET",
            "/api/admin/drawings/count?flagged=true".into(),
            None,
        ),
        (
            "count, a week (cut days)".into(),
            "GET",
            format!("/api/admin/drawings/count?{week}"),
            None,
        ),
        (
            "count quality_min=0.55 (rows)".into(),
            "GET",
            "/api/admin/drawings/count?quality_min=0.55".into(),
            None,
        ),
        (
            "count verdict=disagrees (rows)".into(),
            "GET",
            "/api/admin/drawings/count?verdict=disagrees".into(),
            None,
        ),
        (
            "browse newest".into(),
            "GET",
            "/api/admin/drawings?limit=100".into(),
            None,
        ),
        (
            "browse newest, page 2 (cursor)".into(),
            "GET",
            format!("/api/admin/drawings?limit=100&cursor={cursor}"),
            None,
        ),
        (
            "browse newest + thumbnails".into(),
            "GET",
            "/api/admin/drawings?limit=100&thumbnails=true".into(),
            None,
        ),
        (
            "browse oldest".into(),
            "GET",
            "/api/admin/drawings?limit=100&sort=oldest".into(),
            None,
        ),
        (
            "review queue (quality_asc)".into(),
            "GET",
            "/api/admin/drawings?limit=100&sort=quality_asc".into(),
            None,
        ),
        (
            "browse quality_desc".into(),
            "GET",
            "/api/admin/drawings?limit=100&sort=quality_desc".into(),
            None,
        ),
        (
            "browse confidence_asc".into(),
            "GET",
            "/api/admin/drawings?limit=100&sort=confidence_asc".into(),
            None,
        ),
        (
            "browse confidence_desc".into(),
            "GET",
            "/api/admin/drawings?limit=100&sort=confidence_desc".into(),
            None,
        ),
    ];
    for (name, filter) in [
        ("shape=heart", "shape=heart".to_owned()),
        ("flagged=true", "flagged=true".into()),
        ("flagged=false", "flagged=false".into()),
        ("quality_min=0.5", "quality_min=0.5".into()),
        ("quality_max=0.3", "quality_max=0.3".into()),
        ("a week", week.clone()),
        (
            "session=(none such)",
            "session=00000000-0000-4000-8000-000000000000".into(),
        ),
        ("device=mouse", "device=mouse".into()),
        ("device=none", "device=none".into()),
        ("origin=api", "origin=api".into()),
        ("origin=import", "origin=import".into()),
        ("verdict=agrees", "verdict=agrees".into()),
        ("verdict=disagrees", "verdict=disagrees".into()),
        ("verdict=unjudged", "verdict=unjudged".into()),
        ("guess=circle", "guess=circle".into()),
        ("include_removed=true", "include_removed=true".into()),
    ] {
        asked.push((
            format!("browse {name}"),
            "GET",
            format!("/api/admin/drawings?limit=100&{filter}"),
            None,
        ));
    }
    asked.push((
        "training plan".into(),
        "POST",
        "/api/admin/training/plan".into(),
        Some(json!({"config": {}})),
    ));
    asked.push((
        "training plan quality_min=0.55".into(),
        "POST",
        "/api/admin/training/plan".into(),
        Some(json!({"config": {"quality_min": 0.55}})),
    ));

    let mut timings = Vec::new();
    for (name, method, path, body) in &asked {
        let warm = client.call(method, path, body.as_ref()).await?;
        // µs, 3 significant digits (HdrHistogram, as the players' latencies).
        let mut times = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
        for _ in 0..args.calls {
            let start = Instant::now();
            client.call(method, path, body.as_ref()).await?;
            times.saturating_record(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        #[allow(clippy::cast_precision_loss)]
        let ms = |us: u64| us as f64 / 1000.0;
        let t = Timing {
            name: name.clone(),
            request: format!("{method} {path}"),
            p50: ms(times.value_at_quantile(0.5)),
            p95: ms(times.value_at_quantile(0.95)),
            p99: ms(times.value_at_quantile(0.99)),
            max: ms(times.max()),
            answer: answer_of(&warm),
        };
        eprintln!(
            "{:<34} p50 {:>8.1} ms  p99 {:>8.1} ms  {}",
            t.name, t.p50, t.p99, t.answer
        );
        timings.push(t);
    }
    let stream = if args.data_stream {
        Some(data_stream(&client).await?)
    } else {
        None
    };
    Ok(QueryReport {
        total,
        calls: args.calls,
        budget_ms: args.budget_ms,
        timings,
        stream,
    })
}

/// Queues a recognizer job over every usable drawing, claims it with a new worker token,
/// reads its data stream whole, and fails the job (nothing is trained).
async fn data_stream(client: &Client) -> anyhow::Result<StreamTiming> {
    let name = format!("loadgen-{}", uuid::Uuid::new_v4().simple());
    let token = client
        .call(
            "POST",
            "/api/admin/worker-tokens",
            Some(&json!({"name": name, "expires_in_days": 1})),
        )
        .await?;
    let worker = Client {
        http: client.http.clone(),
        base: client.base.clone(),
        token: token["token"]
            .as_str()
            .context("worker token answer without a token")?
            .to_owned(),
    };
    let job = client
        .call(
            "POST",
            "/api/admin/training/start",
            Some(&json!({"config": {"epochs": 1}})),
        )
        .await?;
    let id = job["id"]
        .as_str()
        .context("job answer without an id")?
        .to_owned();
    // Claim until this job comes up (another queued job would come first).
    let claimed = loop {
        let c = worker
            .call(
                "POST",
                "/api/worker/claim",
                Some(&json!({"worker": name, "model_kinds": ["recognizer", "generator"]})),
            )
            .await?;
        anyhow::ensure!(
            !c.is_null(),
            "no job to claim (is an in-process trainer running?)"
        );
        if c["id"].as_str() == Some(&id) {
            break c;
        }
        let other = c["id"].as_str().unwrap_or_default();
        let attempt = c["attempt"].as_u64().unwrap_or(0);
        worker
            .call(
                "POST",
                &format!("/api/worker/jobs/{other}/release"),
                Some(&json!({"attempt": attempt})),
            )
            .await?;
    };
    let attempt = claimed["attempt"].as_u64().unwrap_or(0);
    let start = Instant::now();
    let mut resp = worker
        .http
        .get(format!(
            "{}/api/worker/jobs/{id}/data?attempt={attempt}",
            worker.base
        ))
        .bearer_auth(&worker.token)
        .send()
        .await?
        .error_for_status()?;
    let (mut drawings, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = resp.chunk().await? {
        bytes += chunk.len() as u64;
        drawings += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    worker
        .call(
            "POST",
            &format!("/api/worker/jobs/{id}/fail"),
            Some(&json!({"attempt": attempt, "error": "inkset-loadgen queries: data stream timed, nothing trained"})),
        )
        .await?;
    Ok(StreamTiming {
        drawings,
        bytes,
        seconds,
    })
}
