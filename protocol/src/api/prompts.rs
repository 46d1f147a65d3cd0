//! Prompts chosen by what the model needs (`GET /api/prompts`, `GET /api/admin/prompts`):
//! the policy, each shape's need and share with the reason, and a deal of prompts.

use serde::{Deserialize, Serialize};

/// How the server picks the shapes players are asked to draw.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PromptPolicy {
    /// Every shape equally often, at random (Quick, Draw!'s way).
    Random,
    /// More of the shapes the production recognizer gets wrong or confuses, and of the
    /// shapes with few drawings (default).
    #[default]
    Active,
}

/// One shape's part in the prompts, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShapeNeed {
    /// The shape.
    pub shape: String,
    /// Usable drawings stored (not flagged or removed).
    pub drawings: u64,
    /// The production recognizer's held-out F1 for it, 0..=1 (`None` without a model or
    /// without held-out drawings of it).
    pub f1: Option<f64>,
    /// Its held-out recall, 0..=1.
    pub recall: Option<f64>,
    /// The class its held-out drawings are most often mistaken for.
    pub confused_with: Option<String>,
    /// The share of its held-out drawings mistaken for that class, 0..=1.
    pub confused_share: Option<f64>,
    /// Its need, 0..=1 weights summed: `error_weight * (1 - f1) + rarity_weight * (1 -
    /// drawings / most drawings of any shape)`.
    pub need: f64,
    /// Expected share of the prompts, 0..=1: `(1 + extra * need / sum of needs) / (shapes +
    /// extra)` under `active` (every shape once per cycle plus `extra` prompts drawn by
    /// need), `1 / shapes` under `random`.
    pub share: f64,
    /// The reason in words, for the console.
    pub reason: String,
}

/// `GET /api/admin/prompts` answer: the current plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromptPlan {
    /// The policy it follows.
    pub policy: PromptPolicy,
    /// Prompts per cycle: every shape once plus `extra` more.
    pub cycle: usize,
    /// Prompts per cycle chosen by need.
    pub extra: usize,
    /// The production recognizer the needs come from (registry version), if any.
    pub model_version: Option<u64>,
    /// Per shape, in catalogue order.
    pub shapes: Vec<ShapeNeed>,
    /// Prompts dealt so far per shape (all sessions), as the players were asked.
    pub dealt: std::collections::BTreeMap<String, u64>,
    /// When the plan was computed, ms since the Unix epoch.
    pub computed_at: i64,
    /// With `?session=ID`: the prompts dealt to that session, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_prompts: Option<Vec<String>>,
}

/// `GET /api/prompts` answer: the next prompts of the calling session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromptDeal {
    /// The policy that chose them.
    pub policy: PromptPolicy,
    /// Shape names, in the order to ask them. Whole cycles hold every shape at least once.
    pub prompts: Vec<String>,
    /// Prompts per cycle (ask for a multiple of it to see every shape).
    pub cycle: usize,
}
