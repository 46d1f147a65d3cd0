//! SQL of the registry: model versions, aliases and the append-only alias history.

use crate::db::{Db, json, uuid};
use crate::now_ms;
use inkset_protocol::ml::{AliasMove, ModelVersion};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// A registered model row with its manifest and artifact location.
#[derive(Debug, Clone)]
pub struct ModelRow {
    /// The registry entry.
    pub version: ModelVersion,
    /// Object key prefix of `manifest.json` and `weights.bpk`.
    pub artifact_key: String,
    /// The manifest JSON.
    pub manifest: serde_json::Value,
}

/// A version to register (see [`Db::register_model`]).
#[derive(Debug, Clone, Copy)]
pub struct NewModel<'a> {
    /// The job that trained it.
    pub job: Uuid,
    /// The claim completing it.
    pub attempt: u64,
    /// The new version's id.
    pub model_id: Uuid,
    /// Model kind.
    pub kind: &'a str,
    /// Object key prefix of its artifact (already durable).
    pub artifact_key: &'a str,
    /// The manifest JSON (its `version` is filled in).
    pub manifest: &'a serde_json::Value,
    /// The held-out metrics.
    pub metrics: Option<&'a serde_json::Value>,
}

const MODEL_COLUMNS: &str = "id, model_kind, version, job_id, artifact_key, manifest, created_at";

impl Db {
    /// Registers a model version for a job in one transaction: the job must still be
    /// `running` under `attempt`; the version number is the kind's next; the job becomes
    /// `completed`. The artifact objects must already be durable under `artifact_key`.
    /// Returns `Ok(None)` when the attempt no longer holds the job (nothing registered).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn register_model(&self, new: NewModel<'_>) -> Result<Option<u64>, sqlx::Error> {
        let NewModel {
            job,
            attempt,
            model_id,
            kind,
            artifact_key,
            manifest,
            metrics,
        } = new;
        let mut tx = self.begin_write().await?;
        self.lock_model_versions(&mut tx).await?;
        let held = sqlx::query(
            "UPDATE training_jobs SET status = 'completed', finished_at = $1, model_id = $2, \
             metrics = $3, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $4 AND status = 'running' AND lease_attempt = $5",
        )
        .bind(now_ms())
        .bind(model_id.to_string())
        .bind(metrics.map(ToString::to_string))
        .bind(job.to_string())
        .bind(i64::try_from(attempt).unwrap_or(-1))
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let version: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 AS v FROM models WHERE model_kind = $1",
        )
        .bind(kind)
        .fetch_one(&mut *tx)
        .await?
        .try_get("v")?;
        let mut manifest = manifest.clone();
        manifest["version"] = serde_json::json!(version);
        sqlx::query(
            "INSERT INTO models (id, model_kind, version, job_id, artifact_key, manifest, \
             metrics, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(model_id.to_string())
        .bind(kind)
        .bind(version)
        .bind(job.to_string())
        .bind(artifact_key)
        .bind(manifest.to_string())
        .bind(metrics.map(ToString::to_string))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        // The job's "registered" line commits with its status, so no reader sees a completed
        // job without it. The worker's heartbeats have ended before it completes, so nothing
        // else appends to this job's events meanwhile.
        let line = format!("registered as {kind} version {version} ({model_id})");
        sqlx::query(
            "INSERT INTO job_events (job_id, seq, at, kind, payload) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, 'info', $3 FROM job_events \
             WHERE job_id = $1",
        )
        .bind(job.to_string())
        .bind(now_ms())
        .bind(serde_json::to_string(&line).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(u64::try_from(version).unwrap_or(0)))
    }

    async fn aliases_of(&self, model_id: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT alias FROM model_aliases WHERE model_id = $1 ORDER BY alias")
                .bind(model_id)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| r.try_get("alias")).collect()
    }

    async fn model_from_row(&self, r: &AnyRow) -> Result<ModelRow, sqlx::Error> {
        let id: String = r.try_get("id")?;
        let manifest: serde_json::Value = json(&r.try_get::<String, _>("manifest")?)?;
        let job_id: Option<String> = r.try_get("job_id")?;
        let metrics = manifest.get("metrics").cloned().filter(|m| !m.is_null());
        Ok(ModelRow {
            version: ModelVersion {
                id: uuid(&id)?,
                model_kind: r.try_get("model_kind")?,
                version: u64::try_from(r.try_get::<i64, _>("version")?).unwrap_or(0),
                job_id: job_id.as_deref().map(uuid).transpose()?,
                created_at: r.try_get("created_at")?,
                aliases: self.aliases_of(&id).await?,
                classes: manifest
                    .get("classes")
                    .and_then(|c| serde_json::from_value(c.clone()).ok())
                    .unwrap_or_default(),
                accuracy: metrics
                    .as_ref()
                    .and_then(|m| m.get("accuracy"))
                    .and_then(serde_json::Value::as_f64),
                metrics,
            },
            artifact_key: r.try_get("artifact_key")?,
            manifest,
        })
    }

    /// Registered versions, newest first.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn models(&self, kind: Option<&str>) -> Result<Vec<ModelRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE ($1 = '' OR model_kind = $1) \
             ORDER BY created_at DESC, version DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(kind.unwrap_or(""))
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.model_from_row(r).await?);
        }
        Ok(out)
    }

    /// One registered version.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn model(&self, id: Uuid) -> Result<Option<ModelRow>, sqlx::Error> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok(Some(self.model_from_row(&r).await?)),
            None => Ok(None),
        }
    }

    /// The version an alias points at.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn alias_target(&self, kind: &str, alias: &str) -> Result<Option<Uuid>, sqlx::Error> {
        let row =
            sqlx::query("SELECT model_id FROM model_aliases WHERE model_kind = $1 AND alias = $2")
                .bind(kind)
                .bind(alias)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| uuid(&r.try_get::<String, _>("model_id")?))
            .transpose()
    }

    /// Points `alias` of `kind` at `model_id` and appends the move to the history, in one
    /// transaction. Returns the move.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn set_alias(
        &self,
        kind: &str,
        alias: &str,
        model_id: Uuid,
        moved_by: Option<&str>,
    ) -> Result<AliasMove, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // PostgreSQL: the alias's row stays locked until the move commits, so two moves of
        // one alias take turns and each records the other as its previous version.
        let lock = match self.backend() {
            crate::db::Backend::Postgres => " FOR UPDATE",
            crate::db::Backend::Sqlite => "",
        };
        let previous: Option<String> = sqlx::query(&format!(
            "SELECT model_id FROM model_aliases WHERE model_kind = $1 AND alias = $2{lock}"
        ))
        .bind(kind)
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("model_id"))
        .transpose()?;
        sqlx::query(
            "INSERT INTO model_aliases (model_kind, alias, model_id, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (model_kind, alias) \
             DO UPDATE SET model_id = excluded.model_id, updated_at = excluded.updated_at",
        )
        .bind(kind)
        .bind(alias)
        .bind(model_id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let seq: i64 = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) + 1 AS s FROM alias_history \
             WHERE model_kind = $1 AND alias = $2",
        )
        .bind(kind)
        .bind(alias)
        .fetch_one(&mut *tx)
        .await?
        .try_get("s")?;
        sqlx::query(
            "INSERT INTO alias_history (model_kind, alias, seq, model_id, previous_model_id, \
             moved_by, moved_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(kind)
        .bind(alias)
        .bind(seq)
        .bind(model_id.to_string())
        .bind(previous.clone())
        .bind(moved_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AliasMove {
            model_kind: kind.to_owned(),
            alias: alias.to_owned(),
            seq: u64::try_from(seq).unwrap_or(0),
            model_id,
            previous_model_id: previous.as_deref().map(uuid).transpose()?,
            moved_by: moved_by.map(str::to_owned),
            moved_at: now,
        })
    }

    /// Alias moves, oldest first, optionally for one kind and alias.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn alias_history(
        &self,
        kind: Option<&str>,
        alias: Option<&str>,
    ) -> Result<Vec<AliasMove>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT h.model_kind, h.alias, h.seq, h.model_id, h.previous_model_id, \
             u.username AS moved_by, h.moved_at FROM alias_history h \
             LEFT JOIN users u ON u.id = h.moved_by \
             WHERE ($1 = '' OR h.model_kind = $1) AND ($2 = '' OR h.alias = $2) \
             ORDER BY h.moved_at, h.model_kind, h.alias, h.seq",
        )
        .bind(kind.unwrap_or(""))
        .bind(alias.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let prev: Option<String> = r.try_get("previous_model_id")?;
                Ok(AliasMove {
                    model_kind: r.try_get("model_kind")?,
                    alias: r.try_get("alias")?,
                    seq: u64::try_from(r.try_get::<i64, _>("seq")?).unwrap_or(0),
                    model_id: uuid(&r.try_get::<String, _>("model_id")?)?,
                    previous_model_id: prev.as_deref().map(uuid).transpose()?,
                    moved_by: r.try_get("moved_by")?,
                    moved_at: r.try_get("moved_at")?,
                })
            })
            .collect()
    }
}
