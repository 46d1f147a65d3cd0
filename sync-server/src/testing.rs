//! Test support (feature `testing`): a real `inkset-server` on a free port, on either
//! storage stack, for this crate's tests and every app's tests and benchmarks.
//!
//! * [`Storage::SqliteLocal`]: an SQLite file and an object directory in a temp dir.
//! * [`Storage::PostgresS3`]: a fresh database on the PostgreSQL server at
//!   `INKSET_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and a
//!   fresh bucket on the S3-compatible server of [`inkset_testkit::s3_endpoint`] (moto,
//!   started once per test binary, or `INKSET_TEST_S3_ENDPOINT`).
//!
//! Helpers panic on failure: they are for tests.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::config::Settings;
use crate::db::Db;

/// Which storage stack a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// SQLite and a local object directory (the embedded default).
    SqliteLocal,
    /// PostgreSQL and an S3-compatible object store (production).
    PostgresS3,
}

/// A server running in this process on `127.0.0.1:<free port>`, with its own storage.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// An HTTP client with a 120 s timeout.
    pub client: reqwest::Client,
    /// The settings it runs with (change them, then [`Self::restart`]).
    pub settings: Settings,
    /// Its storage stack.
    pub backend: Storage,
    /// The temp dir holding its data directory (SQLite, objects).
    pub dir: tempfile::TempDir,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg_database: Option<String>,
}

impl TestServer {
    /// Fresh, empty storage for `backend`, and a server on it with default settings.
    pub async fn start(backend: Storage) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// As [`Self::start`], with `configure` applied to the settings first.
    pub async fn start_with(backend: Storage, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_at(backend, SocketAddr::from(([127, 0, 0, 1], 0)), configure).await
    }

    /// As [`Self::start_with`], listening on `addr` (port 0: any free port). Restarts keep
    /// the port, so clients configured with [`Self::base`] reach the server again.
    pub async fn start_at(
        backend: Storage,
        addr: SocketAddr,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        // Tests and benchmarks drive one server from one address at many times a player's
        // pace; the limits have their own tests (sync-server/tests/api/protection.rs).
        settings.rate_limits.enabled = false;
        // Parallel test servers would share one fixed metrics port.
        settings.metrics_listen = None;
        // Dozens of servers share two cores during the suite: a request may wait longer
        // than production's 30 s (the edge's own tests run the defaults).
        settings.http.request_timeout_secs = 120;
        let mut pg_database = None;
        if backend == Storage::PostgresS3 {
            sqlx::any::install_default_drivers();
            let name = format!("inkset_test_{}", Uuid::new_v4().simple());
            let admin = sqlx::AnyPool::connect(&inkset_testkit::postgres_url())
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let base = inkset_testkit::postgres_url();
            let root = &base[..base.rfind('/').unwrap()];
            settings.database_url = Some(format!("{root}/{name}"));
            pg_database = Some(name);

            let endpoint = inkset_testkit::s3_endpoint();
            let bucket = inkset_testkit::s3_bucket("inkset");
            settings.object_store_url = Some(format!("s3://{bucket}/inkset"));
            settings.s3.endpoint = Some(endpoint);
            settings.s3.region = Some("us-east-1".into());
            settings.s3.access_key_id = Some("test".into());
            settings.s3.secret_access_key = Some("test".into());
            settings.s3.allow_http = true;
        }
        configure(&mut settings);
        let mut server = Self {
            base: String::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            settings,
            backend,
            addr,
            shutdown: None,
            handle: None,
            dir,
            pg_database,
        };
        server.boot().await;
        server
    }

    async fn boot(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        self.base = format!("http://{}", self.addr);
        let (tx, rx) = oneshot::channel::<()>();
        let settings = self.settings.clone();
        self.handle = Some(tokio::spawn(crate::server::launch(
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

    /// Stops and starts again on the same storage (and the current [`Self::settings`]).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A connection to the server's SQL store, for checks the API does not expose.
    pub async fn db(&self) -> Db {
        Db::connect(&self.settings.database_url()).await.unwrap()
    }

    /// Creates the admin account `username` in SQL (as `inkset-server admin create` does)
    /// unless it exists, and logs in; returns the bearer token.
    pub async fn admin(&self, username: &str, password: &str) -> String {
        let hash = crate::players::auth::hash_password(password).unwrap();
        let db = self.db().await;
        db.create_user(username, &hash, "admin").await.unwrap();
        db.pool().close().await;
        self.login(username, password).await
    }

    /// `POST /api/auth/login`; returns the bearer token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
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

    /// `GET path` with `token`: the status and the body as JSON (`Null` when it is not).
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

    /// `POST path` with `token` and a JSON `body`.
    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, token, serde_json::to_vec(body).unwrap())
            .await
    }

    /// `PUT path` with `token` and a JSON `body`.
    pub async fn put_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with `token` and raw bytes labelled as JSON.
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

    /// Stops the server and drops its PostgreSQL database.
    pub async fn finish(mut self) {
        self.stop().await;
        if let Some(name) = self.pg_database.take() {
            let admin = sqlx::AnyPool::connect(&inkset_testkit::postgres_url())
                .await
                .unwrap();
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}
