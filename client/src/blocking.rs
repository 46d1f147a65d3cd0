//! [`BlockingClient`]: the same calls as [`Client`], blocking the calling thread, for GUI
//! apps that call the server from background threads (never from an async task: blocking
//! inside a tokio runtime panics).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use inkset_protocol::api::BulkRequest;
use inkset_protocol::api::{
    AdminStats, BatchResult, BatchUpload, ContributorList, ContributorQuery, CutRelease,
    DrawingDetail, DrawingFilter, DrawingPage, ExportJob, ExportList, LoginResponse, PromptPlan,
    Release, ReleaseDiff, ReleaseList, SessionCreated, ShapeInfo, StartExport, TokensRevoked,
    UserAccount, UserStats,
};
use inkset_protocol::ml::{
    AliasHistory, Classification, ClassifyRequest, Comparison, GenerateRequest, Generated,
    JobCreated, JobList, ModelInfo, ModelList, PlanPreview, StartTraining, TrainingJob,
    WorkerToken,
};
use uuid::Uuid;

use crate::admin::PageRequest;
use crate::{Client, ClientError};

/// A [`Client`] with a small runtime of its own (one I/O thread) that runs each call to
/// completion on the calling thread. Clones share the runtime and the connection pool.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    inner: Client,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl BlockingClient {
    /// Wraps `client`.
    ///
    /// # Errors
    /// [`ClientError::Io`] when the runtime's thread cannot be started.
    pub fn new(client: Client) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("inkset-client")
            .enable_all()
            .build()
            .map_err(|source| ClientError::Io {
                path: "tokio runtime".into(),
                source,
            })?;
        Ok(Self {
            inner: client,
            runtime: Arc::new(runtime),
        })
    }

    /// The async client inside.
    pub fn inner(&self) -> &Client {
        &self.inner
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    /// A copy that sends `token` (sharing the runtime).
    #[must_use]
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            inner: self.inner.with_token(token),
            runtime: self.runtime.clone(),
        }
    }

    /// Runs `f(client)` to completion: any call, including ones written by the caller.
    pub fn run<'a, F, Fut, T>(&'a self, f: F) -> T
    where
        F: FnOnce(&'a Client) -> Fut,
        Fut: Future<Output = T>,
    {
        self.runtime.block_on(f(&self.inner))
    }

    /// Signs in: a copy that sends the new token, and the login answer.
    ///
    /// # Errors
    /// As [`Client::login`].
    pub fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Self, LoginResponse), ClientError> {
        let login = self.run(|c| c.login(username, password))?;
        Ok((self.with_token(&login.token), login))
    }
}

/// Blocking forms of [`Client`]'s calls, one line each.
macro_rules! blocking {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl BlockingClient {
            $(
                #[doc = concat!("[`Client::", stringify!($name), "`], blocking.")]
                ///
                /// # Errors
                /// As the async call.
                pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret, ClientError> {
                    self.runtime.block_on(self.inner.$name($($arg),*))
                }
            )*
        }
    };
}

blocking! {
    fn create_session(&self) -> SessionCreated;
    fn shapes(&self) -> Vec<ShapeInfo>;
    fn upload_batch(&self, batch: &BatchUpload) -> BatchResult;
    fn user_stats(&self, utc_offset_min: i32) -> UserStats;
    fn logout(&self) -> ();
    fn admin_stats(&self) -> AdminStats;
    fn drawings(&self, page: PageRequest<'_>) -> DrawingPage;
    fn drawing_count(&self, filter: &DrawingFilter) -> u64;
    fn contributors(&self, query: &ContributorQuery) -> ContributorList;
    fn prompt_plan(&self) -> PromptPlan;
    fn cut_release(&self, req: &CutRelease) -> Release;
    fn releases(&self) -> ReleaseList;
    fn dataset_release(&self, name: &str) -> Release;
    fn release_diff(&self, name: &str, other: &str) -> ReleaseDiff;
    fn drawing(&self, id: Uuid) -> DrawingDetail;
    fn bulk(&self, req: &BulkRequest) -> u64;
    fn set_quality(&self, id: Uuid, score: Option<f64>) -> ();
    fn training_plan(&self, req: &StartTraining) -> PlanPreview;
    fn start_training(&self, req: &StartTraining) -> JobCreated;
    fn jobs(&self) -> JobList;
    fn job(&self, id: Uuid) -> TrainingJob;
    fn cancel_job(&self, id: Uuid) -> TrainingJob;
    fn models(&self, model_kind: Option<&str>) -> ModelList;
    fn compare(&self, a: Uuid, b: Uuid) -> Comparison;
    fn activate(&self, id: Uuid) -> ();
    fn set_alias(&self, kind: &str, alias: &str, model_id: Uuid) -> ();
    fn alias_history(&self) -> AliasHistory;
    fn start_export(&self, req: &StartExport) -> ExportJob;
    fn exports(&self) -> ExportList;
    fn download_export(&self, id: Uuid, path: &Path) -> u64;
    fn create_worker_token(&self, name: &str) -> WorkerToken;
    fn worker_tokens(&self) -> Vec<WorkerToken>;
    fn revoke_worker_token(&self, id: Uuid) -> ();
    fn users(&self) -> Vec<UserAccount>;
    fn disable_user(&self, username: &str) -> TokensRevoked;
    fn enable_user(&self, username: &str) -> TokensRevoked;
    fn revoke_user_tokens(&self, username: &str) -> TokensRevoked;
    fn model_info(&self) -> ModelInfo;
    fn production_artifact(&self, file: &str) -> Vec<u8>;
    fn model_artifact(&self, id: Uuid, file: &str) -> Vec<u8>;
    fn classify(&self, req: &ClassifyRequest) -> Classification;
    fn generate(&self, req: &GenerateRequest) -> Generated;
}
