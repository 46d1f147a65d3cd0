//! The `inkset-server` command line.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Overrides, Settings};
use crate::dataset::{self, ExportFormat};
use inkset_protocol::api::DrawingFilter;

/// Inkset's sync server: collects drawings, stores them, serves the admin API.
#[derive(Debug, Parser)]
#[command(name = "inkset-server", version, about)]
pub struct Cli {
    /// TOML settings file (also `INKSET_CONFIG`).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives; every command takes these.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the embedded SQLite file and object directory.
    #[arg(long, env = "INKSET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://user@host/db` to use PostgreSQL instead of SQLite.
    #[arg(long, env = "INKSET_DATABASE_URL")]
    pub database_url: Option<String>,
    /// `s3://bucket/prefix` to use an S3-compatible store (see `INKSET_S3__*`, `AWS_*`).
    #[arg(long, env = "INKSET_OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, env = "INKSET_LISTEN")]
        listen: Option<SocketAddr>,
        /// Do not run the in-process trainer (leave jobs to `inkset-trainer work`).
        #[arg(long)]
        no_trainer: bool,
    },
    /// Manage trainer worker tokens.
    WorkerToken {
        /// Action.
        #[command(subcommand)]
        action: WorkerTokenCommand,
    },
    /// Manage admin accounts.
    Admin {
        /// Action.
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// List accounts, disable or enable one, revoke its tokens.
    User {
        /// Action.
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Import Quick, Draw! ndjson files or directories (raw or simplified).
    Import {
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
        /// Files or directories (searched for *.ndjson).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Store records whose word is not a shape as distractors (they train the
        /// recognizer's `unknown` class and are never prompted) instead of rejecting them.
        #[arg(long)]
        distractors: bool,
    },
    /// Fill the store with COUNT drawings made from the real ones in DATA (shifted up to 64
    /// px, re-timed by 0.8–1.25, dated within the 90 days before 2026), through the import path; the same
    /// seed gives the same drawings and ids, so a rerun stores nothing twice.
    Generate {
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
        /// Drawings to store.
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The shared data folder (`quickdraw/raw/` and `derived/`).
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Spread the stored drawings' receive times over this many days before 2026-01-01,
        /// in order, as if collected over months (0: keep the real receive times). Only
        /// while no server writes to the store: it moves every import received during the
        /// run.
        #[arg(long, default_value_t = 0)]
        received_over_days: u32,
    },
    /// Find and delete orphaned segments: objects ingest wrote whose SQL commit never
    /// happened (a crash between the two). Prints a JSON report: segments listed, orphans
    /// (count and bytes), deleted. Safe while servers run, with a grace period longer than a
    /// commit.
    Sweep {
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
        /// Only segments older than this many seconds (default: the server's
        /// `ingest.orphan_grace_secs`; 0 only while no server writes to the store).
        #[arg(long)]
        grace_seconds: Option<u64>,
        /// Count them, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// List every day's segments (default: the days from the one before the newest
        /// committed segment's).
        #[arg(long)]
        all: bool,
    },
    /// Export drawings to standard output.
    Export {
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "quickdraw")]
        format: ExportFormat,
        /// Only this shape.
        #[arg(long)]
        shape: Option<String>,
        /// Only flagged (true) or unflagged (false) drawings.
        #[arg(long)]
        flagged: Option<bool>,
        /// Include removed drawings.
        #[arg(long)]
        include_removed: bool,
    },
}

/// Admin account actions.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin; the password is read from standard input (one line).
    Create {
        /// Account name.
        name: String,
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// Account actions (admins and players).
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List every account with its live tokens and sessions.
    List {
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Disable an account: it cannot sign in, its tokens and linked sessions are revoked.
    Disable {
        /// Username.
        username: String,
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Enable a disabled account again.
    Enable {
        /// Username.
        username: String,
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke every login token and linked session of an account (it stays enabled).
    RevokeTokens {
        /// Username.
        username: String,
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// Worker token actions.
#[derive(Debug, Subcommand)]
pub enum WorkerTokenCommand {
    /// Create a token for a trainer host; prints the secret once.
    Create {
        /// A name for the host.
        #[arg(long)]
        name: String,
        /// Lifetime in days (default: the server's `auth.worker_token_ttl_days`).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3650))]
        expires_in_days: Option<u64>,
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke tokens by id or name.
    Revoke {
        /// Token id or name.
        id_or_name: String,
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List tokens (without secrets).
    List {
        /// Where data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
}

impl StorageArgs {
    fn settings(
        &self,
        config: Option<&std::path::Path>,
        listen: Option<SocketAddr>,
    ) -> anyhow::Result<Settings> {
        self.settings_with(config, listen, false)
    }

    fn settings_with(
        &self,
        config: Option<&std::path::Path>,
        listen: Option<SocketAddr>,
        no_trainer: bool,
    ) -> anyhow::Result<Settings> {
        Settings::load(
            config,
            &Overrides {
                data_dir: self.data_dir.clone(),
                listen,
                database_url: self.database_url.clone(),
                object_store_url: self.object_store_url.clone(),
                training: no_trainer.then(|| serde_json::json!({ "in_process": false })),
            },
        )
        .map_err(|e| anyhow::anyhow!("settings: {e}"))
    }
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("inkset_server=info,tower_http=info,sqlx=warn"));
    // Colours only on a terminal: a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Parses the command line and runs it.
///
/// # Errors
/// Whatever the command fails with, with context.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
}

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve {
            storage,
            listen,
            no_trainer,
        } => {
            let settings = storage.settings_with(config, listen, no_trainer)?;
            init_logging(settings.log_format == "json");
            let listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .with_context(|| format!("binding {}", settings.listen))?;
            crate::server::launch(settings, listener, crate::server::shutdown_signal()).await
        }
        Command::Admin {
            action: AdminCommand::Create { name, storage },
        } => {
            let settings = storage.settings(config, None)?;
            init_logging(false);
            anyhow::ensure!(
                !name.is_empty() && name.len() <= 64,
                "NAME must be 1..=64 characters"
            );
            eprintln!("password for {name} (one line on standard input):");
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                password.len() >= 8,
                "the password must have at least 8 characters"
            );
            let (state, committers) = crate::server::open(&settings).await?;
            let hash = crate::players::auth::hash_password(password)
                .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
            let created = state.db.create_user(&name, &hash, "admin").await?;
            drop(state);
            committers.join().await;
            anyhow::ensure!(created, "an account named {name} exists already");
            println!("admin {name} created");
            Ok(())
        }
        Command::User { action } => {
            let storage = match &action {
                UserCommand::List { storage }
                | UserCommand::Disable { storage, .. }
                | UserCommand::Enable { storage, .. }
                | UserCommand::RevokeTokens { storage, .. } => storage,
            };
            let settings = storage.settings(config, None)?;
            init_logging(false);
            let (state, committers) = crate::server::open(&settings).await?;
            let result = user_command(&state, action).await;
            drop(state);
            committers.join().await;
            result
        }
        Command::WorkerToken { action } => {
            let storage = match &action {
                WorkerTokenCommand::Create { storage, .. }
                | WorkerTokenCommand::Revoke { storage, .. }
                | WorkerTokenCommand::List { storage } => storage,
            };
            let settings = storage.settings(config, None)?;
            init_logging(false);
            let (state, committers) = crate::server::open(&settings).await?;
            let result = match action {
                WorkerTokenCommand::Create {
                    name,
                    expires_in_days,
                    ..
                } => {
                    anyhow::ensure!(
                        !name.trim().is_empty() && name.len() <= 100,
                        "--name must be 1..=100 bytes"
                    );
                    let expires_at = crate::training::handlers::worker_token_expiry(
                        expires_in_days.or(settings.auth.worker_token_ttl_days),
                    );
                    let t = state.db.create_worker_token(&name, expires_at).await?;
                    eprintln!(
                        "worker token {} for {name:?} (shown once; give it to `inkset-trainer work --token`):",
                        t.id
                    );
                    println!("{}", t.token.unwrap_or_default());
                    Ok(())
                }
                WorkerTokenCommand::Revoke { id_or_name, .. } => {
                    let n = state.db.revoke_worker_token(&id_or_name).await?;
                    if n == 0 {
                        Err(anyhow::anyhow!("no live worker token {id_or_name:?}"))
                    } else {
                        println!("revoked {n} token(s)");
                        Ok(())
                    }
                }
                WorkerTokenCommand::List { .. } => {
                    for t in state.db.worker_tokens().await? {
                        println!(
                            "{}  {:<24} created {}  {}",
                            t.id,
                            t.name,
                            t.created_at,
                            t.revoked_at
                                .map_or_else(|| "live".to_owned(), |r| format!("revoked {r}"))
                        );
                    }
                    Ok(())
                }
            };
            drop(state);
            committers.join().await;
            result
        }
        Command::Import {
            storage,
            files,
            distractors,
        } => {
            let settings = storage.settings(config, None)?;
            init_logging(false);
            let total: u64 = dataset::ndjson_files(&files)?
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let (state, committers) = crate::server::open(&settings).await?;
            let report =
                dataset::import(&state, &files, distractors, |n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            drop(state);
            committers.join().await;
            print!("{}", report.summary());
            let rejected = report.rejected_total();
            anyhow::ensure!(
                rejected == 0,
                "{rejected} of {} records were rejected (reasons above)",
                report.records
            );
            Ok(())
        }
        Command::Generate {
            storage,
            count,
            seed,
            data,
            received_over_days,
        } => {
            let settings = storage.settings(config, None)?;
            init_logging(false);
            let real = std::sync::Arc::new(dataset::generate::real_records(&data)?);
            let run_start = crate::now_ms();
            let (state, committers) = crate::server::open(&settings).await?;
            let options = dataset::generate::GenerateOptions {
                count,
                seed,
                ..Default::default()
            };
            let started = std::time::Instant::now();
            let report = dataset::generate::generate(&state, real, &options, |done| {
                tracing::info!(done, "generated");
            })
            .await;
            let db = state.db.clone();
            drop(state);
            committers.join().await;
            let report = report?;
            print!("{}", report.summary());
            println!(
                "{count} drawings in {:.1} s ({:.0}/s)",
                started.elapsed().as_secs_f64(),
                count as f64 / started.elapsed().as_secs_f64().max(1e-9)
            );
            if received_over_days > 0 {
                let moved = dataset::generate::backdate(
                    &db,
                    run_start,
                    crate::now_ms(),
                    received_over_days,
                )
                .await?;
                println!(
                    "{moved} drawings received over the {received_over_days} days before 2026-01-01"
                );
            }
            anyhow::ensure!(
                report.rejected_total() == 0,
                "{} generated drawings were rejected (reasons above)",
                report.rejected_total()
            );
            Ok(())
        }
        Command::Sweep {
            storage,
            grace_seconds,
            dry_run,
            all,
        } => {
            let settings = storage.settings(config, None)?;
            init_logging(false);
            let (state, committers) = crate::server::open(&settings).await?;
            let grace = grace_seconds.unwrap_or(settings.ingest.orphan_grace_secs);
            let result = crate::drawings::sweeper::sweep_once(
                &state.db,
                &state.objects,
                all,
                std::time::Duration::from_secs(grace),
                dry_run,
            )
            .await;
            drop(state);
            committers.join().await;
            println!("{}", serde_json::to_string(&result?)?);
            Ok(())
        }
        Command::Export {
            storage,
            format,
            shape,
            flagged,
            include_removed,
        } => {
            let settings = storage.settings(config, None)?;
            init_logging(false);
            let sqlite = settings.data_dir.join("inkset.sqlite3");
            anyhow::ensure!(
                settings.database_url.is_some() || sqlite.exists(),
                "no Inkset data in {} ({} not found): pass the --data-dir of an existing store \
                 or --database-url",
                settings.data_dir.display(),
                sqlite.display()
            );
            let (state, committers) = crate::server::open(&settings).await?;
            let filter = DrawingFilter {
                shape,
                flagged,
                include_removed,
                ..DrawingFilter::default()
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let n = dataset::export(&state, &filter, format, &mut out).await?;
            out.flush()?;
            drop(state);
            committers.join().await;
            tracing::info!(drawings = n, "export done");
            Ok(())
        }
    }
}

async fn user_command(state: &crate::state::AppState, action: UserCommand) -> anyhow::Result<()> {
    let (username, disabled) = match action {
        UserCommand::List { .. } => {
            for u in state.db.users().await? {
                println!(
                    "{:<32} {:<6} {:<8} tokens {:>3}  sessions {:>3}",
                    u.username,
                    u.role,
                    if u.disabled { "disabled" } else { "enabled" },
                    u.live_tokens,
                    u.live_sessions
                );
            }
            return Ok(());
        }
        UserCommand::Disable { username, .. } => (username, Some(true)),
        UserCommand::Enable { username, .. } => (username, Some(false)),
        UserCommand::RevokeTokens { username, .. } => (username, None),
    };
    let (tokens, sessions) = state
        .db
        .revoke_user(&username, disabled)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account {username:?}"))?;
    match disabled {
        Some(true) => println!("{username} disabled"),
        Some(false) => println!("{username} enabled"),
        None => {}
    }
    println!("revoked {tokens} login token(s) and {sessions} session(s)");
    Ok(())
}
