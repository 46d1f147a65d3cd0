//! Two `inkset-server serve` processes on one PostgreSQL database and one S3-compatible
//! bucket (moto), behind nginx running the committed `deploy/nginx/inkset.conf` (its three
//! addresses moved to free ports):
//!
//! * uploads, an import and an export work through nginx and directly through each replica;
//! * three trainers race for four jobs, one through each replica and one through nginx:
//!   every job is completed exactly once, by one trainer, as one model version;
//! * `production` moved on one replica is served by the other within its alias poll
//!   interval;
//! * the client address reaches the replicas through nginx (`http.trusted_proxies`): rate
//!   limits are per client behind the proxy, a client's own `X-Forwarded-For` is not
//!   believed, and each replica counts its own limits (documented: N replicas allow up to N
//!   times a limit).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inkset_model::backend::Backend as TrainBackend;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::sample_drawing;

const PASSWORD: &str = "replica admin password";
/// `inference.alias_poll_ms` of the replicas.
const ALIAS_POLL_MS: u64 = 500;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_bin() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("nginx not found: apt install nginx (scripts/test installs it)")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

async fn wait_ready(http: &reqwest::Client, base: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} was not ready in 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP client whose connections come from `from` (a loopback address: 127.0.0.0/8).
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(http: &reqwest::Client, url: String, token: Option<&str>) -> (u16, Value) {
    call(http, reqwest::Method::GET, url, token, None).await
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    call(http, reqwest::Method::POST, url, token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_inkset-server");

    // One database and one bucket for both replicas.
    sqlx::any::install_default_drivers();
    let pg = inkset_testkit::postgres_url();
    let name = format!("inkset_replicas_{}", Uuid::new_v4().simple());
    let admin_pool = sqlx::AnyPool::connect(&pg).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin_pool)
        .await
        .unwrap();
    let database_url = format!("{}/{name}", &pg[..pg.rfind('/').unwrap()]);
    let endpoint = inkset_testkit::s3_endpoint();
    let bucket = inkset_testkit::s3_bucket("inkset-replicas");

    // Rate limits on (sessions: burst 20 per client address), only nginx trusted.
    let ports = [
        inkset_testkit::free_port(),
        inkset_testkit::free_port(),
        inkset_testkit::free_port(),
    ];
    let [front, a, b] = ports;
    let config = |port: u16, data: &str| {
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{database_url}\"\n\
             object_store_url = \"s3://{bucket}/inkset\"\n\
             [s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\n\
             secret_access_key = \"test\"\nallow_http = true\n\
             [http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
             [inference]\nalias_poll_ms = {ALIAS_POLL_MS}\n\
             [rate_limits]\nenabled = true\nsessions = {{ per_minute = 30, burst = 20 }}\n\
             uploads = {{ per_minute = 6000, burst = 1000 }}\n",
            dir.path().join(data).display()
        )
    };
    let configs: Vec<PathBuf> = [(a, "a"), (b, "b")]
        .iter()
        .map(|(port, n)| {
            let p = dir.path().join(format!("replica-{n}.toml"));
            std::fs::write(&p, config(*port, n)).unwrap();
            p
        })
        .collect();
    let mut create = Command::new(bin)
        .args(["--config", s(&configs[0]), "admin", "create", "root"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(create.wait().unwrap().success());
    let _replicas: Vec<Proc> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let log = std::fs::File::create(dir.path().join(format!("replica-{i}.log"))).unwrap();
            Proc(
                Command::new(bin)
                    .args(["--config", s(c), "serve", "--no-trainer"])
                    .env_remove("RUST_LOG")
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();

    // nginx with the committed site config, on free ports.
    let site = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/inkset.conf"),
    )
    .unwrap();
    for addr in ["127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082"] {
        assert!(site.contains(addr), "deploy/nginx/inkset.conf lacks {addr}");
    }
    let site = site
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{front}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{a}"))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{b}"));
    let prefix = dir.path().join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    std::fs::write(prefix.join("inkset.conf"), site).unwrap();
    let user = if nix_is_root() { "user root;\n" } else { "" };
    std::fs::write(
        prefix.join("nginx.conf"),
        format!(
            "{user}daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n access_log {p}/logs/access.log;\n client_body_temp_path {p}/body;\n\
             proxy_temp_path {p}/proxy;\n fastcgi_temp_path {p}/fastcgi;\n uwsgi_temp_path {p}/uwsgi;\n\
             scgi_temp_path {p}/scgi;\n include {p}/inkset.conf;\n}}\n",
            p = prefix.display()
        ),
    )
    .unwrap();
    let _nginx = Proc(
        Command::new(nginx_bin())
            .args(["-p", s(&prefix), "-c", s(&prefix.join("nginx.conf"))])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prefix.join("logs/stderr.log")).unwrap())
            .spawn()
            .unwrap(),
    );

    let http = client_from([127, 0, 0, 1]);
    let urls = [
        format!("http://127.0.0.1:{front}"),
        format!("http://127.0.0.1:{a}"),
        format!("http://127.0.0.1:{b}"),
    ];
    let [via_nginx, replica_a, replica_b] = urls.clone();
    wait_ready(&http, &replica_a, "replica a").await;
    wait_ready(&http, &replica_b, "replica b").await;
    wait_ready(&http, &via_nginx, "nginx").await;
    let (status, login) = post(
        &http,
        format!("{via_nginx}/api/auth/login"),
        None,
        Some(&json!({"username": "root", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let admin = login["token"].as_str().unwrap().to_owned();

    // Imports and uploads through nginx and each replica; an export through each.
    for f in crate::raw_files() {
        let resp = http
            .post(format!("{via_nginx}/api/admin/import"))
            .bearer_auth(&admin)
            .body(std::fs::read(f).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    let mut uploaded = Vec::new();
    for base in &urls {
        let (status, session) = post(&http, format!("{base}/api/sessions"), None, None).await;
        assert_eq!(status, 201, "{session}");
        let token = session["token"].as_str().unwrap();
        for shape in ["circle", "square"] {
            let id = Uuid::new_v4();
            let (status, r) = post(
                &http,
                format!("{base}/api/drawings"),
                Some(token),
                Some(&sample_drawing(id, shape)),
            )
            .await;
            assert_eq!(status, 201, "upload through {base}: {r}");
            uploaded.push(id);
        }
    }
    for base in [&replica_a, &replica_b] {
        for id in &uploaded {
            let (status, d) = get(
                &http,
                format!("{base}/api/admin/drawings/{id}"),
                Some(&admin),
            )
            .await;
            assert_eq!(status, 200, "{id} through {base}: {d}");
        }
    }
    for (start, poll) in [(&replica_a, &replica_b), (&replica_b, &via_nginx)] {
        let (status, job) = post(
            &http,
            format!("{start}/api/admin/exports"),
            Some(&admin),
            Some(&json!({"format": "quickdraw_raw"})),
        )
        .await;
        assert_eq!(status, 202, "{job}");
        let id = job["id"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, job) = get(
                &http,
                format!("{poll}/api/admin/exports/{id}"),
                Some(&admin),
            )
            .await;
            if job["status"] == "completed" {
                break;
            }
            assert_eq!(job["status"], "running", "{job}");
            assert!(Instant::now() < deadline, "export stalled: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = http
            .get(format!("{via_nginx}/api/admin/exports/{id}/download"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(body.status(), 200);
        let text = body.text().await.unwrap();
        assert_eq!(
            text.lines().count(),
            266 + uploaded.len(),
            "export started on {start}, downloaded through nginx"
        );
    }

    // Three trainers race for four jobs: one through each replica, one through nginx.
    let mut jobs = BTreeSet::new();
    for _ in 0..4 {
        let (status, job) = post(
            &http,
            format!("{via_nginx}/api/admin/training/start"),
            Some(&admin),
            Some(&json!({"config": {"epochs": 1, "shapes": ["circle", "square"]}})),
        )
        .await;
        assert_eq!(status, 201, "{job}");
        jobs.insert(job["id"].as_str().unwrap().to_owned());
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut trainers = Vec::new();
    for (i, base) in urls.iter().enumerate() {
        let (status, token) = post(
            &http,
            format!("{via_nginx}/api/admin/worker-tokens"),
            Some(&admin),
            Some(&json!({"name": format!("trainer-{i}")})),
        )
        .await;
        assert_eq!(status, 201, "{token}");
        let options = inkset_worker::WorkerOptions {
            server: base.clone(),
            token: token["token"].as_str().unwrap().to_owned(),
            name: format!("trainer-{i}"),
            backend: TrainBackend::Cpu,
            poll: Duration::from_millis(50),
            max_jobs: None,
        };
        let mut stop = stop_rx.clone();
        trainers.push(tokio::spawn(async move {
            inkset_worker::run(options, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut models = BTreeMap::new();
    loop {
        models.clear();
        for id in &jobs {
            let (_, job) = get(
                &http,
                format!("{via_nginx}/api/admin/training/{id}"),
                Some(&admin),
            )
            .await;
            match job["status"].as_str() {
                Some("completed") => {
                    models.insert(id.clone(), job["model_id"].as_str().unwrap().to_owned());
                }
                Some("pending" | "running") => {}
                _ => panic!("job {id} ended badly: {job}"),
            }
        }
        if models.len() == jobs.len() {
            break;
        }
        assert!(Instant::now() < deadline, "jobs unfinished: {models:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = stop_tx.send(true);
    let mut completed = Vec::new();
    for t in trainers {
        for outcome in t.await.unwrap().unwrap() {
            match outcome {
                inkset_worker::JobOutcome::Completed(version) => completed.push(version),
                other => panic!("a trainer's job ended {other:?}"),
            }
        }
    }
    completed.sort_unstable();
    assert_eq!(
        completed.len(),
        jobs.len(),
        "one completion per job: {completed:?}"
    );
    completed.dedup();
    assert_eq!(
        completed.len(),
        jobs.len(),
        "one version per job: {completed:?}"
    );
    let distinct: BTreeSet<&String> = models.values().collect();
    assert_eq!(distinct.len(), jobs.len(), "one model per job: {models:?}");
    let (_, list) = get(&http, format!("{via_nginx}/api/admin/models"), Some(&admin)).await;
    let versions = list["models"].as_array().unwrap();
    assert_eq!(versions.len(), jobs.len(), "{list}");
    // No job was claimed twice: one attempt each, one "claimed by" line in its log.
    for id in &jobs {
        let (_, job) = get(
            &http,
            format!("{replica_b}/api/admin/training/{id}"),
            Some(&admin),
        )
        .await;
        assert_eq!(job["attempts"], 1, "job {id} claimed more than once: {job}");
        let claims = job["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l.to_string().contains("claimed by"))
            .count();
        assert_eq!(claims, 1, "job {id}: {job}");
    }

    // `production` moved on replica a is served by replica b within its poll interval.
    let (_, serving) = get(&http, format!("{replica_b}/api/inference/model/info"), None).await;
    let others: Vec<&String> = models
        .values()
        .filter(|m| serving["model_id"].as_str() != Some(m.as_str()))
        .collect();
    assert!(others.len() >= 2, "{serving} {models:?}");
    for model in others.into_iter().take(2) {
        let (status, r) = post(
            &http,
            format!("{replica_a}/api/admin/models/{model}/activate"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200, "{r}");
        let moved = Instant::now();
        loop {
            let (status, info) =
                get(&http, format!("{replica_b}/api/inference/model/info"), None).await;
            if status == 200 && info["model_id"].as_str() == Some(model.as_str()) {
                break;
            }
            assert!(
                moved.elapsed() < Duration::from_millis(ALIAS_POLL_MS * 2 + 3_000),
                "replica b still serves {info} {} ms after the move",
                moved.elapsed().as_millis()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "production moved on a, served by b after {} ms",
            moved.elapsed().as_millis()
        );
    }

    // The client address through nginx. Client 127.0.0.2 spends its session burst (20 per
    // replica): between 20 and 2 x 20 (+ refill) of 60 sessions are created, since each
    // replica counts its own.
    let spender = client_from([127, 0, 0, 2]);
    let mut created = 0;
    for _ in 0..60 {
        let resp = spender
            .post(format!("{via_nginx}/api/sessions"))
            // Not believed: only what nginx appends is.
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            201 => created += 1,
            429 => {}
            other => panic!("session through nginx: {other}"),
        }
    }
    println!("client 127.0.0.2 through nginx: {created} of 60 sessions created");
    assert!(
        (20..=44).contains(&created),
        "{created} of 60 sessions created: per-replica burst 20, two replicas"
    );
    // Its forged X-Forwarded-For did not give it a fresh budget; another client has its own.
    let again = spender
        .post(format!("{via_nginx}/api/sessions"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 429, "a forged X-Forwarded-For was believed");
    let other = client_from([127, 0, 0, 3]);
    let fresh = other
        .post(format!("{via_nginx}/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fresh.status(),
        201,
        "client 127.0.0.3 was limited with 127.0.0.2: the replicas saw nginx's address"
    );

    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin_pool)
        .await
        .ok();
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
