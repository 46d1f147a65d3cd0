//! Test support: a real `inkset-server` on a free port, on either storage stack.
//!
//! * `SqliteLocal`: an SQLite file and an object directory in a temp dir.
//! * `PostgresS3`: a fresh database on the PostgreSQL server at `INKSET_TEST_POSTGRES_URL`
//!   (default `postgres://postgres@127.0.0.1:5432/test`) and a fresh bucket on the
//!   S3-compatible server at `INKSET_TEST_S3_ENDPOINT`; when that is unset, moto's server
//!   (`pip install 'moto[server]'`) is started on a free port for this test binary.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use inkset_server::config::Settings;
use inkset_server::db::Db;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    SqliteLocal,
    PostgresS3,
}

/// Runs one scenario against both storage stacks.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_local() {
                super::$name($crate::common::Backend::SqliteLocal).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() {
                super::$name($crate::common::Backend::PostgresS3).await;
            }
        }
    )*};
}

pub fn shared_data() -> PathBuf {
    if let Some(dir) = std::env::var_os("INKSET_SHARED_DATA") {
        return PathBuf::from(dir);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.join("quickdraw/raw").is_dir(),
        "real test data not found at {} (set INKSET_SHARED_DATA)",
        dir.display()
    );
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The S3 endpoint: `INKSET_TEST_S3_ENDPOINT`, or a moto server started once per binary
/// (it exits when this process does).
pub fn s3_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(e) = std::env::var("INKSET_TEST_S3_ENDPOINT") {
                return e;
            }
            let port = free_port();
            let script = format!(
                "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
                 while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $m",
                parent = std::process::id()
            );
            let watchdog = std::process::Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::null())
                .spawn()
                .expect("starting moto_server (pip install 'moto[server]')");
            // The watchdog lives as long as this process; it is reaped by init after.
            std::mem::forget(watchdog);
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "moto_server did not start on port {port}; is moto[server] installed?"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            format!("http://127.0.0.1:{port}")
        })
        .clone()
}

fn postgres_admin_url() -> String {
    std::env::var("INKSET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub dir: tempfile::TempDir,
    pg_database: Option<String>,
}

impl TestServer {
    /// Fresh, empty storage for `backend`, and a server on it.
    pub async fn start(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let mut pg_database = None;
        if backend == Backend::PostgresS3 {
            sqlx::any::install_default_drivers();
            let name = format!("inkset_test_{}", Uuid::new_v4().simple());
            let admin = sqlx::AnyPool::connect(&postgres_admin_url()).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let base = postgres_admin_url();
            let root = &base[..base.rfind('/').unwrap()];
            settings.database_url = Some(format!("{root}/{name}"));
            pg_database = Some(name);

            let endpoint = s3_endpoint();
            let bucket = format!("inkset-{}", Uuid::new_v4().simple());
            let created = reqwest::Client::new()
                .put(format!("{endpoint}/{bucket}"))
                .send()
                .await
                .unwrap();
            assert!(
                created.status().is_success(),
                "creating bucket: {created:?}"
            );
            settings.object_store_url = Some(format!("s3://{bucket}/inkset"));
            settings.s3.endpoint = Some(endpoint);
            settings.s3.region = Some("us-east-1".into());
            settings.s3.access_key_id = Some("test".into());
            settings.s3.secret_access_key = Some("test".into());
            settings.s3.allow_http = true;
        }
        let mut server = Self {
            base: String::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            settings,
            backend,
            shutdown: None,
            handle: None,
            dir,
            pg_database,
        };
        server.boot().await;
        server
    }

    async fn boot(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let settings = self.settings.clone();
        self.handle = Some(tokio::spawn(inkset_server::server::launch(
            settings,
            listener,
            async move {
                let _ = rx.await;
            },
        )));
        self.shutdown = Some(tx);
        for _ in 0..600 {
            if let Ok(r) = self.client.get(self.url("/health/ready")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server did not become ready");
    }

    /// Stops the server gracefully (everything queued is committed).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }

    /// Stops and starts again on the same storage.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A connection to the server's SQL store, for checks the API does not expose.
    pub async fn db(&self) -> Db {
        Db::connect(&self.settings.database_url()).await.unwrap()
    }

    /// Command-line flags and environment naming this server's storage.
    pub fn storage_args(&self) -> (Vec<String>, Vec<(String, String)>) {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.settings.data_dir.display().to_string(),
        ];
        let mut env = Vec::new();
        if let Some(url) = &self.settings.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        if let Some(url) = &self.settings.object_store_url {
            args.extend(["--object-store-url".to_owned(), url.clone()]);
            let s3 = &self.settings.s3;
            env.extend([
                (
                    "INKSET_S3__ENDPOINT".to_owned(),
                    s3.endpoint.clone().unwrap(),
                ),
                ("INKSET_S3__REGION".to_owned(), "us-east-1".to_owned()),
                ("INKSET_S3__ACCESS_KEY_ID".to_owned(), "test".to_owned()),
                ("INKSET_S3__SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
                ("INKSET_S3__ALLOW_HTTP".to_owned(), "true".to_owned()),
            ]);
        }
        (args, env)
    }

    /// Runs the `inkset-server` binary with this server's storage flags appended.
    pub fn cli(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let (storage, env) = self.storage_args();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inkset-server"))
            .args(args)
            .args(&storage)
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Creates an admin through the CLI and logs in; returns the bearer token.
    pub async fn admin_token(&self) -> String {
        let name = format!("admin{}", &Uuid::new_v4().simple().to_string()[..8]);
        let out = self.cli(&["admin", "create", &name], "correct horse battery\n");
        assert!(
            out.status.success(),
            "admin create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": name, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A new anonymous player session: `(session_id, token)`.
    pub async fn session(&self) -> (Uuid, String) {
        let r = self
            .client
            .post(self.url("/api/sessions"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        (
            Uuid::parse_str(v["session_id"].as_str().unwrap()).unwrap(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, token, serde_json::to_vec(body).unwrap())
            .await
    }

    pub async fn post_raw(&self, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a body the server may refuse before reading it all (413). It answers early and
    /// closes the connection, so a client still writing can see a broken pipe before the
    /// answer; this client writes in the background and reads the answer regardless.
    pub async fn post_oversized(&self, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(&body).await;
        });
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut answer)).await;
        writer.abort();
        let text = String::from_utf8_lossy(&answer);
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let json = text
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn finish(mut self) {
        self.stop().await;
        if let Some(name) = self.pg_database.take() {
            let admin = sqlx::AnyPool::connect(&postgres_admin_url()).await.unwrap();
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}

/// A valid API drawing of a circle-ish polyline.
pub fn sample_drawing(id: Uuid, shape: &str) -> Value {
    let points: Vec<Value> = (0..40)
        .map(|i| {
            let a = f64::from(i) * std::f64::consts::TAU / 40.0;
            serde_json::json!({
                "x": 200.0 + 80.0 * a.cos(),
                "y": 150.0 + 80.0 * a.sin(),
                "pressure": 0.5,
                "timestamp": 1_764_400_000_000_i64 + i64::from(i) * 16,
            })
        })
        .collect();
    serde_json::json!({
        "id": id,
        "shape": shape,
        "canvas": {"width": 400, "height": 300},
        "strokes": [{"points": points, "color": "#1d1d1f", "width": 4, "pointer_type": "mouse"}],
        "duration_ms": 624,
        "device": "mouse",
        "user_agent": "inkset-tests",
        "device_pixel_ratio": 2,
        "prompt_to_first_point_ms": 800,
    })
}
