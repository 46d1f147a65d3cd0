//! Versioned dataset releases: an admin cuts an immutable, named snapshot of the curated
//! drawings (the filter, the exact drawing ids and their content hashes), with a manifest
//! (counts per class, source, device and country, the quality distribution, the license)
//! and a datasheet ([`crate::dataset::datasheet`]). Releases list, diff (per class: added,
//! removed, kept), export in every format through the `release` filter (removed drawings
//! included, so an export of a release never changes), and name the data of training jobs.
//!
//! Cutting runs in three steps: the membership is written in one transaction (an
//! `INSERT ... SELECT` of the filter, bounded by the cut time), then the manifest is
//! computed from it (SQL aggregates and one decoding pass for the sources), then stored. A
//! release whose manifest is not stored yet is invisible, and removed again when the
//! second or third step fails.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use inkset_protocol::FieldError;
use inkset_protocol::api::{
    ClassDiff, CutRelease, DrawingFilter, Release, ReleaseDiff, ReleaseList, ReleaseManifest,
    ReleaseQuality, ReleaseSummary, check_release_name,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::curation::handlers::validate_filter;
use crate::curation::sql::FilterSql;
use crate::db::{Arg, Db, query_with};
use crate::error::ApiError;
use crate::http::{RawBody, parse};
use crate::now_ms;
use crate::players::auth::Admin;
use crate::state::AppState;

/// Release settings (`[releases]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ReleaseSettings {
    /// The license every release is published under, copied into its manifest and
    /// datasheet. Default: CC BY 4.0, the license of the Quick, Draw! dataset.
    pub license: String,
    /// Who publishes the releases (the datasheet's "who created the dataset").
    pub publisher: String,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        Self {
            license: "Creative Commons Attribution 4.0 International (CC BY 4.0), \
                      https://creativecommons.org/licenses/by/4.0/"
                .into(),
            publisher: "the operators of this Inkset server".into(),
        }
    }
}

/// The source of a drawing: `inkset` for players' uploads, the first path component of an
/// imported derived record's `source` (`detexify/circle/x.ndjson#1` is `detexify`), else
/// `quickdraw`.
pub fn source_of(drawing: &inkset_protocol::Drawing) -> String {
    match &drawing.source {
        None => "inkset".into(),
        Some(meta) => meta
            .origin
            .as_deref()
            .and_then(|o| o.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("quickdraw")
            .to_owned(),
    }
}

/// The filter naming exactly the drawings of release `name`.
pub fn release_filter(name: &str) -> DrawingFilter {
    DrawingFilter {
        release: Some(name.to_owned()),
        ..DrawingFilter::default()
    }
}

impl Db {
    /// The release named `name`, if cut (and finished).
    ///
    /// # Errors
    /// On SQL failure, or a stored manifest that does not parse.
    pub async fn release(&self, name: &str) -> Result<Option<Release>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT manifest, datasheet FROM releases WHERE name = $1 AND manifest <> ''",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let manifest: String = r.try_get("manifest")?;
            Ok(Release {
                manifest: serde_json::from_str(&manifest)
                    .map_err(|e| sqlx::Error::Decode(e.into()))?,
                datasheet: r.try_get("datasheet")?,
            })
        })
        .transpose()
    }

    /// Every finished release, newest first.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn releases(&self) -> Result<Vec<ReleaseSummary>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT manifest FROM releases WHERE manifest <> '' ORDER BY created_at DESC, name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let m: ReleaseManifest = serde_json::from_str(&r.try_get::<String, _>("manifest")?)
                    .map_err(|e| sqlx::Error::Decode(e.into()))?;
                Ok(ReleaseSummary {
                    id: m.id,
                    name: m.name,
                    description: m.description,
                    created_at: m.created_at,
                    drawing_count: m.drawing_count,
                    per_class: m.per_class,
                    ids_sha256: m.ids_sha256,
                })
            })
            .collect()
    }

    /// Writes the membership of a new release: every drawing `filter` matches (received
    /// before `at`), in one transaction; `false` when the name is taken.
    async fn insert_release(
        &self,
        id: Uuid,
        req: &CutRelease,
        created_by: Option<&str>,
        at: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT 1 AS one FROM releases WHERE name = $1")
            .bind(&req.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO releases (id, name, description, filter, drawing_count, ids_sha256, \
             manifest, datasheet, created_by, created_at) \
             VALUES ($1, $2, $3, $4, 0, '', '', '', $5, $6)",
        )
        .bind(id.to_string())
        .bind(&req.name)
        .bind(&req.description)
        .bind(serde_json::to_string(&req.filter).unwrap_or_default())
        .bind(created_by)
        .bind(at)
        .execute(&mut *tx)
        .await;
        match inserted {
            // Cut at the same moment by another request (PostgreSQL's transactions do not
            // serialize the check above).
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(false),
            other => {
                other?;
            }
        }
        let mut snapshot = req.filter.clone();
        snapshot.to = Some(snapshot.to.map_or(at, |t| t.min(at)));
        let mut sql = String::from(
            "INSERT INTO release_drawings (release_id, drawing_id, shape, content_hash) \
             SELECT $1, id, shape, content_hash FROM drawings WHERE 1 = 1",
        );
        let mut args = vec![Arg::Text(id.to_string())];
        snapshot.push_sql(&mut sql, &mut args);
        query_with(&sql, &args).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a release and its membership (a cut that failed half way).
    async fn delete_release(&self, id: Uuid) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM release_drawings WHERE release_id = $1",
            "DELETE FROM releases WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// The per-class diff of release `to` against release `from` (both by id), with up to
    /// [`ReleaseDiff::MAX_IDS`] ids each way.
    async fn diff_releases(
        &self,
        from: &str,
        to: &str,
    ) -> Result<(BTreeMap<String, ClassDiff>, Vec<Uuid>, Vec<Uuid>), sqlx::Error> {
        let mut per_class: BTreeMap<String, ClassDiff> = BTreeMap::new();
        let only = |a: usize, b: usize| {
            format!(
                "FROM release_drawings x WHERE x.release_id = ${a} AND NOT EXISTS \
                 (SELECT 1 FROM release_drawings y WHERE y.release_id = ${b} \
                 AND y.drawing_id = x.drawing_id)"
            )
        };
        let args = [Arg::Text(from.to_owned()), Arg::Text(to.to_owned())];
        for (side, a, b) in [("added", 2, 1), ("removed", 1, 2)] {
            let rows = query_with(
                &format!(
                    "SELECT x.shape, COUNT(*) AS n {} GROUP BY x.shape",
                    only(a, b)
                ),
                &args,
            )
            .fetch_all(self.pool())
            .await?;
            for r in rows {
                let n = u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0);
                let e = per_class.entry(r.try_get("shape")?).or_default();
                if side == "added" {
                    e.added = n;
                } else {
                    e.removed = n;
                }
            }
        }
        let kept = query_with(
            "SELECT x.shape, COUNT(*) AS n FROM release_drawings x JOIN release_drawings y \
             ON y.drawing_id = x.drawing_id AND y.release_id = $1 \
             WHERE x.release_id = $2 GROUP BY x.shape",
            &args,
        )
        .fetch_all(self.pool())
        .await?;
        for r in kept {
            per_class.entry(r.try_get("shape")?).or_default().kept =
                u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0);
        }
        let mut ids = Vec::new();
        for (a, b) in [(2, 1), (1, 2)] {
            let rows = query_with(
                &format!(
                    "SELECT x.drawing_id {} ORDER BY x.drawing_id LIMIT {}",
                    only(a, b),
                    ReleaseDiff::MAX_IDS
                ),
                &args,
            )
            .fetch_all(self.pool())
            .await?;
            let mut side: Vec<Uuid> = rows
                .iter()
                .filter_map(|r| r.try_get::<String, _>("drawing_id").ok())
                .filter_map(|s| Uuid::parse_str(&s).ok())
                .collect();
            side.sort_unstable();
            ids.push(side);
        }
        let removed = ids.pop().unwrap_or_default();
        let added = ids.pop().unwrap_or_default();
        Ok((per_class, added, removed))
    }
}

/// The numbers of a release's manifest that SQL gives (everything but the sources).
async fn aggregate(db: &Db, id: Uuid, m: &mut ReleaseManifest) -> Result<(), sqlx::Error> {
    let id = id.to_string();
    let member = "FROM drawings d JOIN release_drawings rd ON rd.drawing_id = d.id \
                  WHERE rd.release_id = $1";
    let grouped =
        |column: &str| format!("SELECT {column} AS k, COUNT(*) AS n {member} GROUP BY {column}");
    let count = |r: &sqlx::any::AnyRow| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0))
    };
    for (column, out) in [
        ("d.shape", &mut m.per_class),
        ("COALESCE(d.device, 'none')", &mut m.per_device),
        (
            "CASE WHEN d.origin = 'import' THEN COALESCE(d.source_countrycode, '??') ELSE NULL END",
            &mut m.per_country,
        ),
    ] {
        for r in sqlx::query(&grouped(column))
            .bind(&id)
            .fetch_all(db.pool())
            .await?
        {
            if let Some(k) = r.try_get::<Option<String>, _>("k")? {
                out.insert(k, count(&r)?);
            }
        }
    }
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS n, COUNT(d.quality_score) AS scored, \
         AVG(CAST(d.quality_score AS DOUBLE PRECISION)) AS mean, \
         COUNT(CASE WHEN d.flagged = 1 THEN 1 END) AS flagged, \
         COUNT(DISTINCT d.session_id) AS sessions, \
         MIN(d.received_at) AS first, MAX(d.received_at) AS last {member}"
    ))
    .bind(&id)
    .fetch_one(db.pool())
    .await?;
    let get = |name: &str| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
    };
    m.drawing_count = get("n")?;
    m.flagged = get("flagged")?;
    m.sessions = get("sessions")?;
    m.received_from = row.try_get("first")?;
    m.received_to = row.try_get("last")?;
    let scored = get("scored")?;
    let mut histogram = vec![0; 10];
    for r in sqlx::query(&format!(
        "SELECT CAST(CASE WHEN d.quality_score >= 0.9 THEN 9 WHEN d.quality_score >= 0.8 THEN 8 \
         WHEN d.quality_score >= 0.7 THEN 7 WHEN d.quality_score >= 0.6 THEN 6 \
         WHEN d.quality_score >= 0.5 THEN 5 WHEN d.quality_score >= 0.4 THEN 4 \
         WHEN d.quality_score >= 0.3 THEN 3 WHEN d.quality_score >= 0.2 THEN 2 \
         WHEN d.quality_score >= 0.1 THEN 1 ELSE 0 END AS BIGINT) AS bin, COUNT(*) AS n \
         {member} AND d.quality_score IS NOT NULL GROUP BY 1"
    ))
    .bind(&id)
    .fetch_all(db.pool())
    .await?
    {
        let bin = usize::try_from(r.try_get::<i64, _>("bin")?)
            .unwrap_or(0)
            .min(9);
        histogram[bin] = count(&r)?;
    }
    m.quality = ReleaseQuality {
        scored,
        unscored: m.drawing_count - scored.min(m.drawing_count),
        mean: row.try_get("mean")?,
        histogram,
    };
    // Sorted here, by bytes: SQL's order follows the database's collation.
    let mut members: Vec<(String, String)> =
        sqlx::query("SELECT drawing_id, content_hash FROM release_drawings WHERE release_id = $1")
            .bind(&id)
            .fetch_all(db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("drawing_id")?, r.try_get("content_hash")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    members.sort_unstable();
    let mut hash = Sha256::new();
    for (drawing, content) in &members {
        hash.update(drawing.as_bytes());
        hash.update(b" ");
        hash.update(content.as_bytes());
        hash.update(b"\n");
    }
    m.ids_sha256 = hex::encode(hash.finalize());
    Ok(())
}

/// Cuts release `req` (see the module docs).
///
/// # Errors
/// [`ApiError::Invalid`] naming `name`, `description` or the `filter.` field at fault, or
/// an empty selection; [`ApiError::Conflict`] when the name is taken; storage failures.
pub async fn cut(
    state: &AppState,
    req: CutRelease,
    created_by: Option<(&str, String)>,
) -> Result<Release, ApiError> {
    check_release_name(&req.name, "name").map_err(ApiError::Invalid)?;
    if req.description.chars().count() > CutRelease::MAX_DESCRIPTION {
        return Err(ApiError::Invalid(FieldError::new(
            "description",
            "too_long",
            format!(
                "description must be at most {} characters",
                CutRelease::MAX_DESCRIPTION
            ),
        )));
    }
    validate_filter(&req.filter, "filter.")?;
    let id = Uuid::new_v4();
    let at = now_ms();
    let (user_id, username) = created_by.unzip();
    if !state.db.insert_release(id, &req, user_id, at).await? {
        return Err(ApiError::Conflict {
            field: "name",
            message: format!(
                "a release named {:?} exists; releases never change",
                req.name
            ),
        });
    }
    match finish_cut(state, id, &req, username, at).await {
        Ok(release) => Ok(release),
        Err(e) => {
            if let Err(d) = state.db.delete_release(id).await {
                tracing::error!(%id, error = %d, "cannot remove a failed release");
            }
            Err(e)
        }
    }
}

async fn finish_cut(
    state: &AppState,
    id: Uuid,
    req: &CutRelease,
    created_by: Option<String>,
    at: i64,
) -> Result<Release, ApiError> {
    let mut m = ReleaseManifest {
        format: 1,
        id,
        name: req.name.clone(),
        description: req.description.clone(),
        created_at: at,
        created_by,
        filter: req.filter.clone(),
        license: state.releases.license.clone(),
        drawing_count: 0,
        per_class: BTreeMap::new(),
        per_source: BTreeMap::new(),
        per_class_source: BTreeMap::new(),
        per_device: BTreeMap::new(),
        per_country: BTreeMap::new(),
        quality: ReleaseQuality::default(),
        flagged: 0,
        sessions: 0,
        received_from: None,
        received_to: None,
        ids_sha256: String::new(),
    };
    aggregate(&state.db, id, &mut m).await?;
    if m.drawing_count == 0 {
        return Err(ApiError::Invalid(FieldError::new(
            "filter",
            "empty",
            "the filter matches no drawing; a release needs at least one",
        )));
    }
    let mut per_class_source: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let decoded =
        crate::dataset::for_each_drawing(state, &release_filter(&req.name), |_, _, drawing| {
            *per_class_source
                .entry(drawing.shape.clone())
                .or_default()
                .entry(source_of(&drawing))
                .or_default() += 1;
            Ok(())
        })
        .await
        .map_err(ApiError::Internal)?;
    if decoded != m.drawing_count {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "release {}: {decoded} drawings decoded of {} members",
            req.name,
            m.drawing_count
        )));
    }
    for per in per_class_source.values() {
        for (source, n) in per {
            *m.per_source.entry(source.clone()).or_default() += n;
        }
    }
    m.per_class_source = per_class_source;
    let datasheet = crate::dataset::datasheet::write(&m, &state.releases.publisher);
    sqlx::query(
        "UPDATE releases SET drawing_count = $1, ids_sha256 = $2, manifest = $3, \
         datasheet = $4 WHERE id = $5",
    )
    .bind(i64::try_from(m.drawing_count).unwrap_or(i64::MAX))
    .bind(&m.ids_sha256)
    .bind(serde_json::to_string(&m).map_err(|e| ApiError::Internal(e.into()))?)
    .bind(&datasheet)
    .bind(id.to_string())
    .execute(state.db.pool())
    .await?;
    tracing::info!(name = %m.name, drawings = m.drawing_count, "release cut");
    Ok(Release {
        manifest: m,
        datasheet,
    })
}

/// `POST /api/admin/releases`: cuts a release (201 with its manifest and datasheet).
#[utoipa::path(post, path = "/api/admin/releases", tag = "dataset", request_body = CutRelease, responses((status = 201, description = "The release, with its manifest and datasheet", body = Release), (status = 409, description = "A release with that name exists", body = inkset_protocol::api::ErrorBody)))]
pub async fn cut_release(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let req: CutRelease = parse(&body)?;
    let username = state.db.username(&admin.user_id).await?;
    let release = cut(
        &state,
        req,
        Some((admin.user_id.as_str(), username.unwrap_or_default())),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(release)))
}

/// `GET /api/admin/releases`: every release, newest first.
#[utoipa::path(get, path = "/api/admin/releases", tag = "dataset", responses((status = 200, description = "Releases, newest first", body = ReleaseList)))]
pub async fn list_releases(State(state): State<AppState>) -> Result<Json<ReleaseList>, ApiError> {
    Ok(Json(ReleaseList {
        releases: state.db.releases().await?,
    }))
}

/// The `{name}` of a release route, checked.
fn name_param(name: &str) -> Result<(), ApiError> {
    check_release_name(name, "name").map_err(ApiError::BadRequest)
}

/// `GET /api/admin/releases/{name}`: the manifest and the datasheet.
#[utoipa::path(get, path = "/api/admin/releases/{name}", tag = "dataset", params(("name" = String, Path, description = "The release's name")), responses((status = 200, description = "The release", body = Release), (status = 404, description = "No release with that name", body = inkset_protocol::api::ErrorBody)))]
pub async fn get_release(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Release>, ApiError> {
    name_param(&name)?;
    state
        .db
        .release(&name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no release {name:?}")))
}

/// `GET /api/admin/releases/{name}/diff/{other}`: what changed from release `other` to
/// release `name`, per class, with the ids.
#[utoipa::path(get, path = "/api/admin/releases/{name}/diff/{other}", tag = "dataset", params(("name" = String, Path, description = "The newer release"), ("other" = String, Path, description = "The release to compare against")), responses((status = 200, description = "Drawings added, removed and kept, per class", body = ReleaseDiff), (status = 404, description = "No release with one of the names", body = inkset_protocol::api::ErrorBody)))]
pub async fn diff_release(
    State(state): State<AppState>,
    Path((name, other)): Path<(String, String)>,
) -> Result<Json<ReleaseDiff>, ApiError> {
    name_param(&name)?;
    name_param(&other)?;
    let mut ids = Vec::new();
    for n in [&other, &name] {
        let r = state
            .db
            .release(n)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no release {n:?}")))?;
        ids.push(r.manifest.id.to_string());
    }
    let (per_class, added_ids, removed_ids) = state.db.diff_releases(&ids[0], &ids[1]).await?;
    let mut total = ClassDiff::default();
    for d in per_class.values() {
        total.added += d.added;
        total.removed += d.removed;
        total.kept += d.kept;
    }
    Ok(Json(ReleaseDiff {
        from: other,
        to: name,
        total,
        per_class,
        added_ids,
        removed_ids,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkset_protocol::SourceMeta;

    #[test]
    fn sources_come_from_the_import_record() {
        let mut d: inkset_protocol::Drawing = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(),
            "shape": "circle",
            "strokes": [{"points": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}]}],
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(source_of(&d), "inkset");
        let meta = |origin: Option<&str>| SourceMeta {
            key_id: 1,
            recognized: None,
            countrycode: None,
            timestamp: None,
            origin: origin.map(str::to_owned),
            float_form: None,
        };
        d.source = Some(meta(None));
        assert_eq!(source_of(&d), "quickdraw");
        d.source = Some(meta(Some("detexify/circle/latex2e-OT1-_bigcirc.ndjson#1")));
        assert_eq!(source_of(&d), "detexify");
    }
}
