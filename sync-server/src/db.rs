//! The SQL store: SQLite (WAL, `synchronous=FULL`) or PostgreSQL through sqlx's `Any`
//! driver, one schema from `migrations/`, parameterised SQL only (`$1, $2, ...` work on both).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Row};
use uuid::Uuid;

use inkset_protocol::api::{DrawingSummary, ShapeInfo};

use crate::now_ms;

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

/// The sessions of the player holding session `$1`: itself, and every session of the
/// account it is linked to.
const PLAYER_SESSIONS: &str = "SELECT s2.id FROM sessions s1 JOIN sessions s2 \
     ON s2.id = s1.id OR (s1.user_id IS NOT NULL AND s2.user_id = s1.user_id) WHERE s1.id = $1";

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
    pool: AnyPool,
    backend: Backend,
}

/// One drawing row to insert.
#[derive(Debug, Clone)]
pub struct NewDrawingRow {
    /// Drawing id.
    pub id: Uuid,
    /// Shape name.
    pub shape: String,
    /// Uploading session.
    pub session_id: Option<Uuid>,
    /// `api` or `import`.
    pub origin: &'static str,
    /// Server receive time, ms.
    pub received_at: i64,
    /// First point's timestamp.
    pub client_started_at: Option<i64>,
    /// Duration, ms.
    pub duration_ms: Option<i64>,
    /// Device class.
    pub device: Option<&'static str>,
    /// Strokes.
    pub stroke_count: i64,
    /// Points.
    pub point_count: i64,
    /// Segment byte offset of the framed record.
    pub segment_offset: i64,
    /// Framed record length.
    pub segment_length: i64,
    /// sha256 of the record, hex.
    pub content_hash: String,
    /// Quick, Draw! key_id.
    pub source_key_id: Option<String>,
    /// Quick, Draw! recognized, 0/1.
    pub source_recognized: Option<i64>,
    /// Quick, Draw! countrycode.
    pub source_countrycode: Option<String>,
    /// Quick, Draw! timestamp, µs since the epoch.
    pub source_timestamp_us: Option<i64>,
    /// Server-corrected time of the first point, ms (see `BatchUpload::sent_at`).
    pub drawn_at: i64,
    /// The on-device guess: recognised, 0/1.
    pub guess_recognized: Option<i64>,
    /// The on-device guess: the prompted shape's probability.
    pub guess_confidence: Option<f64>,
    /// The on-device guess: recognizer version.
    pub guess_model_version: Option<i64>,
    /// Distinct reported pointer types of the strokes, sorted, comma-separated.
    pub pointer_types: Option<String>,
    /// Time from the prompt to the first point, ms.
    pub prompt_to_first_point_ms: Option<i64>,
}

/// What is stored under an id already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// sha256 of the stored record.
    pub content_hash: String,
    /// When it was stored.
    pub received_at: i64,
}

/// One drawing's automatic score and the recognizer's answer (see `crate::quality`).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The drawing.
    pub id: Uuid,
    /// Quality score, 0..=1.
    pub score: f64,
    /// The recognizer's top class, `None` without a recognizer.
    pub guess: Option<String>,
    /// Its probability, 0..=1.
    pub confidence: Option<f64>,
}

/// Where a drawing's record is.
#[derive(Debug, Clone)]
pub struct RecordLocation {
    /// Segment object key.
    pub segment_key: String,
    /// Offset of the framed record.
    pub offset: u64,
    /// Length of the framed record.
    pub length: u64,
}

pub use inkset_protocol::api::DrawingFilter;
use inkset_protocol::api::{DrawingSort, Verdict};

/// Outcome of a bulk change guarded by the count the admin confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Made; this many rows changed.
    Done(u64),
    /// Not made: the filter now matches this many drawings.
    CountDiffers(u64),
}

/// SQL of a [`DrawingFilter`].
pub trait FilterSql {
    /// Appends `AND ...` clauses for this filter (`$N` placeholders numbered after the
    /// arguments already in `args`), pushing their arguments.
    fn push_sql(&self, sql: &mut String, args: &mut Vec<Arg>);
}

impl FilterSql for DrawingFilter {
    fn push_sql(&self, sql: &mut String, args: &mut Vec<Arg>) {
        let mut add = |clause: &str, arg: Arg, sql: &mut String| {
            args.push(arg);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if !self.include_removed {
            sql.push_str(" AND removed_at IS NULL");
        }
        if let Some(s) = &self.shape {
            add(" AND shape = ?", Arg::Text(s.clone()), sql);
        }
        if let Some(f) = self.flagged {
            add(" AND flagged = ?", Arg::Int(i64::from(f)), sql);
        }
        if let Some(q) = self.quality_min {
            add(" AND quality_score >= ?", Arg::Float(q), sql);
        }
        if let Some(q) = self.quality_max {
            add(" AND quality_score <= ?", Arg::Float(q), sql);
        }
        if let Some(t) = self.from {
            add(" AND received_at >= ?", Arg::Int(t), sql);
        }
        if let Some(t) = self.to {
            add(" AND received_at < ?", Arg::Int(t), sql);
        }
        if let Some(s) = self.session {
            add(" AND session_id = ?", Arg::Text(s.to_string()), sql);
        }
        match self.device.as_deref() {
            None => {}
            Some("none") => sql.push_str(" AND device IS NULL"),
            Some(d) => add(" AND device = ?", Arg::Text(d.to_owned()), sql),
        }
        if let Some(o) = &self.origin {
            add(" AND origin = ?", Arg::Text(o.clone()), sql);
        }
        match self.verdict {
            None => {}
            Some(Verdict::Agrees) => sql.push_str(" AND model_guess = shape"),
            Some(Verdict::Disagrees) => {
                sql.push_str(" AND model_guess IS NOT NULL AND model_guess <> shape");
            }
            Some(Verdict::Unjudged) => sql.push_str(" AND model_guess IS NULL"),
        }
        if let Some(g) = &self.guess {
            add(" AND model_guess = ?", Arg::Text(g.clone()), sql);
        }
    }
}

/// A position in a sorted drawing list: the sort column's value and the id of the last
/// row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cursor {
    /// `received_at` (newest and oldest orders).
    Time(i64, Uuid),
    /// `quality_score` or `model_confidence`.
    Score(f64, Uuid),
}

impl Cursor {
    /// The `next_cursor` text: `<value>_<id>`.
    pub fn encode(&self) -> String {
        match self {
            Self::Time(t, id) => format!("{t}_{id}"),
            Self::Score(v, id) => format!("{v}_{id}"),
        }
    }

    /// The cursor after `row` in `sort` order (`None` when the row has no sort value).
    pub fn after(sort: DrawingSort, row: &DrawingSummary) -> Option<Self> {
        match sort {
            DrawingSort::Newest | DrawingSort::Oldest => Some(Self::Time(row.received_at, row.id)),
            DrawingSort::QualityAsc | DrawingSort::QualityDesc => {
                row.quality_score.map(|q| Self::Score(q, row.id))
            }
            DrawingSort::ConfidenceAsc | DrawingSort::ConfidenceDesc => {
                row.model_confidence.map(|c| Self::Score(c, row.id))
            }
        }
    }

    /// Parses [`Self::encode`]'s text for `sort`; `None` when malformed.
    pub fn parse(sort: DrawingSort, text: &str) -> Option<Self> {
        let (value, id) = text.split_once('_')?;
        let id = Uuid::parse_str(id).ok()?;
        match sort {
            DrawingSort::Newest | DrawingSort::Oldest => Some(Self::Time(value.parse().ok()?, id)),
            _ => value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| Self::Score(v, id)),
        }
    }
}

const SUMMARY_COLUMNS: &str = "id, shape, session_id, origin, received_at, client_started_at, \
     stroke_count, point_count, device, quality_score, flagged, flag_reason, removed_at, \
     source_key_id, model_guess, model_confidence";

fn summary_from_row(row: &AnyRow) -> Result<DrawingSummary, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let session: Option<String> = row.try_get("session_id")?;
    let parse = |s: &str| Uuid::parse_str(s).map_err(|e| sqlx::Error::Decode(Box::new(e)));
    Ok(DrawingSummary {
        id: parse(&id)?,
        shape: row.try_get("shape")?,
        session_id: session.as_deref().map(parse).transpose()?,
        origin: row.try_get("origin")?,
        received_at: row.try_get("received_at")?,
        client_started_at: row.try_get("client_started_at")?,
        stroke_count: u32::try_from(row.try_get::<i64, _>("stroke_count")?).unwrap_or(u32::MAX),
        point_count: u32::try_from(row.try_get::<i64, _>("point_count")?).unwrap_or(u32::MAX),
        device: row.try_get("device")?,
        quality_score: row.try_get("quality_score")?,
        flagged: row.try_get::<i64, _>("flagged")? != 0,
        flag_reason: row.try_get("flag_reason")?,
        removed_at: row.try_get("removed_at")?,
        source_key_id: row.try_get("source_key_id")?,
        model_guess: row.try_get("model_guess")?,
        model_confidence: row.try_get("model_confidence")?,
        thumbnail: None,
    })
}

fn location_from_row(row: &AnyRow) -> Result<RecordLocation, sqlx::Error> {
    Ok(RecordLocation {
        segment_key: row.try_get("segment_key")?,
        offset: u64::try_from(row.try_get::<i64, _>("segment_offset")?).unwrap_or(0),
        length: u64::try_from(row.try_get::<i64, _>("segment_length")?).unwrap_or(0),
    })
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
                        // durable before it is acknowledged.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
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
        sqlx::migrate!("./migrations").run(&pool).await?;
        let db = Self { pool, backend };
        db.seed_shapes().await?;
        Ok(db)
    }

    /// Most values in one `IN (...)` list.
    fn max_in_list(&self) -> usize {
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

    /// Every shape, by name.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn shapes(&self) -> Result<Vec<ShapeInfo>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT name, display_name, enabled, round_seconds FROM shapes WHERE kind = 'prompt' \
             ORDER BY created_at, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ShapeInfo {
                    name: r.try_get("name")?,
                    display_name: r.try_get("display_name")?,
                    enabled: r.try_get::<i64, _>("enabled")? != 0,
                    round_seconds: u32::try_from(r.try_get::<i64, _>("round_seconds")?)
                        .unwrap_or(20),
                })
            })
            .collect()
    }

    /// Words stored as distractors (drawings of "not a shape": never prompted, they train
    /// the recognizer's `unknown` class).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn distractor_words(&self) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query("SELECT name FROM shapes WHERE kind = 'distractor' ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("name")).collect()
    }

    /// Registers a distractor word (disabled for prompting); `false` when the name exists.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn add_distractor(&self, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO shapes (name, display_name, enabled, round_seconds, created_at, kind) \
             VALUES ($1, $1, 0, 20, $2, 'distractor') ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds a shape; returns `false` when the name exists.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn add_shape(
        &self,
        name: &str,
        display_name: &str,
        round_seconds: u32,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO shapes (name, display_name, enabled, round_seconds, created_at) \
             VALUES ($1, $2, 1, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(display_name)
        .bind(i64::from(round_seconds))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates an account (`role` = `admin` or `player`); returns `false` when the name is
    /// taken.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(username)
        .bind(password_hash)
        .bind(role)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `(user id, password hash, role)` of an enabled account.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn user_for_login(
        &self,
        username: &str,
    ) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, password_hash, role FROM users WHERE username = $1 AND disabled = 0",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("password_hash")?,
                r.try_get("role")?,
            ))
        })
        .transpose()
    }

    /// Stores an auth token's hash for `user_id`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn insert_auth_token(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The role of the account holding a live token, if any.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn token_role(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT u.id, u.role FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 \
             AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("role")?)))
            .transpose()
    }

    /// Revokes a token; returns whether one was live.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn revoke_token(&self, token_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates an anonymous player session.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_session(
        &self,
        id: Uuid,
        token_hash: &str,
        user_agent: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_agent, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(token_hash)
        .bind(user_agent)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session holding a token.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn session_for_token(&self, token_hash: &str) -> Result<Option<Uuid>, sqlx::Error> {
        let row = sqlx::query("SELECT id FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .and_then(|r| r.try_get::<String, _>("id").ok())
            .and_then(|s| Uuid::parse_str(&s).ok()))
    }

    /// What is stored under each of `ids` already.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn existing(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Existing>, sqlx::Error> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(self.max_in_list()) {
            let sql = format!(
                "SELECT id, content_hash, received_at FROM drawings WHERE id IN ({})",
                self.placeholders(1, chunk.len())
            );
            let args: Vec<Arg> = chunk.iter().map(|id| Arg::Text(id.to_string())).collect();
            for row in query_with(&sql, &args).fetch_all(&self.pool).await? {
                let id: String = row.try_get("id")?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    out.insert(
                        id,
                        Existing {
                            content_hash: row.try_get("content_hash")?,
                            received_at: row.try_get("received_at")?,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Inserts a segment and its drawings in one transaction. Rows whose id exists already
    /// are skipped; the ids actually inserted are returned.
    ///
    /// # Errors
    /// On SQL failure; nothing is inserted then.
    pub async fn insert_segment(
        &self,
        segment_key: &str,
        byte_count: i64,
        rows: &[NewDrawingRow],
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        const COLUMNS: usize = 24;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO segments (object_key, drawing_count, byte_count, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(segment_key)
        .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
        .bind(byte_count)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let mut inserted = Vec::with_capacity(rows.len());
        // Multi-row INSERTs: one round trip per 1,000 rows (18,000 parameters, within both
        // servers' limits).
        for chunk in rows.chunks(1_000) {
            let mut sql = String::from(
                "INSERT INTO drawings (id, shape, session_id, origin, received_at, \
                 client_started_at, duration_ms, device, stroke_count, point_count, segment_key, \
                 segment_offset, segment_length, content_hash, source_key_id, source_recognized, \
                 source_countrycode, source_timestamp_us, drawn_at, guess_recognized, \
                 guess_confidence, guess_model_version, pointer_types, \
                 prompt_to_first_point_ms) VALUES ",
            );
            let mut args = Vec::with_capacity(chunk.len() * COLUMNS);
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                sql.push_str(&self.placeholders(i * COLUMNS + 1, COLUMNS));
                sql.push(')');
                args.extend([
                    Arg::Text(r.id.to_string()),
                    Arg::Text(r.shape.clone()),
                    Arg::OptText(r.session_id.map(|s| s.to_string())),
                    Arg::Text(r.origin.to_owned()),
                    Arg::Int(r.received_at),
                    Arg::OptInt(r.client_started_at),
                    Arg::OptInt(r.duration_ms),
                    Arg::OptText(r.device.map(str::to_owned)),
                    Arg::Int(r.stroke_count),
                    Arg::Int(r.point_count),
                    Arg::Text(segment_key.to_owned()),
                    Arg::Int(r.segment_offset),
                    Arg::Int(r.segment_length),
                    Arg::Text(r.content_hash.clone()),
                    Arg::OptText(r.source_key_id.clone()),
                    Arg::OptInt(r.source_recognized),
                    Arg::OptText(r.source_countrycode.clone()),
                    Arg::OptInt(r.source_timestamp_us),
                    Arg::Int(r.drawn_at),
                    Arg::OptInt(r.guess_recognized),
                    Arg::OptFloat(r.guess_confidence),
                    Arg::OptInt(r.guess_model_version),
                    Arg::OptText(r.pointer_types.clone()),
                    Arg::OptInt(r.prompt_to_first_point_ms),
                ]);
            }
            sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
            for row in query_with(&sql, &args).fetch_all(&mut *tx).await? {
                let id: String = row.try_get("id")?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    inserted.push(id);
                }
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Where the record of a drawing is, and its summary.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn drawing_location(
        &self,
        id: Uuid,
    ) -> Result<Option<(DrawingSummary, RecordLocation)>, sqlx::Error> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, segment_key, segment_offset, segment_length \
             FROM drawings WHERE id = $1"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((summary_from_row(&row)?, location_from_row(&row)?)))
    }

    /// One page of drawings matching `filter` in `sort` order after `cursor` (the last row
    /// of the previous page), with where each record is stored.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn list_drawings(
        &self,
        filter: &DrawingFilter,
        sort: DrawingSort,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Vec<(DrawingSummary, RecordLocation)>, sqlx::Error> {
        let mut sql = format!(
            "SELECT {SUMMARY_COLUMNS}, segment_key, segment_offset, segment_length \
             FROM drawings WHERE 1 = 1"
        );
        let mut args = Vec::new();
        filter.push_sql(&mut sql, &mut args);
        let (column, descending) = match sort {
            DrawingSort::Newest => ("received_at", true),
            DrawingSort::Oldest => ("received_at", false),
            DrawingSort::QualityAsc => ("quality_score", false),
            DrawingSort::QualityDesc => ("quality_score", true),
            DrawingSort::ConfidenceAsc => ("model_confidence", false),
            DrawingSort::ConfidenceDesc => ("model_confidence", true),
        };
        if column != "received_at" {
            sql.push_str(&format!(" AND {column} IS NOT NULL"));
        }
        let value = match cursor {
            Some(Cursor::Time(t, id)) => Some((Arg::Int(t), id)),
            Some(Cursor::Score(v, id)) => Some((Arg::Float(v), id)),
            None => None,
        };
        if let Some((value, id)) = value {
            args.push(value);
            args.push(Arg::Text(id.to_string()));
            let (a, b) = (args.len() - 1, args.len());
            let cmp = if descending { '<' } else { '>' };
            sql.push_str(&format!(
                " AND ({column} {cmp} ${a} OR ({column} = ${a} AND id {cmp} ${b}))"
            ));
        }
        let dir = if descending { "DESC" } else { "ASC" };
        sql.push_str(&format!(
            " ORDER BY {column} {dir}, id {dir} LIMIT {}",
            limit.min(10_000)
        ));
        let rows = query_with(&sql, &args).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok((summary_from_row(row)?, location_from_row(row)?)))
            .collect()
    }

    /// How many drawings match `filter`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn count_drawings(&self, filter: &DrawingFilter) -> Result<u64, sqlx::Error> {
        let mut sql = String::from("SELECT COUNT(*) AS n FROM drawings WHERE 1 = 1");
        let mut args = Vec::new();
        filter.push_sql(&mut sql, &mut args);
        let row = query_with(&sql, &args).fetch_one(&self.pool).await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// Flags, unflags or removes every drawing matching `filter` (removed drawings are
    /// never touched again); returns how many changed.
    ///
    /// With `expected`, the change is made only if the filter matches exactly that many
    /// drawings ([`Self::count_drawings`]'s count) in the same statement's snapshot;
    /// otherwise nothing changes and the answer is [`Guarded::CountDiffers`].
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn curate_filter(
        &self,
        filter: &DrawingFilter,
        action: inkset_protocol::api::BulkAction,
        reason: Option<&str>,
        expected: Option<u64>,
    ) -> Result<Guarded, sqlx::Error> {
        use inkset_protocol::api::BulkAction;
        let now = now_ms();
        let (mut args, set) = match action {
            BulkAction::Flag => (
                vec![Arg::Int(now), Arg::OptText(reason.map(str::to_owned))],
                "flagged = 1, flagged_at = $1, flag_reason = $2",
            ),
            BulkAction::Unflag => (
                vec![Arg::Int(now)],
                "flagged = 0, flagged_at = $1, flag_reason = NULL",
            ),
            BulkAction::Remove => (vec![Arg::Int(now)], "removed_at = $1"),
        };
        let mut sql = format!("UPDATE drawings SET {set} WHERE removed_at IS NULL");
        if action == BulkAction::Unflag {
            sql.push_str(" AND flagged = 1");
        }
        filter.push_sql(&mut sql, &mut args);
        if let Some(n) = expected {
            // One statement: the count and the rows changed come from one snapshot.
            sql.push_str(" AND (SELECT COUNT(*) FROM drawings WHERE 1 = 1");
            filter.push_sql(&mut sql, &mut args);
            args.push(Arg::Int(i64::try_from(n).unwrap_or(i64::MAX)));
            sql.push_str(&format!(") = ${}", args.len()));
        }
        let affected = query_with(&sql, &args)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if affected == 0
            && let Some(n) = expected
        {
            let now = self.count_drawings(filter).await?;
            if now != n {
                return Ok(Guarded::CountDiffers(now));
            }
        }
        Ok(Guarded::Done(affected))
    }

    /// One page of record locations of the drawings matching `filter`, oldest first
    /// (`received_at`, then `id`), after the keyset position `after` (the last row of the
    /// previous page): at most `limit` rows of `(id, received_at ms, location)`. Rows of one
    /// segment come together, so a reader keeping the last segment reads each once. Used
    /// by exports and training data snapshots, which page through any number of drawings
    /// in bounded memory.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn locations_page(
        &self,
        filter: &DrawingFilter,
        after: Option<(i64, Uuid)>,
        limit: usize,
    ) -> Result<Vec<(Uuid, i64, RecordLocation)>, sqlx::Error> {
        let mut sql = String::from(
            "SELECT id, received_at, segment_key, segment_offset, segment_length FROM drawings \
             WHERE 1 = 1",
        );
        let mut args = Vec::new();
        if let Some((t, id)) = after {
            args.push(Arg::Int(t));
            args.push(Arg::Text(id.to_string()));
            sql.push_str(" AND (received_at > $1 OR (received_at = $1 AND id > $2))");
        }
        filter.push_sql(&mut sql, &mut args);
        args.push(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY received_at, id LIMIT ${}", args.len()));
        let rows = query_with(&sql, &args).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok((
                    Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    r.try_get("received_at")?,
                    RecordLocation {
                        segment_key: r.try_get("segment_key")?,
                        offset: u64::try_from(r.try_get::<i64, _>("segment_offset")?).unwrap_or(0),
                        length: u64::try_from(r.try_get::<i64, _>("segment_length")?).unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    /// Sets `flagged` (with a reason) or marks removed; returns rows changed.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn curate(
        &self,
        ids: &[Uuid],
        action: inkset_protocol::api::BulkAction,
        reason: Option<&str>,
    ) -> Result<u64, sqlx::Error> {
        use inkset_protocol::api::BulkAction;
        let mut affected = 0;
        let now = now_ms();
        for chunk in ids.chunks(self.max_in_list()) {
            let mut args = match action {
                BulkAction::Flag => vec![Arg::Int(now), Arg::OptText(reason.map(str::to_owned))],
                BulkAction::Unflag | BulkAction::Remove => vec![Arg::Int(now)],
            };
            let set = match action {
                BulkAction::Flag => format!(
                    "flagged = 1, flagged_at = {}, flag_reason = {}",
                    self.placeholders(1, 1),
                    self.placeholders(2, 1)
                ),
                BulkAction::Unflag => format!(
                    "flagged = 0, flagged_at = {}, flag_reason = NULL",
                    self.placeholders(1, 1)
                ),
                BulkAction::Remove => format!("removed_at = {}", self.placeholders(1, 1)),
            };
            // Flagging again updates the reason; unflagging touches flagged rows only.
            let guard = match action {
                BulkAction::Unflag => " AND flagged = 1",
                BulkAction::Flag | BulkAction::Remove => "",
            };
            let start = args.len() + 1;
            args.extend(chunk.iter().map(|id| Arg::Text(id.to_string())));
            let sql = format!(
                "UPDATE drawings SET {set} WHERE id IN ({}) AND removed_at IS NULL{guard}",
                self.placeholders(start, chunk.len())
            );
            affected += query_with(&sql, &args)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(affected)
    }

    /// Whether a drawing with this id exists (removed or not).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn drawing_exists(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("SELECT id FROM drawings WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Counts by `(shape, flagged)` of drawings not removed, and the removed count.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn shape_counts(&self) -> Result<(Vec<(String, bool, u64)>, u64), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT shape, flagged, COUNT(*) AS n FROM drawings WHERE removed_at IS NULL \
             GROUP BY shape, flagged",
        )
        .fetch_all(&self.pool)
        .await?;
        let counts = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("shape")?,
                    r.try_get::<i64, _>("flagged")? != 0,
                    u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let removed: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM drawings WHERE removed_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        Ok((counts, u64::try_from(removed).unwrap_or(0)))
    }

    /// Quality histogram: 10 bins over 0..=1 and the unscored count.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn quality_histogram(&self) -> Result<(Vec<u64>, u64), sqlx::Error> {
        let mut case = String::from("CASE WHEN quality_score IS NULL THEN -1");
        for bin in (1..10).rev() {
            case.push_str(&format!(" WHEN quality_score >= 0.{bin} THEN {bin}"));
        }
        case.push_str(" ELSE 0 END");
        let sql = format!(
            "SELECT CAST({case} AS BIGINT) AS bin, COUNT(*) AS n FROM drawings \
             WHERE removed_at IS NULL GROUP BY 1"
        );
        let mut bins = vec![0u64; 10];
        let mut unscored = 0;
        for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
            let bin: i64 = r.try_get("bin")?;
            let n = u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0);
            match usize::try_from(bin) {
                Ok(b) if b < 10 => bins[b] += n,
                _ => unscored += n,
            }
        }
        Ok((bins, unscored))
    }

    /// Drawings per UTC day number (days since the epoch), oldest first.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn per_day(&self, session: Option<Uuid>) -> Result<BTreeMap<i64, u64>, sqlx::Error> {
        let mut sql = String::from(
            "SELECT CAST(received_at / 86400000 AS BIGINT) AS day, COUNT(*) AS n FROM drawings \
             WHERE removed_at IS NULL",
        );
        let mut args = Vec::new();
        if let Some(s) = session {
            args.push(Arg::Text(s.to_string()));
            sql.push_str(" AND session_id = $1");
        }
        sql.push_str(" GROUP BY 1 ORDER BY 1");
        let mut out = BTreeMap::new();
        for r in query_with(&sql, &args).fetch_all(&self.pool).await? {
            out.insert(
                r.try_get("day")?,
                u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
            );
        }
        Ok(out)
    }

    /// Drawings whose automatic quality score is missing or came from another recognizer
    /// than `model_key` (`none`, or the production model's id), not overridden by an admin
    /// and not removed: up to `limit`, newest first, with their record locations.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn quality_due(
        &self,
        model_key: &str,
        limit: usize,
    ) -> Result<Vec<(Uuid, RecordLocation)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, segment_key, segment_offset, segment_length FROM drawings \
             WHERE (quality_model_id IS NULL OR quality_model_id <> $1) \
             AND removed_at IS NULL \
             ORDER BY received_at DESC LIMIT $2",
        )
        .bind(model_key)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok((
                    Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    RecordLocation {
                        segment_key: r.try_get("segment_key")?,
                        offset: u64::try_from(r.try_get::<i64, _>("segment_offset")?).unwrap_or(0),
                        length: u64::try_from(r.try_get::<i64, _>("segment_length")?).unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    /// Stores automatic quality scores computed with `model_key` (rows an admin overrode in
    /// the meantime keep the admin's score).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn set_quality(&self, scores: &[Scored], model_key: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for s in scores {
            // The recognizer's answer is kept even under an admin's score override.
            sqlx::query(
                "UPDATE drawings SET quality_score = CASE WHEN quality_override = 0 THEN $1 \
                 ELSE quality_score END, quality_model_id = $2, model_guess = $3, \
                 model_confidence = $4 WHERE id = $5",
            )
            .bind(s.score)
            .bind(model_key)
            .bind(s.guess.as_deref())
            .bind(s.confidence)
            .bind(s.id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// An admin's quality score for a drawing (`Some`), or back to the automatic score
    /// (`None`: rescored by the next round). Returns whether the drawing exists.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn override_quality(
        &self,
        id: Uuid,
        score: Option<f64>,
    ) -> Result<bool, sqlx::Error> {
        let done = match score {
            Some(q) => {
                sqlx::query(
                    "UPDATE drawings SET quality_score = $1, quality_override = 1 \
                     WHERE id = $2 AND removed_at IS NULL",
                )
                .bind(q)
                .bind(id.to_string())
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE drawings SET quality_override = 0, quality_model_id = NULL \
                     WHERE id = $1 AND removed_at IS NULL",
                )
                .bind(id.to_string())
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    /// Drawings per shape of a player: the session, or every session of its account when
    /// it is linked to one (removed drawings not counted).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn player_counts(&self, session: Uuid) -> Result<BTreeMap<String, u64>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT shape, COUNT(*) AS n FROM drawings WHERE session_id IN ({PLAYER_SESSIONS}) \
             AND removed_at IS NULL GROUP BY shape"
        ))
        .bind(session.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("shape")?,
                    u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// The days (whole days since the Unix epoch, shifted by `utc_offset_ms`) on which a
    /// player (as in [`Db::player_counts`]) made a drawing, by server-corrected time.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn player_days(
        &self,
        session: Uuid,
        utc_offset_ms: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT CAST((COALESCE(drawn_at, received_at) + $2) / 86400000 AS BIGINT) \
             AS day FROM drawings WHERE session_id IN ({PLAYER_SESSIONS}) \
             AND removed_at IS NULL ORDER BY 1"
        ))
        .bind(session.to_string())
        .bind(utc_offset_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get("day")).collect()
    }

    /// The account a session is linked to: `(user id, username)`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn session_account(
        &self,
        session: Uuid,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1",
        )
        .bind(session.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("username")?)))
            .transpose()
    }

    /// Creates a player account and links `session` to it, in one transaction. Returns the
    /// new user id, or `None` when the username is taken (nothing changed).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_player(
        &self,
        session: Uuid,
        username: &str,
        password_hash: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let id = Uuid::new_v4().to_string();
        let done = sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at) \
             VALUES ($1, $2, $3, 'player', $4) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&id)
        .bind(username)
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query("UPDATE sessions SET user_id = $1 WHERE id = $2")
            .bind(&id)
            .bind(session.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Links `session` to the account `user_id` (signing in on another device).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn link_session(&self, session: Uuid, user_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE sessions SET user_id = $1 WHERE id = $2")
            .bind(user_id)
            .bind(session.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stored drawings (not removed) grouped by one column's value (`NULL` as `none`).
    /// `column` is one of this module's own names, never user input.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn count_by(
        &self,
        column: &'static str,
    ) -> Result<BTreeMap<String, u64>, sqlx::Error> {
        let sql = format!(
            "SELECT COALESCE(CAST({column} AS TEXT), 'none') AS k, COUNT(*) AS n FROM drawings \
             WHERE removed_at IS NULL GROUP BY 1"
        );
        let mut out = BTreeMap::new();
        for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
            out.insert(
                r.try_get("k")?,
                u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
            );
        }
        Ok(out)
    }

    /// Times from prompt to first point of stored drawings (not removed), ms, ascending.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn prompt_times(&self) -> Result<Vec<i64>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT prompt_to_first_point_ms AS t FROM drawings \
             WHERE removed_at IS NULL AND prompt_to_first_point_ms IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get("t")).collect()
    }

    /// Accounts (signed-in players) with at least one stored drawing.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn contributing_players(&self) -> Result<u64, sqlx::Error> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(DISTINCT s.user_id) AS n FROM drawings d \
             JOIN sessions s ON s.id = d.session_id WHERE s.user_id IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Sessions with at least one drawing.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn contributing_sessions(&self) -> Result<u64, sqlx::Error> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(DISTINCT session_id) AS n FROM drawings WHERE session_id IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
