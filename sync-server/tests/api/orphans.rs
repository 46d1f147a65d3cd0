//! Orphaned segments (written, never committed: a crash between the segment's write and the
//! SQL commit) are found and deleted after their grace period, by `inkset-server sweep` and
//! by the server's background sweeper; committed segments stay.

use std::time::Duration;

use bytes::Bytes;
use inkset_server::drawings::sweeper;
use inkset_server::objects::Objects;
use serde_json::Value;
use uuid::Uuid;

use crate::common::{Backend, Cli, TestServer, sample_drawing};

crate::on_both_backends!(orphaned_segments_are_swept);

/// `inkset-server sweep ARGS` against the server's storage: its JSON report.
fn sweep_cli(server: &TestServer, args: &[&str]) -> Value {
    let mut all = vec!["sweep"];
    all.extend_from_slice(args);
    let out = server.cli(&all, "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn today_key() -> String {
    let day = time::OffsetDateTime::now_utc().date();
    format!("{}/{}.seg", sweeper::day_prefix(day), Uuid::new_v4())
}

async fn orphaned_segments_are_swept(backend: Backend) {
    let local = matches!(backend, Backend::SqliteLocal);
    let mut server = TestServer::start(backend).await;
    let (_, token) = server.session().await;
    let id = Uuid::new_v4();
    let (status, body) = server
        .post_json("/api/drawings", &token, &sample_drawing(id, "circle"))
        .await;
    assert_eq!(status, 201, "{body}");

    // An orphan as a crash leaves it: a segment written and durable, with no row.
    let objects = Objects::open(&server.settings).unwrap();
    let orphan = today_key();
    objects
        .put_durable(&orphan, Bytes::from_static(b"never committed"))
        .await
        .unwrap();
    // On the local directory, also a write cut short: the object store's staging file.
    let staging = objects
        .local_root()
        .map(|root| root.join(format!("{}#7", today_key())));
    if let Some(path) = &staging {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"half a segment").unwrap();
    }
    let expected = if local { 2 } else { 1 };

    // Young orphans are left alone: a replica may be committing them.
    let young = sweep_cli(&server, &["--grace-seconds", "3600"]);
    assert_eq!(young["orphans"], 0, "{young}");
    assert_eq!(young["listed"], 2, "{young}");

    let seen = sweep_cli(&server, &["--grace-seconds", "0", "--dry-run"]);
    assert_eq!(seen["orphans"], expected, "{seen}");
    assert_eq!(seen["deleted"], 0, "{seen}");
    assert!(
        objects.get(&orphan).await.is_ok(),
        "a dry run deletes nothing"
    );

    let swept = sweep_cli(&server, &["--grace-seconds", "0", "--all"]);
    assert_eq!(swept["orphans"], expected, "{swept}");
    assert_eq!(swept["deleted"], expected, "{swept}");
    assert!(objects.get(&orphan).await.is_err(), "the orphan is gone");
    if let Some(path) = &staging {
        assert!(!path.exists(), "the staging file is gone");
    }
    let again = sweep_cli(&server, &["--grace-seconds", "0", "--dry-run", "--all"]);
    assert_eq!(again["orphans"], 0, "{again}");
    assert_eq!(
        again["listed"], 1,
        "only the committed segment is left: {again}"
    );

    // The committed drawing is untouched.
    let admin = server.admin_token().await;
    let (status, detail) = server
        .get_json(&format!("/api/admin/drawings/{id}"), &admin)
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["drawing"]["id"], serde_json::json!(id));

    // The background sweeper of a running server does the same on its own.
    server.stop().await;
    server.settings.ingest.sweep_interval_secs = 1;
    server.settings.ingest.orphan_grace_secs = 1;
    let late = today_key();
    objects
        .put_durable(&late, Bytes::from_static(b"never committed either"))
        .await
        .unwrap();
    server.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while objects.get(&late).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the background sweeper left {late} for 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, detail) = server
        .get_json(&format!("/api/admin/drawings/{id}"), &admin)
        .await;
    assert_eq!(status, 200, "{detail}");
    server.finish().await;
}
