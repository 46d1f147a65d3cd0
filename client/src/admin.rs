//! The admin API (`/api/admin/...`, an admin's token): statistics, curation, training jobs,
//! the model registry and aliases, exports and worker tokens.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use inkset_protocol::api::{
    AdminStats, BulkRequest, BulkResult, ContributorList, ContributorQuery, CutRelease,
    DrawingCount, DrawingDetail, DrawingFilter, DrawingPage, DrawingSort, ExportJob, ExportList,
    PromptPlan, Release, ReleaseDiff, ReleaseList, StartExport, TokensRevoked, UserAccount,
};
use inkset_protocol::ml::{
    AliasHistory, Comparison, JobCreated, JobList, ModelList, NewWorkerToken, PlanPreview,
    SetAlias, StartTraining, TrainingJob, WorkerToken,
};
use reqwest::Method;
use uuid::Uuid;

use crate::{Client, ClientError, Idempotent};

/// One page request of `GET /api/admin/drawings`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// Which drawings.
    pub filter: &'a DrawingFilter,
    /// In what order.
    pub sort: DrawingSort,
    /// The previous page's `next_cursor`; `None` for the first page.
    pub cursor: Option<&'a str>,
    /// Rows per page (the server caps it).
    pub limit: usize,
    /// Whether rows carry simplified strokes for thumbnails.
    pub thumbnails: bool,
}

/// `s` as one URL path segment (every byte but ASCII letters and digits percent-encoded).
fn path_segment(s: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
}

impl Client {
    /// `GET /api/admin/stats`: the dashboard's numbers.
    ///
    /// # Errors
    /// [`ClientError`]; a 401 once the token expired.
    pub async fn admin_stats(&self) -> Result<AdminStats, ClientError> {
        self.get("/api/admin/stats").await
    }

    /// `GET /api/admin/drawings`: one page of drawings (keyset cursor).
    ///
    /// # Errors
    /// [`ClientError`]; a 400 names the filter field the server refused.
    pub async fn drawings(&self, page: PageRequest<'_>) -> Result<DrawingPage, ClientError> {
        #[derive(serde::Serialize)]
        struct Query<'a> {
            #[serde(flatten)]
            filter: &'a DrawingFilter,
            sort: DrawingSort,
            #[serde(skip_serializing_if = "Option::is_none")]
            cursor: Option<&'a str>,
            limit: usize,
            thumbnails: bool,
        }
        let query = Query {
            filter: page.filter,
            sort: page.sort,
            cursor: page.cursor,
            limit: page.limit,
            thumbnails: page.thumbnails,
        };
        self.get_query("/api/admin/drawings", &query).await
    }

    /// `GET /api/admin/drawings/count`: how many drawings `filter` matches.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn drawing_count(&self, filter: &DrawingFilter) -> Result<u64, ClientError> {
        self.get_query::<DrawingCount, _>("/api/admin/drawings/count", filter)
            .await
            .map(|c| c.count)
    }

    /// `GET /api/admin/prompts`: the prompt policy's plan (each shape's need, share and
    /// reason) and the prompts dealt per shape.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn prompt_plan(&self) -> Result<PromptPlan, ClientError> {
        self.get("/api/admin/prompts").await
    }

    /// `GET /api/admin/contributors`: one page of contributors (players and anonymous
    /// sessions) with their quality and speed numbers and review marks.
    ///
    /// # Errors
    /// [`ClientError`]; a 400 names the query field the server refused.
    pub async fn contributors(
        &self,
        query: &ContributorQuery,
    ) -> Result<ContributorList, ClientError> {
        self.get_query("/api/admin/contributors", query).await
    }

    /// `GET /api/admin/drawings/{id}`: every field, the strokes and the model's answer.
    ///
    /// # Errors
    /// [`ClientError`]; 404 for an unknown id.
    pub async fn drawing(&self, id: Uuid) -> Result<DrawingDetail, ClientError> {
        self.get(&format!("/api/admin/drawings/{id}")).await
    }

    /// `POST /api/admin/drawings/bulk`: flag, unflag or remove a selection or a whole
    /// filter; returns how many drawings changed. With `expected_count` the server changes
    /// nothing unless the filter still matches that many drawings.
    ///
    /// # Errors
    /// [`ClientError`]; a 409 when the filter now matches another count.
    pub async fn bulk(&self, req: &BulkRequest) -> Result<u64, ClientError> {
        self.call::<BulkResult, _>(
            Idempotent::Yes,
            Method::POST,
            "/api/admin/drawings/bulk",
            req,
        )
        .await
        .map(|r| r.affected)
    }

    /// `PUT /api/admin/drawings/{id}/quality`: an admin's score in 0..=1, or `None` to go
    /// back to the automatic score.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn set_quality(&self, id: Uuid, score: Option<f64>) -> Result<(), ClientError> {
        let body = serde_json::json!({ "score": score });
        self.call_empty(
            Idempotent::Yes,
            Method::PUT,
            &format!("/api/admin/drawings/{id}/quality"),
            Some(&body),
        )
        .await
    }

    /// `POST /api/admin/training/plan`: the classes and drawing counts a job would use.
    ///
    /// # Errors
    /// [`ClientError`]; a 400 names the config field.
    pub async fn training_plan(&self, req: &StartTraining) -> Result<PlanPreview, ClientError> {
        self.call(
            Idempotent::Yes,
            Method::POST,
            "/api/admin/training/plan",
            req,
        )
        .await
    }

    /// `POST /api/admin/training/start`: queues a training job (sent once).
    ///
    /// # Errors
    /// [`ClientError`]; a 400 names the config field.
    pub async fn start_training(&self, req: &StartTraining) -> Result<JobCreated, ClientError> {
        self.call(
            Idempotent::No,
            Method::POST,
            "/api/admin/training/start",
            req,
        )
        .await
    }

    /// `GET /api/admin/training`: every job, newest first.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn jobs(&self) -> Result<JobList, ClientError> {
        self.get("/api/admin/training").await
    }

    /// `GET /api/admin/training/{id}`: status, curve, logs and lease.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn job(&self, id: Uuid) -> Result<TrainingJob, ClientError> {
        self.get(&format!("/api/admin/training/{id}")).await
    }

    /// `POST /api/admin/training/{id}/cancel`.
    ///
    /// # Errors
    /// [`ClientError`]; 409 for a job already finished.
    pub async fn cancel_job(&self, id: Uuid) -> Result<TrainingJob, ClientError> {
        self.call(
            Idempotent::Yes,
            Method::POST,
            &format!("/api/admin/training/{id}/cancel"),
            &(),
        )
        .await
    }

    /// `GET /api/admin/models[?model_kind=]`: versions, newest first, with their aliases
    /// and held-out metrics.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn models(&self, model_kind: Option<&str>) -> Result<ModelList, ClientError> {
        match model_kind {
            Some(kind) => {
                self.get_query("/api/admin/models", &[("model_kind", kind)])
                    .await
            }
            None => self.get("/api/admin/models").await,
        }
    }

    /// `GET /api/admin/models/compare?a=&b=`: both versions on the same held-out drawings.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn compare(&self, a: Uuid, b: Uuid) -> Result<Comparison, ClientError> {
        self.get_query("/api/admin/models/compare", &[("a", a), ("b", b)])
            .await
    }

    /// `POST /api/admin/models/{id}/activate`: moves `production` of its kind to it.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn activate(&self, id: Uuid) -> Result<(), ClientError> {
        self.call_empty::<()>(
            Idempotent::Yes,
            Method::POST,
            &format!("/api/admin/models/{id}/activate"),
            None,
        )
        .await
    }

    /// `PUT /api/admin/aliases/{kind}/{alias}`: points `alias` at `model_id`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn set_alias(
        &self,
        kind: &str,
        alias: &str,
        model_id: Uuid,
    ) -> Result<(), ClientError> {
        self.call_empty(
            Idempotent::Yes,
            Method::PUT,
            &format!("/api/admin/aliases/{kind}/{alias}"),
            Some(&SetAlias { model_id }),
        )
        .await
    }

    /// `GET /api/admin/aliases/history`: every alias move, oldest first.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn alias_history(&self) -> Result<AliasHistory, ClientError> {
        self.get("/api/admin/aliases/history").await
    }

    /// `POST /api/admin/exports`: starts a background export (sent once).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn start_export(&self, req: &StartExport) -> Result<ExportJob, ClientError> {
        self.call(Idempotent::No, Method::POST, "/api/admin/exports", req)
            .await
    }

    /// `POST /api/admin/releases`: cuts a dataset release (sent once: a name is used once).
    ///
    /// # Errors
    /// [`ClientError`]; 409 when the name is taken, 422 naming the field at fault (an empty
    /// selection is `filter`).
    pub async fn cut_release(&self, req: &CutRelease) -> Result<Release, ClientError> {
        self.call(Idempotent::No, Method::POST, "/api/admin/releases", req)
            .await
    }

    /// `GET /api/admin/releases`: every release, newest first.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn releases(&self) -> Result<ReleaseList, ClientError> {
        self.get("/api/admin/releases").await
    }

    /// `GET /api/admin/releases/{name}`: manifest and datasheet.
    ///
    /// # Errors
    /// [`ClientError`]; 404 for an unknown name.
    pub async fn dataset_release(&self, name: &str) -> Result<Release, ClientError> {
        self.get(&format!("/api/admin/releases/{}", path_segment(name)))
            .await
    }

    /// `GET /api/admin/releases/{name}/diff/{other}`: what changed from `other` to `name`.
    ///
    /// # Errors
    /// [`ClientError`]; 404 for an unknown name.
    pub async fn release_diff(&self, name: &str, other: &str) -> Result<ReleaseDiff, ClientError> {
        self.get(&format!(
            "/api/admin/releases/{}/diff/{}",
            path_segment(name),
            path_segment(other)
        ))
        .await
    }

    /// `GET /api/admin/exports`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn exports(&self) -> Result<ExportList, ClientError> {
        self.get("/api/admin/exports").await
    }

    /// `GET /api/admin/exports/{id}/download`, streamed into `path` (written to
    /// `path.part`, synced, then renamed); returns the bytes written.
    ///
    /// # Errors
    /// [`ClientError`], or [`ClientError::Io`] when the file cannot be written.
    pub async fn download_export(&self, id: Uuid, path: &Path) -> Result<u64, ClientError> {
        let route = format!("/api/admin/exports/{id}/download");
        let mut resp = self
            .send(Idempotent::Yes, |c| {
                c.request(Method::GET, &route)
                    .timeout(Duration::from_secs(24 * 3600))
            })
            .await?;
        let url = resp.url().to_string();
        let tmp = path.with_extension("part");
        let io = |source| ClientError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        let mut n = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?
        {
            file.write_all(&chunk).map_err(io)?;
            n += chunk.len() as u64;
        }
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(n)
    }

    /// `POST /api/admin/worker-tokens`: a new worker token named `name`; the secret is in
    /// the answer only.
    ///
    /// # Errors
    /// [`ClientError`]; a 400 naming `name` when it is empty or over 100 bytes.
    pub async fn create_worker_token(&self, name: &str) -> Result<WorkerToken, ClientError> {
        let body = NewWorkerToken {
            name: name.to_owned(),
            expires_in_days: None,
        };
        self.call(
            Idempotent::No,
            Method::POST,
            "/api/admin/worker-tokens",
            &body,
        )
        .await
    }

    /// `GET /api/admin/worker-tokens`: every token, without secrets.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn worker_tokens(&self) -> Result<Vec<WorkerToken>, ClientError> {
        self.get("/api/admin/worker-tokens").await
    }

    /// `DELETE /api/admin/worker-tokens/{id}`: its trainer's next call is a 401.
    ///
    /// # Errors
    /// [`ClientError`]; 404 when no live token has that id.
    pub async fn revoke_worker_token(&self, id: Uuid) -> Result<(), ClientError> {
        self.call_empty::<()>(
            Idempotent::Yes,
            Method::DELETE,
            &format!("/api/admin/worker-tokens/{id}"),
            None,
        )
        .await
    }

    /// `GET /api/admin/users`: every account with its live token and session counts.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn users(&self) -> Result<Vec<UserAccount>, ClientError> {
        self.get("/api/admin/users").await
    }

    /// `POST /api/admin/users/{username}/disable`: the account cannot sign in any more and
    /// every login token and linked session of it is revoked.
    ///
    /// # Errors
    /// [`ClientError`]; 404 for an unknown username, 409 for the caller's own account.
    pub async fn disable_user(&self, username: &str) -> Result<TokensRevoked, ClientError> {
        self.user_action(username, "disable").await
    }

    /// `POST /api/admin/users/{username}/enable`: the account can sign in again.
    ///
    /// # Errors
    /// [`ClientError`]; 404 for an unknown username.
    pub async fn enable_user(&self, username: &str) -> Result<TokensRevoked, ClientError> {
        self.user_action(username, "enable").await
    }

    /// `POST /api/admin/users/{username}/revoke-tokens`: every login token and linked
    /// session of the account is revoked; it stays enabled.
    ///
    /// # Errors
    /// [`ClientError`]; 404 for an unknown username.
    pub async fn revoke_user_tokens(&self, username: &str) -> Result<TokensRevoked, ClientError> {
        self.user_action(username, "revoke-tokens").await
    }

    async fn user_action(
        &self,
        username: &str,
        action: &str,
    ) -> Result<TokensRevoked, ClientError> {
        let name = path_segment(username);
        // Each of these ends in the same state however often it is sent.
        self.call(
            Idempotent::Yes,
            Method::POST,
            &format!("/api/admin/users/{name}/{action}"),
            &serde_json::json!({}),
        )
        .await
    }
}
