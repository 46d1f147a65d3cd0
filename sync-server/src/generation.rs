//! Serving the `production` generator (`POST /api/inference/generate`): one loaded version
//! at a time, swapped when the generator's `production` alias moves (here, or through
//! another replica: the alias is polled). Each request holds an `Arc` of the version it
//! started on. Sampling is sequential over the points of a drawing, so it runs on a
//! blocking thread; at most one request per core samples at once.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use inkset_model::backend::Backend;
use inkset_model::generator::{GeneratorManifest, ShapeGenerator};
use inkset_protocol::ml::{GENERATOR, PRODUCTION};
use uuid::Uuid;

use crate::db::Db;
use crate::objects::Objects;

/// A loaded generator version.
#[derive(Debug)]
pub struct ServedGenerator {
    /// Registry id.
    pub model_id: Uuid,
    /// Version number.
    pub version: u64,
    /// The network, its manifest and device.
    pub generator: ShapeGenerator,
}

#[derive(Debug)]
struct Inner {
    current: RwLock<Option<Arc<ServedGenerator>>>,
    loading: tokio::sync::Mutex<()>,
    permits: tokio::sync::Semaphore,
    backend: Backend,
}

/// The served generator (cheap to clone).
#[derive(Debug, Clone)]
pub struct Generation {
    inner: Arc<Inner>,
}

impl Generation {
    /// Nothing loaded yet; samples on `backend`.
    pub fn new(backend: Backend) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self {
            inner: Arc::new(Inner {
                current: RwLock::new(None),
                loading: tokio::sync::Mutex::new(()),
                permits: tokio::sync::Semaphore::new(cores),
                backend,
            }),
        }
    }

    /// The served version, if any.
    pub fn current(&self) -> Option<Arc<ServedGenerator>> {
        self.inner.current.read().ok().and_then(|c| c.clone())
    }

    /// Waits for a sampling slot (one per core).
    ///
    /// # Errors
    /// Never in practice: the semaphore is never closed.
    pub async fn slot(&self) -> anyhow::Result<tokio::sync::SemaphorePermit<'_>> {
        Ok(self.inner.permits.acquire().await?)
    }

    /// Loads the version the generator's `production` alias points at, if it is not the
    /// one served. Returns whether the served version changed.
    ///
    /// # Errors
    /// When the registry or the artifact cannot be read or the weights do not load.
    pub async fn refresh(&self, db: &Db, objects: &Objects) -> anyhow::Result<bool> {
        let _one_at_a_time = self.inner.loading.lock().await;
        let target = db.alias_target(GENERATOR, PRODUCTION).await?;
        if target == self.current().map(|s| s.model_id) {
            return Ok(false);
        }
        let Some(id) = target else {
            if let Ok(mut c) = self.inner.current.write() {
                *c = None;
            }
            return Ok(true);
        };
        let (version, manifest, weights) =
            crate::inference::read_artifact::<GeneratorManifest>(db, objects, id).await?;
        let device = self.inner.backend.device();
        let generator = tokio::task::spawn_blocking(move || {
            let g = ShapeGenerator::from_bytes(manifest, weights.to_vec(), device)?;
            // Warm-up: the first pass allocates (and on wgpu compiles kernels).
            let _ = g.sample(&[(0, 0)], 0.5, 4);
            Ok::<_, inkset_model::artifact::ArtifactError>(g)
        })
        .await??;
        let served = Arc::new(ServedGenerator {
            model_id: id,
            version,
            generator,
        });
        if let Ok(mut c) = self.inner.current.write() {
            *c = Some(served);
        }
        tracing::info!(model = %id, version, "serving a new production generator");
        Ok(true)
    }

    /// Follows the alias every `every` until the process ends.
    pub fn watch(&self, db: Db, objects: Objects, every: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.refresh(&db, &objects).await {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "could not load the production generator"
                    );
                }
                tokio::time::sleep(every).await;
            }
        });
    }
}
