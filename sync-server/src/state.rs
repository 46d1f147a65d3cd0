//! [`AppState`]: what every handler shares (stores, queues, served models, settings, caches).

use crate::db::Db;
use crate::drawings::ingest::Ingest;
use crate::objects::Objects;
use inkset_protocol::Limits;
use std::collections::HashSet;
use std::sync::{Arc, RwLock};

/// State shared by every handler: one reference-counted [`Shared`], so the clone that axum
/// makes for each extractor and middleware of each request is one atomic increment (a deep
/// clone of the settings inside cost about 5 % of the server's CPU under classify load;
/// BENCHMARKS.md, issue 18).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// SQL store.
    pub db: Db,
    /// Object store.
    pub objects: Objects,
    /// Ingest queue.
    pub ingest: Ingest,
    /// Validation limits.
    pub limits: Limits,
    /// Names of the prompted shapes (refreshed when an admin adds one).
    pub shapes: Arc<RwLock<HashSet<String>>>,
    /// Distractor words (imported with `--distractors`; train the `unknown` class).
    pub distractors: Arc<RwLock<HashSet<String>>>,
    /// The served model and its micro-batcher.
    pub inference: crate::inference::recognizer::Inference,
    /// The served shape generator.
    pub generation: crate::inference::generator::Generation,
    /// Settings of training jobs.
    pub training: crate::config::TrainingSettings,
    /// Settings of the inference API.
    pub inference_settings: crate::config::InferenceSettings,
    /// Lifetime of login tokens, ms.
    pub token_ttl_ms: i64,
    /// Lifetime of player session tokens, ms.
    pub session_ttl_ms: i64,
    /// Sessions, worker tokens and login back-off settings.
    pub auth: crate::config::AuthSettings,
    /// Player sessions by token hash, so uploads skip a SQL lookup.
    pub sessions: crate::players::auth::SessionCache,
    /// The password-check gate (bounded hashing, back-off after failures).
    pub login: Arc<crate::players::throttle::LoginThrottle>,
    /// Rate limits by route class.
    pub rate_limits: crate::edge::rate_limit::RateLimits,
    /// The HTTP edge's settings (timeouts, CORS, trusted proxies).
    pub http: crate::config::HttpSettings,
    /// Wakes the quality scorer (new drawings stored).
    pub quality_wake: Arc<tokio::sync::Notify>,
    /// Thresholds of the contributor junk detection.
    pub contributors: crate::curation::contributors::ContributorSettings,
    /// License and publisher of dataset releases.
    pub releases: crate::dataset::releases::ReleaseSettings,
    /// The prompt policy and its cached plan.
    pub prompts: crate::prompts::Prompts,
}

/// Largest `POST /api/admin/import` body (ndjson).
pub const MAX_IMPORT_BODY_BYTES: usize = 512 << 20;

/// Largest weights upload and completion body (a recognizer's weights are ~0.3 MB).
pub const MAX_WEIGHTS_BYTES: usize = 256 << 20;

impl AppState {
    /// Builds the state and loads the shape names.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn new(
        db: Db,
        objects: Objects,
        ingest: Ingest,
        settings: &crate::config::Settings,
    ) -> Result<Self, sqlx::Error> {
        let token_ttl_secs = settings.token_ttl_secs;
        let state = Self(Arc::new(Shared {
            db,
            objects,
            ingest,
            limits: Limits::DEFAULT,
            shapes: Arc::default(),
            distractors: Arc::default(),
            inference: crate::inference::recognizer::Inference::start(&settings.inference),
            generation: crate::inference::generator::Generation::new(
                settings.inference.backend,
                std::time::Duration::from_millis(settings.inference.deadline_ms.max(1)),
            ),
            training: settings.training.clone(),
            inference_settings: settings.inference.clone(),
            token_ttl_ms: i64::try_from(token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            session_ttl_ms: i64::try_from(settings.auth.session_ttl_secs.saturating_mul(1_000))
                .unwrap_or(i64::MAX),
            auth: settings.auth.clone(),
            sessions: crate::players::auth::SessionCache::default(),
            login: Arc::new(crate::players::throttle::LoginThrottle::new(&settings.auth)),
            rate_limits: crate::edge::rate_limit::RateLimits::new(
                &settings.rate_limits,
                settings.http.trusted_proxies.clone(),
            ),
            http: settings.http.clone(),
            quality_wake: Arc::default(),
            contributors: settings.contributors.clone(),
            releases: settings.releases.clone(),
            prompts: crate::prompts::Prompts::new(settings.prompts.clone()),
        }));
        state.reload_shapes().await?;
        Ok(state)
    }

    /// Reloads the shape names from SQL.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn reload_shapes(&self) -> Result<(), sqlx::Error> {
        let names: HashSet<String> = self
            .db
            .shapes()
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        if let Ok(mut set) = self.shapes.write() {
            *set = names;
        }
        let words: HashSet<String> = self.db.distractor_words().await?.into_iter().collect();
        if let Ok(mut set) = self.distractors.write() {
            *set = words;
        }
        Ok(())
    }

    /// Reloads the shape names every `interval` until `stop` turns true: shapes and
    /// distractor words added through another replica, or by `inkset-server import` while
    /// this server runs, are known here within `interval` (uploads of a new shape accepted,
    /// a training plan's `unknown` class counted). A failed reload is logged and retried at
    /// the next tick.
    pub fn watch_shapes(
        &self,
        interval: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                if *stop.borrow() {
                    return;
                }
                if let Err(e) = state.reload_shapes().await {
                    tracing::warn!(error = %e, "reloading the shape catalogue failed");
                }
            }
        });
    }

    /// Whether `name` is a prompted shape.
    pub fn is_known_shape(&self, name: &str) -> bool {
        self.shapes.read().is_ok_and(|s| s.contains(name))
    }

    /// Whether `name` is a distractor word.
    pub fn is_distractor(&self, name: &str) -> bool {
        self.distractors.read().is_ok_and(|s| s.contains(name))
    }
}
