//! The real console driven through egui_kittest (rendered with wgpu; Mesa's software Vulkan
//! where there is no GPU) against a real in-process `inkset-server` holding the real
//! Quick, Draw! drawings from ../shared/data.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use inkset_console::Console;
use inkset_protocol::api::AdminStats;
use inkset_server::testing::{Storage, TestServer};
use serde_json::{Value, json};

/// An admin's view of a running server: the runtime, the address and a token.
struct Admin {
    rt: tokio::runtime::Runtime,
    base: String,
    token: String,
    http: reqwest::Client,
    _server: TestServer,
}

impl Admin {
    fn start() -> Self {
        let me = Self::empty();
        for file in inkset_protocol::quickdraw::ndjson_files(&[
            inkset_testkit::shared_data().join("quickdraw/raw")
        ])
        .unwrap()
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

    /// A server with no drawings yet.
    fn empty() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (server, token) = rt.block_on(async {
            let server = TestServer::start(Storage::SqliteLocal).await;
            let token = server.admin("admin", "console password").await;
            (server, token)
        });
        Self {
            rt,
            base: server.base.clone(),
            token,
            http: server.client.clone(),
            _server: server,
        }
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

fn harness(admin: &Admin) -> Harness<'static, Console> {
    let mut h = Harness::builder()
        .with_size([1400.0, 1000.0])
        .wgpu()
        .build_ui_state(|ui, c: &mut Console| c.show(ui), Console::new(&admin.base));
    h.run_steps(2);
    type_into(&mut h, Role::TextInput, "Username", "admin");
    type_into(&mut h, Role::PasswordInput, "Password", "console password");
    h.get_by_role_and_label(Role::Button, "Sign in").click();
    wait(&mut h, "the dashboard", |h| h.state().stats().is_some());
    h
}

/// Waits until no request is in flight and `done` holds.
fn settle(h: &mut Harness<'_, Console>, what: &str, done: impl Fn(&Harness<'_, Console>) -> bool) {
    wait(h, what, |h| !h.state().busy() && done(h));
}

fn click(h: &mut Harness<'_, Console>, role: Role, label: &str) {
    h.get_by_role_and_label(role, label).click();
    h.run_steps(2);
}

/// Opens the combo box labelled `combo` and picks `option`.
fn pick(h: &mut Harness<'_, Console>, combo: &str, option: &str) {
    click(h, Role::ComboBox, combo);
    h.get_by_label(option).click();
    h.run_steps(2);
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

impl Admin {
    fn count(&self, query: &str) -> u64 {
        let (s, v) = self.call(
            reqwest::Method::GET,
            &format!("/api/admin/drawings/count?{query}"),
            None,
        );
        assert_eq!(s, 200, "{v}");
        v["count"].as_u64().unwrap()
    }

    /// Waits until the quality scorer has scored every drawing.
    fn wait_scored(&self) {
        let start = Instant::now();
        while self.stats().quality.unscored > 0 {
            assert!(start.elapsed() < Duration::from_secs(60), "scoring stalled");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn browses_filters_replays_flags_and_curates_in_bulk() {
    let admin = Admin::start();
    admin.wait_scored();
    let mut h = harness(&admin);
    click(&mut h, Role::Button, "Browse");
    settle(&mut h, "the first page", |h| {
        h.state().browse.total().is_some() && !h.state().browse.rows().is_empty()
    });
    assert_eq!(h.state().browse.total(), Some(admin.stats().total));

    // Filter by shape and quality.
    pick(&mut h, "Shape", "Shape circle");
    type_into(&mut h, Role::TextInput, "Quality from", "0.4");
    click(&mut h, Role::Button, "Apply filters");
    settle(&mut h, "the filtered list", |h| {
        h.state()
            .browse
            .applied()
            .is_some_and(|f| f.quality_min == Some(0.4))
            && h.state().browse.total().is_some()
    });
    let filter_query = "shape=circle&quality_min=0.4";
    let expected = admin.count(filter_query);
    assert!(expected > 10, "{expected}");
    assert_eq!(h.state().browse.total(), Some(expected));
    let rows = h.state().browse.rows().to_vec();
    assert_eq!(rows.len() as u64, expected);
    assert!(
        rows.iter()
            .all(|r| r.shape == "circle" && r.quality_score.unwrap() >= 0.4)
    );
    assert!(
        h.query_by_label(&format!("Showing {expected} of {expected} drawings"))
            .is_some()
    );

    // Open the first drawing and replay it at the recorded speed.
    let first = rows[0].clone();
    click(
        &mut h,
        Role::Button,
        &format!("Open drawing {}", &first.id.to_string()[..8]),
    );
    settle(&mut h, "the detail view", |h| {
        h.state().browse.detail().is_some()
    });
    let detail = h.state().browse.detail().unwrap().clone();
    assert_eq!(detail.summary.id, first.id);
    assert!(h.query_by_label(&first.id.to_string()).is_some());
    let length = inkset_console::ink::replay_length_ms(&detail.drawing);
    assert!(length > 100.0, "{length}");
    // Real speed on egui's clock (the harness advances it a fixed step per frame).
    let clock = |h: &Harness<'_, Console>| h.ctx.input(|i| i.time);
    let started = clock(&h);
    click(&mut h, Role::Button, "Replay");
    assert!(h.query_by_label_contains("Replaying: ").is_some());
    wait(&mut h, "the replay to finish", |h| {
        h.query_by_label_contains("Replay finished").is_some()
    });
    let took = (clock(&h) - started) * 1000.0;
    assert!(
        took >= length && took <= length + 2000.0,
        "replayed {length} ms of drawing in {took} ms of egui time"
    );
    assert_eq!(h.state().browse.replay_ms(), Some(length));

    h.remove_cursor();
    h.run_steps(2);
    // The port and the receive time differ from run to run.
    mask_top(&mut h);
    let times: Vec<egui::Rect> = h
        .query_all_by_label_contains(" UTC")
        .map(|n| n.rect())
        .collect();
    for r in times {
        h.mask(r.expand(2.0));
    }
    h.snapshot_options(
        "console_browse",
        &SnapshotOptions::new().max_failed_pixels(400),
    );

    // Flag it: the dashboard's numbers change.
    click(&mut h, Role::Button, "Flag");
    settle(&mut h, "the flag", |h| {
        h.state().notice() == Some("Flagged 1 drawings")
    });
    click(&mut h, Role::Button, "Dashboard");
    settle(&mut h, "the stats to change", |h| {
        h.state().stats().is_some_and(|s| s.flagged == 1)
    });
    assert!(h.query_by_label("Flagged: 1").is_some());
    assert_eq!(admin.count("flagged=true"), 1);

    // Bulk: every drawing matching the filter, after a confirmation stating the count.
    click(&mut h, Role::Button, "Browse");
    settle(&mut h, "the list", |h| h.state().browse.total().is_some());
    click(&mut h, Role::Button, "Unflag all matching");
    settle(&mut h, "the count", |h| {
        h.query_by_label_contains("drawings matching the filter?")
            .is_some()
    });
    assert!(
        h.query_by_label(&format!("Unflag {expected} drawings matching the filter?"))
            .is_some()
    );
    click(&mut h, Role::Button, &format!("Unflag {expected} drawings"));
    settle(&mut h, "the bulk unflag", |h| {
        h.state().notice() == Some("Unflagged 1 drawings")
    });
    assert_eq!(admin.count("flagged=true"), 0);

    // The confirmed count is a promise: when the filter matches another number by the time
    // the admin confirms (here one drawing's quality drops below the range), nothing changes.
    click(&mut h, Role::Button, "Remove all matching");
    settle(&mut h, "the count", |h| {
        h.query_by_label(&format!("Remove {expected} drawings matching the filter?"))
            .is_some()
    });
    let quality = |score: Value| {
        let (s, v) = admin.call(
            reqwest::Method::PUT,
            &format!("/api/admin/drawings/{}/quality", rows[5].id),
            Some(serde_json::to_vec(&json!({ "score": score })).unwrap()),
        );
        assert!((200..300).contains(&s), "{v}");
    };
    quality(json!(0.1));
    assert_eq!(admin.count(filter_query), expected - 1);
    click(&mut h, Role::Button, &format!("Remove {expected} drawings"));
    let refused = format!(
        "now matches {} drawings, not the {expected} confirmed; nothing was changed",
        expected - 1
    );
    settle(&mut h, "the refusal", |h| {
        h.state().error().is_some_and(|e| e.contains(&refused))
    });
    assert!(h.query_by_label_contains(&refused).is_some());
    assert_eq!(admin.stats().removed, 0, "nothing removed");
    quality(Value::Null);
    let start = Instant::now();
    while admin.count(filter_query) != expected {
        assert!(start.elapsed() < Duration::from_secs(60), "not rescored");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Ctrl-click selects without opening.
    for r in &rows[1..3] {
        h.get_by_label(&format!("Open drawing {}", &r.id.to_string()[..8]))
            .click_modifiers(egui::Modifiers::COMMAND);
        h.run_steps(2);
    }
    let picked: Vec<uuid::Uuid> = h.state().browse.selection().iter().copied().collect();
    let mut want = vec![rows[1].id, rows[2].id];
    want.sort();
    assert_eq!(picked, want);
    assert!(h.query_by_label("Selected: 2").is_some());
    click(&mut h, Role::Button, "Clear selection");

    // A selection: select all loaded, flag them.
    click(&mut h, Role::Button, "Select all loaded");
    assert_eq!(h.state().browse.selection().len() as u64, expected);
    click(&mut h, Role::Button, "Flag selected");
    assert!(
        h.query_by_label(&format!("Flag {expected} drawings selected?"))
            .is_some()
    );
    click(&mut h, Role::Button, &format!("Flag {expected} drawings"));
    settle(&mut h, "the bulk flag", |h| {
        h.state().notice() == Some(&format!("Flagged {expected} drawings"))
    });
    assert_eq!(admin.count("flagged=true&shape=circle"), expected);

    // A bad filter value is named, and nothing is asked.
    type_into(&mut h, Role::TextInput, "Quality to", "lots");
    click(&mut h, Role::Button, "Apply filters");
    assert!(h.state().error().unwrap().starts_with("Quality to"));

    // The review queue: unflagged drawings, lowest quality first.
    click(&mut h, Role::Button, "Review queue");
    settle(&mut h, "the queue", |h| h.state().review.detail().is_some());
    let (_, page) = admin.call(
        reqwest::Method::GET,
        "/api/admin/drawings?flagged=false&sort=quality_asc&limit=1",
        None,
    );
    let lowest = page["drawings"][0]["id"].as_str().unwrap().to_owned();
    let shown = h.state().review.detail().unwrap().summary.id;
    assert_eq!(shown.to_string(), lowest);
    let rows = h.state().review.rows();
    assert!(
        rows.windows(2)
            .all(|w| w[0].quality_score <= w[1].quality_score)
    );
    click(&mut h, Role::Button, "Flag and next");
    settle(&mut h, "the next in the queue", |h| {
        h.state()
            .review
            .detail()
            .is_some_and(|d| d.summary.id != shown)
    });
    let (_, d) = admin.call(
        reqwest::Method::GET,
        &format!("/api/admin/drawings/{shown}"),
        None,
    );
    assert_eq!(d["summary"]["flagged"], true);
}

/// Masks what differs from run to run in every screen: the server's port and the spinner.
fn mask_top(h: &mut Harness<'_, Console>) {
    let port = h.get_by_label_contains("Signed in to").rect();
    let out = h.get_by_label("Sign out").rect();
    h.mask(port.expand(2.0));
    h.mask(egui::Rect::from_min_size(
        egui::pos2(out.max.x, out.min.y - 2.0),
        egui::vec2(40.0, out.height() + 4.0),
    ));
}

fn tab(h: &mut Harness<'_, Console>, name: &str) {
    h.get_by_label(name).click();
    h.run_steps(2);
}

/// Ticks the shapes, sets the epochs, checks the plan against the server's, starts the job
/// and follows it in the live view until it completes; returns its model id.
fn train(h: &mut Harness<'_, Console>, admin: &Admin, epochs: &str) -> uuid::Uuid {
    let before = h.state().training.job().map(|j| j.id);
    // Replace the epochs field's text.
    h.get_by_role_and_label(Role::TextInput, "Epochs")
        .set_text_value_accesskit(epochs);
    h.run_steps(2);
    settle(h, "the plan", |h| {
        h.state()
            .training
            .preview()
            .is_some_and(|p| p.error.is_none())
    });
    let plan = h.state().training.preview().unwrap().clone();
    let (_, server_plan) = admin.call(
        reqwest::Method::POST,
        "/api/admin/training/plan",
        Some(
            serde_json::to_vec(&json!({"config": {
                "shapes": ["circle", "line", "square", "triangle"], "include_unknown": false,
                "epochs": epochs.parse::<u64>().unwrap(),
                "batch_size": 64, "learning_rate": 0.002}}))
            .unwrap(),
        ),
    );
    assert_eq!(
        serde_json::to_value(&plan.plan.counts).unwrap(),
        server_plan["plan"]["counts"]
    );
    for (class, n) in &plan.plan.counts {
        assert!(
            h.query_by_label(&format!("{class}: {n} drawings"))
                .is_some(),
            "{class}"
        );
    }
    click(h, Role::Button, "Start training");
    wait(h, "the job in the live view", |h| {
        h.state()
            .training
            .job()
            .is_some_and(|j| Some(j.id) != before)
    });
    wait(h, "progress to arrive", |h| {
        h.state()
            .training
            .job()
            .is_some_and(|j| !j.progress.is_empty())
    });
    assert!(h.query_by_label_contains("Progress: ").is_some());
    let start = Instant::now();
    loop {
        h.step();
        let job = h.state().training.job().unwrap();
        if job.status.is_final() {
            assert_eq!(job.status.as_str(), "completed", "{:?}", job.error);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "training took too long"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    h.run_steps(2);
    let job = h.state().training.job().unwrap().clone();
    let epochs_done = job.progress.iter().filter(|p| p.kind == "epoch").count();
    assert_eq!(epochs_done.to_string(), epochs);
    assert!(
        job.progress
            .iter()
            .any(|p| p.kind == "step" && p.samples_per_sec > 0.0)
    );
    job.model_id.unwrap()
}

#[test]
fn trains_watches_compares_activates_and_exports() {
    let admin = Admin::start();
    let mut h = harness(&admin);
    tab(&mut h, "Training");
    for shape in ["circle", "line", "square", "triangle"] {
        h.get_by_label(&format!("Train {shape}")).click();
        h.run_steps(1);
    }
    h.get_by_label("Learn an unknown class from the distractor drawings")
        .click();
    h.run_steps(2);
    // A long job is cancelled from the live view. The trainer learns it at its next
    // heartbeat and stops; the jobs below can only start after that (one trainer).
    h.get_by_role_and_label(Role::TextInput, "Epochs")
        .set_text_value_accesskit("500");
    h.run_steps(2);
    settle(&mut h, "the plan", |h| {
        h.state()
            .training
            .preview()
            .is_some_and(|p| p.error.is_none())
    });
    let before = h.state().training.job().map(|j| j.id);
    click(&mut h, Role::Button, "Start training");
    wait(&mut h, "the long job to run", |h| {
        h.state()
            .training
            .job()
            .is_some_and(|j| Some(j.id) != before && !j.progress.is_empty())
    });
    click(&mut h, Role::Button, "Cancel job");
    wait(&mut h, "the cancellation", |h| {
        h.state()
            .training
            .job()
            .is_some_and(|j| j.status.as_str() == "cancelled")
    });
    assert!(h.query_by_label("Status: cancelled").is_some());
    let cancelled = h.state().training.job().unwrap().id;
    let (_, job) = admin.call(
        reqwest::Method::GET,
        &format!("/api/admin/training/{cancelled}"),
        None,
    );
    assert_eq!(job["status"], "cancelled");
    assert!(job["model_id"].is_null());

    let first = train(&mut h, &admin, "1");
    let second = train(&mut h, &admin, "2");
    h.remove_cursor();
    h.run_steps(2);
    let mut masks: Vec<egui::Rect> = Vec::new();
    mask_top(&mut h);
    for text in [
        " UTC",
        "Job ",
        "Registered model",
        " recognizer ",
        "Progress: ",
        " queued (",
    ] {
        masks.extend(h.query_all_by_label_contains(text).map(|n| n.rect()));
    }
    // Throughput differs from run to run: mask its plot.
    let from = h.get_by_label("Samples/s per step").rect();
    let to = h.get_by_label("Log").rect();
    masks.push(egui::Rect::from_min_max(
        egui::pos2(from.min.x, from.max.y),
        egui::pos2(1400.0, to.min.y),
    ));
    for r in masks {
        h.mask(r.expand(2.0));
    }
    h.snapshot_options(
        "console_training",
        &SnapshotOptions::new().max_failed_pixels(1_500),
    );

    // Models: both listed; compare them; activate the first.
    tab(&mut h, "Models");
    settle(&mut h, "the registry", |h| {
        h.state().models.list().is_some_and(|l| l.models.len() == 2)
    });
    click(&mut h, Role::Button, "Compare");
    settle(&mut h, "the comparison", |h| {
        h.state().models.comparison().is_some()
    });
    let c = h.state().models.comparison().unwrap().clone();
    assert_eq!((c.a.id, c.b.id), (first, second));
    let (s, server) = admin.call(
        reqwest::Method::GET,
        &format!("/api/admin/models/compare?a={first}&b={second}"),
        None,
    );
    assert_eq!(s, 200, "{server}");
    assert_eq!(c.evaluated, server["evaluated"].as_u64().unwrap());
    assert!((c.accuracy_a - server["accuracy_a"].as_f64().unwrap()).abs() < 1e-12);
    assert!((c.accuracy_b - server["accuracy_b"].as_f64().unwrap()).abs() < 1e-12);
    let diag: u64 = (0..c.classes.len()).map(|i| c.confusion_a[i][i]).sum();
    assert!((diag as f64 / c.evaluated as f64 - c.accuracy_a).abs() < 1e-9);
    assert!(
        h.query_by_label_contains("held-out drawings: recognizer v1")
            .is_some()
    );

    // The first version went to production by itself; activate the second.
    assert!(h.query_by_label("in production").is_some());
    click(&mut h, Role::Button, "Activate recognizer v2");
    settle(&mut h, "the activation", |h| {
        h.state().notice() == Some("recognizer v2 is now in production")
    });
    let (_, info) = admin.call(reqwest::Method::GET, "/api/inference/model/info", None);
    assert_eq!(info["model_id"], second.to_string(), "{info}");
    settle(&mut h, "the alias history", |h| {
        h.state().models.history().is_some_and(|hist| {
            hist.moves.iter().any(|m| {
                m.model_id == second
                    && m.alias == "production"
                    && m.previous_model_id == Some(first)
            })
        })
    });
    assert!(
        h.query_by_label_contains("recognizer/production #2: recognizer v1 -> recognizer v2")
            .is_some()
    );
    h.remove_cursor();
    h.run_steps(2);
    let ids: Vec<String> = h
        .state()
        .models
        .list()
        .unwrap()
        .models
        .iter()
        .map(|m| m.id.to_string()[..8].to_owned())
        .collect();
    mask_top(&mut h);
    let mut masks: Vec<egui::Rect> = Vec::new();
    masks.extend(h.query_all_by_label_contains(" UTC").map(|n| n.rect()));
    for id in &ids {
        masks.extend(h.query_all_by_label(id).map(|n| n.rect()));
    }
    for r in masks {
        h.mask(r.expand(2.0));
    }
    h.snapshot_options(
        "console_models",
        &SnapshotOptions::new().max_failed_pixels(1_500),
    );

    // Export a filter in the background, download it and read it back.
    let folder = tempfile::tempdir().unwrap();
    h.state_mut().exports.folder = folder.path().display().to_string();
    tab(&mut h, "Export");
    pick(&mut h, "Shape", "Shape circle");
    click(&mut h, Role::Button, "Start export");
    settle(&mut h, "the export", |h| {
        h.state()
            .exports
            .jobs()
            .first()
            .is_some_and(|j| j.status == inkset_protocol::api::ExportStatus::Completed)
    });
    click(
        &mut h,
        Role::Button,
        "Download inkset-circle-quickdraw_raw.ndjson",
    );
    settle(&mut h, "the download", |h| {
        !h.state().exports.downloaded().is_empty()
    });
    let (_, path, bytes) = h.state().exports.downloaded()[0].clone();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len() as u64, bytes);
    let circles = admin.count("shape=circle");
    assert_eq!(text.lines().count() as u64, circles);
    for line in text.lines() {
        let r = inkset_protocol::quickdraw::Record::parse_line(line).unwrap();
        assert_eq!(r.word, "circle");
    }
    assert!(h.query_all_by_label_contains("Saved ").count() >= 1);
    h.remove_cursor();
    h.run_steps(2);
    mask_top(&mut h);
    let mut masks: Vec<egui::Rect> = Vec::new();
    for text in [" UTC", "Saved ", "Save downloads to"] {
        masks.extend(h.query_all_by_label_contains(text).map(|n| n.rect()));
    }
    let folder_field = h
        .get_by_role_and_label(Role::TextInput, "Save downloads to")
        .rect();
    masks.push(folder_field);
    for r in masks {
        h.mask(r.expand(2.0));
    }
    h.snapshot_options(
        "console_export",
        &SnapshotOptions::new().max_failed_pixels(1_500),
    );
}

#[test]
fn disables_accounts_and_manages_worker_tokens() {
    let admin = Admin::start();
    // A player with an account, signed in on one device.
    let (session, account) = admin.rt.block_on(async {
        let s: Value = admin
            .http
            .post(format!("{}/api/sessions", admin.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = s["token"].as_str().unwrap().to_owned();
        let a: Value = admin
            .http
            .post(format!("{}/api/auth/signup", admin.base))
            .bearer_auth(&session)
            .json(&json!({"username": "painter", "password": "painter password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (session, a["token"].as_str().unwrap().to_owned())
    });
    let status = |token: &str| {
        admin.rt.block_on(async {
            admin
                .http
                .get(format!("{}/api/user/stats", admin.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(status(&session), 200);

    let mut h = harness(&admin);
    tab(&mut h, "Access");
    settle(&mut h, "the accounts", |h| {
        h.state()
            .access
            .users()
            .iter()
            .any(|u| u.username == "painter")
    });
    let painter = |h: &Harness<'_, Console>| {
        h.state()
            .access
            .users()
            .iter()
            .find(|u| u.username == "painter")
            .cloned()
            .unwrap()
    };
    assert_eq!(painter(&h).live_tokens, 1);
    assert_eq!(painter(&h).live_sessions, 1);

    click(&mut h, Role::Button, "Disable painter");
    settle(&mut h, "the account disabled", |h| painter(h).disabled);
    assert_eq!(painter(&h).live_tokens, 0);
    assert_eq!(painter(&h).live_sessions, 0);
    assert!(
        h.state()
            .notice()
            .is_some_and(|n| n.starts_with("painter: disabled")),
        "{:?}",
        h.state().notice()
    );
    // The server agrees: the player's session and account token no longer work.
    assert_eq!(status(&session), 401);
    let (s, _) = admin.call(reqwest::Method::GET, "/api/admin/users", None);
    assert_eq!(s, 200);
    let logout = admin.rt.block_on(async {
        admin
            .http
            .post(format!("{}/api/auth/logout", admin.base))
            .bearer_auth(&account)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(logout, 401, "the account token was revoked already");
    click(&mut h, Role::Button, "Enable painter");
    settle(&mut h, "the account enabled", |h| !painter(h).disabled);

    // A worker token: created (secret shown once), listed, revoked.
    type_into(
        &mut h,
        Role::TextInput,
        "New worker token for host",
        "gpu-7",
    );
    click(&mut h, Role::Button, "Create worker token");
    settle(&mut h, "the new token", |h| {
        h.state().access.created().is_some()
    });
    let created = h.state().access.created().cloned().unwrap();
    assert!(created.token.as_deref().unwrap().starts_with("iw_"));
    settle(&mut h, "the token listed", |h| {
        h.state()
            .access
            .workers()
            .iter()
            .any(|w| w.id == created.id)
    });
    click(&mut h, Role::Button, "Revoke gpu-7");
    settle(&mut h, "the token revoked", |h| {
        h.state()
            .access
            .workers()
            .iter()
            .any(|w| w.id == created.id && w.revoked_at.is_some())
    });
    let (s, _) = admin.rt.block_on(async {
        let r = admin
            .http
            .post(format!("{}/api/worker/claim", admin.base))
            .bearer_auth(created.token.as_deref().unwrap())
            .json(&json!({"worker": "gpu-7"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    });
    assert_eq!(s, 401, "a revoked worker token");
}

/// Uploads the first `n` real drawings of `shape` (Quick, Draw! raw) for the session
/// `token`, `gap_ms` apart, starting an hour ago; returns their ids.
fn upload_real(admin: &Admin, token: &str, shape: &str, n: usize, gap_ms: i64) -> Vec<String> {
    let text = std::fs::read_to_string(
        inkset_testkit::shared_data().join(format!("quickdraw/raw/{shape}.ndjson")),
    )
    .unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let start = now - 3_600_000;
    let drawings: Vec<Value> = text
        .lines()
        .take(n)
        .enumerate()
        .map(|(i, line)| {
            let record: Value = serde_json::from_str(line).unwrap();
            let t0 = start + i64::try_from(i).unwrap() * gap_ms;
            let strokes: Vec<Value> = record["drawing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let points: Vec<Value> = (0..s[0].as_array().unwrap().len())
                        .map(|k| {
                            json!({"x": s[0][k], "y": s[1][k], "pressure": 0.5,
                                   "timestamp": t0 + s[2][k].as_i64().unwrap()})
                        })
                        .collect();
                    json!({"points": points, "color": "#1d1d1f", "width": 4,
                           "pointer_type": "mouse"})
                })
                .collect();
            json!({"id": uuid::Uuid::new_v4(), "shape": shape,
                   "canvas": {"width": 1500, "height": 1500}, "strokes": strokes,
                   "duration_ms": 1200, "device": "mouse", "user_agent": "inkset-tests",
                   "prompt_to_first_point_ms": 700})
        })
        .collect();
    let ids = drawings
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let (s, r) = admin.rt.block_on(async {
        let resp = admin
            .http
            .post(format!("{}/api/drawings/batch", admin.base))
            .bearer_auth(token)
            .json(&json!({"drawings": drawings, "sent_at": now}))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    });
    assert_eq!(s, 200, "{r}");
    ids
}

#[test]
fn lists_contributors_marks_a_scribbler_and_flags_all_of_theirs() {
    let admin = Admin::empty();
    let session = || {
        admin.rt.block_on(async {
            let s: Value = admin
                .http
                .post(format!("{}/api/sessions", admin.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                s["session_id"].as_str().unwrap().to_owned(),
                s["token"].as_str().unwrap().to_owned(),
            )
        })
    };
    // A steady player (a drawing every 30 s) and a scribbler (one every 2 s, scored low by
    // an admin).
    let (_, steady) = session();
    upload_real(&admin, &steady, "circle", 6, 30_000);
    let (scribbler, scribbler_token) = session();
    let scribbles = upload_real(&admin, &scribbler_token, "line", 12, 2_000);
    for id in &scribbles {
        let (s, v) = admin.call(
            reqwest::Method::PUT,
            &format!("/api/admin/drawings/{id}/quality"),
            Some(br#"{"score": 0.1}"#.to_vec()),
        );
        assert!(s == 200 || s == 204, "{s} {v}");
    }
    let mut h = harness(&admin);
    tab(&mut h, "Contributors");
    settle(&mut h, "the contributors", |h| {
        h.state().contributors.list().is_some_and(|l| l.total == 2)
    });
    assert!(
        h.query_by_label("2 contributors, 1 marked for review")
            .is_some()
    );
    let name = format!("session {}", &scribbler[..8]);
    assert!(
        h.query_by_label_contains("marked: fast and low quality")
            .is_some()
    );

    // By mean quality: the steady player leads, and the scribbler when the worst come first.
    let first = |h: &Harness<'_, Console>| {
        h.state()
            .contributors
            .list()
            .and_then(|l| l.contributors.first().map(|c| c.id.to_string()))
    };
    pick(&mut h, "Sort by", "Sort by Mean quality");
    settle(&mut h, "best quality first", |h| {
        first(h).is_some_and(|id| id != scribbler)
    });
    pick(&mut h, "Order", "Smallest first");
    settle(&mut h, "worst quality first", |h| {
        first(h).as_deref() == Some(scribbler.as_str())
    });

    // Their drawings in Browse.
    click(&mut h, Role::Button, &format!("Open {name} in Browse"));
    settle(&mut h, "the scribbler's drawings", |h| {
        h.state().browse.total() == Some(12)
            && h.state()
                .browse
                .applied()
                .is_some_and(|f| f.session.is_some_and(|s| s.to_string() == scribbler))
    });
    assert_eq!(h.state().screen(), inkset_console::Screen::Browse);

    // Flag all of them in one confirmed action: exactly theirs are flagged.
    tab(&mut h, "Contributors");
    settle(&mut h, "the list again", |h| {
        h.state().contributors.list().is_some()
    });
    click(&mut h, Role::Button, &format!("Flag all of {name}"));
    settle(&mut h, "the count", |h| {
        h.state()
            .contributors
            .confirmation()
            .is_some_and(|q| !q.ends_with("Counting..."))
    });
    assert_eq!(
        h.state().contributors.confirmation(),
        Some(format!("Flag all 12 drawings of {name}?"))
    );
    click(&mut h, Role::Button, "Confirm flag");
    settle(&mut h, "the flag", |h| {
        h.state().notice() == Some(format!("Flagged 12 drawings of {name}").as_str())
    });
    assert_eq!(
        admin.count(&format!("flagged=true&session={scribbler}")),
        12
    );
    assert_eq!(admin.count("flagged=true"), 12);
    assert_eq!(admin.count("flagged=false"), 6);
    // The list follows: the scribbler is now also mostly flagged.
    settle(&mut h, "the refreshed marks", |h| {
        h.state().contributors.list().is_some_and(|l| {
            l.contributors
                .iter()
                .any(|c| c.id.to_string() == scribbler && c.flagged == 12)
        })
    });
    assert!(h.query_by_label_contains("mostly flagged: 100 %").is_some());
}

#[test]
fn cuts_opens_compares_and_exports_releases() {
    let admin = Admin::start();
    let mut h = harness(&admin);
    tab(&mut h, "Releases");
    // The first release: every circle.
    type_into(&mut h, Role::TextInput, "Release name", "circles-v1");
    type_into(&mut h, Role::TextInput, "Description", "circles for a test");
    pick(&mut h, "Shape", "Shape circle");
    click(&mut h, Role::Button, "Cut release");
    settle(&mut h, "the first release", |h| {
        h.state()
            .releases
            .open()
            .is_some_and(|r| r.manifest.name == "circles-v1")
    });
    let circles = admin.count("shape=circle");
    let first = h.state().releases.open().unwrap().manifest.clone();
    assert_eq!(first.drawing_count, circles);
    assert_eq!(first.per_class.get("circle"), Some(&circles));
    assert_eq!(
        h.state().notice(),
        Some(format!("Release circles-v1 cut: {circles} drawings").as_str())
    );
    // A second release of every drawing; the first opened again from the list.
    h.get_by_role_and_label(Role::TextInput, "Release name")
        .set_text_value_accesskit("all-v1");
    h.run_steps(2);
    pick(&mut h, "Shape", "All shapes");
    click(&mut h, Role::Button, "Cut release");
    settle(&mut h, "the second release in the list", |h| {
        h.state().releases.list().len() == 2
    });
    let total = admin.stats().total;
    assert_eq!(
        h.state().releases.open().unwrap().manifest.drawing_count,
        total
    );
    // Compare: all-v1 against circles-v1 adds every drawing that is not a circle.
    pick(&mut h, "Compare with", "Against circles-v1");
    click(&mut h, Role::Button, "Compare");
    settle(&mut h, "the diff", |h| h.state().releases.diff().is_some());
    let diff = h.state().releases.diff().unwrap().clone();
    assert_eq!(diff.total.added, total - circles);
    assert_eq!(diff.total.removed, 0);
    assert_eq!(diff.total.kept, circles);
    assert!(
        h.query_by_label(&format!(
            "From circles-v1 to all-v1: {} added, 0 removed, {circles} kept",
            total - circles
        ))
        .is_some()
    );
    // Export: the Export screen opens with the release as the filter.
    click(&mut h, Role::Button, "Export release all-v1");
    assert_eq!(h.state().screen(), inkset_console::Screen::Export);
    assert_eq!(h.state().exports.form.release, "all-v1");
}
