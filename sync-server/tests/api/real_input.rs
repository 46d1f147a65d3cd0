//! What real devices and players send (issue "Real-world input"): each kind of value that
//! was refused, lost or able to jam a client's outbox, with its neighbours.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, Cli, TestServer, sample_drawing};

crate::on_both_backends!(
    one_bad_drawing_in_a_batch_is_refused_alone,
    pressures_above_one_are_stored_as_reported,
    words_are_normalised_and_checked_at_import,
    import_reads_any_encoding_it_is_given,
    exports_import_back_unchanged,
    pen_tilt_twist_and_contact_size_are_kept,
);

/// The first `n` real records of Quick, Draw!'s circle file, one per line, as written.
fn circle_lines(n: usize) -> Vec<String> {
    let text =
        std::fs::read_to_string(crate::common::shared_data().join("quickdraw/raw/circle.ndjson"))
            .unwrap();
    text.lines().take(n).map(str::to_owned).collect()
}

/// A record line with its `word` replaced.
fn with_word(line: &str, word: &str) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    v["word"] = json!(word);
    v.to_string()
}

async fn import(server: &TestServer, admin: &str, query: &str, body: Vec<u8>) -> Value {
    let (status, report) = server
        .post_raw(&format!("/api/admin/import{query}"), admin, body)
        .await;
    assert_eq!(status, 200, "{report}");
    report
}

/// `sample_drawing` with `change` applied to its first stroke's third point.
fn with_point(id: Uuid, change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut d = sample_drawing(id, "circle");
    change(d["strokes"][0]["points"][2].as_object_mut().unwrap());
    d
}

async fn one_bad_drawing_in_a_batch_is_refused_alone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let good = [Uuid::new_v4(), Uuid::new_v4()];
    let bad: Vec<(Uuid, Value, &str, u16)> = vec![
        (
            Uuid::new_v4(),
            with_point(Uuid::nil(), |p| {
                p.insert("timestamp".into(), json!(1_764_400_000_032.5));
            }),
            "strokes[0].points[2].timestamp",
            400,
        ),
        (
            Uuid::new_v4(),
            with_point(Uuid::nil(), |p| {
                p.insert("sparkle".into(), json!(1));
            }),
            "strokes[0].points[2]",
            400,
        ),
        (
            Uuid::new_v4(),
            with_point(Uuid::nil(), |p| {
                p.insert("x".into(), json!("twelve"));
            }),
            "strokes[0].points[2].x",
            400,
        ),
        (
            Uuid::new_v4(),
            with_point(Uuid::nil(), |p| {
                p.insert("y".into(), json!(-1e6));
            }),
            "strokes[0].points[2].y",
            422,
        ),
    ];
    let mut drawings = vec![sample_drawing(good[0], "square")];
    for (id, d, _, _) in &bad {
        let mut d = d.clone();
        d["id"] = json!(id);
        drawings.push(d);
    }
    drawings.push(sample_drawing(good[1], "triangle"));
    // A drawing whose id cannot be read is still answered for, by position.
    let mut no_id = sample_drawing(Uuid::new_v4(), "line");
    no_id["id"] = json!("not-a-uuid");
    drawings.push(no_id);
    let (status, r) = server
        .post_json(
            "/api/drawings/batch",
            &token,
            &json!({"drawings": drawings}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), bad.len() + 3, "{r}");
    assert_eq!(results[0]["status"], 201, "{r}");
    assert_eq!(results[0]["id"], json!(good[0]));
    for (i, (id, _, field, code)) in bad.iter().enumerate() {
        let item = &results[i + 1];
        assert_eq!(item["id"], json!(id), "{item}");
        assert_eq!(item["status"], *code, "{item}");
        let named = item["error"]["field"].as_str().unwrap();
        let expected = format!("drawings[{}].{field}", i + 1);
        assert!(
            named.starts_with(&expected),
            "{named} is not {expected}: {item}"
        );
    }
    assert_eq!(results[bad.len() + 1]["status"], 201, "{r}");
    let last = &results[bad.len() + 2];
    assert_eq!(last["status"], 400, "{last}");
    assert_eq!(last["id"], Value::Null, "{last}");
    assert_eq!(
        last["error"]["field"],
        format!("drawings[{}].id", bad.len() + 2)
    );
    // The valid drawings are stored, the others are not.
    let (_, stats) = server.get_json("/api/user/stats", &token).await;
    assert_eq!(stats["total"], 2, "{stats}");
    // The same batch again: the stored ones are repeats (201), the refused ones refused.
    let (status, again) = server
        .post_json(
            "/api/drawings/batch",
            &token,
            &json!({"drawings": drawings}),
        )
        .await;
    assert_eq!(status, 200);
    let statuses: Vec<u64> = again["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 400, 400, 400, 422, 201, 400]);
    // A body that is not a batch at all is still refused as a whole.
    let (status, r) = server
        .post_raw("/api/drawings/batch", &token, b"{\"drawings\": 7}".to_vec())
        .await;
    assert_eq!(status, 400, "{r}");
    assert_eq!(r["error"]["field"], "drawings", "{r}");
    server.finish().await;
}

async fn pressures_above_one_are_stored_as_reported(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let admin = server.admin_token().await;
    // 0 and 1 are the nominal ends; 1.0875 is what an Android touch screen reported; 4 and
    // the largest f32 are further out; all are kept exactly, the last three marked.
    for pressure in [0.0, 1.0, 1.0875, 4.0, f64::from(f32::MAX)] {
        let id = Uuid::new_v4();
        let mut d = sample_drawing(id, "heart");
        for p in d["strokes"][0]["points"].as_array_mut().unwrap() {
            p["pressure"] = json!(pressure);
        }
        d["strokes"][0]["pointer_type"] = json!("touch");
        d["device"] = json!("touch");
        let (status, r) = server.post_json("/api/drawings", &token, &d).await;
        assert_eq!(status, 201, "pressure {pressure}: {r}");
        let (status, detail) = server
            .get_json(&format!("/api/admin/drawings/{id}"), &admin)
            .await;
        assert_eq!(status, 200, "{detail}");
        let stored = &detail["drawing"]["strokes"][0]["points"][2]["pressure"];
        assert_eq!(stored.as_f64(), Some(pressure), "{detail}");
        assert_eq!(
            detail["pressure_above_nominal"],
            pressure > 1.0,
            "pressure {pressure}"
        );
    }
    // Below zero is no measurement: refused, naming the field.
    let mut d = sample_drawing(Uuid::new_v4(), "heart");
    d["strokes"][0]["points"][3]["pressure"] = json!(-0.01);
    let (status, r) = server.post_json("/api/drawings", &token, &d).await;
    assert_eq!(status, 422, "{r}");
    assert_eq!(r["error"]["field"], "strokes[0].points[3].pressure");
    server.finish().await;
}

async fn words_are_normalised_and_checked_at_import(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let lines = circle_lines(9);
    // Spellings of a shape's word: stored as the shape, never as a distractor.
    let spelled = ["Circle", "circle ", "CIRCLE", " \tcircle", "Circle\u{a0}"];
    // Words that are no safe name; one good distractor word beside them.
    let unsafe_words = ["a,b", "up/down", "../x"];
    let mut body = String::new();
    for (line, word) in lines.iter().zip(spelled) {
        body.push_str(&with_word(line, word));
        body.push('\n');
    }
    for (line, word) in lines[5..].iter().zip(unsafe_words) {
        body.push_str(&with_word(line, word));
        body.push('\n');
    }
    body.push_str(&with_word(&lines[8], "Hot Air  Balloon"));
    body.push('\n');
    let report = import(&server, &admin, "?distractors=true", body.into_bytes()).await;
    assert_eq!(report["stored"], 6, "{report}");
    assert_eq!(report["per_shape"]["circle"], 5, "{report}");
    assert_eq!(report["per_shape"]["hot air balloon"], 1, "{report}");
    let rejected = report["rejected"].as_object().unwrap();
    assert_eq!(
        rejected.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        3,
        "{report}"
    );
    for word in unsafe_words {
        assert!(
            rejected
                .keys()
                .any(|r| r.contains("invalid_word") || r.contains(&format!("{word:?}"))),
            "{word} not named: {report}"
        );
    }
    assert_eq!(
        report["renamed_words"]["\"CIRCLE\" -> circle"], 1,
        "{report}"
    );
    // No distractor was made of a shape's spelling or of an unsafe word.
    let (_, shapes) = server.get_json("/api/admin/stats", &admin).await;
    let text = shapes.to_string();
    for word in ["CIRCLE", "Circle", "a,b", "up/down", "../x"] {
        assert!(
            !text.contains(&format!("\"{word}\"")),
            "{word} stored: {text}"
        );
    }
    // A PNG export over every drawing, the distractor included, completes, and its
    // labels.csv has one row per drawing.
    let (status, job) = server
        .post_json(
            "/api/admin/exports",
            &admin,
            &json!({"format": "png", "raster_size": 28}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, job) = server
            .get_json(&format!("/api/admin/exports/{id}"), &admin)
            .await;
        match job["status"].as_str() {
            Some("completed") => break,
            Some("running") => {}
            _ => panic!("export failed: {job}"),
        }
        assert!(std::time::Instant::now() < deadline, "export stalled");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let archive = server
        .client
        .get(server.url(&format!("/api/admin/exports/{id}/download")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut tar = tar::Archive::new(&archive[..]);
    let mut names = Vec::new();
    let mut labels = String::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name == "labels.csv" {
            std::io::Read::read_to_string(&mut entry, &mut labels).unwrap();
        }
        names.push(name);
    }
    assert!(
        names.iter().any(|n| n.starts_with("hot air balloon/")),
        "{names:?}"
    );
    assert_eq!(labels.lines().count(), 7, "{labels}");
    server.finish().await;
}

async fn import_reads_any_encoding_it_is_given(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let lines = circle_lines(6);
    // A byte-order mark; a Windows-1252 line (0xE9 is "e acute" there, not UTF-8); CRLF
    // endings; invalid UTF-8 in the middle of a line; a last line without a newline.
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(lines[0].as_bytes());
    body.extend_from_slice(b"\r\n");
    let mut latin1 = Vec::new();
    let line = with_word(&lines[1], "cafe");
    let (before, after) = line.split_once("\"cafe\"").unwrap();
    latin1.extend_from_slice(before.as_bytes());
    latin1.extend_from_slice(b"\"caf\xE9\"");
    latin1.extend_from_slice(after.as_bytes());
    body.extend_from_slice(&latin1);
    body.extend_from_slice(b"\n");
    body.extend_from_slice(lines[2].as_bytes());
    body.extend_from_slice(b"\r\n");
    let mut broken = lines[3].clone().into_bytes();
    let middle = broken.len() / 2;
    broken.insert(middle, 0xFF);
    body.extend_from_slice(&broken);
    body.extend_from_slice(b"\n");
    body.extend_from_slice(lines[4].as_bytes());
    let report = import(&server, &admin, "", body.clone()).await;
    assert_eq!(report["records"], 5, "{report}");
    assert_eq!(report["stored"], 3, "{report}");
    let reason = "the line is not UTF-8 text (Windows-1252 or Latin-1?): the file must be UTF-8";
    assert_eq!(report["rejected"][reason], 2, "{report}");
    let examples = report["examples"].to_string();
    assert!(
        examples.contains("body:2:") && examples.contains("body:4:"),
        "{examples}"
    );
    // The same file through the CLI: the same report (all already present now).
    let file = server.dir.path().join("mixed-encodings.ndjson");
    std::fs::write(&file, &body).unwrap();
    let out = server.cli(&["import", &file.display().to_string()], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 stored, 3 already present, 2 rejected"),
        "{text}"
    );
    assert!(text.contains("mixed-encodings.ndjson:4:"), "{text}");
    // UTF-16 (with its byte-order mark): refused as a whole, saying so; nothing stored.
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in lines[5].encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let report = import(&server, &admin, "", utf16).await;
    assert_eq!(report["stored"], 0, "{report}");
    assert!(
        report["rejected"].to_string().contains("UTF-16"),
        "{report}"
    );
    // An empty body is an empty report.
    let report = import(&server, &admin, "", Vec::new()).await;
    assert_eq!(
        (report["records"].as_u64(), report["stored"].as_u64()),
        (Some(0), Some(0))
    );
    server.finish().await;
}

/// Unusual but valid uploads: a clock that steps back between strokes, repeated
/// timestamps, a 10-minute pause, the largest timestamps, tiny, negative, signed-zero and
/// long decimal coordinates, a one-point stroke, pressure above 1.
fn unusual_uploads() -> Vec<Value> {
    let point =
        |x: f64, y: f64, t: i64| json!({"x": x, "y": y, "pressure": 1.0875, "timestamp": t});
    let stroke = |points: Vec<Value>| json!({"points": points, "color": "#1d1d1f", "width": 4, "pointer_type": "touch"});
    let drawing = |strokes: Vec<Value>, canvas: (f64, f64)| {
        let times: Vec<i64> = strokes
            .iter()
            .flat_map(|s| s["points"].as_array().unwrap().clone())
            .map(|p| p["timestamp"].as_i64().unwrap())
            .collect();
        let duration = times.iter().max().unwrap() - times.iter().min().unwrap();
        json!({
            "id": Uuid::new_v4(), "shape": "triangle",
            "canvas": {"width": canvas.0, "height": canvas.1},
            "strokes": strokes, "duration_ms": duration, "device": "touch",
            "user_agent": "inkset-tests", "device_pixel_ratio": 2.625,
            "prompt_to_first_point_ms": 0,
        })
    };
    let t = 1_764_400_000_000_i64;
    let max = 1_i64 << 53;
    vec![
        // The clock steps back 5 s between strokes.
        drawing(
            vec![
                stroke(vec![
                    point(10.0, 10.0, t),
                    point(50.0, 10.0, t + 40),
                    point(30.0, 40.0, t + 80),
                ]),
                stroke(vec![
                    point(30.0, 40.0, t - 5_000),
                    point(10.0, 10.0, t - 4_960),
                ]),
            ],
            (100.0, 100.0),
        ),
        // Repeated timestamps, then a 10-minute pause.
        drawing(
            vec![
                stroke(vec![
                    point(1.0, 1.0, t),
                    point(2.0, 2.0, t),
                    point(3.0, 1.0, t),
                    point(4.0, 9.0, t + 1),
                ]),
                stroke(vec![
                    point(5.0, 5.0, t + 600_000),
                    point(9.0, 9.0, t + 600_016),
                ]),
            ],
            (10.5, 10.25),
        ),
        // The largest timestamps a JS number holds exactly.
        drawing(
            vec![stroke(vec![
                point(0.0, 0.0, max - 32),
                point(7.0, 3.0, max - 16),
                point(1.0, 8.0, max),
            ])],
            (16.0, 16.0),
        ),
        // Tiny, signed-zero, negative (within the margin) and long decimal coordinates; a
        // one-point stroke.
        drawing(
            vec![
                stroke(vec![
                    point(1e-7, -0.0, t),
                    point(-150.25, 0.1 + 0.2, t + 1),
                    point(16_000.123_456_789, 3e-300, t + 2),
                ]),
                stroke(vec![point(42.0, 42.0, t + 3)]),
            ],
            (16_384.0, 200.0),
        ),
    ]
}

async fn exports_import_back_unchanged(backend: Backend) {
    let a = TestServer::start(backend).await;
    let dirs = [
        crate::common::shared_data().join("quickdraw"),
        crate::common::shared_data().join("derived"),
    ];
    let files = inkset_server::dataset::ndjson_files(&dirs).unwrap();
    let mut args = vec!["import".to_owned(), "--distractors".to_owned()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = a.cli(&args, "");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{report}");
    // The only refusals: Google's simplified renderings of raw records already stored.
    let simplified = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("simplified"))
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum::<usize>();
    assert!(
        report.contains(&format!("{simplified} rejected")),
        "{report}"
    );
    let (_, player) = a.session().await;
    let uploads = unusual_uploads();
    for d in &uploads {
        let (status, r) = a.post_json("/api/drawings", &player, d).await;
        assert_eq!(status, 201, "{d}: {r}");
    }
    let exported = |server: &TestServer| {
        let out = server.cli(&["export", "--format", "quickdraw"], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let from_a = exported(&a);
    let by_key: std::collections::HashMap<String, &str> = from_a
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["key_id"].as_str().unwrap().to_owned(), l)
        })
        .collect();
    // Every stored source line comes back byte for byte (the first line of each key_id).
    let mut seen = std::collections::HashSet::new();
    let mut checked = 0;
    for f in &files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let key = v["key_id"].as_str().unwrap().to_owned();
            if seen.insert(key.clone()) {
                assert_eq!(
                    by_key.get(&key).copied(),
                    Some(line),
                    "{}: {key}",
                    f.display()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(by_key.len(), checked + uploads.len());

    // Into an empty server: every record accepted, and exported again unchanged.
    let b = TestServer::start(backend).await;
    let admin = b.admin_token().await;
    let report = import(&b, &admin, "?distractors=true", from_a.clone().into_bytes()).await;
    assert_eq!(report["rejected"], json!({}), "{report}");
    assert_eq!(
        report["stored"].as_u64(),
        Some(by_key.len() as u64),
        "{report}"
    );
    let from_b = exported(&b);
    let mut lines_a: Vec<&str> = from_a.lines().collect();
    let mut lines_b: Vec<&str> = from_b.lines().collect();
    lines_a.sort_unstable();
    lines_b.sort_unstable();
    assert_eq!(lines_a.len(), lines_b.len());
    for (x, y) in lines_a.iter().zip(&lines_b) {
        assert_eq!(x, y);
    }
    a.finish().await;
    b.finish().await;
}

async fn pen_tilt_twist_and_contact_size_are_kept(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let admin = server.admin_token().await;
    let id = Uuid::new_v4();
    let mut d = sample_drawing(id, "circle");
    d["device"] = json!("pen");
    d["strokes"][0]["pointer_type"] = json!("pen");
    for (i, p) in d["strokes"][0]["points"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let i = i as f64;
        p["tilt_x"] = json!(-90.0 + i);
        p["tilt_y"] = json!(12);
        p["twist"] = json!(i * 7.5);
        p["width"] = json!(1);
        p["height"] = json!(0.75);
    }
    // Beside it in one batch: a stroke whose tilt stops half way, refused naming the point.
    let mut half = sample_drawing(Uuid::new_v4(), "circle");
    half["strokes"][0]["points"][0]["tilt_x"] = json!(5);
    let (status, r) = server
        .post_json(
            "/api/drawings/batch",
            &token,
            &json!({"drawings": [d, half]}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["results"][0]["status"], 201, "{r}");
    assert_eq!(r["results"][1]["status"], 422, "{r}");
    assert_eq!(
        r["results"][1]["error"]["field"], "drawings[1].strokes[0].points[1].tilt_x",
        "{r}"
    );
    let (status, detail) = server
        .get_json(&format!("/api/admin/drawings/{id}"), &admin)
        .await;
    assert_eq!(status, 200, "{detail}");
    let strokes =
        |v: &Value| -> Vec<inkset_protocol::Stroke> { serde_json::from_value(v.clone()).unwrap() };
    assert_eq!(
        strokes(&detail["drawing"]["strokes"]),
        strokes(&d["strokes"]),
        "kept exactly"
    );
    server.finish().await;
}
