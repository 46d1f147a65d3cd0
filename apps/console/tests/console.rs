//! The real console driven through egui_kittest (rendered with wgpu; Mesa's software Vulkan
//! where there is no GPU) against a real in-process `inkset-server` holding the real
//! Quick, Draw! drawings from ../shared/data.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use inkset_console::Console;
use inkset_protocol::api::AdminStats;
use serde_json::{Value, json};

fn shared() -> PathBuf {
    std::env::var_os("INKSET_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    )
}

/// An admin's view of a running server: the runtime, the address and a token.
struct Admin {
    rt: tokio::runtime::Runtime,
    base: String,
    token: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Admin {
    fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let settings = inkset_server::config::Settings {
            data_dir: dir.path().join("data"),
            ..Default::default()
        };
        let http = reqwest::Client::new();
        let (base, token) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let db = inkset_server::db::Db::connect(&settings.database_url())
                .await
                .unwrap();
            let hash = inkset_server::auth::hash_password("console password").unwrap();
            assert!(db.create_user("admin", &hash, "admin").await.unwrap());
            tokio::spawn(inkset_server::server::launch(
                settings,
                listener,
                std::future::pending(),
            ));
            let deadline = Instant::now() + Duration::from_secs(60);
            while http
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .map_or(true, |r| !r.status().is_success())
            {
                assert!(Instant::now() < deadline, "server did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let login: Value = http
                .post(format!("{base}/api/auth/login"))
                .json(&json!({"username": "admin", "password": "console password"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (base, login["token"].as_str().unwrap().to_owned())
        });
        let me = Self {
            rt,
            base,
            token,
            http,
            _dir: dir,
        };
        for file in
            inkset_protocol::quickdraw::ndjson_files(&[shared().join("quickdraw/raw")]).unwrap()
        {
            let (s, report) = me.call(
                reqwest::Method::POST,
                "/api/admin/import?distractors=true",
                Some(std::fs::read(&file).unwrap()),
            );
            assert_eq!(s, 200, "{report}");
        }
        me
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
        self.rt.block_on(async {
            let mut r = self
                .http
                .request(method, format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                r = r.body(b);
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    fn stats(&self) -> AdminStats {
        let (s, v) = self.call(reqwest::Method::GET, "/api/admin/stats", None);
        assert_eq!(s, 200, "{v}");
        serde_json::from_value(v).unwrap()
    }
}

fn wait(h: &mut Harness<'_, Console>, what: &str, done: impl Fn(&Harness<'_, Console>) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h) {
            h.run_steps(2);
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}; error: {:?}",
            h.state().error()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn type_into(h: &mut Harness<'_, Console>, role: Role, label: &str, text: &str) {
    h.get_by_role_and_label(role, label).focus();
    h.run_steps(2);
    h.get_by_role_and_label(role, label).type_text(text);
    h.run_steps(2);
}

#[test]
fn signs_in_and_the_dashboard_shows_the_servers_numbers_live() {
    let admin = Admin::start();
    let mut h = Harness::builder()
        .with_size([1280.0, 1000.0])
        .wgpu()
        .build_ui_state(|ui, c: &mut Console| c.show(ui), Console::new(&admin.base));
    h.run_steps(2);

    // A wrong password is refused with the server's message.
    type_into(&mut h, Role::TextInput, "Username", "admin");
    type_into(&mut h, Role::PasswordInput, "Password", "nope");
    h.get_by_role_and_label(Role::Button, "Sign in").click();
    wait(&mut h, "the refusal", |h| h.state().error().is_some());
    assert!(!h.state().signed_in());

    type_into(&mut h, Role::PasswordInput, "Password", "console password");
    h.get_by_role_and_label(Role::Button, "Sign in").click();
    wait(&mut h, "the dashboard", |h| h.state().stats().is_some());
    assert!(h.state().error().is_none());

    // The dashboard's numbers are the server's.
    let s = admin.stats();
    assert!(s.total > 500, "{}", s.total);
    assert_eq!(h.state().stats(), Some(&s));
    for text in [
        format!("Drawings: {}", s.total),
        format!("Flagged: {}", s.flagged),
        format!("Removed: {}", s.removed),
        format!("Contributing sessions: {}", s.contributing_sessions),
    ] {
        assert!(h.query_by_label(&text).is_some(), "{text}");
    }
    for (shape, n) in &s.per_shape {
        let text = format!("{shape}: {n} (flagged 0)");
        assert!(h.query_by_label(&text).is_some(), "{text}");
    }
    for (device, n) in &s.per_device {
        assert!(h.query_by_label(&format!("device {device}: {n}")).is_some());
    }
    h.remove_cursor();
    h.run_steps(2);
    // The port and today's date differ from run to run.
    let port = h.get_by_label_contains("Signed in to").rect();
    let days_from = h.get_by_label("Drawings received per day (UTC)").rect();
    let days_to = h.get_by_label_contains("days; last").rect();
    h.mask(port.expand(2.0));
    h.mask(egui::Rect::from_min_max(
        egui::pos2(0.0, days_from.max.y),
        egui::pos2(640.0, days_to.max.y + 2.0),
    ));
    h.snapshot_options(
        "console_dashboard",
        &SnapshotOptions::new().max_failed_pixels(40),
    );

    // Flag a circle through the API: the next refresh shows it.
    let (st, page) = admin.call(
        reqwest::Method::GET,
        "/api/admin/drawings?shape=circle&limit=1",
        None,
    );
    assert_eq!(st, 200, "{page}");
    let id = page["drawings"][0]["id"].as_str().unwrap().to_owned();
    let (st, v) = admin.call(
        reqwest::Method::POST,
        &format!("/api/admin/drawings/{id}/flag"),
        Some(br#"{"reason": "console test"}"#.to_vec()),
    );
    assert!(st == 200 || st == 204, "{st} {v}");
    h.get_by_role_and_label(Role::Button, "Refresh now").click();
    wait(&mut h, "the flag to show", |h| {
        h.state().stats().is_some_and(|s| s.flagged == 1)
    });
    let circles = admin.stats().per_shape["circle"];
    assert!(h.query_by_label("Flagged: 1").is_some());
    assert!(
        h.query_by_label(&format!("circle: {circles} (flagged 1)"))
            .is_some()
    );
}
