//! The shape catalogue: the shapes players are prompted for (seeded with
//! [`crate::db::SEED_SHAPES`], more added by admins) and the distractor words imported with
//! `--distractors` (they train the recognizer's `unknown` class). Its SQL and its two routes,
//! `GET /api/shapes` and `POST /api/admin/shapes`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use inkset_protocol::FieldError;
use inkset_protocol::api::{NewShape, ShapeInfo};
use sqlx::Row;

use crate::db::Db;
use crate::error::ApiError;
use crate::http::{RawBody, parse};
use crate::now_ms;
use crate::state::AppState;

impl Db {
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
}

/// `GET /api/shapes`: every shape and its round length.
#[utoipa::path(get, path = "/api/shapes", tag = "players", responses((status = 200, description = "The shapes players are prompted to draw, in prompt order", body = Vec<ShapeInfo>)))]
pub async fn shapes(State(state): State<AppState>) -> Result<Json<Vec<ShapeInfo>>, ApiError> {
    Ok(Json(state.db.shapes().await?))
}

/// `POST /api/admin/shapes`: adds a shape players can be prompted for.
#[utoipa::path(post, path = "/api/admin/shapes", tag = "curation", request_body = NewShape, responses((status = 201, description = "The shape, now prompted", body = ShapeInfo), (status = 409, description = "A shape of that name exists", body = inkset_protocol::api::ErrorBody)))]
pub async fn add_shape(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<ShapeInfo>), ApiError> {
    let req: NewShape = parse(&body)?;
    let valid_name = !req.name.is_empty()
        && req.name.len() <= state.limits.max_shape_name_bytes
        && req
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        return Err(ApiError::Invalid(FieldError::new(
            "name",
            "invalid",
            "name must be 1..=64 of a-z, 0-9 and _",
        )));
    }
    let round_seconds = req.round_seconds.unwrap_or(20);
    if !(3..=600).contains(&round_seconds) {
        return Err(ApiError::Invalid(FieldError::new(
            "round_seconds",
            "out_of_range",
            "round_seconds must be within 3..=600",
        )));
    }
    let display_name = req.display_name.unwrap_or_else(|| req.name.clone());
    if display_name.trim().is_empty() || display_name.chars().count() > 64 {
        return Err(ApiError::Invalid(FieldError::new(
            "display_name",
            "invalid",
            "display_name must be 1..=64 characters",
        )));
    }
    if !state
        .db
        .add_shape(&req.name, &display_name, round_seconds)
        .await?
    {
        return Err(ApiError::Conflict {
            field: "name",
            message: format!("shape {} exists", req.name),
        });
    }
    state.reload_shapes().await?;
    Ok((
        StatusCode::CREATED,
        Json(ShapeInfo {
            name: req.name,
            display_name,
            round_seconds,
            enabled: true,
        }),
    ))
}
