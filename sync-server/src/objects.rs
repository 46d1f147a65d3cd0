//! Object storage through the `object_store` crate: a local directory (embedded default) or
//! any S3-compatible store. Segments and, later, model artifacts and exports live here.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::Settings;

/// Errors of the object store.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The URL is neither `file://`, a path, nor `s3://bucket[/prefix]`.
    #[error("object_store_url {0:?}: expected file:///PATH or s3://BUCKET[/PREFIX]")]
    BadUrl(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// Local I/O (directory creation, fsync).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The object store in use.
#[derive(Clone, Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// Set for the local directory, whose writes we fsync ourselves.
    local_root: Option<PathBuf>,
    description: String,
}

impl Objects {
    /// Opens the store configured in `settings`.
    ///
    /// # Errors
    /// [`ObjectsError`] when the URL is malformed or the directory cannot be created.
    pub fn open(settings: &Settings) -> Result<Self, ObjectsError> {
        let url = settings
            .object_store_url
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("objects").display().to_string());
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ObjectsError::BadUrl(url));
            }
            let s3 = &settings.s3;
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(e) = &s3.endpoint {
                b = b.with_endpoint(e);
            }
            b = b.with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".into()));
            if let Some(k) = &s3.access_key_id {
                b = b.with_access_key_id(k);
            }
            if let Some(k) = &s3.secret_access_key {
                b = b.with_secret_access_key(k);
            }
            if s3.allow_http {
                b = b.with_allow_http(true);
            }
            let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                Arc::new(b.build()?)
            } else {
                Arc::new(PrefixStore::new(b.build()?, prefix.trim_matches('/')))
            };
            return Ok(Self {
                store,
                local_root: None,
                description: url,
            });
        }
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(&url));
        if url.contains("://") && !url.starts_with("file://") {
            return Err(ObjectsError::BadUrl(url));
        }
        std::fs::create_dir_all(&path)?;
        let path = path.canonicalize()?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(&path)?),
            local_root: Some(path.clone()),
            description: format!("file://{}", path.display()),
        })
    }

    /// Where the objects live, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The folder of the local directory store; `None` for S3.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Writes `bytes` at `key` and returns once they are durable: S3 acknowledges only
    /// stored objects; for the local directory the file and its directory are fsynced.
    ///
    /// # Errors
    /// [`ObjectsError`] when the write or the fsync fails.
    pub async fn put_durable(&self, key: &str, bytes: Bytes) -> Result<(), ObjectsError> {
        let path = ObjectPath::from(key);
        self.store.put(&path, PutPayload::from_bytes(bytes)).await?;
        if let Some(root) = &self.local_root {
            let file = root.join(key);
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::File::open(&file)?.sync_all()?;
                if let Some(dir) = file.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(())
            })
            .await
            .map_err(std::io::Error::other)??;
        }
        Ok(())
    }

    /// Reads `len` bytes at `offset` of `key`.
    ///
    /// # Errors
    /// [`ObjectsError`] when the object or range is missing.
    pub async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, ObjectsError> {
        Ok(self
            .store
            .get_range(&ObjectPath::from(key), offset..offset + len)
            .await?)
    }

    /// Reads several byte ranges of `key` (adjacent ranges are fetched together).
    ///
    /// # Errors
    /// [`ObjectsError`] when the object or a range is missing.
    pub async fn get_ranges(
        &self,
        key: &str,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Bytes>, ObjectsError> {
        Ok(self
            .store
            .get_ranges(&ObjectPath::from(key), ranges)
            .await?)
    }

    /// Reads a whole object.
    ///
    /// # Errors
    /// [`ObjectsError`] when the object is missing.
    pub async fn get(&self, key: &str) -> Result<Bytes, ObjectsError> {
        Ok(self
            .store
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    /// Checks the store answers (used by `/health/ready`).
    ///
    /// # Errors
    /// [`ObjectsError`] when it does not.
    pub async fn ping(&self) -> Result<(), ObjectsError> {
        match self.store.head(&ObjectPath::from("health/ping")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
