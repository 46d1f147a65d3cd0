//! The integration suite: every scenario runs against SQLite + a local directory and against
//! PostgreSQL + an S3-compatible server.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
#[path = "api/contributors.rs"]
mod contributors;
#[path = "api/data_stream.rs"]
mod data_stream;
#[path = "api/mixed_traffic.rs"]
mod mixed_traffic;
#[path = "api/orphans.rs"]
mod orphans;
#[path = "api/prompts.rs"]
mod prompts;
#[path = "api/real_input.rs"]
mod real_input;
#[path = "api/releases.rs"]
mod releases;
#[path = "api/replicas.rs"]
mod replicas;
#[path = "api/tallies.rs"]
mod tallies;
#[path = "api/volume.rs"]
mod volume;

use std::collections::{BTreeMap, HashMap};

use common::{Backend, Cli, TestServer, sample_drawing, shared_data};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_backends!(
    quickdraw_import_stats_export,
    upload_is_idempotent_and_durable,
    bad_input_is_refused_and_changes_nothing,
    admin_routes_refuse_without_admin_token,
    curation_listing_and_detail,
    batch_upload_reports_each_drawing,
    concurrent_uploads_share_group_commits,
    player_stats_and_shapes,
    simplified_import_round_trips,
    streaks_count_days_on_server_corrected_time,
    accounts_link_sessions_across_devices,
    console_filters_sorts_bulk_and_exports,
);

/// Every file under quickdraw/raw except the distractors.
fn raw_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(shared_data().join("quickdraw/raw"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5);
    files
}

/// Imports [`raw_files`] through the `inkset-server import` command; asserts it succeeded.
fn import_raw(server: &TestServer) {
    let mut args = vec!["import".to_owned()];
    args.extend(raw_files().iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = server.cli(&args, "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn quickdraw_import_stats_export(backend: Backend) {
    let server = TestServer::start(backend).await;
    let files = raw_files();
    let mut args = vec!["import".to_owned()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = server.cli(&args, "");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("266 stored, 0 already present, 0 rejected"),
        "{report}"
    );

    let token = server.admin_token().await;
    let (status, stats) = server.get_json("/api/admin/stats", &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        stats["per_shape"],
        json!({"circle": 45, "line": 114, "square": 46, "triangle": 61, "heart": 0})
    );
    assert_eq!(stats["total"], 266);

    // Importing again stores nothing new.
    let again = server.cli(&args, "");
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 stored, 266 already present"));

    // Distractor words are rejected with that reason.
    let distractors = shared_data().join("quickdraw/raw/distractors/star.ndjson");
    let out = server.cli(&["import", &distractors.display().to_string()], "");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("32 rejected"), "{report}");
    assert!(!out.status.success(), "rejections make the import fail");
    assert!(report.contains("unknown shape \"star\""), "{report}");

    // Export gives back every drawing: same key_id, same x, y, t, same metadata.
    let out = server.cli(&["export", "--format", "quickdraw"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: HashMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["key_id"].as_str().unwrap().to_owned(), l.to_owned())
        })
        .collect();
    assert_eq!(exported.len(), 266);
    for file in &files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let original: Value = serde_json::from_str(line).unwrap();
            let key = original["key_id"].as_str().unwrap();
            let back = exported.get(key).unwrap_or_else(|| panic!("{key} missing"));
            // Byte for byte: numbers are written exactly as the dataset writes them.
            assert_eq!(back, line, "drawing {key} changed");
        }
    }

    // A shape filter exports that shape only.
    let out = server.cli(&["export", "--shape", "square"], "");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 46);

    // Exporting from a directory that holds no store fails instead of creating one.
    let missing = server.dir.path().join("no-such-store");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inkset-server"))
        .args(["export", "--data-dir", &missing.display().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!missing.exists());
    server.finish().await;
}

async fn simplified_import_round_trips(backend: Backend) {
    let server = TestServer::start(backend).await;
    let dir = shared_data().join("quickdraw/simplified");
    let out = server.cli(&["import", &dir.display().to_string()], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for format in ["quickdraw", "quickdraw-simplified"] {
        let out = server.cli(&["export", "--format", format], "");
        let exported: std::collections::HashSet<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(exported.len(), 100);
        for file in std::fs::read_dir(&dir).unwrap() {
            for line in std::fs::read_to_string(file.unwrap().path())
                .unwrap()
                .lines()
            {
                assert!(
                    exported.contains(line),
                    "{format}: changed on the way: {line}"
                );
            }
        }
    }
    server.finish().await;
}

async fn upload_is_idempotent_and_durable(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let (session, token) = server.session().await;
    let id = Uuid::new_v4();
    let drawing = sample_drawing(id, "circle");
    let (s1, b1) = server.post_json("/api/drawings", &token, &drawing).await;
    assert_eq!(s1, 201, "{b1}");
    let (s2, b2) = server.post_json("/api/drawings", &token, &drawing).await;
    assert_eq!((s2, &b2), (201, &b1), "a repeat gets the same answer");

    let mut other = drawing.clone();
    other["strokes"][0]["points"][3]["x"] = json!(1.5);
    let (s3, b3) = server.post_json("/api/drawings", &token, &other).await;
    assert_eq!(s3, 409, "{b3}");
    assert_eq!(b3["error"]["code"], "conflict");
    assert_eq!(b3["error"]["field"], "id");

    // Restart: the acknowledged drawing is there, exactly as sent.
    server.restart().await;
    let admin = server.admin_token().await;
    let (status, detail) = server
        .get_json(&format!("/api/admin/drawings/{id}"), &admin)
        .await;
    assert_eq!(status, 200);
    let mut expected = drawing.clone();
    expected["session_id"] = json!(session);
    let sent: inkset_protocol::Drawing = serde_json::from_value(expected).unwrap();
    let got: inkset_protocol::Drawing = serde_json::from_value(detail["drawing"].clone()).unwrap();
    assert_eq!(got, sent);
    assert_eq!(detail["summary"]["received_at"], b1["received_at"]);
    server.finish().await;
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let admin = server.admin_token().await;
    let id = Uuid::new_v4();
    let good = sample_drawing(id, "square");
    assert_eq!(
        server.post_json("/api/drawings", &token, &good).await.0,
        201
    );
    let (_, before) = server.get_json("/api/admin/stats", &admin).await;

    let text = serde_json::to_string(&sample_drawing(Uuid::new_v4(), "square")).unwrap();
    let first_x = text.find("\"x\":").unwrap() + 4;
    let first_x_end = first_x + text[first_x..].find(',').unwrap();
    let with_x = |literal: &str| format!("{}{literal}{}", &text[..first_x], &text[first_x_end..]);

    let huge_points: Vec<Value> = (0..200_000)
        .map(|i| json!({"x": 1, "y": 1, "pressure": 0.5, "timestamp": 1_764_400_000_000_i64 + i}))
        .collect();
    let mut huge = sample_drawing(Uuid::new_v4(), "square");
    huge["strokes"][0]["points"] = Value::Array(huge_points);
    let mut no_strokes = sample_drawing(Uuid::new_v4(), "square");
    no_strokes["strokes"] = json!([]);
    let mut conflict = good.clone();
    conflict["duration_ms"] = json!(625);

    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "NaN literal",
            "/api/drawings",
            with_x("NaN").into_bytes(),
            400,
            "strokes[0].points[0].x",
        ),
        (
            "string for a number",
            "/api/drawings",
            with_x("\"12\"").into_bytes(),
            400,
            "strokes[0].points[0].x",
        ),
        (
            "1e309",
            "/api/drawings",
            with_x("1e309").into_bytes(),
            400,
            "strokes[0].points[0].x",
        ),
        (
            "no strokes",
            "/api/drawings",
            serde_json::to_vec(&no_strokes).unwrap(),
            422,
            "strokes",
        ),
        (
            "200,000 points",
            "/api/drawings",
            serde_json::to_vec(&huge).unwrap(),
            413,
            "body",
        ),
        (
            "200,000 points in a batch",
            "/api/drawings/batch",
            serde_json::to_vec(&json!({"drawings": [huge]})).unwrap(),
            200,
            "drawings[0].strokes",
        ),
        (
            "20 MB body",
            "/api/drawings",
            vec![b' '; 20 * 1024 * 1024],
            413,
            "body",
        ),
        (
            "unknown shape",
            "/api/drawings",
            serde_json::to_vec(&sample_drawing(Uuid::new_v4(), "dog")).unwrap(),
            422,
            "shape",
        ),
        (
            "existing id, other content",
            "/api/drawings",
            serde_json::to_vec(&conflict).unwrap(),
            409,
            "id",
        ),
    ];
    for (name, path, body, status, field) in cases {
        let (got, answer) = if status == 413 {
            server.post_oversized(path, &token, body).await
        } else {
            server.post_raw(path, &token, body).await
        };
        assert_eq!(got, status, "{name}: {answer}");
        let error = if path.ends_with("batch") {
            assert_eq!(answer["results"][0]["status"], 422, "{name}: {answer}");
            answer["results"][0]["error"].clone()
        } else {
            answer["error"].clone()
        };
        assert_eq!(error["field"], field, "{name}: {answer}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }

    let (_, after) = server.get_json("/api/admin/stats", &admin).await;
    assert_eq!(after["per_shape"], before["per_shape"]);
    assert_eq!(after["total"], 1);
    let (status, detail) = server
        .get_json(&format!("/api/admin/drawings/{id}"), &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        detail["drawing"]["duration_ms"], 624,
        "the stored drawing is untouched"
    );
    server.finish().await;
}

async fn admin_routes_refuse_without_admin_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, player) = server.session().await;
    let admin = server.admin_token().await;
    let revoked = server.admin_token().await;
    let r = server
        .client
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let routes = inkset_server::app::admin_routes();
    assert!(routes.len() >= 8);
    let id = Uuid::new_v4().to_string();
    for (method, path, _) in routes {
        assert!(path.starts_with("/api/admin/"));
        let path = path.replace("{id}", &id);
        let bad: [(&str, Option<String>); 5] = [
            ("no header", None),
            ("not bearer", Some(format!("Basic {admin}"))),
            ("garbage", Some("Bearer nonsense".into())),
            ("player token", Some(format!("Bearer {player}"))),
            ("revoked admin token", Some(format!("Bearer {revoked}"))),
        ];
        for (what, header) in bad {
            let mut req = server.client.request(method.clone(), server.url(&path));
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            let r = req.body("{}").send().await.unwrap();
            // A valid token of another kind is a 403 (issue "Protection"); the rest 401.
            let (status, code) = if what == "player token" {
                (403, "forbidden")
            } else {
                (401, "unauthorized")
            };
            assert_eq!(r.status(), status, "{method} {path} with {what}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], code, "{method} {path} with {what}");
        }
        // The valid admin token passes the check (whatever the handler then says).
        let r = server
            .client
            .request(method.clone(), server.url(&path))
            .bearer_auth(&admin)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 401, "{method} {path} with an admin token");
    }
    server.finish().await;
}

async fn curation_listing_and_detail(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (session, token) = server.session().await;
    let admin = server.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let id = Uuid::new_v4();
        let shape = if i % 2 == 0 { "circle" } else { "line" };
        assert_eq!(
            server
                .post_json("/api/drawings", &token, &sample_drawing(id, shape))
                .await
                .0,
            201
        );
        ids.push(id);
    }
    // Pages of 3 cover all 7 once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/admin/drawings?limit=3".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = server.get_json(&path, &admin).await;
        assert_eq!(status, 200, "{page}");
        for d in page["drawings"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    let mut all: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    all.sort();
    assert_eq!(seen, all);

    let (_, circles) = server
        .get_json(
            &format!("/api/admin/drawings?shape=circle&session={session}"),
            &admin,
        )
        .await;
    assert_eq!(circles["drawings"].as_array().unwrap().len(), 4);

    let (status, r) = server
        .post_json(
            &format!("/api/admin/drawings/{}/flag", ids[0]),
            &admin,
            &json!({"reason": "scribble"}),
        )
        .await;
    assert_eq!((status, r["affected"].clone()), (200, json!(1)));
    let (_, flagged) = server
        .get_json("/api/admin/drawings?flagged=true", &admin)
        .await;
    assert_eq!(flagged["drawings"][0]["id"], ids[0].to_string());
    let (_, stats) = server.get_json("/api/admin/stats", &admin).await;
    assert_eq!(
        (
            stats["flagged"].clone(),
            stats["flagged_per_shape"]["circle"].clone()
        ),
        (json!(1), json!(1))
    );

    let (status, _) = server
        .post_json(
            &format!("/api/admin/drawings/{}/unflag", ids[0]),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let r = server
        .client
        .delete(server.url(&format!("/api/admin/drawings/{}", ids[1])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, r) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "ids": [ids[2], ids[3], Uuid::new_v4()]}),
        )
        .await;
    assert_eq!((status, r["affected"].clone()), (200, json!(2)));
    let (_, stats) = server.get_json("/api/admin/stats", &admin).await;
    assert_eq!(stats["total"], 6);
    assert_eq!(stats["removed"], 1);
    assert_eq!(stats["flagged"], 2);
    assert_eq!(stats["per_day"].as_array().unwrap().len(), 1);
    assert_eq!(stats["contributing_sessions"], 1);
    assert_eq!(stats["contributing_players"], 0);
    assert_eq!(stats["per_device"], json!({"mouse": 6}));
    assert_eq!(stats["per_pointer_types"], json!({"mouse": 6}));
    assert_eq!(
        stats["time_to_first_point"],
        json!({"bounds_ms": [500, 1000, 2000, 3000, 5000, 10000],
               "counts": [0, 6, 0, 0, 0, 0, 0], "median_ms": 800, "p90_ms": 800})
    );

    let (status, missing) = server
        .post_json(
            &format!("/api/admin/drawings/{}/flag", Uuid::new_v4()),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, missing["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, bad) = server
        .get_json("/api/admin/drawings?quality_min=abc", &admin)
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, bad) = server
        .get_json("/api/admin/drawings?cursor=zzz", &admin)
        .await;
    assert_eq!(
        (status, bad["error"]["field"].clone()),
        (400, json!("cursor"))
    );

    // Admins can add a shape, and then drawings of it are accepted.
    let (status, _) = server
        .post_json(
            "/api/admin/shapes",
            &admin,
            &json!({"name": "star", "round_seconds": 25}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = server
        .post_json(
            "/api/drawings",
            &token,
            &sample_drawing(Uuid::new_v4(), "star"),
        )
        .await;
    assert_eq!(status, 201);
    server.finish().await;
}

async fn batch_upload_reports_each_drawing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let dup = Uuid::new_v4();
    let body = json!({"drawings": [
        sample_drawing(Uuid::new_v4(), "line"),
        sample_drawing(Uuid::new_v4(), "unicorn"),
        sample_drawing(dup, "triangle"),
        sample_drawing(dup, "triangle"),
    ]});
    let (status, r) = server.post_json("/api/drawings/batch", &token, &body).await;
    assert_eq!(status, 200, "{r}");
    let statuses: Vec<u64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 422, 201, 201]);
    assert_eq!(r["results"][1]["error"]["field"], "drawings[1].shape");
    assert_eq!(
        r["results"][2]["received_at"],
        r["results"][3]["received_at"]
    );
    let (_, stats) = server.get_json("/api/user/stats", &token).await;
    assert_eq!(stats["total"], 2);
    server.finish().await;
}

async fn concurrent_uploads_share_group_commits(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let client = server.client.clone();
        let url = server.url("/api/drawings");
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&sample_drawing(Uuid::new_v4(), "heart"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let db = server.db().await;
    use sqlx::Row;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM segments")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let segments: i64 = row.try_get("n").unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n FROM drawings")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(row.try_get::<i64, _>("n").unwrap(), 300);
    assert!(
        segments < 300,
        "300 drawings in {segments} commits: no grouping"
    );
    // The segments are in the configured object store (S3 bucket or local directory).
    let objects = inkset_server::objects::Objects::open(&server.settings).unwrap();
    let listed: Vec<_> = futures::TryStreamExt::try_collect(
        objects
            .store()
            .list(Some(&object_store::path::Path::from("segments"))),
    )
    .await
    .unwrap();
    assert_eq!(i64::try_from(listed.len()).unwrap(), segments);
    let expected = match backend {
        Backend::SqliteLocal => inkset_server::db::Backend::Sqlite,
        Backend::PostgresS3 => inkset_server::db::Backend::Postgres,
    };
    assert_eq!(db.backend(), expected);
    assert_eq!(
        objects.describe().starts_with("s3://"),
        backend == Backend::PostgresS3
    );
    server.finish().await;
}

async fn player_stats_and_shapes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let shapes: Vec<Value> = server
        .client
        .get(server.url("/api/shapes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = shapes.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 5);
    for n in ["line", "heart", "circle", "square", "triangle"] {
        assert!(names.contains(&n));
    }
    for shape in ["circle", "circle", "heart"] {
        let (s, _) = server
            .post_json(
                "/api/drawings",
                &token,
                &sample_drawing(Uuid::new_v4(), shape),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (status, stats) = server.get_json("/api/user/stats", &token).await;
    assert_eq!(status, 200);
    let per_shape: BTreeMap<String, u64> =
        serde_json::from_value(stats["per_shape"].clone()).unwrap();
    assert_eq!(per_shape["circle"], 2);
    assert_eq!(per_shape["heart"], 1);
    assert_eq!(per_shape["line"], 0);
    assert_eq!(stats["total"], 3);
    assert_eq!(stats["streak_days"], 1);
    let (status, e) = server.get_json("/api/user/stats", "not-a-session").await;
    assert_eq!(
        (status, e["error"]["code"].clone()),
        (401, json!("unauthorized"))
    );
    let r = server
        .client
        .get(server.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.finish().await;
}

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A drawing whose points start at `start` (device clock, ms since the epoch).
fn drawing_at(shape: &str, start: i64) -> Value {
    let mut d = sample_drawing(Uuid::new_v4(), shape);
    for (i, p) in d["strokes"][0]["points"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        p["timestamp"] = json!(start + i64::try_from(i).unwrap() * 16);
    }
    d
}

/// Uploads drawings made `days_ago` (real days) on a device whose clock is `skew` ms off,
/// as one batch sent now on that device's clock.
async fn upload_days(server: &TestServer, token: &str, days_ago: &[i64], skew: i64) -> Value {
    let now = now_ms();
    let drawings: Vec<Value> = days_ago
        .iter()
        .map(|d| drawing_at("circle", now - d * DAY + skew))
        .collect();
    let (s, r) = server
        .post_json(
            "/api/drawings/batch",
            token,
            &json!({"drawings": drawings, "sent_at": now + skew}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    for item in r["results"].as_array().unwrap() {
        assert_eq!(item["status"], 201, "{item}");
    }
    r
}

async fn streaks_count_days_on_server_corrected_time(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Made offline today, yesterday and the day before, synced now: a 3-day streak, with
    // the device clock right, 3 days ahead, or set to 2019.
    let in_2019 = 1_550_000_000_000 - now_ms();
    for (skew, label) in [(0, "right"), (3 * DAY, "3 days ahead"), (in_2019, "2019")] {
        let (_, token) = server.session().await;
        upload_days(&server, &token, &[2, 1, 0], skew).await;
        let (s, stats) = server.get_json("/api/user/stats", &token).await;
        assert_eq!(s, 200, "{stats}");
        assert_eq!(stats["streak_days"], 3, "clock {label}: {stats}");
        assert_eq!(stats["longest_streak_days"], 3, "clock {label}: {stats}");
        assert_eq!(stats["days_active"], 3, "clock {label}: {stats}");
        assert_eq!(stats["total"], 3);
        let unlocked: Vec<&str> = stats["achievements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["unlocked"] == true)
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(unlocked, ["first-drawing", "streak-3"], "clock {label}");
    }
    // A device clock 3 days ahead cannot fake a streak: drawings made now count for today
    // only, however the device dates them.
    let (_, token) = server.session().await;
    let now = now_ms();
    let ahead: Vec<Value> = (0..3)
        .map(|d| drawing_at("square", now + d * DAY))
        .collect();
    let (s, _) = server
        .post_json(
            "/api/drawings/batch",
            &token,
            &json!({"drawings": ahead, "sent_at": now}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, stats) = server.get_json("/api/user/stats", &token).await;
    assert_eq!(
        (stats["streak_days"].clone(), stats["days_active"].clone()),
        (json!(1), json!(1)),
        "{stats}"
    );
    // Without the device clock (no sent_at) drawings are dated by their receipt.
    let (_, token) = server.session().await;
    let old: Vec<Value> = [2, 1]
        .iter()
        .map(|d| drawing_at("line", now - d * DAY))
        .collect();
    let (s, _) = server
        .post_json("/api/drawings/batch", &token, &json!({"drawings": old}))
        .await;
    assert_eq!(s, 200);
    let (_, stats) = server.get_json("/api/user/stats", &token).await;
    assert_eq!(stats["streak_days"], 1, "{stats}");
    // A time zone moves day boundaries; a bad one is refused by name.
    let (s, e) = server
        .get_json("/api/user/stats?utc_offset_min=900", &token)
        .await;
    assert_eq!(
        (s, e["error"]["field"].clone()),
        (422, json!("utc_offset_min"))
    );
    let (s, e) = server
        .get_json("/api/user/stats?utc_offset_min=abc", &token)
        .await;
    assert_eq!(
        (s, e["error"]["field"].clone()),
        (400, json!("utc_offset_min"))
    );
    let (s, stats) = server
        .get_json("/api/user/stats?utc_offset_min=-300", &token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(stats["today"].as_str().unwrap().len(), 10);
    server.finish().await;
}

async fn accounts_link_sessions_across_devices(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, phone) = server.session().await;
    let (_, laptop) = server.session().await;
    upload_days(&server, &phone, &[1, 0], 0).await;
    upload_days(&server, &laptop, &[0], 0).await;
    let creds = json!({"username": "ada", "password": "lovelace-1815"});
    // Bad names and passwords are refused by field; nothing is created.
    for (body, field) in [
        (
            json!({"username": "a", "password": "lovelace-1815"}),
            "username",
        ),
        (
            json!({"username": "ada lovelace", "password": "lovelace-1815"}),
            "username",
        ),
        (json!({"username": "ada", "password": "short"}), "password"),
    ] {
        let (s, e) = server.post_json("/api/auth/signup", &phone, &body).await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (422, json!(field)),
            "{body}"
        );
    }
    let (s, e) = server
        .post_json("/api/auth/signup", &phone, &json!({"username": "ada"}))
        .await;
    assert_eq!((s, e["error"]["field"].clone()), (400, json!("password")));
    let (s, e) = server.post_json("/api/auth/signup", "nope", &creds).await;
    assert_eq!(s, 401, "{e}");
    let (s, account) = server.post_json("/api/auth/signup", &phone, &creds).await;
    assert_eq!(s, 201, "{account}");
    assert_eq!(account["username"], "ada");
    // The account's password is stored as an argon2id hash.
    let db = server.db().await;
    let (_, hash, role) = db.user_for_login("ada").await.unwrap().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_eq!(role, "player");
    let (s, e) = server.post_json("/api/auth/signup", &laptop, &creds).await;
    assert_eq!((s, e["error"]["field"].clone()), (409, json!("username")));
    // Before signing in on the laptop, its progress is its own.
    let (_, stats) = server.get_json("/api/user/stats", &laptop).await;
    assert_eq!(stats["total"], 1);
    assert!(stats.get("username").is_none());
    let (s, e) = server
        .post_json(
            "/api/auth/link",
            &laptop,
            &json!({"username": "ada", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(s, 401, "{e}");
    let (s, linked) = server.post_json("/api/auth/link", &laptop, &creds).await;
    assert_eq!(s, 200, "{linked}");
    // Progress follows the player: both devices see both devices' drawings.
    for token in [&phone, &laptop] {
        let (_, stats) = server.get_json("/api/user/stats", token).await;
        assert_eq!(stats["total"], 3, "{stats}");
        assert_eq!(stats["per_shape"]["circle"], 3);
        assert_eq!(stats["streak_days"], 2);
        assert_eq!(stats["username"], "ada");
    }
    let admin = server.admin_token().await;
    let (_, stats) = server.get_json("/api/admin/stats", &admin).await;
    assert_eq!(stats["contributing_sessions"], 2);
    assert_eq!(stats["contributing_players"], 1);
    // An admin account cannot be linked to a player session.
    let hash = inkset_server::players::auth::hash_password("correct horse battery").unwrap();
    assert!(db.create_user("boss", &hash, "admin").await.unwrap());
    let (s, e) = server
        .post_json(
            "/api/auth/link",
            &phone,
            &json!({"username": "boss", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].clone()),
        (422, json!("username")),
        "{e}"
    );
    server.finish().await;
}

/// Imports the five raw files; waits until the quality scorer has scored everything.
async fn import_and_score(server: &TestServer, admin: &str) -> Value {
    for f in raw_files() {
        let (status, r) = server
            .post_raw("/api/admin/import", admin, std::fs::read(f).unwrap())
            .await;
        assert_eq!(status, 200, "{r}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, stats) = server.get_json("/api/admin/stats", admin).await;
        if stats["quality"]["unscored"] == 0 {
            return stats;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "scoring stalled: {stats}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn count(server: &TestServer, admin: &str, query: &str) -> u64 {
    let (status, v) = server
        .get_json(&format!("/api/admin/drawings/count?{query}"), admin)
        .await;
    assert_eq!(status, 200, "{query}: {v}");
    v["count"].as_u64().unwrap()
}

/// Every page of a listing, following `next_cursor`.
async fn all_pages(server: &TestServer, admin: &str, query: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/admin/drawings?{query}&limit=37");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, page) = server.get_json(&path, admin).await;
        assert_eq!(status, 200, "{path}: {page}");
        rows.extend(page["drawings"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return rows,
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn export(server: &TestServer, admin: &str, body: &Value) -> (Value, Vec<u8>) {
    let (status, job) = server.post_json("/api/admin/exports", admin, body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let job = loop {
        let (_, job) = server
            .get_json(&format!("/api/admin/exports/{id}"), admin)
            .await;
        match job["status"].as_str() {
            Some("completed") => break job,
            Some("running") => {}
            _ => panic!("export failed: {job}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "export stalled: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let r = server
        .client
        .get(server.url(&format!("/api/admin/exports/{id}/download")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(job["file_name"].as_str().unwrap())
    );
    let bytes = r.bytes().await.unwrap().to_vec();
    assert_eq!(job["bytes"].as_u64(), Some(bytes.len() as u64));
    (job, bytes)
}

async fn console_filters_sorts_bulk_and_exports(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let stats = import_and_score(&server, &admin).await;
    let total = stats["total"].as_u64().unwrap();
    assert_eq!(total, 266);

    // Counts per filter agree with the statistics.
    assert_eq!(count(&server, &admin, "").await, total);
    assert_eq!(count(&server, &admin, "shape=circle").await, 45);
    assert_eq!(count(&server, &admin, "device=none").await, total);
    assert_eq!(count(&server, &admin, "device=pen").await, 0);
    // No recognizer in production: nothing judged.
    assert_eq!(count(&server, &admin, "verdict=unjudged").await, total);
    assert_eq!(count(&server, &admin, "verdict=agrees").await, 0);

    // Quality order, lowest first, paged: every scored drawing once, never decreasing.
    let rows = all_pages(&server, &admin, "sort=quality_asc").await;
    assert_eq!(rows.len() as u64, total);
    let q: Vec<f64> = rows
        .iter()
        .map(|r| r["quality_score"].as_f64().unwrap())
        .collect();
    assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, total);
    let rows = all_pages(&server, &admin, "sort=quality_desc&shape=line").await;
    assert_eq!(rows.len(), 114);
    assert!(
        rows.windows(2)
            .all(|w| w[0]["quality_score"].as_f64() >= w[1]["quality_score"].as_f64())
    );
    let rows = all_pages(&server, &admin, "sort=oldest&shape=square").await;
    assert_eq!(rows.len(), 46);

    // Thumbnails: simplified strokes within 0..=255.
    let (_, page) = server
        .get_json(
            "/api/admin/drawings?shape=triangle&limit=5&thumbnails=true",
            &admin,
        )
        .await;
    for d in page["drawings"].as_array().unwrap() {
        let strokes = d["thumbnail"].as_array().unwrap();
        assert!(!strokes.is_empty());
        assert_eq!(strokes[0].as_array().unwrap().len(), 2);
        assert!(!strokes[0][0].as_array().unwrap().is_empty());
    }
    let (_, page) = server.get_json("/api/admin/drawings?limit=1", &admin).await;
    assert!(page["drawings"][0].get("thumbnail").is_none());

    // Bad parameters are named.
    for (query, field) in [
        ("colour=red", "colour"),
        ("quality_min=2", "quality_min"),
        ("device=stylus", "device"),
        ("verdict=maybe", "verdict"),
        ("sort=random", "sort"),
        ("sort=quality_asc&cursor=12_x", "cursor"),
    ] {
        let (status, v) = server
            .get_json(&format!("/api/admin/drawings?{query}"), &admin)
            .await;
        assert!(status == 400 || status == 422, "{query}: {status} {v}");
        assert_eq!(v["error"]["field"], field, "{query}: {v}");
    }

    // Bulk by filter: the count the console confirms is what changes. Without a
    // recognizer every score is at most 0.5 (the model factor's "no opinion").
    let squares = count(&server, &admin, "shape=square&quality_max=0.5").await;
    assert_eq!(squares, 46);
    // A confirmation that no longer holds (the filter matches another count) changes nothing.
    let (status, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "filter": {"shape": "square", "quality_max": 0.5},
                    "expected_count": squares - 1}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (409, json!("expected_count")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains(&format!(
            "now matches {squares} drawings, not the {}",
            squares - 1
        )),
        "{v}"
    );
    assert_eq!(
        count(&server, &admin, "flagged=true").await,
        0,
        "nothing flagged"
    );
    let (status, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "ids": [Uuid::new_v4()], "expected_count": 1}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (422, json!("expected_count"))
    );
    let (status, r) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "filter": {"shape": "square", "quality_max": 0.5},
                    "expected_count": squares, "reason": "low"}),
        )
        .await;
    assert_eq!(
        (status, r["affected"].as_u64()),
        (200, Some(squares)),
        "{r}"
    );
    let (_, stats) = server.get_json("/api/admin/stats", &admin).await;
    assert_eq!(stats["flagged"].as_u64(), Some(squares));
    assert_eq!(stats["flagged_per_shape"]["square"].as_u64(), Some(squares));
    assert_eq!(count(&server, &admin, "flagged=true").await, squares);
    let (status, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "filter": {"shape": "line"}, "ids": [Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (422, json!("filter"))
    );
    let (status, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "remove", "filter": {"quality_min": 7}}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (422, json!("filter.quality_min"))
    );
    assert_eq!(count(&server, &admin, "").await, total, "nothing removed");

    // Exports and training snapshots read locations a page at a time by keyset
    // (received_at, id): small pages give exactly the one-query listing, in order, even
    // across rows received in the same millisecond.
    let db = server.db().await;
    let lines = inkset_protocol::api::DrawingFilter {
        shape: Some("line".into()),
        ..Default::default()
    };
    let all = db
        .locations_page(&lines, None, None, 1_000_000)
        .await
        .unwrap();
    assert!(all.len() > 30, "{}", all.len());
    assert!(
        all.windows(2).any(|w| w[0].1 == w[1].1),
        "no two drawings share a millisecond: the id tie-break is untested"
    );
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = db.locations_page(&lines, None, after, 7).await.unwrap();
        after = page.last().map(|(id, t, _)| (*t, *id));
        let n = page.len();
        paged.extend(page);
        if n < 7 {
            break;
        }
    }
    let key = |v: &[(Uuid, i64, inkset_server::drawings::sql::RecordLocation)]| {
        v.iter().map(|(id, t, _)| (*t, *id)).collect::<Vec<_>>()
    };
    assert_eq!(key(&paged), key(&all));
    assert!(
        key(&all).windows(2).all(|w| w[0].0 <= w[1].0),
        "oldest first"
    );
    // A word list (a training snapshot read in one pass) is the union of its words' pages,
    // in the same order; an empty list keeps nothing.
    let any = inkset_protocol::api::DrawingFilter::default();
    let words = ["line".to_owned(), "circle".to_owned()];
    let both = db
        .locations_page(&any, Some(&words), None, 1_000_000)
        .await
        .unwrap();
    let circles = db
        .locations_page(
            &inkset_protocol::api::DrawingFilter {
                shape: Some("circle".into()),
                ..Default::default()
            },
            None,
            None,
            1_000_000,
        )
        .await
        .unwrap();
    assert!(!circles.is_empty());
    let mut union = key(&all);
    union.extend(key(&circles));
    union.sort();
    assert_eq!(key(&both), union);
    assert!(
        db.locations_page(&any, Some(&[]), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The training dialog's plan: drawings per shape, unflagged only, nothing queued.
    let (status, plan) = server
        .post_json(
            "/api/admin/training/plan",
            &admin,
            &json!({"config": {"shapes": ["circle", "line", "square"], "include_unknown": false}}),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["plan"]["counts"], json!({"circle": 45, "line": 114}));
    assert_eq!(plan["plan"]["classes"], json!(["circle", "line"]));
    assert!(
        plan["warnings"][0].as_str().unwrap().contains("square"),
        "{plan}"
    );
    assert_eq!(plan["error"], Value::Null);
    let (_, jobs) = server.get_json("/api/admin/training", &admin).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0);
    let (status, v) = server
        .post_json(
            "/api/admin/training/plan",
            &admin,
            &json!({"config": {"epochs": 0}}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (422, json!("config.epochs"))
    );

    // Exports: each format, read back.
    let (job, raw) = export(
        &server,
        &admin,
        &json!({"format": "quickdraw_raw", "filter": {"shape": "circle"}}),
    )
    .await;
    assert_eq!(job["done"], 45);
    assert_eq!(job["file_name"], "inkset-circle-quickdraw_raw.ndjson");
    let originals: HashMap<String, String> = raw_files()
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|l| {
            let v: Value = serde_json::from_str(&l).unwrap();
            (v["key_id"].as_str().unwrap().to_owned(), l)
        })
        .collect();
    let lines: Vec<&str> = std::str::from_utf8(&raw).unwrap().lines().collect();
    assert_eq!(lines.len(), 45);
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(
            originals[v["key_id"].as_str().unwrap()],
            *l,
            "byte for byte"
        );
    }
    let (_, simplified) = export(
        &server,
        &admin,
        &json!({"format": "quickdraw_simplified", "filter": {"shape": "circle"}}),
    )
    .await;
    for l in std::str::from_utf8(&simplified).unwrap().lines() {
        let r = inkset_protocol::quickdraw::Record::parse_line(l).unwrap();
        assert!(r.is_simplified(), "{l}");
    }
    let (_, stroke3) = export(
        &server,
        &admin,
        &json!({"format": "stroke3", "filter": {"shape": "square"}}),
    )
    .await;
    let s3: Vec<Value> = std::str::from_utf8(&stroke3)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(s3.len(), 46);
    for v in &s3 {
        let rows = v["strokes"].as_array().unwrap();
        let id = Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
        let (_, detail) = server
            .get_json(&format!("/api/admin/drawings/{id}"), &admin)
            .await;
        let strokes = detail["drawing"]["strokes"].as_array().unwrap().len();
        let lifts = rows.iter().filter(|r| r[2] == 1).count();
        assert_eq!(lifts, strokes, "one pen lift per stroke");
        assert_eq!(rows.last().unwrap()[2], 1);
        // Offsets add up to absolute positions inside the simplified 0..=255 box.
        let (mut x, mut y) = (0i64, 0i64);
        for r in rows {
            x += r[0].as_i64().unwrap();
            y += r[1].as_i64().unwrap();
            assert!((0..=255).contains(&x) && (0..=255).contains(&y));
        }
    }
    let (job, tar_bytes) = export(
        &server,
        &admin,
        &json!({"format": "png", "filter": {"shape": "triangle"}, "raster_size": 28}),
    )
    .await;
    assert_eq!(job["file_name"], "inkset-triangle-png.tar");
    let mut archive = tar::Archive::new(std::io::Cursor::new(tar_bytes));
    let mut pngs = 0;
    let mut labels = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if name == "labels.csv" {
            labels = String::from_utf8(data).unwrap();
            continue;
        }
        assert!(
            name.starts_with("triangle/") && name.ends_with(".png"),
            "{name}"
        );
        let decoder = png::Decoder::new(std::io::Cursor::new(data));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (28, 28));
        pngs += 1;
    }
    assert_eq!(pngs, 61);
    assert_eq!(labels.lines().count(), 62);
    let (status, v) = server
        .post_json(
            "/api/admin/exports",
            &admin,
            &json!({"format": "stroke3", "raster_size": 28}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (422, json!("raster_size"))
    );
    let (status, v) = server
        .post_json("/api/admin/exports", &admin, &json!({"format": "svg"}))
        .await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (400, json!("format")),
        "{v}"
    );
    let (_, list) = server.get_json("/api/admin/exports", &admin).await;
    assert_eq!(list["exports"].as_array().unwrap().len(), 4);
    server.finish().await;
}
