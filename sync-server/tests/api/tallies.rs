//! The summary tables (`inkset_server::curation::tallies`) against the rows they count, on
//! both stacks: after generated volume spread over 90 days, player uploads, flags, a bulk
//! change, removals and score overrides, the counted facts equal a GROUP BY over the rows,
//! and every count the tallies answer (time ranges cutting days early and late included)
//! equals counting the rows; PostgreSQL's deltas fold into the counts without changing any
//! answer.

use inkset_protocol::api::DrawingFilter;
use inkset_server::curation::sql::FilterSql;
use inkset_server::curation::tallies::DAY_MS;
use inkset_server::db::{Db, query_with};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use crate::common::{Backend, Cli, TestServer, sample_drawing};

crate::on_both_backends!(tallies_equal_the_rows);

/// Every counted fact, summed over the rows, as sorted text lines.
async fn facts_from_rows(db: &Db) -> Vec<String> {
    let rows = sqlx::query(
        "SELECT CAST(received_at / 86400000 AS BIGINT) AS day, shape, origin, \
         COALESCE(device, '') AS device, COALESCE(pointer_types, '') AS pointer_types, flagged, \
         CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END AS removed, \
         CAST(CASE WHEN quality_score IS NULL THEN -1 WHEN quality_score >= 0.9 THEN 9 \
         WHEN quality_score >= 0.8 THEN 8 WHEN quality_score >= 0.7 THEN 7 \
         WHEN quality_score >= 0.6 THEN 6 WHEN quality_score >= 0.5 THEN 5 \
         WHEN quality_score >= 0.4 THEN 4 WHEN quality_score >= 0.3 THEN 3 \
         WHEN quality_score >= 0.2 THEN 2 WHEN quality_score >= 0.1 THEN 1 ELSE 0 END AS BIGINT) \
         AS quality_bin, COUNT(*) AS n FROM drawings GROUP BY 1, 2, 3, 4, 5, 6, 7, 8",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    facts(&rows)
}

/// The same from the tallies (counts plus pending deltas).
async fn facts_from_tallies(db: &Db) -> Vec<String> {
    let rows = sqlx::query(
        "SELECT day, shape, origin, device, pointer_types, flagged, removed, quality_bin, \
         CAST(SUM(n) AS BIGINT) AS n FROM (SELECT * FROM drawing_counts UNION ALL \
         SELECT * FROM drawing_count_deltas) t GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING SUM(n) <> 0",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    facts(&rows)
}

fn facts(rows: &[sqlx::any::AnyRow]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?} {:?} {} {} {} = {}",
                r.get::<i64, _>("day"),
                r.get::<String, _>("shape"),
                r.get::<String, _>("origin"),
                r.get::<String, _>("device"),
                r.get::<String, _>("pointer_types"),
                r.get::<i64, _>("flagged"),
                r.get::<i64, _>("removed"),
                r.get::<i64, _>("quality_bin"),
                r.get::<i64, _>("n"),
            )
        })
        .collect();
    out.sort();
    out
}

/// `filter` counted over the rows (what `count_drawings` did before the tallies).
async fn rows_matching(db: &Db, filter: &DrawingFilter) -> u64 {
    let mut sql = String::from("SELECT COUNT(*) AS n FROM drawings WHERE 1 = 1");
    let mut args = Vec::new();
    filter.push_sql(&mut sql, &mut args);
    let n: i64 = query_with(&sql, &args)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get("n");
    u64::try_from(n).unwrap()
}

/// Filters the tallies answer, and some they leave to the rows.
fn filters(first_day: i64) -> Vec<DrawingFilter> {
    let day = |d: i64| (first_day + d) * DAY_MS;
    let all = DrawingFilter::default();
    let mut out = vec![
        all.clone(),
        DrawingFilter {
            include_removed: true,
            ..all.clone()
        },
        DrawingFilter {
            shape: Some("heart".into()),
            ..all.clone()
        },
        DrawingFilter {
            flagged: Some(true),
            ..all.clone()
        },
        DrawingFilter {
            flagged: Some(false),
            shape: Some("circle".into()),
            ..all.clone()
        },
        DrawingFilter {
            device: Some("mouse".into()),
            ..all.clone()
        },
        DrawingFilter {
            device: Some("none".into()),
            ..all.clone()
        },
        DrawingFilter {
            origin: Some("api".into()),
            ..all.clone()
        },
        DrawingFilter {
            quality_min: Some(0.5),
            ..all.clone()
        },
        DrawingFilter {
            quality_min: Some(1.0),
            ..all.clone()
        },
        DrawingFilter {
            quality_max: Some(1.0),
            ..all.clone()
        },
        // Within a bin: the bins above from the tallies, the rest of its bin from the rows.
        DrawingFilter {
            quality_min: Some(0.55),
            ..all.clone()
        },
        DrawingFilter {
            quality_min: Some(0.45),
            from: Some(day(10) + 3_600_000),
            to: Some(day(40) + 7_200_000),
            shape: Some("circle".into()),
            ..all.clone()
        },
        DrawingFilter {
            quality_min: Some(0.95),
            ..all.clone()
        },
        // Outside the tallies' facts: counted over the rows.
        DrawingFilter {
            verdict: Some(inkset_protocol::api::Verdict::Agrees),
            ..all.clone()
        },
        DrawingFilter {
            quality_max: Some(0.5),
            ..all.clone()
        },
    ];
    // Time ranges: whole days, days cut early and late, within one day, open-ended.
    for (from, to) in [
        (Some(day(10)), Some(day(40))),
        (Some(day(10) + 3_600_000), Some(day(40) + 7_200_000)),
        (Some(day(10) + 80_000_000), Some(day(40) + 70_000_000)),
        (Some(day(20) + 1_000), Some(day(20) + 80_000_000)),
        (Some(day(30) + 5_000), None),
        (None, Some(day(30) + 5_000)),
        (None, Some(inkset_server::now_ms() + 1)),
        // Extremes a client may send: counted over the rows, never an overflow.
        (Some(i64::MIN), Some(i64::MAX)),
        (Some(-5), None),
        (None, Some(i64::MAX)),
    ] {
        out.push(DrawingFilter {
            from,
            to,
            ..all.clone()
        });
        out.push(DrawingFilter {
            from,
            to,
            shape: Some("square".into()),
            flagged: Some(false),
            ..all.clone()
        });
    }
    out
}

/// Waits until the background scorer has scored every drawing (it writes scores while the
/// checks count, and the rows and the tallies are read by separate statements).
async fn settle(server: &TestServer, admin: &str) {
    for _ in 0..600 {
        let (_, stats) = server.get_json("/api/admin/stats", admin).await;
        if stats["quality"]["unscored"] == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the scorer did not finish within 60 s");
}

async fn check(server: &TestServer, db: &Db, admin: &str, first_day: i64, when: &str) {
    settle(server, admin).await;
    assert_eq!(
        facts_from_tallies(db).await,
        facts_from_rows(db).await,
        "{when}: tallies differ from the rows"
    );
    for filter in filters(first_day) {
        let by_rows = rows_matching(db, &filter).await;
        let counted = db.count_drawings(&filter).await.unwrap();
        assert_eq!(counted, by_rows, "{when}: {filter:?}");
        // The same through the API's count route.
        let query = serde_urlencoded::to_string(&filter).unwrap();
        let (status, v) = server
            .get_json(&format!("/api/admin/drawings/count?{query}"), admin)
            .await;
        assert_eq!(status, 200, "{query}: {v}");
        assert_eq!(v["count"].as_u64(), Some(by_rows), "{when}: {query}");
    }
    // The dashboard adds up to the same.
    let (_, stats) = server.get_json("/api/admin/stats", admin).await;
    let total = rows_matching(db, &DrawingFilter::default()).await;
    assert_eq!(stats["total"].as_u64(), Some(total), "{when}");
    let per_day: u64 = stats["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["count"].as_u64().unwrap())
        .sum();
    assert_eq!(per_day, total, "{when}");
    let removed = rows_matching(
        db,
        &DrawingFilter {
            include_removed: true,
            ..DrawingFilter::default()
        },
    )
    .await
        - total;
    assert_eq!(stats["removed"].as_u64(), Some(removed), "{when}");
}

async fn tallies_equal_the_rows(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    server.generate(2000, 3, Some(90));
    let db = server.db().await;
    let first: i64 = sqlx::query("SELECT MIN(received_at) AS t FROM drawings")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get("t");
    let first_day = first / DAY_MS;

    // Player drawings (a device, pointer types, prompt times, a session).
    let (_, player) = server.session().await;
    for (i, shape) in ["circle", "heart", "line"].iter().enumerate() {
        for _ in 0..=i {
            let (status, v) = server
                .post_json(
                    "/api/drawings",
                    &player,
                    &sample_drawing(Uuid::new_v4(), shape),
                )
                .await;
            assert_eq!(status, 201, "{v}");
        }
    }
    check(&server, &db, &admin, first_day, "after ingest").await;

    // Curation: a bulk flag by filter, flags by id (twice: a new reason counts nothing),
    // an unflag, removals, score overrides in several bins.
    // The middle half of the triangles' receive times (the generator goes through the real
    // files in order, so each shape holds a stretch of the 90 days).
    let span = sqlx::query(
        "SELECT MIN(received_at) AS a, MAX(received_at) AS b FROM drawings WHERE shape = 'triangle'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    let (a, b): (i64, i64) = (span.get("a"), span.get("b"));
    let filter =
        json!({"shape": "triangle", "from": a + (b - a) / 4 + 1, "to": a + 3 * (b - a) / 4});
    let (status, r) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "flag", "filter": filter, "reason": "bulk"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert!(r["affected"].as_u64().unwrap() > 0, "{r}");
    let (_, page) = server
        .get_json("/api/admin/drawings?limit=40&sort=oldest", &admin)
        .await;
    let ids: Vec<String> = page["drawings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    for reason in ["first", "second"] {
        let (status, r) = server
            .post_json(
                "/api/admin/drawings/bulk",
                &admin,
                &json!({"action": "flag", "ids": ids[..10], "reason": reason}),
            )
            .await;
        assert_eq!(status, 200, "{r}");
    }
    let (status, r) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "unflag", "ids": ids[..3]}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let (status, r) = server
        .post_json(
            "/api/admin/drawings/bulk",
            &admin,
            &json!({"action": "remove", "ids": ids[5..15]}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    for (i, id) in ids[15..35].iter().enumerate() {
        let score = [0.05, 0.5, 0.55, 0.9, 1.0][i % 5];
        let (status, r) = server
            .put_json(
                &format!("/api/admin/drawings/{id}/quality"),
                &admin,
                &json!({"score": score}),
            )
            .await;
        assert!(status == 200 || status == 204, "{status} {r}");
    }
    check(&server, &db, &admin, first_day, "after curation").await;

    // PostgreSQL: fold the deltas (the server also does so every second); nothing changes.
    let folded = db.fold_tally_deltas().await.unwrap();
    if backend == Backend::PostgresS3 {
        let pending: i64 = sqlx::query("SELECT COUNT(*) AS n FROM drawing_count_deltas")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get("n");
        // The background scorer may have written a few since.
        assert!(pending < 10, "{pending} deltas left after folding");
        if pending == 0 {
            let rows = sqlx::query(
                "SELECT day, shape, origin, device, pointer_types, flagged, removed, \
                 quality_bin, n FROM drawing_counts WHERE n <> 0",
            )
            .fetch_all(db.pool())
            .await
            .unwrap();
            assert_eq!(facts(&rows), facts_from_rows(&db).await, "the counts alone");
        }
    } else {
        assert_eq!(folded, 0, "SQLite keeps no deltas");
    }
    check(&server, &db, &admin, first_day, "after folding").await;
    server.finish().await;
}
