//! The one hot-swap holder behind every served model: the version a model kind's
//! `production` alias points at, loaded from its registered artifact, swapped atomically
//! when the alias moves (here, or through another replica: [`HotSwap::watch`] polls it).
//! A request holds an `Arc` of the version it started on, so a swap never drops or mixes
//! requests: work in flight finishes on the old version, new work sees the new one.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use inkset_protocol::ml::PRODUCTION;
use uuid::Uuid;

use crate::db::Db;
use crate::objects::Objects;

/// A registered version's number, its manifest (as `M`) and its weights.
///
/// # Errors
/// An unregistered id, a manifest that is not an `M`, or weights missing from the store.
pub async fn read_artifact<M: serde::de::DeserializeOwned>(
    db: &Db,
    objects: &Objects,
    id: Uuid,
) -> anyhow::Result<(u64, M, bytes::Bytes)> {
    let row = db
        .model(id)
        .await?
        .with_context(|| format!("model {id} is not registered"))?;
    let manifest = serde_json::from_value(row.manifest).context("reading the manifest")?;
    let weights = objects
        .get(&format!(
            "{}/{}",
            row.artifact_key,
            inkset_model::artifact::WEIGHTS
        ))
        .await
        .context("reading the weights")?;
    Ok((row.version.version, manifest, weights))
}

/// A loaded model version: which registry entry it is.
pub trait Version: Send + Sync + 'static {
    /// Registry id.
    fn model_id(&self) -> Uuid;
    /// Version number.
    fn version(&self) -> u64;
}

/// The served version of one model kind (cheap to clone). `T` is the loaded version.
#[derive(Debug)]
pub struct HotSwap<T> {
    inner: Arc<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    /// `recognizer`, `generator`.
    model_kind: &'static str,
    current: RwLock<Option<Arc<T>>>,
    loading: tokio::sync::Mutex<()>,
}

impl<T> Clone for HotSwap<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Version> HotSwap<T> {
    /// Nothing served yet, for versions of `model_kind`.
    pub fn new(model_kind: &'static str) -> Self {
        Self {
            inner: Arc::new(Inner {
                model_kind,
                current: RwLock::new(None),
                loading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The served version, if any.
    pub fn current(&self) -> Option<Arc<T>> {
        self.inner.current.read().ok().and_then(|c| c.clone())
    }

    /// Loads the version the kind's `production` alias points at with `load` (given the
    /// registry id, the version number, the manifest and the weights; it should warm the
    /// model up) unless it is the one served, then swaps it in. Loads run one at a time.
    /// Returns whether the served version changed.
    ///
    /// # Errors
    /// When the registry or the artifact cannot be read, or `load` fails.
    pub async fn refresh<M, F, Fut>(
        &self,
        db: &Db,
        objects: &Objects,
        load: F,
    ) -> anyhow::Result<bool>
    where
        M: serde::de::DeserializeOwned,
        F: FnOnce(Uuid, u64, M, bytes::Bytes) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let _one_at_a_time = self.inner.loading.lock().await;
        let target = db.alias_target(self.inner.model_kind, PRODUCTION).await?;
        if target == self.current().map(|s| s.model_id()) {
            return Ok(false);
        }
        let Some(id) = target else {
            if let Ok(mut c) = self.inner.current.write() {
                *c = None;
            }
            return Ok(true);
        };
        let (version, manifest, weights) = read_artifact::<M>(db, objects, id).await?;
        let loaded = Arc::new(load(id, version, manifest, weights).await?);
        if let Ok(mut c) = self.inner.current.write() {
            *c = Some(loaded);
        }
        tracing::info!(model_kind = self.inner.model_kind, model = %id, version, "serving a new production version");
        Ok(true)
    }

    /// Calls `refresh` every `every` (so a move made through another replica is picked
    /// up) until the process ends.
    pub fn watch<R, Fut>(refresh: R, every: Duration, what: &'static str)
    where
        R: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<bool>> + Send,
    {
        tokio::spawn(async move {
            loop {
                if let Err(e) = refresh().await {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "could not load the production {what}"
                    );
                }
                tokio::time::sleep(every).await;
            }
        });
    }
}
