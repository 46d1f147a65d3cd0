//! The SQL store: SQLite (WAL, `synchronous=FULL`) or PostgreSQL through sqlx's `Any`
//! driver, one schema from `migrations/`, parameterised SQL only (`$1, $2, ...` work on both).

use crate::now_ms;
use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// The five shapes every new database starts with: (name, display name).
pub const SEED_SHAPES: [(&str, &str); 5] = [
    ("line", "Line"),
    ("heart", "Heart"),
    ("circle", "Circle"),
    ("square", "Square"),
    ("triangle", "Triangle"),
];

/// Which SQL server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Errors of the SQL store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("database_url must start with sqlite:// or postgres://")]
    BadUrl,
    /// The server or file failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A dynamically bound SQL argument.
#[derive(Debug, Clone)]
pub enum Arg {
    /// BIGINT.
    Int(i64),
    /// Nullable BIGINT.
    OptInt(Option<i64>),
    /// DOUBLE PRECISION.
    Float(f64),
    /// Nullable DOUBLE PRECISION.
    OptFloat(Option<f64>),
    /// TEXT.
    Text(String),
    /// Nullable TEXT.
    OptText(Option<String>),
}

/// Binds `args` in order to `$1..$n` of `sql`.
pub fn query_with<'q>(sql: &'q str, args: &'q [Arg]) -> Query<'q, Any, AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::OptInt(v) => q.bind(*v),
            Arg::Float(v) => q.bind(*v),
            Arg::OptFloat(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.as_str()),
            Arg::OptText(v) => q.bind(v.as_deref()),
        };
    }
    q
}

/// `$start, $start+1, ...` for `n` values.
pub fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL store.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

/// Whether `e` only means "this transaction lost a race; run it again": PostgreSQL's
/// serialization failure (SQLSTATE 40001) or deadlock (40P01); SQLite's `SQLITE_BUSY` (5)
/// or `SQLITE_LOCKED` (6), with any extended code (the low byte is the primary code).
pub fn is_retryable(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    match db.code().as_deref() {
        Some("40001" | "40P01") => true,
        // PostgreSQL's SQLSTATEs have five characters; SQLite's codes are decimal numbers
        // below 10,000.
        Some(code) if code.len() < 5 => {
            code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
        }
        _ => false,
    }
}

/// A UUID stored as text.
pub(crate) fn uuid(s: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// A JSON document stored as text.
pub(crate) fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

impl Db {
    /// Connects to `url` (creating the SQLite file if needed) and runs the migrations.
    ///
    /// # Errors
    /// [`DbError`] when the URL is unsupported, the server is unreachable or a migration
    /// fails.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::BadUrl);
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        if backend == Backend::Sqlite
            && let Some(path) = url
                .strip_prefix("sqlite://")
                .and_then(|p| p.split('?').next())
            && let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        let options = AnyConnectOptions::from_str(&url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool_options = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the writer; FULL makes each commit
                        // durable before it is acknowledged. A 64 MiB page cache per
                        // connection (SQLite's default is 2 MiB) keeps the upper levels of
                        // the drawing indexes in memory at millions of rows.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA cache_size = -65536;",
                        )
                        .await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        // The shared schema, then the backend's own (triggers differ). Each migrator leaves
        // the other's versions alone in `_sqlx_migrations`.
        let mut shared = sqlx::migrate!("./migrations");
        shared.set_ignore_missing(true).run(&pool).await?;
        let mut own = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        own.set_ignore_missing(true).run(&pool).await?;
        let db = Self { pool, backend };
        db.seed_shapes().await?;
        Ok(db)
    }

    /// Most values in one `IN (...)` list.
    pub(crate) fn max_in_list(&self) -> usize {
        1_000
    }

    /// Placeholders for `n` arguments bound at positions `start..start + n`, which must be
    /// the last ones bound so far: `$start, ...` on PostgreSQL, `?, ...` on SQLite. SQLite
    /// finds each named parameter by a linear scan of all names, so thousands of `$N` in
    /// one statement cost O(n^2); anonymous `?` cost nothing.
    pub fn placeholders(&self, start: usize, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => vec!["?"; n].join(", "),
            Backend::Postgres => placeholders(start, n),
        }
    }

    /// Which SQL server this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that writes, so that it never fails for reading first.
    ///
    /// * SQLite: `BEGIN IMMEDIATE` takes the database's write lock at the start, waiting for
    ///   it up to the connection's `busy_timeout` (10 s). A deferred `BEGIN` (sqlx's
    ///   `begin()`) that reads and then writes fails at once with `SQLITE_BUSY` whenever
    ///   another connection committed in between, since it cannot upgrade a stale read
    ///   snapshot (SQLite's documentation, "BEGIN TRANSACTION" and "WAL mode": busy
    ///   snapshot); waiting would not help, so the busy handler is not called.
    /// * PostgreSQL: a `READ COMMITTED` transaction; a path that writes what it read first
    ///   locks it ([`Self::lock_job`], [`Self::lock_model_versions`]).
    ///
    /// # Errors
    /// When no connection is free within the pool's acquire timeout (30 s), or SQLite's
    /// write lock stays taken past the busy timeout.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// In a [`Self::begin_write`] transaction on PostgreSQL, locks a training job's row
    /// until the transaction ends, so appending its events (numbered by `MAX(seq) + 1`)
    /// cannot race another writer of the same job. On SQLite the transaction already holds
    /// the write lock: nothing to do.
    ///
    /// # Errors
    /// On SQL failure.
    pub(crate) async fn lock_job(
        &self,
        tx: &mut Transaction<'static, Any>,
        job: &str,
    ) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM training_jobs WHERE id = $1 FOR UPDATE")
                .bind(job)
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// In a [`Self::begin_write`] transaction on PostgreSQL, makes registrations of model
    /// versions take turns (versions are numbered `MAX(version) + 1` per kind; readers are
    /// not blocked). Nothing to do on SQLite.
    ///
    /// # Errors
    /// On SQL failure.
    pub(crate) async fn lock_model_versions(
        &self,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("LOCK TABLE models IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Runs `attempt` again (up to 5 times in all, after 10, 20, 40, 80 ms) while it fails
    /// with an error that only means "try again": a PostgreSQL serialization failure
    /// (SQLSTATE 40001) or deadlock (40P01), or SQLite's busy or locked error (codes 5
    /// and 6, with their extended forms). `attempt` must be safe to repeat: a transaction
    /// that rolled back, or one statement.
    ///
    /// # Errors
    /// The last error, or the first that is not retryable.
    pub async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, sqlx::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let mut wait = Duration::from_millis(10);
        for _ in 1..5 {
            match attempt().await {
                Err(e) if is_retryable(&e) => {
                    tracing::debug!(error = %e, "retrying a write that lost a race");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                done => return done,
            }
        }
        attempt().await
    }

    /// The pool, for queries outside this module.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks the server answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    async fn seed_shapes(&self) -> Result<(), sqlx::Error> {
        let now = now_ms();
        for (name, display) in SEED_SHAPES {
            sqlx::query(
                "INSERT INTO shapes (name, display_name, enabled, round_seconds, created_at) \
                 VALUES ($1, $2, 1, 20, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(display)
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}
