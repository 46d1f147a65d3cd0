//! SQL for the model pipeline: worker tokens, training jobs with leases, job events, the
//! model registry and its aliases (with their append-only history).
//!
//! Leases: a claim sets `status = running`, `lease_owner`, `lease_expires_at` and bumps
//! `attempts` (the new value is the claim's `lease_attempt`) in one conditional UPDATE, so
//! two trainers can never both win a job. Every later worker call names its attempt; a call
//! for an attempt that is no longer current is refused. A job whose lease expired is
//! claimable again.

use crate::curation::sql::FilterSql;
use crate::db::{Db, json, uuid};
use crate::now_ms;
use inkset_protocol::ml::{
    DataPlan, JobLog, JobStatus, Lease, ProgressPoint, TrainingConfig, TrainingJob, WorkerToken,
};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// Why a worker call for a job was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LeaseCheck {
    /// The attempt holds the lease.
    Held,
    /// The job was cancelled.
    Cancelled,
    /// Another attempt holds it, or it ended.
    Lost,
    /// No such job.
    Missing,
}

const JOB_COLUMNS: &str = "id, status, model_kind, config, plan, created_at, started_at, \
     finished_at, lease_owner, lease_expires_at, lease_attempt, attempts, error, metrics, model_id";

fn job_from_row(r: &AnyRow) -> Result<TrainingJob, sqlx::Error> {
    let status: String = r.try_get("status")?;
    let plan: Option<String> = r.try_get("plan")?;
    let metrics: Option<String> = r.try_get("metrics")?;
    let model_id: Option<String> = r.try_get("model_id")?;
    let owner: Option<String> = r.try_get("lease_owner")?;
    let expires: Option<i64> = r.try_get("lease_expires_at")?;
    let attempt: Option<i64> = r.try_get("lease_attempt")?;
    let status = JobStatus::parse(&status).unwrap_or(JobStatus::Failed);
    Ok(TrainingJob {
        id: uuid(&r.try_get::<String, _>("id")?)?,
        status,
        model_kind: r.try_get("model_kind")?,
        config: json(&r.try_get::<String, _>("config")?)?,
        plan: plan.as_deref().map(json).transpose()?.unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        attempts: u64::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
        lease: match (status, owner, expires) {
            (JobStatus::Running, Some(owner), Some(expires_at)) => Some(Lease {
                owner,
                expires_at,
                attempt: u64::try_from(attempt.unwrap_or(0)).unwrap_or(0),
            }),
            _ => None,
        },
        progress: Vec::new(),
        logs: Vec::new(),
        metrics: metrics.as_deref().map(json).transpose()?,
        model_id: model_id.as_deref().map(uuid).transpose()?,
        error: r.try_get("error")?,
    })
}

impl Db {
    /// Creates a worker token; returns it with its secret (stored only as a sha256 hash).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_worker_token(
        &self,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<WorkerToken, sqlx::Error> {
        let secret = crate::players::auth::new_token();
        let id = Uuid::new_v4();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO worker_tokens (id, name, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(crate::players::auth::token_hash(&secret))
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(WorkerToken {
            id,
            name: name.to_owned(),
            token: Some(format!("iw_{secret}")),
            created_at: now,
            revoked_at: None,
            expires_at,
        })
    }

    /// Revokes the worker token with this secret (its own logout); returns whether it was
    /// live.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn revoke_worker_secret(&self, secret: &str) -> Result<bool, sqlx::Error> {
        let secret = secret.strip_prefix("iw_").unwrap_or(secret);
        let done = sqlx::query(
            "UPDATE worker_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(crate::players::auth::token_hash(secret))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The attempt number and the worker token of a job's latest claim.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn lease_token(&self, job: Uuid) -> Result<Option<(u64, Uuid)>, sqlx::Error> {
        let row =
            sqlx::query("SELECT lease_attempt, lease_token_id FROM training_jobs WHERE id = $1")
                .bind(job.to_string())
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempt: Option<i64> = row.try_get("lease_attempt")?;
        let token: Option<String> = row.try_get("lease_token_id")?;
        Ok(match (attempt, token) {
            (Some(a), Some(t)) => Some((u64::try_from(a).unwrap_or(0), uuid(&t)?)),
            _ => None,
        })
    }

    /// Revokes worker tokens by id or name; returns how many were live.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn revoke_worker_token(&self, id_or_name: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE worker_tokens SET revoked_at = $1 \
             WHERE (id = $2 OR name = $2) AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id_or_name)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Every worker token (without secrets), newest first.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn worker_tokens(&self) -> Result<Vec<WorkerToken>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, revoked_at, expires_at FROM worker_tokens \
             ORDER BY created_at DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkerToken {
                    id: uuid(&r.try_get::<String, _>("id")?)?,
                    name: r.try_get("name")?,
                    token: None,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// The live worker token with this secret: (id, name).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn worker_for_token(
        &self,
        secret: &str,
    ) -> Result<Option<(Uuid, String)>, sqlx::Error> {
        let secret = secret.strip_prefix("iw_").unwrap_or(secret);
        let row = sqlx::query(
            "SELECT id, name FROM worker_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(crate::players::auth::token_hash(secret))
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((uuid(&r.try_get::<String, _>("id")?)?, r.try_get("name")?)))
            .transpose()
    }

    /// Usable drawings per shape: not removed, not flagged, received before `before`, within
    /// the config's quality and date filters (from the summary tables when the filters allow,
    /// see [`Db::tally_counts_by_shape`]).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn usable_counts(
        &self,
        config: &TrainingConfig,
        before: i64,
    ) -> Result<Vec<(String, u64)>, sqlx::Error> {
        let filter = training_filter(config, None, before);
        if let Some(per_shape) = self.tally_counts_by_shape(&filter).await? {
            return Ok(per_shape.into_iter().collect());
        }
        let mut sql = String::from("SELECT shape, COUNT(*) AS n FROM drawings WHERE 1 = 1");
        let mut args = Vec::new();
        filter.push_sql(&mut sql, &mut args);
        sql.push_str(" GROUP BY shape");
        let rows = crate::db::query_with(&sql, &args)
            .fetch_all(self.pool())
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

    /// Creates a job (`pending`, or `failed` with `error`).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_job(
        &self,
        config: &TrainingConfig,
        plan: &DataPlan,
        error: Option<&str>,
        created_by: Option<&str>,
    ) -> Result<Uuid, sqlx::Error> {
        let id = Uuid::new_v4();
        let now = now_ms();
        let status = if error.is_some() {
            JobStatus::Failed
        } else {
            JobStatus::Pending
        };
        sqlx::query(
            "INSERT INTO training_jobs (id, status, model_kind, config, plan, created_by, \
             created_at, finished_at, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(config.model_kind.as_str())
        .bind(serde_json::to_string(config).unwrap_or_default())
        .bind(serde_json::to_string(plan).unwrap_or_default())
        .bind(created_by)
        .bind(now)
        .bind(error.map(|_| now))
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// A job without its curve and logs.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn job(&self, id: Uuid) -> Result<Option<TrainingJob>, sqlx::Error> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM training_jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// A job with the curve of its current (or last) attempt and every log line.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn job_detail(&self, id: Uuid) -> Result<Option<TrainingJob>, sqlx::Error> {
        let Some(mut job) = self.job(id).await? else {
            return Ok(None);
        };
        let rows =
            sqlx::query("SELECT at, kind, payload FROM job_events WHERE job_id = $1 ORDER BY seq")
                .bind(id.to_string())
                .fetch_all(self.pool())
                .await?;
        for r in &rows {
            let kind: String = r.try_get("kind")?;
            let payload: String = r.try_get("payload")?;
            let at: i64 = r.try_get("at")?;
            if kind == "progress" {
                let (attempt, point): (u64, ProgressPoint) = json(&payload)?;
                if attempt == job.attempts {
                    job.progress.push(point);
                }
            } else {
                job.logs.push(JobLog {
                    at,
                    level: kind,
                    message: json(&payload)?,
                });
            }
        }
        Ok(Some(job))
    }

    /// Jobs, newest first.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn jobs(&self, limit: usize) -> Result<Vec<TrainingJob>, sqlx::Error> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM training_jobs ORDER BY created_at DESC LIMIT {}",
            limit.min(1000)
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Appends log lines (`level`, text) and curve points (tagged with `attempt`) to a job.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn append_events(
        &self,
        job: Uuid,
        attempt: u64,
        logs: &[(String, String)],
        progress: &[ProgressPoint],
    ) -> Result<(), sqlx::Error> {
        if logs.is_empty() && progress.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut last_err = None;
        // Writers of one job's events are its lease holder and the server; a seq collision
        // between them is retried.
        for _ in 0..5 {
            let mut tx = self.begin_write().await?;
            self.lock_job(&mut tx, &job.to_string()).await?;
            let next: i64 =
                sqlx::query("SELECT COALESCE(MAX(seq), 0) AS s FROM job_events WHERE job_id = $1")
                    .bind(job.to_string())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("s")?;
            let mut seq = next;
            let mut failed = None;
            let events = logs
                .iter()
                .map(|(level, text)| (level.clone(), serde_json::to_string(text)))
                .chain(
                    progress
                        .iter()
                        .map(|p| ("progress".to_owned(), serde_json::to_string(&(attempt, p)))),
                );
            for (kind, payload) in events {
                seq += 1;
                let r = sqlx::query(
                    "INSERT INTO job_events (job_id, seq, at, kind, payload) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(job.to_string())
                .bind(seq)
                .bind(now)
                .bind(kind)
                .bind(payload.unwrap_or_default())
                .execute(&mut *tx)
                .await;
                if let Err(e) = r {
                    failed = Some(e);
                    break;
                }
            }
            match failed {
                None => return tx.commit().await,
                Some(e) => {
                    last_err = Some(e);
                    let _ = tx.rollback().await;
                }
            }
        }
        Err(last_err.unwrap_or(sqlx::Error::PoolTimedOut))
    }

    /// Claims the oldest claimable job of `kinds` for `worker`: a pending one, or a running
    /// one whose lease expired. Returns the job and its new attempt number, and for a
    /// reclaimed job the previous lease owner.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn claim_job(
        &self,
        worker: &str,
        token_id: Uuid,
        kinds: &[String],
        lease_ms: i64,
    ) -> Result<Option<(TrainingJob, Option<String>)>, sqlx::Error> {
        let now = now_ms();
        let candidates = sqlx::query(
            "SELECT id, model_kind, status, lease_owner FROM training_jobs \
             WHERE status = 'pending' OR (status = 'running' AND lease_expires_at < $1) \
             ORDER BY created_at LIMIT 20",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        for c in candidates {
            let kind: String = c.try_get("model_kind")?;
            if !kinds.contains(&kind) {
                continue;
            }
            let id: String = c.try_get("id")?;
            let previous: Option<String> = c.try_get("lease_owner")?;
            let was_running = c.try_get::<String, _>("status")? == "running";
            let done = sqlx::query(
                "UPDATE training_jobs SET status = 'running', lease_owner = $1, \
                 lease_expires_at = $2, attempts = attempts + 1, lease_attempt = attempts + 1, \
                 started_at = COALESCE(started_at, $3), lease_token_id = $5 \
                 WHERE id = $4 AND (status = 'pending' OR (status = 'running' AND lease_expires_at < $3))",
            )
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(&id)
            .bind(token_id.to_string())
            .execute(self.pool())
            .await?;
            if done.rows_affected() == 1 {
                let job = self.job(uuid(&id)?).await?;
                return Ok(job.map(|j| (j, previous.filter(|_| was_running))));
            }
        }
        Ok(None)
    }

    /// Whether `attempt` holds the lease of `job`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn check_lease(&self, job: Uuid, attempt: u64) -> Result<LeaseCheck, sqlx::Error> {
        let row = sqlx::query("SELECT status, lease_attempt FROM training_jobs WHERE id = $1")
            .bind(job.to_string())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(LeaseCheck::Missing);
        };
        let status: String = row.try_get("status")?;
        let current: Option<i64> = row.try_get("lease_attempt")?;
        Ok(match status.as_str() {
            "cancelled" => LeaseCheck::Cancelled,
            "running" if current == i64::try_from(attempt).ok() => LeaseCheck::Held,
            _ => LeaseCheck::Lost,
        })
    }

    /// Renews the lease of `attempt`; returns the new expiry, or the reason it cannot.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn renew_lease(
        &self,
        job: Uuid,
        attempt: u64,
        lease_ms: i64,
    ) -> Result<Result<i64, LeaseCheck>, sqlx::Error> {
        let expires = now_ms() + lease_ms;
        let done = sqlx::query(
            "UPDATE training_jobs SET lease_expires_at = $1 \
             WHERE id = $2 AND status = 'running' AND lease_attempt = $3",
        )
        .bind(expires)
        .bind(job.to_string())
        .bind(i64::try_from(attempt).unwrap_or(-1))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            Ok(Ok(expires))
        } else {
            Ok(Err(self.check_lease(job, attempt).await?))
        }
    }

    /// Ends a job as `failed` (only from the attempt holding it); returns whether it did.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn fail_job(
        &self,
        job: Uuid,
        attempt: u64,
        error: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE training_jobs SET status = 'failed', error = $1, finished_at = $2, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $3 AND status = 'running' AND lease_attempt = $4",
        )
        .bind(error)
        .bind(now_ms())
        .bind(job.to_string())
        .bind(i64::try_from(attempt).unwrap_or(-1))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts a running job back in the queue (`pending`, no lease) for the attempt holding
    /// it, so the next claim takes it at once; returns whether it did. Attempts already
    /// made stay counted.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn release_job(&self, job: Uuid, attempt: u64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE training_jobs SET status = 'pending', lease_owner = NULL, \
             lease_expires_at = NULL \
             WHERE id = $1 AND status = 'running' AND lease_attempt = $2",
        )
        .bind(job.to_string())
        .bind(i64::try_from(attempt).unwrap_or(-1))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Cancels a pending or running job; returns whether it did.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn cancel_job(&self, job: Uuid) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE training_jobs SET status = 'cancelled', finished_at = $1, \
             cancel_requested = 1, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $2 AND status IN ('pending', 'running')",
        )
        .bind(now_ms())
        .bind(job.to_string())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The drawing filter of a training job for one shape (all shapes when `shape` is None):
/// never flagged or removed drawings, received before `before`, within the config's quality
/// and date range, leaving out contributors below its contributor quality; or, when the
/// config names a release, exactly the release's drawings.
pub fn training_filter(
    config: &TrainingConfig,
    shape: Option<&str>,
    before: i64,
) -> inkset_protocol::api::DrawingFilter {
    if let Some(release) = &config.release {
        // A release fixes the drawings, flagged or since removed ones included: the same
        // release trains on the same data every time.
        return inkset_protocol::api::DrawingFilter {
            shape: shape.map(str::to_owned),
            release: Some(release.clone()),
            to: Some(before),
            ..inkset_protocol::api::DrawingFilter::default()
        };
    }
    inkset_protocol::api::DrawingFilter {
        shape: shape.map(str::to_owned),
        flagged: Some(false),
        quality_min: config.quality_min,
        contributor_quality_min: config.contributor_quality_min,
        from: config.from,
        to: Some(config.to.map_or(before, |t| t.min(before))),
        include_removed: false,
        ..inkset_protocol::api::DrawingFilter::default()
    }
}
