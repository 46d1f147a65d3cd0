//! Serving the `production` generator (`POST /api/inference/generate`): one loaded version
//! at a time, swapped when the generator's `production` alias moves (here, or through
//! another replica: the alias is polled). Each request holds an `Arc` of the version it
//! started on. Sampling is sequential over the points of a drawing, so it runs on a
//! blocking thread; at most one request per core samples at once.

use std::sync::Arc;
use std::time::Duration;

use inkset_model::backend::Backend;
use inkset_model::generator::{GeneratorManifest, ShapeGenerator};
use inkset_protocol::ml::GENERATOR;
use uuid::Uuid;

use crate::db::Db;
use crate::objects::Objects;

use super::served::{HotSwap, Version};

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
    current: HotSwap<ServedGenerator>,
    permits: tokio::sync::Semaphore,
    backend: Backend,
    deadline: Duration,
}

/// The served generator (cheap to clone).
#[derive(Debug, Clone)]
pub struct Generation {
    inner: Arc<Inner>,
}

impl Version for ServedGenerator {
    fn model_id(&self) -> Uuid {
        self.model_id
    }

    fn version(&self) -> u64 {
        self.version
    }
}

impl Generation {
    /// Nothing loaded yet; samples on `backend`; callers wait at most `deadline` for a
    /// sampling slot.
    pub fn new(backend: Backend, deadline: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self {
            inner: Arc::new(Inner {
                current: HotSwap::new(GENERATOR),
                permits: tokio::sync::Semaphore::new(cores),
                backend,
                deadline,
            }),
        }
    }

    /// The served version, if any.
    pub fn current(&self) -> Option<Arc<ServedGenerator>> {
        self.inner.current.current()
    }

    /// Waits for a sampling slot (one per core), at most the deadline.
    ///
    /// # Errors
    /// [`crate::error::ApiError::Overloaded`] (503, `Retry-After`) when no slot frees up in
    /// time.
    pub async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, crate::error::ApiError> {
        match tokio::time::timeout(self.inner.deadline, self.inner.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(crate::error::ApiError::Unavailable(
                "the generator is shutting down",
            )),
            Err(_) => Err(crate::error::ApiError::Overloaded {
                message: "every generator slot is busy; retry shortly".into(),
                retry_after_secs: 1,
            }),
        }
    }

    /// Loads the version the generator's `production` alias points at, if it is not the
    /// one served. Returns whether the served version changed.
    ///
    /// # Errors
    /// When the registry or the artifact cannot be read or the weights do not load.
    pub async fn refresh(&self, db: &Db, objects: &Objects) -> anyhow::Result<bool> {
        let device = self.inner.backend.device();
        self.inner
            .current
            .refresh(
                db,
                objects,
                |model_id, version, manifest: GeneratorManifest, weights| async move {
                    let generator = tokio::task::spawn_blocking(move || {
                        let g = ShapeGenerator::from_bytes(manifest, weights.to_vec(), device)?;
                        // Warm-up: the first pass allocates (and on wgpu compiles kernels).
                        let _ = g.sample(&[(0, 0)], 0.5, 4);
                        Ok::<_, inkset_model::artifact::ArtifactError>(g)
                    })
                    .await??;
                    Ok(ServedGenerator {
                        model_id,
                        version,
                        generator,
                    })
                },
            )
            .await
    }

    /// Follows the alias every `every` until the process ends.
    pub fn watch(&self, db: Db, objects: Objects, every: Duration) {
        let me = self.clone();
        HotSwap::<ServedGenerator>::watch(
            move || {
                let (me, db, objects) = (me.clone(), db.clone(), objects.clone());
                async move { me.refresh(&db, &objects).await }
            },
            every,
            "generator",
        );
    }
}
