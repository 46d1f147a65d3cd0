//! Prompts chosen by what the model needs: the server decides which shapes each player is
//! asked to draw (`GET /api/prompts`), from the production recognizer's held-out evaluation
//! and the usable drawings per shape ([`inkset_model::active`] has the policy and its
//! formula), and shows the plan with each shape's reason (`GET /api/admin/prompts`). Every
//! deal is recorded per session (`prompt_deals`), so the shares players were actually
//! asked are known.
//!
//! The plan is recomputed at most every [`PLAN_TTL`] (it reads the summary tables and the
//! served model's manifest, both cheap) and follows a new production model within that.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use inkset_model::active::{PromptSettings, deal, needs};
use inkset_protocol::FieldError;
use inkset_protocol::api::{PromptDeal, PromptPlan, PromptPolicy, ShapeNeed};
use inkset_protocol::ml::TrainingConfig;
use serde::Deserialize;
use sqlx::Row;
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiError;
use crate::now_ms;
use crate::players::auth::Player;
use crate::state::AppState;

/// How long a computed plan is reused.
pub const PLAN_TTL: Duration = Duration::from_secs(10);
/// Most prompts one request deals.
pub const MAX_DEAL: usize = 100;

/// The computed needs, shared by the deals until [`PLAN_TTL`] has passed.
#[derive(Debug)]
struct Computed {
    at: Instant,
    computed_at: i64,
    model_version: Option<u64>,
    /// Under each policy (the admin view compares them).
    active: Vec<ShapeNeed>,
    random: Vec<ShapeNeed>,
}

/// The prompt policy and its cached plan (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    settings: PromptSettings,
    cache: Arc<Mutex<Option<Arc<Computed>>>>,
}

impl Prompts {
    /// The policy of `settings`.
    pub fn new(settings: PromptSettings) -> Self {
        Self {
            settings,
            cache: Arc::default(),
        }
    }

    /// The configured policy.
    pub fn policy(&self) -> PromptPolicy {
        self.settings.policy
    }

    async fn computed(&self, state: &AppState) -> Result<Arc<Computed>, sqlx::Error> {
        if let Ok(cache) = self.cache.lock()
            && let Some(c) = cache.as_ref()
            && c.at.elapsed() < PLAN_TTL
        {
            return Ok(c.clone());
        }
        let shapes: Vec<String> = state
            .db
            .shapes()
            .await?
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| s.name)
            .collect();
        let usable: BTreeMap<String, u64> = state
            .db
            .usable_counts(&TrainingConfig::default(), now_ms())
            .await?
            .into_iter()
            .collect();
        let drawings: Vec<u64> = shapes
            .iter()
            .map(|s| usable.get(s).copied().unwrap_or(0))
            .collect();
        let served = state.inference.current();
        let eval = served.as_ref().and_then(|s| {
            s.classifier
                .manifest
                .metrics
                .as_ref()
                .map(|m| (s.classifier.manifest.classes.as_slice(), m))
        });
        let with = |policy| {
            let settings = PromptSettings {
                policy,
                ..self.settings.clone()
            };
            needs(&settings, &shapes, &drawings, eval)
        };
        let computed = Arc::new(Computed {
            at: Instant::now(),
            computed_at: now_ms(),
            model_version: served.as_ref().map(|s| s.version),
            active: with(PromptPolicy::Active),
            random: with(PromptPolicy::Random),
        });
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(computed.clone());
        }
        Ok(computed)
    }
}

impl Computed {
    fn needs(&self, policy: PromptPolicy) -> &[ShapeNeed] {
        match policy {
            PromptPolicy::Active => &self.active,
            PromptPolicy::Random => &self.random,
        }
    }
}

fn policy_name(p: PromptPolicy) -> &'static str {
    match p {
        PromptPolicy::Active => "active",
        PromptPolicy::Random => "random",
    }
}

impl Db {
    /// Records `shapes` as the next prompts of `session`, in order, after its earlier ones.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn record_deal(
        &self,
        session: Uuid,
        shapes: &[String],
        policy: PromptPolicy,
    ) -> Result<(), sqlx::Error> {
        // Two deals of one session at once (a double tap) race for the same sequence
        // numbers on PostgreSQL: the loser takes the next ones.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_record_deal(session, shapes, policy).await {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < 5 => {}
                other => return other,
            }
        }
    }

    async fn try_record_deal(
        &self,
        session: Uuid,
        shapes: &[String],
        policy: PromptPolicy,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let next: i64 = sqlx::query(
            "SELECT CAST(COALESCE(MAX(seq) + 1, 0) AS BIGINT) AS next FROM prompt_deals \
             WHERE session_id = $1",
        )
        .bind(session.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get("next")?;
        let at = now_ms();
        for (i, shape) in shapes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO prompt_deals (session_id, seq, shape, policy, dealt_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(session.to_string())
            .bind(next + i64::try_from(i).unwrap_or(i64::MAX))
            .bind(shape)
            .bind(policy_name(policy))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Prompts dealt so far per shape.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn dealt_per_shape(&self) -> Result<BTreeMap<String, u64>, sqlx::Error> {
        sqlx::query("SELECT shape, COUNT(*) AS n FROM prompt_deals GROUP BY shape")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("shape")?,
                    u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// The prompts dealt to `session`, in order.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn dealt_to(&self, session: Uuid) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query("SELECT shape FROM prompt_deals WHERE session_id = $1 ORDER BY seq")
            .bind(session.to_string())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.try_get("shape"))
            .collect()
    }
}

/// Query of `GET /api/prompts`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DealQuery {
    /// Prompts wanted, 1..=100 (default: one cycle, every shape once plus the extra ones).
    pub count: Option<usize>,
}

/// `GET /api/prompts`: the calling session's next prompts under the server's policy (whole
/// cycles hold every shape), recorded as dealt.
#[utoipa::path(get, path = "/api/prompts", tag = "players", params(DealQuery), responses((status = 200, description = "The next prompts, in order", body = PromptDeal)))]
pub async fn next_prompts(
    State(state): State<AppState>,
    player: Player,
    query: Result<Query<DealQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PromptDeal>, ApiError> {
    let Query(query) = query.map_err(|e| crate::curation::handlers::query_error(&e))?;
    let prompts = &state.prompts;
    let computed = prompts.computed(&state).await?;
    let policy = prompts.policy();
    let plan = computed.needs(policy);
    let extra = prompts.settings.extra(plan.len());
    let cycle = plan.len() + extra;
    let count = query.count.unwrap_or(cycle);
    if !(1..=MAX_DEAL).contains(&count) {
        return Err(ApiError::Invalid(FieldError::new(
            "count",
            "out_of_range",
            format!("count must be within 1..={MAX_DEAL}"),
        )));
    }
    let shapes: Vec<String> = {
        let mut rng = rand::rng();
        deal(policy, plan, extra, count, &mut rng)
            .into_iter()
            .map(|i| plan[i].shape.clone())
            .collect()
    };
    if !shapes.is_empty() {
        state
            .db
            .record_deal(player.session_id, &shapes, policy)
            .await?;
    }
    Ok(Json(PromptDeal {
        policy,
        prompts: shapes,
        cycle,
    }))
}

/// Query of `GET /api/admin/prompts`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlanQuery {
    /// The plan under this policy instead of the configured one (to compare them).
    pub policy: Option<PromptPolicy>,
    /// Also list the prompts dealt to this player session, in order.
    pub session: Option<Uuid>,
}

/// `GET /api/admin/prompts`: each shape's need, share and reason under the configured
/// policy (or `policy`), the prompts dealt so far per shape, and with `session` the prompts
/// one session was dealt.
#[utoipa::path(get, path = "/api/admin/prompts", tag = "curation", params(PlanQuery), responses((status = 200, description = "The prompt plan", body = PromptPlan)))]
pub async fn prompt_plan(
    State(state): State<AppState>,
    query: Result<Query<PlanQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PromptPlan>, ApiError> {
    let Query(query) = query.map_err(|e| crate::curation::handlers::query_error(&e))?;
    let computed = state.prompts.computed(&state).await?;
    let policy = query.policy.unwrap_or_else(|| state.prompts.policy());
    let shapes = computed.needs(policy).to_vec();
    let extra = state.prompts.settings.extra(shapes.len());
    Ok(Json(PromptPlan {
        policy,
        cycle: shapes.len() + extra,
        extra,
        model_version: computed.model_version,
        shapes,
        dealt: state.db.dealt_per_shape().await?,
        computed_at: computed.computed_at,
        session_prompts: match query.session {
            Some(s) => Some(state.db.dealt_to(s).await?),
            None => None,
        },
    }))
}
