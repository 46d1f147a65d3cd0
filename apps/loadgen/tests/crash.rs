//! Crash durability under load, 3 cycles (the test command's size; `scripts/crash` runs
//! 20): a real `inkset-server` process killed with SIGKILL while simulated players upload,
//! on SQLite + a local directory and on PostgreSQL + an S3-compatible server (moto). Every
//! acknowledged drawing must be stored once and byte-identical, and no orphaned segment may
//! be left.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use inkset_loadgen::Args;
use inkset_loadgen::crash::{self, CrashArgs};
use uuid::Uuid;

/// `inkset-server`, built by `cargo test --workspace` into the directory above this test's.
fn server_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let bin = dir.join("inkset-server");
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

async fn three_cycles(postgres_s3: bool) {
    let dir = tempfile::tempdir().unwrap();
    let port = inkset_testkit::free_port();
    let mut config = format!(
        "data_dir = \"{}\"\nlisten = \"127.0.0.1:{port}\"\n[rate_limits]\nenabled = false\n",
        dir.path().join("data").display()
    );
    let mut database = None;
    if postgres_s3 {
        let url = inkset_testkit::postgres_url();
        let name = format!("inkset_crash_{}", Uuid::new_v4().simple());
        let created = std::process::Command::new("psql")
            .args(["-q", &url, "-c", &format!("CREATE DATABASE {name}")])
            .status()
            .unwrap();
        assert!(created.success(), "creating database {name}");
        let root = &url[..url.rfind('/').unwrap()];
        database = Some((url.clone(), name.clone()));
        let endpoint = inkset_testkit::s3_endpoint();
        let bucket = inkset_testkit::s3_bucket("inkset-crash");
        config = format!(
            "database_url = \"{root}/{name}\"\nobject_store_url = \"s3://{bucket}/inkset\"\n{config}\
             [s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\n\
             secret_access_key = \"test\"\nallow_http = true\n"
        );
    }
    let config_path = dir.path().join("inkset.toml");
    std::fs::write(&config_path, config).unwrap();
    let args = CrashArgs {
        players: Args {
            server: format!("http://127.0.0.1:{port}"),
            players: 40,
            ramp_seconds: 1,
            seconds: 0,
            think_ms: 300,
            offline_share: 0.2,
            guess_share: 0.0,
            data: inkset_testkit::shared_data(),
            server_pid: Vec::new(),
            json: None,
        },
        server_bin: server_bin(),
        config: config_path,
        cycles: 3,
        min_up_ms: 1_500,
        max_up_ms: 3_000,
        sweep_grace_secs: 2,
        settle_seconds: 5,
        logs: dir.path().join("logs"),
    };
    let report = crash::run(args).await.unwrap();
    println!("{}", report.text());
    if let Some((url, name)) = database {
        let _ = std::process::Command::new("psql")
            .args([
                "-q",
                &url,
                "-c",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ])
            .status();
    }
    assert_eq!(report.cycles, 3);
    assert!(
        report.acknowledged >= 100,
        "too few drawings acknowledged to judge: {}",
        report.text()
    );
    assert!(report.exported >= report.acknowledged, "{}", report.text());
    assert!(report.passed(), "{}", report.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_kill_cycles_sqlite_local() {
    three_cycles(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_kill_cycles_postgres_s3() {
    three_cycles(true).await;
}
