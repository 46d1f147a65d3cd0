//! Contributor quality on both stacks: `GET /api/admin/contributors` against a direct
//! computation over the stored drawing rows, the automatic review mark of a scribbler, the
//! sorts and the query errors, the bulk action on one contributor (exactly its drawings
//! change), and a training plan that leaves out contributors below a quality threshold.
//!
//! The drawings are real ones from `../shared/data/quickdraw/raw`, uploaded with their
//! recorded stroke timing by three contributors: a player account signed in on two
//! devices, an anonymous session drawing at a human pace, and an anonymous session
//! scribbling through prompts every two seconds.

use std::collections::{BTreeMap, BTreeSet};

use inkset_server::curation::sql::Scored;
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::common::{Backend, Cli, TestServer, shared_data};

crate::on_both_backends!(contributor_numbers_marks_and_bulk_action);

/// The first `n` recorded drawings of `shape` (Quick, Draw! raw: `[[x...], [y...], [t...]]`
/// per stroke, t in ms from the first point), as uploads whose first point is at `start`
/// ms and whose prompt was shown `prompt_ms` before it.
fn real_uploads(shape: &str, n: usize, start: i64, gap_ms: i64, prompt_ms: i64) -> Vec<Value> {
    let text = std::fs::read_to_string(shared_data().join(format!("quickdraw/raw/{shape}.ndjson")))
        .unwrap();
    text.lines()
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
                    let (xs, ys, ts) = (
                        s[0].as_array().unwrap(),
                        s[1].as_array().unwrap(),
                        s[2].as_array().unwrap(),
                    );
                    let points: Vec<Value> = (0..xs.len())
                        .map(|k| {
                            json!({
                                "x": xs[k], "y": ys[k], "pressure": 0.5,
                                "timestamp": t0 + ts[k].as_i64().unwrap(),
                            })
                        })
                        .collect();
                    json!({"points": points, "color": "#1d1d1f", "width": 4,
                           "pointer_type": "touch"})
                })
                .collect();
            json!({
                "id": Uuid::new_v4(),
                "shape": shape,
                "canvas": {"width": 1500, "height": 1500},
                "strokes": strokes,
                "duration_ms": 1500,
                "device": "touch",
                "user_agent": "inkset-tests",
                "device_pixel_ratio": 2,
                "prompt_to_first_point_ms": prompt_ms + i64::try_from(i).unwrap() * 37,
            })
        })
        .collect()
}

async fn upload(server: &TestServer, token: &str, drawings: Vec<Value>) -> Vec<Uuid> {
    let ids = drawings
        .iter()
        .map(|d| Uuid::parse_str(d["id"].as_str().unwrap()).unwrap())
        .collect();
    let (s, r) = server
        .post_json(
            "/api/drawings/batch",
            token,
            &json!({"drawings": drawings, "sent_at": now_ms()}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    for item in r["results"].as_array().unwrap() {
        assert_eq!(item["status"], 201, "{item}");
    }
    ids
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// One stored drawing, as the direct computation reads it.
struct Stored {
    contributor: String,
    player: bool,
    session: String,
    shape: String,
    quality: Option<f64>,
    flagged: bool,
    removed: bool,
    guess: Option<String>,
    drawn_at: i64,
    ttfp: Option<i64>,
}

async fn stored_rows(server: &TestServer) -> Vec<Stored> {
    let db = server.db().await;
    sqlx::query(
        "SELECT d.session_id, s.user_id, d.shape, d.quality_score, d.flagged, d.removed_at, \
         d.model_guess, d.drawn_at, d.prompt_to_first_point_ms \
         FROM drawings d JOIN sessions s ON s.id = d.session_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let session: String = r.get("session_id");
        let user: Option<String> = r.get("user_id");
        Stored {
            contributor: user.clone().unwrap_or_else(|| session.clone()),
            player: user.is_some(),
            session,
            shape: r.get("shape"),
            quality: r.get("quality_score"),
            flagged: r.get::<i64, _>("flagged") == 1,
            removed: r.get::<Option<i64>, _>("removed_at").is_some(),
            guess: r.get("model_guess"),
            drawn_at: r.get("drawn_at"),
            ttfp: r.get("prompt_to_first_point_ms"),
        }
    })
    .collect()
}

/// Each contributor's numbers computed in Rust from the rows, as JSON comparable with the
/// API's.
#[allow(clippy::cast_precision_loss)]
fn expected(rows: &[Stored]) -> BTreeMap<String, Value> {
    let mut by: BTreeMap<&str, Vec<&Stored>> = BTreeMap::new();
    for r in rows {
        by.entry(&r.contributor).or_default().push(r);
    }
    by.into_iter()
        .map(|(id, all)| {
            let live: Vec<&&Stored> = all.iter().filter(|r| !r.removed).collect();
            let n = live.len() as u64;
            let flagged = live.iter().filter(|r| r.flagged).count() as u64;
            let scores: Vec<f64> = live.iter().filter_map(|r| r.quality).collect();
            let judged: Vec<&&&Stored> = live.iter().filter(|r| r.guess.is_some()).collect();
            let agreed = judged
                .iter()
                .filter(|r| r.guess.as_deref() == Some(r.shape.as_str()))
                .count();
            let times: Vec<i64> = live.iter().map(|r| r.drawn_at).collect();
            let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
            let ttfp: Vec<i64> = live.iter().filter_map(|r| r.ttfp).collect();
            let sessions: BTreeSet<&str> = all.iter().map(|r| r.session.as_str()).collect();
            let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            let value = json!({
                "kind": if all[0].player { "player" } else { "session" },
                "sessions": sessions.len(),
                "drawings": n,
                "removed": all.len() as u64 - n,
                "flagged": flagged,
                "flagged_share": (n > 0).then(|| flagged as f64 / n as f64),
                "scored": scores.len(),
                "mean_quality": mean(&scores),
                "judged": judged.len(),
                "model_agreement": (!judged.is_empty()).then(|| agreed as f64 / judged.len() as f64),
                "drawings_per_minute": (n >= 2 && last > first)
                    .then(|| (n - 1) as f64 / ((last - first) as f64 / 60_000.0)),
                "mean_time_to_first_point_ms":
                    mean(&ttfp.iter().map(|&t| t as f64).collect::<Vec<_>>()),
                "first_drawn_at": first,
                "last_drawn_at": last,
            });
            (id.to_owned(), value)
        })
        .collect()
}

/// Whether two JSON values are equal, numbers within 1e-9 relative.
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

async fn contributors(server: &TestServer, admin: &str, query: &str) -> Value {
    let (s, v) = server
        .get_json(&format!("/api/admin/contributors?{query}"), admin)
        .await;
    assert_eq!(s, 200, "{query}: {v}");
    v
}

async fn contributor_numbers_marks_and_bulk_action(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let hour_ago = now_ms() - 3_600_000;

    // A player account on a phone and a laptop: 6 circles and 4 squares, 30 s apart.
    let (_, phone) = server.session().await;
    let (_, laptop) = server.session().await;
    let mut ada = upload(
        &server,
        &phone,
        real_uploads("circle", 6, hour_ago, 30_000, 900),
    )
    .await;
    let (s, account) = server
        .post_json(
            "/api/auth/signup",
            &phone,
            &json!({"username": "ada", "password": "lovelace-1815"}),
        )
        .await;
    assert_eq!(s, 201, "{account}");
    let (s, linked) = server
        .post_json(
            "/api/auth/link",
            &laptop,
            &json!({"username": "ada", "password": "lovelace-1815"}),
        )
        .await;
    assert_eq!(s, 200, "{linked}");
    ada.extend(
        upload(
            &server,
            &laptop,
            real_uploads("square", 4, hour_ago + 600_000, 30_000, 1_100),
        )
        .await,
    );
    // An anonymous player at a human pace: 8 triangles 25 s apart.
    let (steady_id, steady) = server.session().await;
    let steady_ids = upload(
        &server,
        &steady,
        real_uploads("triangle", 8, hour_ago + 100_000, 25_000, 1_400),
    )
    .await;
    // A scribbler: 15 "lines" 2 s apart.
    let (scribbler_id, scribbler) = server.session().await;
    let scribbles = upload(
        &server,
        &scribbler,
        real_uploads("line", 15, hour_ago + 200_000, 2_000, 150),
    )
    .await;

    // Scores and verdicts as a recognizer would store them (after the server's own scorer
    // has run without one, so it leaves them alone), then an admin's override, flags and a
    // removal.
    let db = server.db().await;
    let start = std::time::Instant::now();
    loop {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM drawings WHERE quality_model_id IS NULL")
                .fetch_one(db.pool())
                .await
                .unwrap()
                .get("n");
        if n == 0 {
            break;
        }
        assert!(start.elapsed().as_secs() < 60, "scoring stalled");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut scored = Vec::new();
    for (i, id) in ada.iter().enumerate() {
        let shape = if i < 6 { "circle" } else { "square" };
        scored.push(Scored {
            id: *id,
            score: 0.6 + 0.03 * i as f64,
            guess: Some(if i % 4 == 3 { "triangle" } else { shape }.to_owned()),
            confidence: Some(0.9),
        });
    }
    for (i, id) in steady_ids.iter().enumerate() {
        scored.push(Scored {
            id: *id,
            score: 0.7 + 0.02 * i as f64,
            guess: (i % 3 != 2).then(|| "triangle".to_owned()),
            confidence: Some(0.8),
        });
    }
    for (i, id) in scribbles.iter().enumerate() {
        scored.push(Scored {
            id: *id,
            score: 0.05 + 0.01 * i as f64,
            guess: Some(if i % 5 == 0 { "line" } else { "unknown" }.to_owned()),
            confidence: Some(0.7),
        });
    }
    db.set_quality(&scored, "none").await.unwrap();
    let (s, v) = server
        .put_json(
            &format!("/api/admin/drawings/{}/quality", steady_ids[0]),
            &admin,
            &json!({"score": 0.15}),
        )
        .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let (s, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "ids": &steady_ids[5..8], "reason": "smudged"}),
        )
        .await;
    assert_eq!((s, v["affected"].clone()), (200, json!(3)), "{v}");
    let (s, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "remove", "ids": [ada[1]]}),
        )
        .await;
    assert_eq!((s, v["affected"].clone()), (200, json!(1)), "{v}");
    // Imported drawings have no contributor.
    server.generate(40, 7, None);

    // The API's numbers equal the direct computation, for every contributor.
    let list = contributors(&server, &admin, "limit=1000").await;
    let want = expected(&stored_rows(&server).await);
    assert_eq!(want.len(), 3, "ada, steady, scribbler");
    assert_eq!(list["total"], 3, "{list}");
    let got = list["contributors"].as_array().unwrap();
    assert_eq!(got.len(), 3);
    for c in got {
        let id = c["id"].as_str().unwrap();
        let w = &want[id];
        for (field, value) in w.as_object().unwrap() {
            assert!(
                close(&c[field], value),
                "{id} {field}: {} != {value}",
                c[field]
            );
        }
    }
    let ada_row = got.iter().find(|c| c["kind"] == "player").unwrap();
    assert_eq!(ada_row["username"], "ada");
    assert_eq!(ada_row["sessions"], 2);
    assert_eq!(
        (ada_row["drawings"].clone(), ada_row["removed"].clone()),
        (json!(9), json!(1))
    );

    // Only the scribbler is marked for review, for the fast-and-low-quality rule.
    assert_eq!(list["marked_for_review"], 1, "{list}");
    let marked = contributors(&server, &admin, "marked=true").await;
    let marked = marked["contributors"].as_array().unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0]["id"], json!(scribbler_id));
    assert_eq!(
        marked[0]["review"][0]["rule"], "fast_and_low_quality",
        "{}",
        marked[0]
    );
    assert!(marked[0]["drawings_per_minute"].as_f64().unwrap() > 25.0);

    // Sorts, kinds and pages.
    let worst = contributors(&server, &admin, "sort=mean_quality&order=asc").await;
    let order: Vec<&str> = worst["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let steady_s = steady_id.to_string();
    let scribbler_s = scribbler_id.to_string();
    assert_eq!(order[0], scribbler_s);
    let most_flagged = contributors(&server, &admin, "sort=flagged_share").await;
    assert_eq!(most_flagged["contributors"][0]["id"], json!(steady_s));
    let players = contributors(&server, &admin, "kind=player").await;
    assert_eq!(players["total"], 1);
    assert_eq!(players["contributors"][0]["username"], "ada");
    let page2 = contributors(&server, &admin, "limit=2&offset=2").await;
    assert_eq!(page2["contributors"].as_array().unwrap().len(), 1);
    assert_eq!(page2["total"], 3);
    for (query, field, status) in [
        ("sort=loudest", "sort", 400),
        ("kind=robot", "kind", 400),
        ("limit=0", "limit", 422),
        ("limit=1001", "limit", 422),
        ("colour=red", "colour", 400),
    ] {
        let (s, e) = server
            .get_json(&format!("/api/admin/contributors?{query}"), &admin)
            .await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (status, json!(field)),
            "{query}: {e}"
        );
    }

    // Browse by contributor, then flag all of the scribbler's drawings in one action: exactly
    // those change.
    let count = |q: String| {
        let server = &server;
        let admin = &admin;
        async move {
            let (s, v) = server
                .get_json(&format!("/api/admin/drawings/count?{q}"), admin)
                .await;
            assert_eq!(s, 200, "{q}: {v}");
            v["count"].as_u64().unwrap()
        }
    };
    let ada_id = ada_row["id"].as_str().unwrap().to_owned();
    assert_eq!(count(format!("player={ada_id}")).await, 9);
    assert_eq!(count(format!("session={scribbler_id}")).await, 15);
    let flagged_before: BTreeSet<String> = flagged_ids(&server).await;
    let (s, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "filter": {"session": scribbler_id}, "expected_count": 15,
                    "reason": "scribbler"}),
        )
        .await;
    assert_eq!((s, v["affected"].clone()), (200, json!(15)), "{v}");
    let flagged_after = flagged_ids(&server).await;
    let newly: BTreeSet<String> = flagged_after.difference(&flagged_before).cloned().collect();
    let scribble_set: BTreeSet<String> = scribbles.iter().map(Uuid::to_string).collect();
    assert_eq!(newly, scribble_set);
    assert_eq!(flagged_after.len(), 3 + 15);

    // A training plan with a contributor quality threshold leaves out the low-quality
    // contributor's drawings and keeps everyone else's, imports included. Unflag the
    // scribbler first, so that the flag does not already exclude them.
    let (s, v) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "unflag", "filter": {"session": scribbler_id}, "expected_count": 15}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let plan = |config: Value| {
        let server = &server;
        let admin = &admin;
        async move {
            let (s, v) = server
                .post_json(
                    "/api/admin/training/plan",
                    admin,
                    &json!({"config": config}),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            v["plan"]["counts"].clone()
        }
    };
    let all = plan(json!({"include_unknown": false})).await;
    let kept = plan(json!({"include_unknown": false, "contributor_quality_min": 0.3})).await;
    for shape in ["circle", "square", "triangle", "heart"] {
        assert_eq!(kept[shape], all[shape], "{shape}: {kept} vs {all}");
    }
    assert_eq!(
        // A shape without usable drawings is not in the plan: 0.
        all["line"].as_u64().unwrap() - kept["line"].as_u64().unwrap_or(0),
        15,
        "{kept} vs {all}"
    );
    assert_eq!(
        count(format!(
            "contributor_quality_min=0.3&session={scribbler_id}"
        ))
        .await,
        0
    );
    let (s, e) = server
        .post_json(
            "/api/admin/training/plan",
            &admin,
            &json!({"config": {"contributor_quality_min": 2.0}}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].clone()),
        (422, json!("config.contributor_quality_min")),
        "{e}"
    );
    server.finish().await;
}

async fn flagged_ids(server: &TestServer) -> BTreeSet<String> {
    let db = server.db().await;
    sqlx::query("SELECT id FROM drawings WHERE flagged = 1")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("id"))
        .collect()
}
