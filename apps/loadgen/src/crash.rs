//! Crash durability under load: `inkset-loadgen crash`.
//!
//! Starts `inkset-server serve` from `--server-bin` with `--config`, runs the simulated
//! players against it (this process; the server is another), and `--cycles` times, after a
//! random uptime between `--min-up-ms` and `--max-up-ms`, kills the server with SIGKILL,
//! counts the orphaned segments the crash left (`inkset-server sweep --dry-run
//! --grace-seconds 0` while nothing runs: a segment written and made durable whose SQL
//! commit never happened) and starts it again. Players keep what was not acknowledged and
//! send it again after the restart, as Inkset Draw's outbox does.
//!
//! After the last cycle the server runs on for `--settle-seconds` (its background sweeper,
//! here every second with a `--sweep-grace-secs` grace, deletes the orphans), the players
//! stop, and the check runs against the live server:
//!
//! * every drawing whose acknowledgement (201 in a batch answer) a player received appears
//!   exactly once in the server's Quick, Draw! raw export, and its line is byte-identical
//!   to the one the client computes from its own copy and the acknowledged `received_at`;
//! * the server's copy (`GET /api/admin/drawings/{id}`) serializes byte-identically to the
//!   client's;
//! * after a graceful stop, `inkset-server sweep --dry-run --grace-seconds 0 --all` finds no
//!   orphan left: every one the crashes left was swept by the running server.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use inkset_client::{Client, Retry};
use inkset_protocol::Drawing;
use inkset_protocol::api::{DrawingFilter, ExportFormat, ExportStatus, StartExport};
use inkset_protocol::quickdraw::{Record, api_key_id, format_timestamp_ms};
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Args, Players};

/// Settings of a crash run.
#[derive(Debug, Clone, clap::Args)]
pub struct CrashArgs {
    /// The players, and the server URL they use (it must be the config's `listen`).
    #[command(flatten)]
    pub players: Args,
    /// The `inkset-server` binary.
    #[arg(long)]
    pub server_bin: PathBuf,
    /// The server's TOML settings (storage, listen address).
    #[arg(long)]
    pub config: PathBuf,
    /// Kill -9 and restart cycles.
    #[arg(long, default_value_t = 20)]
    pub cycles: u32,
    /// Shortest uptime before a kill, ms.
    #[arg(long, default_value_t = 2_000)]
    pub min_up_ms: u64,
    /// Longest uptime before a kill, ms.
    #[arg(long, default_value_t = 8_000)]
    pub max_up_ms: u64,
    /// The server's orphan grace period during the run, s (its sweeper runs every second).
    #[arg(long, default_value_t = 3)]
    pub sweep_grace_secs: u64,
    /// Seconds the server runs after the last restart before the check.
    #[arg(long, default_value_t = 10)]
    pub settle_seconds: u64,
    /// Folder for the server's logs and the export.
    #[arg(long)]
    pub logs: PathBuf,
}

/// What a player keeps of an acknowledged drawing: digests of the forms the server must
/// give back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// sha256 of the drawing's Quick, Draw! raw export line (with the acknowledged
    /// `received_at` as its `timestamp`).
    pub export_line: [u8; 32],
    /// sha256 of the drawing's JSON (`serde_json::to_vec`).
    pub drawing_json: [u8; 32],
}

impl Ack {
    /// The digests of `drawing`, acknowledged with `received_at` (ms since the Unix epoch,
    /// server clock).
    pub fn of(drawing: &Drawing, received_at: i64) -> Self {
        let line = Record::from_drawing(drawing, Some(format_timestamp_ms(received_at))).to_line();
        Self {
            export_line: Sha256::digest(line.as_bytes()).into(),
            drawing_json: Sha256::digest(serde_json::to_vec(drawing).unwrap_or_default()).into(),
        }
    }
}

/// What a crash run found.
#[derive(Debug, Clone, Default)]
pub struct CrashReport {
    /// Kill -9 cycles done.
    pub cycles: u32,
    /// Seconds from each kill to the restarted server's readiness.
    pub downtime_s: Vec<f64>,
    /// Drawings acknowledged to the players.
    pub acknowledged: u64,
    /// Lines of the export (every drawing stored, acknowledged or not).
    pub exported: u64,
    /// Acknowledged drawings missing from the export.
    pub lost: Vec<Uuid>,
    /// Acknowledged drawings in the export more than once.
    pub duplicated: Vec<Uuid>,
    /// Acknowledged drawings whose export line differs from the client's.
    pub altered_export: Vec<Uuid>,
    /// Acknowledged drawings whose stored copy differs from the client's.
    pub altered_stored: Vec<Uuid>,
    /// Distinct orphaned segments seen after the crashes.
    pub orphans_seen: BTreeSet<String>,
    /// Orphans left after the run (0: the sweeper deleted every one).
    pub orphans_left: u64,
    /// Player-side failures by kind (requests that met a dead server among them).
    pub errors: BTreeMap<String, u64>,
}

impl CrashReport {
    /// Whether every acknowledged drawing is stored once, unaltered, and no orphan is left.
    pub fn passed(&self) -> bool {
        self.acknowledged > 0
            && self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.altered_export.is_empty()
            && self.altered_stored.is_empty()
            && self.orphans_left == 0
    }

    /// Human-readable lines.
    pub fn text(&self) -> String {
        let (mean, max) = mean_max(&self.downtime_s);
        let mut s = format!(
            "{} kill -9 cycles; restart to ready: mean {mean:.2} s, max {max:.2} s\n\
             {} drawings acknowledged, {} exported: {} lost, {} duplicated, {} with an altered \
             export line, {} with an altered stored copy\n\
             orphaned segments: {} seen after the crashes, {} left after the sweeper\n",
            self.cycles,
            self.acknowledged,
            self.exported,
            self.lost.len(),
            self.duplicated.len(),
            self.altered_export.len(),
            self.altered_stored.len(),
            self.orphans_seen.len(),
            self.orphans_left,
        );
        for (what, ids) in [
            ("lost", &self.lost),
            ("duplicated", &self.duplicated),
            ("altered export", &self.altered_export),
            ("altered stored", &self.altered_stored),
        ] {
            for id in ids.iter().take(10) {
                s.push_str(&format!("{what}: {id}\n"));
            }
        }
        for (kind, n) in &self.errors {
            s.push_str(&format!("player errors {kind}: {n}\n"));
        }
        s.push_str(if self.passed() {
            "durability check: PASSED\n"
        } else {
            "durability check: FAILED\n"
        });
        s
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        let (mean, max) = mean_max(&self.downtime_s);
        serde_json::json!({
            "cycles": self.cycles,
            "downtime_s": {"mean": mean, "max": max, "each": self.downtime_s},
            "acknowledged": self.acknowledged,
            "exported": self.exported,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "altered_export": self.altered_export,
            "altered_stored": self.altered_stored,
            "orphans_seen": self.orphans_seen.len(),
            "orphans_left": self.orphans_left,
            "errors": self.errors,
            "passed": self.passed(),
        })
    }
}

fn mean_max(v: &[f64]) -> (f64, f64) {
    #[allow(clippy::cast_precision_loss)]
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    };
    (mean, v.iter().copied().fold(0.0, f64::max))
}

/// The server process under test.
struct Server {
    bin: PathBuf,
    config: PathBuf,
    logs: PathBuf,
    url: String,
    grace_secs: u64,
    starts: u32,
    child: Option<Child>,
}

impl Server {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--config").arg(&self.config);
        c
    }

    /// Starts `serve` and waits until `/health/ready` answers.
    async fn start(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let log = std::fs::File::create(self.logs.join(format!("server-{}.log", self.starts)))?;
        let child = self
            .command()
            .args(["serve", "--no-trainer"])
            .env("INKSET_INGEST__SWEEP_INTERVAL_SECS", "1")
            .env(
                "INKSET_INGEST__ORPHAN_GRACE_SECS",
                self.grace_secs.to_string(),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        let http = Client::builder(&self.url)
            .timeout(Duration::from_secs(2))
            .retry(Retry::NONE)
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = http
                .request(reqwest::Method::GET, "/health/ready")
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!(
                    "the server exited ({status}) before it was ready; see {}",
                    self.logs.display()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the server was not ready within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, nothing is flushed.
    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, then waits for the graceful stop (committers drained).
    fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
            anyhow::ensure!(status.success(), "kill -TERM failed");
            child.wait()?;
        }
        Ok(())
    }

    /// `inkset-server sweep --dry-run --grace-seconds 0`: the orphans present now (only
    /// meaningful while no server runs).
    fn orphans(&self, all: bool) -> anyhow::Result<Vec<String>> {
        let mut c = self.command();
        c.args(["sweep", "--dry-run", "--grace-seconds", "0"]);
        if all {
            c.arg("--all");
        }
        let out = c.output()?;
        anyhow::ensure!(
            out.status.success(),
            "inkset-server sweep failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("reading the sweep report")?;
        Ok(report["orphan_keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Creates an admin account through the CLI; returns its password.
    fn create_admin(&self, name: &str) -> anyhow::Result<String> {
        use std::io::Write;
        let password = format!("crash-{}", Uuid::new_v4().simple());
        let mut child = self
            .command()
            .args(["admin", "create", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("no stdin")?
            .write_all(format!("{password}\n").as_bytes())?;
        let out = child.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "creating the admin account failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(password)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Runs the cycles and the check.
///
/// # Errors
/// When the server cannot be started or the check cannot run (a failed check is a report
/// whose [`CrashReport::passed`] is false).
pub async fn run(args: CrashArgs) -> anyhow::Result<CrashReport> {
    anyhow::ensure!(
        args.min_up_ms <= args.max_up_ms,
        "--min-up-ms must not exceed --max-up-ms"
    );
    std::fs::create_dir_all(&args.logs)?;
    let mut server = Server {
        bin: args.server_bin.clone(),
        config: args.config.clone(),
        logs: args.logs.clone(),
        url: args.players.server.clone(),
        grace_secs: args.sweep_grace_secs,
        starts: 0,
        child: None,
    };
    let admin = format!("crash-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let password = server.create_admin(&admin)?;
    server.start().await?;
    let mut players = Players::start(&args.players, true).await?;
    let mut report = CrashReport::default();
    for cycle in 1..=args.cycles {
        let up = rand::rng().random_range(args.min_up_ms..=args.max_up_ms);
        tokio::time::sleep(Duration::from_millis(up)).await;
        let killed = Instant::now();
        server.kill()?;
        let orphans = server.orphans(false)?;
        eprintln!(
            "cycle {cycle}: killed after {up} ms up; {} orphaned segment(s) present",
            orphans.len()
        );
        report.orphans_seen.extend(orphans);
        server.start().await?;
        report.downtime_s.push(killed.elapsed().as_secs_f64());
        report.cycles = cycle;
    }
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    players.stop().await;
    report.errors = players.errors();
    let acked = players
        .shared
        .acked
        .as_ref()
        .and_then(|a| a.lock().ok().map(|a| a.clone()))
        .unwrap_or_default();
    report.acknowledged = acked.len() as u64;
    check(&args, &admin, &password, &acked, &mut report).await?;
    server.stop()?;
    report.orphans_left = server.orphans(true)?.len() as u64;
    Ok(report)
}

/// Compares the server's export and stored copies with the acknowledged drawings.
async fn check(
    args: &CrashArgs,
    admin: &str,
    password: &str,
    acked: &HashMap<Uuid, Ack>,
    report: &mut CrashReport,
) -> anyhow::Result<()> {
    let client = Client::builder(&args.players.server)
        .timeout(Duration::from_secs(120))
        .build()?;
    let token = client.login(admin, password).await?.token;
    let admin_client = client.with_token(&token);
    let job = admin_client
        .start_export(&StartExport {
            format: ExportFormat::QuickdrawRaw,
            filter: DrawingFilter::default(),
            raster_size: None,
        })
        .await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let list = admin_client.exports().await?;
        let status = list
            .exports
            .iter()
            .find(|e| e.id == job.id)
            .map(|e| (e.status, e.error.clone()));
        match status {
            Some((ExportStatus::Completed, _)) => break,
            Some((ExportStatus::Failed, e)) => anyhow::bail!("the export failed: {e:?}"),
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "the export took over 10 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let path = args.logs.join("export.ndjson");
    admin_client.download_export(job.id, &path).await?;
    let lines = export_lines(&path)?;
    report.exported = lines.values().map(|v| v.len() as u64).sum();
    for (id, ack) in acked {
        match lines.get(&api_key_id(*id)).map(Vec::as_slice) {
            None | Some([]) => report.lost.push(*id),
            Some([line]) => {
                if *line != ack.export_line {
                    report.altered_export.push(*id);
                }
            }
            Some(_) => report.duplicated.push(*id),
        }
    }
    let altered: Vec<Uuid> = futures::stream::iter(acked.iter())
        .map(|(id, ack)| {
            let c = admin_client.clone();
            async move {
                match c.drawing(*id).await {
                    Ok(detail) => {
                        let json = serde_json::to_vec(&detail.drawing).unwrap_or_default();
                        let digest: [u8; 32] = Sha256::digest(json).into();
                        (digest != ack.drawing_json).then_some(*id)
                    }
                    // Missing: already counted as lost by the export.
                    Err(_) => None,
                }
            }
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    report.altered_stored = altered;
    Ok(())
}

/// The export's lines by `key_id`: the sha256 of each.
fn export_lines(path: &Path) -> anyhow::Result<HashMap<u64, Vec<[u8; 32]>>> {
    let text = std::fs::read_to_string(path)?;
    let mut out: HashMap<u64, Vec<[u8; 32]>> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let record =
            Record::parse_line(line).map_err(|e| anyhow::anyhow!("export line {}: {e}", i + 1))?;
        out.entry(record.key_id)
            .or_default()
            .push(Sha256::digest(line.as_bytes()).into());
    }
    Ok(out)
}
