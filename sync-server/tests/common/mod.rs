//! This crate's test support: the shared [`TestServer`] (`inkset_server::testing`), the
//! scenario-on-both-stacks macro, the CLI against a test server's storage, and a sample
//! drawing.
#![allow(dead_code, unused_imports, clippy::unwrap_used, missing_docs)]

use serde_json::Value;
use uuid::Uuid;

pub use inkset_server::testing::{Storage as Backend, TestServer};
pub use inkset_testkit::shared_data;

/// Runs one scenario against both storage stacks.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_local() {
                super::$name($crate::common::Backend::SqliteLocal).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() {
                super::$name($crate::common::Backend::PostgresS3).await;
            }
        }
    )*};
}

/// The `inkset-server` binary's admin commands against a test server's storage.
#[allow(async_fn_in_trait)]
pub trait Cli {
    /// Command-line flags and environment naming this server's storage.
    fn storage_args(&self) -> (Vec<String>, Vec<(String, String)>);
    /// Runs the `inkset-server` binary with this server's storage flags appended.
    fn cli(&self, args: &[&str], stdin: &str) -> std::process::Output;
    /// Creates an admin through the CLI and logs in; returns the bearer token.
    async fn admin_token(&self) -> String;
    /// `inkset-server generate --count COUNT --seed SEED` from the shared data (with
    /// `--received-over-days DAYS` when given); asserts it succeeded, returns its report.
    fn generate(&self, count: u64, seed: u64, days: Option<u32>) -> String;
}

impl Cli for TestServer {
    fn storage_args(&self) -> (Vec<String>, Vec<(String, String)>) {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.settings.data_dir.display().to_string(),
        ];
        let mut env = Vec::new();
        if let Some(url) = &self.settings.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        if let Some(url) = &self.settings.object_store_url {
            args.extend(["--object-store-url".to_owned(), url.clone()]);
            let s3 = &self.settings.s3;
            env.extend([
                (
                    "INKSET_S3__ENDPOINT".to_owned(),
                    s3.endpoint.clone().unwrap(),
                ),
                ("INKSET_S3__REGION".to_owned(), "us-east-1".to_owned()),
                ("INKSET_S3__ACCESS_KEY_ID".to_owned(), "test".to_owned()),
                ("INKSET_S3__SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
                ("INKSET_S3__ALLOW_HTTP".to_owned(), "true".to_owned()),
            ]);
        }
        (args, env)
    }

    fn cli(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let (storage, env) = self.storage_args();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inkset-server"))
            .args(args)
            .args(&storage)
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn generate(&self, count: u64, seed: u64, days: Option<u32>) -> String {
        let (count, seed) = (count.to_string(), seed.to_string());
        let data = shared_data().display().to_string();
        let mut args = vec![
            "generate", "--count", &count, "--seed", &seed, "--data", &data,
        ];
        let days = days.map(|d| d.to_string());
        if let Some(d) = &days {
            args.extend(["--received-over-days", d]);
        }
        let out = self.cli(&args, "");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn admin_token(&self) -> String {
        let name = format!("admin{}", &Uuid::new_v4().simple().to_string()[..8]);
        let out = self.cli(&["admin", "create", &name], "correct horse battery\n");
        assert!(
            out.status.success(),
            "admin create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.login(&name, "correct horse battery").await
    }
}

/// A valid API drawing of a circle-ish polyline.
pub fn sample_drawing(id: Uuid, shape: &str) -> Value {
    let points: Vec<Value> = (0..40)
        .map(|i| {
            let a = f64::from(i) * std::f64::consts::TAU / 40.0;
            serde_json::json!({
                "x": 200.0 + 80.0 * a.cos(),
                "y": 150.0 + 80.0 * a.sin(),
                "pressure": 0.5,
                "timestamp": 1_764_400_000_000_i64 + i64::from(i) * 16,
            })
        })
        .collect();
    serde_json::json!({
        "id": id,
        "shape": shape,
        "canvas": {"width": 400, "height": 300},
        "strokes": [{"points": points, "color": "#1d1d1f", "width": 4, "pointer_type": "mouse"}],
        "duration_ms": 624,
        "device": "mouse",
        "user_agent": "inkset-tests",
        "device_pixel_ratio": 2,
        "prompt_to_first_point_ms": 800,
    })
}
