//! Every write path at once: players uploading, admins curating, accounts changing, jobs
//! started and raced for by an outside worker and the in-process trainer, versions
//! activated (each activation rescores every drawing in the background) and exports, all
//! against one server for a fixed time. No answer may be a server error on either storage
//! stack, and what was acknowledged must be stored.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, Cli, TestServer, sample_drawing};

crate::on_both_backends!(concurrent_writes_never_fail);

/// How long the traffic runs.
const TRAFFIC: Duration = Duration::from_secs(15);

/// Answers per route (path template) and status, and the first server errors seen.
#[derive(Default)]
struct Tally {
    answers: BTreeMap<&'static str, BTreeMap<u16, u32>>,
    errors: Vec<String>,
}

#[derive(Clone)]
struct Traffic {
    client: reqwest::Client,
    base: String,
    tally: Arc<Mutex<Tally>>,
    until: Instant,
}

impl Traffic {
    fn running(&self) -> bool {
        Instant::now() < self.until
    }

    /// Sends `method path` with `token` and an optional JSON body; records the answer under
    /// `route`.
    async fn call(
        &self,
        route: &'static str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let (status, value) = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            // A transport error is counted as the server failing the request.
            Err(e) => (599, json!({"transport": e.to_string()})),
        };
        let mut tally = self.tally.lock().unwrap();
        *tally
            .answers
            .entry(route)
            .or_default()
            .entry(status)
            .or_default() += 1;
        if status >= 500 && tally.errors.len() < 20 {
            tally
                .errors
                .push(format!("{route} {path}: {status} {value}"));
        }
        (status, value)
    }

    /// Records a failure that is not an HTTP answer (a background job that failed).
    fn failed(&self, what: String) {
        let mut tally = self.tally.lock().unwrap();
        *tally
            .answers
            .entry("background")
            .or_default()
            .entry(500)
            .or_default() += 1;
        tally.errors.push(what);
    }
}

const GET: reqwest::Method = reqwest::Method::GET;
const POST: reqwest::Method = reqwest::Method::POST;
const PUT: reqwest::Method = reqwest::Method::PUT;
const DELETE: reqwest::Method = reqwest::Method::DELETE;

fn small_job() -> Value {
    json!({"config": {"epochs": 1, "shapes": ["circle", "square"]}})
}

/// Starts a job and waits until the in-process trainer has completed it; its model id.
async fn trained_version(server: &TestServer, admin: &str) -> String {
    let (status, job) = server
        .post_json("/api/admin/training/start", admin, &small_job())
        .await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, job) = server
            .get_json(&format!("/api/admin/training/{id}"), admin)
            .await;
        match job["status"].as_str() {
            Some("completed") => return job["model_id"].as_str().unwrap().to_owned(),
            Some("pending" | "running") => {}
            _ => panic!("training failed: {job}"),
        }
        assert!(Instant::now() < deadline, "training stalled: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A player uploading single drawings and, every fifth time, an offline batch of ten.
/// Returns the ids acknowledged with 201.
async fn player(t: Traffic) -> Vec<Uuid> {
    let (status, session) = t.call("sessions", POST, "/api/sessions", "", None).await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let shapes = ["circle", "square", "triangle", "line", "heart"];
    let mut stored = Vec::new();
    let mut n = 0usize;
    while t.running() {
        n += 1;
        if n.is_multiple_of(5) {
            let ids: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
            let drawings: Vec<Value> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| sample_drawing(*id, shapes[i % shapes.len()]))
                .collect();
            let (status, r) = t
                .call(
                    "drawings/batch",
                    POST,
                    "/api/drawings/batch",
                    &token,
                    Some(&json!({ "drawings": drawings })),
                )
                .await;
            if status == 200 {
                for (id, result) in ids.iter().zip(r["results"].as_array().unwrap()) {
                    if result["status"] == 201 {
                        stored.push(*id);
                    }
                }
            }
        } else {
            let id = Uuid::new_v4();
            let (status, _) = t
                .call(
                    "drawings",
                    POST,
                    "/api/drawings",
                    &token,
                    Some(&sample_drawing(id, shapes[n % shapes.len()])),
                )
                .await;
            if status == 201 {
                stored.push(id);
            }
        }
    }
    stored
}

/// An admin flagging, unflagging and scoring drawings one by one and in bulk.
async fn curator(t: Traffic, admin: String, ids: Vec<String>, offset: usize) {
    let mut n = offset;
    while t.running() {
        n += 1;
        let id = &ids[n % ids.len()];
        match n % 6 {
            0 => {
                t.call(
                    "drawings/{id}/flag",
                    POST,
                    &format!("/api/admin/drawings/{id}/flag"),
                    &admin,
                    Some(&json!({"reason": "mixed traffic"})),
                )
                .await;
            }
            1 => {
                t.call(
                    "drawings/{id}/unflag",
                    POST,
                    &format!("/api/admin/drawings/{id}/unflag"),
                    &admin,
                    None,
                )
                .await;
            }
            2 => {
                t.call(
                    "drawings/{id}/quality",
                    PUT,
                    &format!("/api/admin/drawings/{id}/quality"),
                    &admin,
                    Some(&json!({"score": 0.25})),
                )
                .await;
            }
            3 => {
                t.call(
                    "drawings/{id}/quality",
                    PUT,
                    &format!("/api/admin/drawings/{id}/quality"),
                    &admin,
                    Some(&json!({"score": null})),
                )
                .await;
            }
            4 => {
                let some: Vec<&String> = ids.iter().skip(n % ids.len()).take(8).collect();
                let action = if n % 12 == 4 { "flag" } else { "unflag" };
                t.call(
                    "drawings/bulk",
                    POST,
                    "/api/admin/drawings/bulk",
                    &admin,
                    Some(&json!({"action": action, "ids": some})),
                )
                .await;
            }
            _ => {
                t.call(
                    "drawings (list)",
                    GET,
                    "/api/admin/drawings?limit=50&sort=quality_asc",
                    &admin,
                    None,
                )
                .await;
                t.call("stats", GET, "/api/admin/stats", &admin, None).await;
            }
        }
    }
}

/// Starts jobs and races the in-process trainer for them with a worker token: claim,
/// heartbeat, then fail, release or leave to be cancelled.
async fn job_runner(t: Traffic, admin: String, worker: String) -> u32 {
    let mut claimed = 0;
    let mut n = 0u32;
    while t.running() {
        n += 1;
        let (status, job) = t
            .call(
                "training/start",
                POST,
                "/api/admin/training/start",
                &admin,
                Some(&small_job()),
            )
            .await;
        if status != 201 {
            continue;
        }
        let (status, claim) = t
            .call(
                "worker/claim",
                POST,
                "/api/worker/claim",
                &worker,
                Some(&json!({"worker": "racer"})),
            )
            .await;
        if status != 200 {
            continue;
        }
        claimed += 1;
        let id = claim["id"].as_str().unwrap().to_owned();
        let attempt = claim["attempt"].as_u64().unwrap();
        t.call(
            "worker/jobs/{id}/heartbeat",
            POST,
            &format!("/api/worker/jobs/{id}/heartbeat"),
            &worker,
            Some(&json!({"attempt": attempt})),
        )
        .await;
        match n % 3 {
            0 => {
                t.call(
                    "worker/jobs/{id}/fail",
                    POST,
                    &format!("/api/worker/jobs/{id}/fail"),
                    &worker,
                    Some(&json!({"attempt": attempt, "error": "mixed traffic"})),
                )
                .await;
            }
            1 => {
                t.call(
                    "worker/jobs/{id}/release",
                    POST,
                    &format!("/api/worker/jobs/{id}/release"),
                    &worker,
                    Some(&json!({"attempt": attempt, "reason": "mixed traffic"})),
                )
                .await;
            }
            _ => {
                t.call(
                    "training/{id}/cancel",
                    POST,
                    &format!("/api/admin/training/{id}/cancel"),
                    &admin,
                    None,
                )
                .await;
            }
        }
        let (_, job) = t
            .call(
                "training/{id}",
                GET,
                &format!("/api/admin/training/{}", job["id"].as_str().unwrap()),
                &admin,
                None,
            )
            .await;
        assert!(job["status"].is_string(), "{job}");
    }
    claimed
}

/// Moves `production` between versions (each move rescores every drawing) and `staging`
/// the other way; lists the registry and the alias history.
async fn registry(t: Traffic, admin: String, versions: Vec<String>) {
    let mut n = 0usize;
    while t.running() {
        n += 1;
        let (a, b) = (&versions[n % 2], &versions[(n + 1) % 2]);
        t.call(
            "models/{id}/activate",
            POST,
            &format!("/api/admin/models/{a}/activate"),
            &admin,
            None,
        )
        .await;
        t.call(
            "aliases/{kind}/{alias}",
            PUT,
            "/api/admin/aliases/recognizer/staging",
            &admin,
            Some(&json!({"model_id": b})),
        )
        .await;
        t.call("models", GET, "/api/admin/models", &admin, None)
            .await;
        t.call(
            "aliases/history",
            GET,
            "/api/admin/aliases/history",
            &admin,
            None,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Accounts: a player signs up; the admin disables, enables and revokes it, and creates and
/// revokes worker tokens.
async fn accounts(t: Traffic, admin: String) {
    let (_, session) = t.call("sessions", POST, "/api/sessions", "", None).await;
    let token = session["token"].as_str().unwrap().to_owned();
    let username = format!("racer{}", &Uuid::new_v4().simple().to_string()[..8]);
    let (status, body) = t
        .call(
            "auth/signup",
            POST,
            "/api/auth/signup",
            &token,
            Some(&json!({"username": username, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut n = 0usize;
    while t.running() {
        n += 1;
        let action = ["disable", "enable", "revoke-tokens"][n % 3];
        t.call(
            "users/{username}/*",
            POST,
            &format!("/api/admin/users/{username}/{action}"),
            &admin,
            None,
        )
        .await;
        let (status, created) = t
            .call(
                "worker-tokens",
                POST,
                "/api/admin/worker-tokens",
                &admin,
                Some(&json!({"name": format!("temp-{n}")})),
            )
            .await;
        if status == 201 {
            let id = created["id"].as_str().unwrap_or_default().to_owned();
            t.call(
                "worker-tokens/{id}",
                DELETE,
                &format!("/api/admin/worker-tokens/{id}"),
                &admin,
                None,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Exports the whole store again and again; an export that fails counts as a server error.
async fn exporter(t: Traffic, admin: String) {
    let formats = ["quickdraw_raw", "stroke3", "png"];
    let mut n = 0usize;
    while t.running() {
        n += 1;
        let (status, job) = t
            .call(
                "exports",
                POST,
                "/api/admin/exports",
                &admin,
                Some(&match formats[n % formats.len()] {
                    "png" => json!({"format": "png", "raster_size": 28}),
                    other => json!({ "format": other }),
                }),
            )
            .await;
        if status != 202 {
            continue;
        }
        let id = job["id"].as_str().unwrap().to_owned();
        loop {
            let (_, job) = t
                .call(
                    "exports/{id}",
                    GET,
                    &format!("/api/admin/exports/{id}"),
                    &admin,
                    None,
                )
                .await;
            match job["status"].as_str() {
                Some("running") => tokio::time::sleep(Duration::from_millis(100)).await,
                Some("completed") => break,
                _ => {
                    t.failed(format!("export {id}: {job}"));
                    break;
                }
            }
        }
    }
}

async fn concurrent_writes_never_fail(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    for f in crate::raw_files() {
        let (status, r) = server
            .post_raw("/api/admin/import", &admin, std::fs::read(f).unwrap())
            .await;
        assert_eq!(status, 200, "{r}");
    }
    // Two recognizer versions for the registry to move `production` between.
    let versions = vec![
        trained_version(&server, &admin).await,
        trained_version(&server, &admin).await,
    ];
    let (status, worker) = server
        .post_json(
            "/api/admin/worker-tokens",
            &admin,
            &json!({"name": "racer"}),
        )
        .await;
    assert_eq!(status, 201, "{worker}");
    let worker = worker["token"].as_str().unwrap().to_owned();
    let (status, page) = server
        .get_json("/api/admin/drawings?limit=200", &admin)
        .await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<String> = page["drawings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let (_, before) = server.get_json("/api/admin/stats", &admin).await;

    let t = Traffic {
        client: server.client.clone(),
        base: server.base.clone(),
        tally: Arc::default(),
        until: Instant::now() + TRAFFIC,
    };
    let players: Vec<_> = (0..2).map(|_| tokio::spawn(player(t.clone()))).collect();
    let mut others = vec![
        tokio::spawn(curator(t.clone(), admin.clone(), ids.clone(), 0)),
        tokio::spawn(curator(t.clone(), admin.clone(), ids.clone(), 3)),
        tokio::spawn(registry(t.clone(), admin.clone(), versions.clone())),
        tokio::spawn(accounts(t.clone(), admin.clone())),
        tokio::spawn(exporter(t.clone(), admin.clone())),
    ];
    let runner = tokio::spawn(job_runner(t.clone(), admin.clone(), worker));
    let mut stored = Vec::new();
    for p in players {
        stored.extend(p.await.unwrap());
    }
    for o in others.drain(..) {
        o.await.unwrap();
    }
    let claimed = runner.await.unwrap();

    let tally = std::mem::take(&mut *t.tally.lock().unwrap());
    let mut report = String::new();
    for (route, statuses) in &tally.answers {
        report.push_str(&format!("{route}: {statuses:?}\n"));
    }
    eprintln!(
        "{backend:?}: {} s of mixed traffic; the outside worker claimed {claimed} jobs\n{report}",
        TRAFFIC.as_secs()
    );
    assert!(
        tally.errors.is_empty(),
        "server errors under concurrent writes:\n{}\n{report}",
        tally.errors.join("\n")
    );
    // Every route was exercised and succeeded at least once.
    for route in [
        "drawings",
        "drawings/batch",
        "drawings/{id}/flag",
        "drawings/{id}/unflag",
        "drawings/{id}/quality",
        "drawings/bulk",
        "training/start",
        "worker/claim",
        "worker/jobs/{id}/heartbeat",
        "models/{id}/activate",
        "aliases/{kind}/{alias}",
        "users/{username}/*",
        "worker-tokens",
        "worker-tokens/{id}",
        "exports",
    ] {
        let ok = tally.answers.get(route).is_some_and(|s| {
            s.iter()
                .any(|(code, n)| (200..300).contains(code) && *n > 0)
        });
        assert!(ok, "{route} never succeeded:\n{report}");
    }
    assert!(claimed > 0, "the outside worker never won a claim");

    // Every acknowledged drawing is stored, once.
    let (_, after) = server.get_json("/api/admin/stats", &admin).await;
    assert_eq!(
        after["total"].as_u64().unwrap(),
        before["total"].as_u64().unwrap() + stored.len() as u64,
        "{after}"
    );
    for id in stored.iter().step_by(17) {
        let (status, d) = server
            .get_json(&format!("/api/admin/drawings/{id}"), &admin)
            .await;
        assert_eq!(status, 200, "{id}: {d}");
    }
    server.finish().await;
}
