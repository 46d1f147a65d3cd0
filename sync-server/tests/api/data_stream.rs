//! A training job's data stream (`GET /api/worker/jobs/{id}/data`), on both stacks: over
//! more drawings than one page of locations and many encoder batches, it is exactly the
//! job's snapshot — every unflagged, unremoved drawing of the job's words received before
//! the snapshot, once, oldest first — and each line is byte for byte the Quick, Draw! raw
//! line an export job writes for that drawing (an export reads segments one record after
//! another, the stream in parallel batches). Distractor words imported by the CLI while the
//! server runs reach it by its catalogue poll.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::common::{Backend, Cli, TestServer, sample_drawing, shared_data};

crate::on_both_backends!(data_stream_is_the_snapshot);

async fn data_stream_is_the_snapshot(backend: Backend) {
    // No in-process trainer: the test's worker token claims the job.
    let server = TestServer::start_with(backend, |s| s.training.in_process = false).await;
    let admin = server.admin_token().await;
    // More than one page of locations (dataset::LOCATION_PAGE = 10,000).
    server.generate(10_600, 11, Some(30));
    // Distractor words: the unknown class.
    let distractors = shared_data().join("quickdraw/raw/distractors");
    let out = server.cli(
        &[
            "import",
            "--distractors",
            &distractors.display().to_string(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Player drawings: no source timestamp, so the line carries the receive time.
    let (_, player) = server.session().await;
    for shape in ["circle", "square", "line"] {
        let (status, v) = server
            .post_json(
                "/api/drawings",
                &player,
                &sample_drawing(Uuid::new_v4(), shape),
            )
            .await;
        assert_eq!(status, 201, "{v}");
    }
    // Curation the snapshot must leave out: flagged and removed drawings.
    let (_, page) = server
        .get_json("/api/admin/drawings?limit=60&sort=oldest", &admin)
        .await;
    let ids: Vec<String> = page["drawings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    for body in [
        json!({"action": "flag", "ids": ids[..20], "reason": "test"}),
        json!({"action": "remove", "ids": ids[20..40]}),
    ] {
        let (status, r) = server
            .post_json("/api/admin/drawings/bulk", &admin, &body)
            .await;
        assert_eq!(status, 200, "{r}");
    }

    // The running server learns of the CLI's distractor words by its catalogue poll
    // (`inference.alias_poll_ms`, 2 s), as a replica learns of another's.
    let config = json!({"config": {"epochs": 1, "shapes": ["circle", "line"]}});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, plan) = server
            .post_json("/api/admin/training/plan", &admin, &config)
            .await;
        assert_eq!(status, 200, "{plan}");
        if plan["plan"]["classes"] == json!(["circle", "line", "unknown"]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the distractor words never reached the server: {plan}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Two shapes and the distractors (the unknown class).
    let (status, job) = server
        .post_json("/api/admin/training/start", &admin, &config)
        .await;
    assert_eq!(status, 201, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    let classes: Vec<String> = job["plan"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(classes, ["circle", "line", "unknown"], "{job}");
    let snapshot_at = job["plan"]["snapshot_at"].as_i64().unwrap();
    // Received after the snapshot: not in it.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, v) = server
        .post_json(
            "/api/drawings",
            &player,
            &sample_drawing(Uuid::new_v4(), "circle"),
        )
        .await;
    assert_eq!(status, 201, "{v}");

    let db = server.db().await;
    let words: Vec<String> =
        sqlx::query("SELECT name FROM shapes WHERE kind = 'distractor' ORDER BY name")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("name"))
            .collect();
    assert!(!words.is_empty(), "no distractor words");
    // The class a word trains, "" for none of the job's.
    let word_class = |w: &str| -> String {
        match w {
            "circle" | "line" => w.to_owned(),
            _ if words.iter().any(|d| d == w) => "unknown".to_owned(),
            _ => String::new(),
        }
    };

    // The expected lines: an export job of every unflagged drawing received before the
    // snapshot, kept to the job's words.
    let (_, exported) = crate::export(
        &server,
        &admin,
        &json!({"format": "quickdraw_raw", "filter": {"flagged": false, "to": snapshot_at}}),
    )
    .await;
    let expected: Vec<&str> = std::str::from_utf8(&exported)
        .unwrap()
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            !word_class(v["word"].as_str().unwrap()).is_empty()
        })
        .collect();
    assert!(expected.len() > 2_000, "{}", expected.len());

    // A worker claims the job and reads its stream.
    let (status, token) = server
        .post_json(
            "/api/admin/worker-tokens",
            &admin,
            &json!({"name": "stream"}),
        )
        .await;
    assert_eq!(status, 201, "{token}");
    let worker = token["token"].as_str().unwrap().to_owned();
    let (status, claim) = server
        .post_json("/api/worker/claim", &worker, &json!({"worker": "stream"}))
        .await;
    assert_eq!(status, 200, "{claim}");
    assert_eq!(claim["id"].as_str(), Some(job_id.as_str()));
    let attempt = claim["attempt"].as_u64().unwrap();
    let r = server
        .client
        .get(server.url(&format!("/api/worker/jobs/{job_id}/data?attempt={attempt}")))
        .bearer_auth(&worker)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let body = r.bytes().await.unwrap();
    let streamed: Vec<&str> = std::str::from_utf8(&body).unwrap().lines().collect();

    assert_eq!(streamed.len(), expected.len());
    for (i, (s, e)) in streamed.iter().zip(&expected).enumerate() {
        assert_eq!(s, e, "line {i} differs");
    }
    // Per class, the plan's counts.
    let mut per_class: BTreeMap<String, u64> = BTreeMap::new();
    for l in &streamed {
        let v: Value = serde_json::from_str(l).unwrap();
        *per_class
            .entry(word_class(v["word"].as_str().unwrap()))
            .or_default() += 1;
    }
    let plan: BTreeMap<String, u64> =
        serde_json::from_value(job["plan"]["counts"].clone()).unwrap();
    assert_eq!(per_class, plan);
}
