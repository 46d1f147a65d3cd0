//! Dataset releases on both stacks: a release of the real Quick, Draw! drawings and players'
//! uploads holds exactly the drawings its filter matched (ids and content hashes, checked
//! against the rows), its manifest counts them per class and source, it does not change
//! when drawings are removed or added later, two releases diff per class with the ids, its
//! Parquet export is read back by pyarrow and DuckDB with the same rows, labels and strokes
//! as its Quick, Draw! raw export, and two training jobs on it train on the same drawings
//! and name it in their manifests.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::common::{Backend, Cli, TestServer, sample_drawing};

crate::on_both_backends!(releases_snapshot_diff_export_and_train);

async fn count(server: &TestServer, admin: &str, query: &str) -> u64 {
    let (s, v) = server
        .get_json(&format!("/api/admin/drawings/count?{query}"), admin)
        .await;
    assert_eq!(s, 200, "{query}: {v}");
    v["count"].as_u64().unwrap()
}

/// Uploads `n` circles for the session `token`; their ids.
async fn upload_circles(server: &TestServer, token: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = Uuid::new_v4();
        let (s, v) = server
            .post_json("/api/drawings", token, &sample_drawing(id, "circle"))
            .await;
        assert_eq!(s, 201, "{v}");
        ids.push(id.to_string());
    }
    ids
}

/// Waits for training job `id` to complete; its model's manifest.
async fn trained_manifest(server: &TestServer, admin: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let model = loop {
        let (_, job) = server
            .get_json(&format!("/api/admin/training/{id}"), admin)
            .await;
        match job["status"].as_str() {
            Some("completed") => break job["model_id"].as_str().unwrap().to_owned(),
            Some("pending" | "running") => {}
            _ => panic!("training failed: {job}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "training stalled: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let r = server
        .client
        .get(server.url(&format!("/api/admin/models/{model}/artifact/manifest.json")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Strokes `[[x...], [y...], [t...] or null]` with every coordinate as an f64.
fn strokes_f64(strokes: &Value) -> Value {
    let f = |a: &Value| -> Vec<f64> {
        a.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_f64().unwrap())
            .collect()
    };
    let out: Vec<Value> = strokes
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!([f(&s[0]), f(&s[1]), s.get(2).cloned().unwrap_or(Value::Null)]))
        .collect();
    json!(out)
}

/// `{key_id: (word, strokes)}` (strokes as [`strokes_f64`]) of a Quick, Draw! raw export.
fn raw_rows(ndjson: &[u8]) -> BTreeMap<String, (String, Value)> {
    std::str::from_utf8(ndjson)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (
                v["key_id"].as_str().unwrap().to_owned(),
                (
                    v["word"].as_str().unwrap().to_owned(),
                    strokes_f64(&v["drawing"]),
                ),
            )
        })
        .collect()
}

/// The same from one reader's rows of `read_parquet.py`.
fn parquet_rows(rows: &Value) -> BTreeMap<String, (String, Value)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key_id"].as_str().unwrap().to_owned(),
                (
                    r["word"].as_str().unwrap().to_owned(),
                    strokes_f64(&r["strokes"]),
                ),
            )
        })
        .collect()
}

#[allow(clippy::too_many_lines)]
async fn releases_snapshot_diff_export_and_train(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    crate::import_raw(&server);
    let (_, player) = server.session().await;
    upload_circles(&server, &player, 4).await;
    // One flagged drawing: the release's filter leaves flagged ones out.
    let (_, page) = server
        .get_json("/api/admin/drawings?shape=square&limit=1", &admin)
        .await;
    let flagged_id = page["drawings"][0]["id"].as_str().unwrap().to_owned();
    let (s, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "ids": [flagged_id]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // Cut r1: the unflagged drawings.
    let (s, r1) = server
        .post_json(
            "/api/admin/releases",
            &admin,
            &json!({"name": "shapes-r1", "description": "first cut", "filter": {"flagged": false}}),
        )
        .await;
    assert_eq!(s, 201, "{r1}");
    let m1 = &r1["manifest"];
    let expected_total = count(&server, &admin, "flagged=false").await;
    assert_eq!(m1["drawing_count"], expected_total);
    for shape in ["circle", "line", "square", "triangle"] {
        assert_eq!(
            m1["per_class"][shape],
            count(&server, &admin, &format!("flagged=false&shape={shape}")).await,
            "{shape}"
        );
    }
    assert_eq!(m1["per_source"]["inkset"], 4, "{m1}");
    assert_eq!(
        m1["per_source"]["quickdraw"].as_u64().unwrap() + 4,
        expected_total,
        "{m1}"
    );
    assert_eq!(m1["flagged"], 0);
    assert_eq!(m1["sessions"], 1);
    assert!(m1["license"].as_str().unwrap().contains("CC BY 4.0"));
    // The hash of the exact drawings, computed from the rows.
    let db = server.db().await;
    let mut rows: Vec<String> = sqlx::query(
        "SELECT id, content_hash FROM drawings WHERE flagged = 0 AND removed_at IS NULL",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        format!(
            "{} {}\n",
            r.get::<String, _>("id"),
            r.get::<String, _>("content_hash")
        )
    })
    .collect();
    rows.sort();
    let mut hash = Sha256::new();
    for r in &rows {
        hash.update(r);
    }
    assert_eq!(m1["ids_sha256"], hex::encode(hash.finalize()));
    let datasheet = r1["datasheet"].as_str().unwrap();
    for section in [
        "## Motivation",
        "## Composition",
        "## Collection process",
        "## Uses",
    ] {
        assert!(datasheet.contains(section), "{section}");
    }
    assert!(datasheet.contains("first cut"));
    let (s, got) = server
        .get_json("/api/admin/releases/shapes-r1", &admin)
        .await;
    assert_eq!((s, &got), (200, &r1));

    // Refused: a taken name, a bad name, an empty selection, an unknown release.
    for (body, status, field) in [
        (json!({"name": "shapes-r1"}), 409, "name"),
        (json!({"name": "Shapes R1"}), 422, "name"),
        (
            json!({"name": "none", "filter": {"shape": "heart"}}),
            422,
            "filter",
        ),
        (
            json!({"name": "x", "filter": {"quality_min": 3}}),
            422,
            "filter.quality_min",
        ),
        (json!({"name": "x", "colour": "red"}), 400, "colour"),
    ] {
        let (s, e) = server.post_json("/api/admin/releases", &admin, &body).await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (status, json!(field)),
            "{body}: {e}"
        );
    }
    let (s, _) = server.get_json("/api/admin/releases/nope", &admin).await;
    assert_eq!(s, 404);
    let (s, list) = server.get_json("/api/admin/releases", &admin).await;
    assert_eq!(s, 200);
    assert_eq!(list["releases"].as_array().unwrap().len(), 1, "{list}");

    // A release never changes: remove one of its drawings and add new ones.
    let (_, page) = server
        .get_json("/api/admin/drawings?shape=triangle&limit=1", &admin)
        .await;
    let removed_id = page["drawings"][0]["id"].as_str().unwrap().to_owned();
    let (s, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "remove", "ids": [removed_id]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let mut added = upload_circles(&server, &player, 3).await;
    added.sort();
    assert_eq!(
        count(&server, &admin, "release=shapes-r1").await,
        expected_total
    );

    // r2, and the diff r1 -> r2: 3 circles added, the triangle removed.
    let (s, r2) = server
        .post_json(
            "/api/admin/releases",
            &admin,
            &json!({"name": "shapes-r2", "filter": {"flagged": false}}),
        )
        .await;
    assert_eq!(s, 201, "{r2}");
    let (s, diff) = server
        .get_json("/api/admin/releases/shapes-r2/diff/shapes-r1", &admin)
        .await;
    assert_eq!(s, 200, "{diff}");
    assert_eq!(
        diff["total"],
        json!({"added": 3, "removed": 1, "kept": expected_total - 1})
    );
    assert_eq!(diff["per_class"]["circle"]["added"], 3);
    assert_eq!(diff["per_class"]["triangle"]["removed"], 1);
    assert_eq!(
        diff["per_class"]["line"],
        json!({"added": 0, "removed": 0, "kept": m1["per_class"]["line"]})
    );
    assert_eq!(diff["added_ids"], json!(added));
    assert_eq!(diff["removed_ids"], json!([removed_id]));
    let (s, back) = server
        .get_json("/api/admin/releases/shapes-r1/diff/shapes-r2", &admin)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        back["total"],
        json!({"added": 1, "removed": 3, "kept": expected_total - 1})
    );

    // The Parquet export of r1, read by pyarrow and DuckDB, against its Quick, Draw! raw
    // export.
    let filter = json!({"release": "shapes-r1"});
    let (job, parquet) = crate::export(
        &server,
        &admin,
        &json!({"format": "parquet", "filter": filter}),
    )
    .await;
    assert_eq!(job["total"], expected_total, "{job}");
    assert_eq!(&parquet[..4], b"PAR1");
    let (_, raw) = crate::export(
        &server,
        &admin,
        &json!({"format": "quickdraw_raw", "filter": filter}),
    )
    .await;
    let expected = raw_rows(&raw);
    assert_eq!(expected.len() as u64, expected_total);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r1.parquet");
    std::fs::write(&path, &parquet).unwrap();
    let out = std::process::Command::new(inkset_testkit::oip_python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/read_parquet.py"
        ))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    for reader in ["pyarrow", "duckdb"] {
        let got = parquet_rows(&read[reader]);
        assert_eq!(got.len(), expected.len(), "{reader}");
        for (key, want) in &expected {
            assert_eq!(got.get(key), Some(want), "{reader}: key_id {key}");
        }
    }

    // Two jobs on r1 train on the same drawings and name the release.
    let config = json!({"config": {"release": "shapes-r1", "epochs": 1,
                                   "shapes": ["circle", "square"], "include_unknown": false}});
    let (s, plan) = server
        .post_json("/api/admin/training/plan", &admin, &config)
        .await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["plan"]["counts"]["circle"], m1["per_class"]["circle"]);
    let mut manifests = Vec::new();
    for _ in 0..2 {
        let (s, job) = server
            .post_json("/api/admin/training/start", &admin, &config)
            .await;
        assert_eq!(s, 201, "{job}");
        manifests.push(trained_manifest(&server, &admin, job["id"].as_str().unwrap()).await);
    }
    for m in &manifests {
        assert_eq!(m["data"]["release"], "shapes-r1", "{}", m["data"]);
    }
    assert_eq!(
        manifests[0]["data"]["key_ids_sha256"],
        manifests[1]["data"]["key_ids_sha256"]
    );
    assert_eq!(
        manifests[0]["data"]["train_counts"],
        manifests[1]["data"]["train_counts"]
    );
    let per: u64 = manifests[0]["data"]["train_counts"]
        .as_array()
        .unwrap()
        .iter()
        .chain(manifests[0]["data"]["test_counts"].as_array().unwrap())
        .chain(
            manifests[0]["data"]["validation_counts"]
                .as_array()
                .unwrap(),
        )
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(
        per > 0
            && per
                <= m1["per_class"]["circle"].as_u64().unwrap()
                    + m1["per_class"]["square"].as_u64().unwrap()
    );
    for (config, field) in [
        (json!({"release": "nope"}), "config.release"),
        (
            json!({"release": "shapes-r1", "quality_min": 0.5}),
            "config.release",
        ),
    ] {
        let (s, e) = server
            .post_json(
                "/api/admin/training/start",
                &admin,
                &json!({"config": config}),
            )
            .await;
        assert_eq!((s, e["error"]["field"].clone()), (422, json!(field)), "{e}");
    }
    server.finish().await;
}
