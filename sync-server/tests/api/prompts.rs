//! Prompts chosen by what the model needs, on both stacks and real data: a recognizer
//! trained briefly on the Quick, Draw! drawings confuses some shapes; the shape it does worst
//! on gets a larger share of the prompts than random prompting gives it, and players are
//! dealt it more often, while every cycle still holds every shape (the one without drawings
//! included) and the plan says why.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::common::{Backend, Cli, TestServer};

crate::on_both_backends!(prompts_follow_the_models_errors);

async fn plan(server: &TestServer, admin: &str, query: &str) -> Value {
    let (s, v) = server
        .get_json(&format!("/api/admin/prompts{query}"), admin)
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

#[allow(clippy::cast_precision_loss, clippy::too_many_lines)]
async fn prompts_follow_the_models_errors(backend: Backend) {
    // The need is the model's error alone here, so the test reads one term.
    let server = TestServer::start_with(backend, |s| s.prompts.rarity_weight = 0.0).await;
    let admin = server.admin_token().await;
    crate::import_raw(&server);
    let (session, player) = server.session().await;

    // Before any model: no error term, equal shares; every shape in every cycle.
    let before = plan(&server, &admin, "").await;
    assert_eq!(before["model_version"], Value::Null);
    let k = before["shapes"].as_array().unwrap().len();
    assert_eq!(k, 5, "{before}");
    for s in before["shapes"].as_array().unwrap() {
        assert!(
            (s["share"].as_f64().unwrap() - 1.0 / k as f64).abs() < 1e-9,
            "{s}"
        );
        assert!(
            s["reason"]
                .as_str()
                .unwrap()
                .contains("no production model"),
            "{s}"
        );
    }

    // A briefly trained recognizer, in production.
    let (s, job) = server
        .post_json(
            "/api/admin/training/start",
            &admin,
            &json!({"config": {"epochs": 2, "include_unknown": false}}),
        )
        .await;
    assert_eq!(s, 201, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let model = loop {
        let (_, j) = server
            .get_json(&format!("/api/admin/training/{id}"), &admin)
            .await;
        match j["status"].as_str() {
            Some("completed") => break j["model_id"].as_str().unwrap().to_owned(),
            Some("pending" | "running") => {}
            _ => panic!("training failed: {j}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "training stalled: {j}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let (s, v) = server
        .post_json(
            &format!("/api/admin/models/{model}/activate"),
            &admin,
            &json!({}),
        )
        .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let active = loop {
        let p = plan(&server, &admin, "").await;
        if !p["model_version"].is_null() {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the plan never saw the model: {p}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(active["policy"], "active");
    let random = plan(&server, &admin, "?policy=random").await;
    let shapes = active["shapes"].as_array().unwrap();
    // The shape the model does worst on (heart has no drawings: not in the model).
    let worst = shapes
        .iter()
        .filter(|s| !s["f1"].is_null())
        .min_by(|a, b| {
            a["f1"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["f1"].as_f64().unwrap())
        })
        .unwrap();
    let worst_name = worst["shape"].as_str().unwrap().to_owned();
    let f1 = worst["f1"].as_f64().unwrap();
    assert!(
        f1 < 1.0,
        "a model this brief still confuses something: {active}"
    );
    let share = worst["share"].as_f64().unwrap();
    let random_share = random["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shape"] == worst_name.as_str())
        .unwrap()["share"]
        .as_f64()
        .unwrap();
    assert!((random_share - 1.0 / k as f64).abs() < 1e-9);
    assert!(
        share > random_share,
        "{worst_name}: active {share} vs random {random_share}"
    );
    assert!(worst["reason"].as_str().unwrap().contains("F1"), "{worst}");
    let heart = shapes.iter().find(|s| s["shape"] == "heart").unwrap();
    assert!(heart["f1"].is_null());
    assert!(
        heart["share"].as_f64().unwrap() >= 1.0 / (2 * k) as f64 - 1e-9,
        "{heart}"
    );

    // Players are dealt it more often than random prompting would, in whole cycles of every
    // shape. With four shapes in the model and need from errors alone, the worst one's share
    // is at least (1 + 5/4) / 10 = 0.225 against random's 0.2; over 5,000 prompts a share's
    // standard deviation is under 0.006.
    let cycle = active["cycle"].as_u64().unwrap() as usize;
    assert_eq!(cycle, 2 * k);
    let mut dealt = Vec::new();
    for _ in 0..50 {
        let (s, d) = server
            .get_json(&format!("/api/prompts?count={}", cycle * 10), &player)
            .await;
        assert_eq!(s, 200, "{d}");
        assert_eq!(d["policy"], "active");
        let prompts: Vec<String> = d["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(prompts.len(), cycle * 10);
        for c in prompts.chunks(cycle) {
            let mut seen: Vec<&String> = c.iter().collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), k, "a cycle without every shape: {c:?}");
        }
        dealt.extend(prompts);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &dealt {
        *counts.entry(p.as_str()).or_default() += 1;
    }
    let freq = counts[worst_name.as_str()] as f64 / dealt.len() as f64;
    assert!(share >= 0.225 - 1e-9, "{share}");
    assert!(
        freq > random_share,
        "{worst_name} dealt {freq:.3} of the time, random share {random_share:.3}: {counts:?}"
    );
    assert!((freq - share).abs() < 0.02, "{freq} vs planned {share}");
    // Recorded per session, in order, and counted in the plan.
    let after = plan(&server, &admin, &format!("?session={session}")).await;
    assert_eq!(
        after["dealt"][worst_name.as_str()].as_u64().unwrap() as usize,
        counts[worst_name.as_str()]
    );
    assert_eq!(after["session_prompts"], json!(dealt));
    // Bad counts are refused by name; a session token is needed.
    for (q, status) in [
        ("count=0", 422),
        ("count=101", 422),
        ("count=x", 400),
        ("colour=1", 400),
    ] {
        let (s, e) = server.get_json(&format!("/api/prompts?{q}"), &player).await;
        assert_eq!(s, status, "{q}: {e}");
    }
    let (s, _) = server.get_json("/api/prompts", &admin).await;
    assert_eq!(s, 403);
    server.finish().await;
}
