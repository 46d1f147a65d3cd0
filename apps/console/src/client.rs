//! The admin API of an `inkset-server`, blocking (the console calls it from background
//! threads): `POST /api/auth/login` for a bearer token, then the admin routes with it.

use std::time::Duration;

use inkset_protocol::api::{
    AdminStats, BulkAction, BulkRequest, BulkResult, DrawingCount, DrawingDetail, DrawingFilter,
    DrawingPage, DrawingSort, ErrorBody, ExportJob, ExportList, LoginRequest, LoginResponse,
    ShapeInfo, StartExport,
};
use inkset_protocol::ml::{
    AliasHistory, Comparison, GenerateRequest, Generated, JobCreated, JobList, ModelList,
    PlanPreview, SetAlias, StartTraining, TrainingJob,
};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use uuid::Uuid;

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL is not `http(s)://...`.
    #[error("server URL {0:?} must start with http:// or https://")]
    Url(String),
    /// No answer.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// 401: a wrong password at sign-in, or a session that expired since.
    #[error("{0}")]
    Unauthorized(String),
    /// Another refusal, with the server's message.
    #[error("{status}: {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// A local file could not be written.
    #[error("{0}")]
    Io(String),
    /// An answer that does not parse as the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// The parse error.
        message: String,
    },
}

impl ClientError {
    /// Whether the session is gone (sign in again).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized(_))
    }
}

/// A signed-in admin session.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: Client,
    base: String,
    token: String,
    /// When the token stops working, ms since the Unix epoch (server clock).
    pub expires_at: i64,
}

fn check(url: &str, resp: reqwest::blocking::Response) -> Result<Vec<u8>, ClientError> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .map_err(|source| ClientError::Unreachable {
            url: url.to_owned(),
            source,
        })?
        .to_vec();
    if status.is_success() {
        return Ok(bytes);
    }
    let message = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(200).collect());
    if status == StatusCode::UNAUTHORIZED {
        return Err(ClientError::Unauthorized(message));
    }
    Err(ClientError::Refused { status, message })
}

fn parse<T: serde::de::DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

impl AdminClient {
    /// Signs in to `base` (e.g. `http://127.0.0.1:8080`) as an admin.
    ///
    /// # Errors
    /// [`ClientError::Url`], [`ClientError::Unreachable`], or
    /// [`ClientError::Unauthorized`] for a wrong name or password.
    pub fn sign_in(base: &str, username: &str, password: &str) -> Result<Self, ClientError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Url(base));
        }
        let url = format!("{base}/api/auth/login");
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let resp = http
            .post(&url)
            .json(&LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .send()
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let login: LoginResponse = parse(&url, &check(&url, resp)?)?;
        Ok(Self {
            http,
            base,
            token: login.token,
            expires_at: login.expires_at,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn send(
        &self,
        url: &str,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<Vec<u8>, ClientError> {
        let resp =
            req.bearer_auth(&self.token)
                .send()
                .map_err(|source| ClientError::Unreachable {
                    url: url.to_owned(),
                    source,
                })?;
        check(url, resp).map_err(|e| match e {
            ClientError::Unauthorized(m) => {
                ClientError::Unauthorized(format!("the session has expired ({m}); sign in again"))
            }
            other => other,
        })
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let bytes = self.send(&url, self.http.get(&url))?;
        parse(&url, &bytes)
    }

    fn get_query<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let bytes = self.send(&url, self.http.get(&url).query(query))?;
        parse(&url, &bytes)
    }

    fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let bytes = self.send(&url, self.http.post(&url).json(body))?;
        parse(&url, &bytes)
    }

    /// `GET /api/shapes`: the shapes players are prompted for.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn prompt_shapes(&self) -> Result<Vec<ShapeInfo>, ClientError> {
        self.get("/api/shapes")
    }

    /// `GET /api/admin/drawings`: one page of `filter` in `sort` order after `cursor`,
    /// with thumbnails (simplified strokes).
    ///
    /// # Errors
    /// As every call: unreachable, refused (the server's message names the field), or
    /// [`ClientError::Unauthorized`] once the session expired.
    pub fn drawings(
        &self,
        filter: &DrawingFilter,
        sort: DrawingSort,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<DrawingPage, ClientError> {
        #[derive(serde::Serialize)]
        struct Page<'a> {
            #[serde(flatten)]
            filter: &'a DrawingFilter,
            sort: DrawingSort,
            #[serde(skip_serializing_if = "Option::is_none")]
            cursor: Option<&'a str>,
            limit: usize,
            thumbnails: bool,
        }
        self.get_query(
            "/api/admin/drawings",
            &Page {
                filter,
                sort,
                cursor,
                limit,
                thumbnails: true,
            },
        )
    }

    /// `GET /api/admin/drawings/count`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn count(&self, filter: &DrawingFilter) -> Result<u64, ClientError> {
        self.get_query::<DrawingCount>("/api/admin/drawings/count", filter)
            .map(|c| c.count)
    }

    /// `GET /api/admin/drawings/{id}`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn drawing(&self, id: Uuid) -> Result<DrawingDetail, ClientError> {
        self.get(&format!("/api/admin/drawings/{id}"))
    }

    /// `POST /api/admin/drawings/bulk` for `ids`, or for every drawing of `filter`; with
    /// `expected_count` (filter only) the server changes nothing unless the filter still
    /// matches that many drawings. Returns how many drawings changed.
    ///
    /// # Errors
    /// As [`Self::drawings`]; [`ClientError::Refused`] with 409 when the count differs.
    pub fn curate(
        &self,
        action: BulkAction,
        ids: Vec<Uuid>,
        filter: Option<DrawingFilter>,
        expected_count: Option<u64>,
        reason: Option<String>,
    ) -> Result<u64, ClientError> {
        self.post::<BulkResult>(
            "/api/admin/drawings/bulk",
            &BulkRequest {
                action,
                ids,
                filter,
                expected_count,
                reason,
            },
        )
        .map(|r| r.affected)
    }

    /// `PUT /api/admin/drawings/{id}/quality`: an admin's score, or `None` for automatic.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn override_quality(&self, id: Uuid, score: Option<f64>) -> Result<(), ClientError> {
        let url = format!("{}/api/admin/drawings/{id}/quality", self.base);
        self.send(
            &url,
            self.http
                .put(&url)
                .json(&serde_json::json!({ "score": score })),
        )
        .map(|_| ())
    }

    /// `POST /api/admin/training/plan`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn plan(&self, req: &StartTraining) -> Result<PlanPreview, ClientError> {
        self.post("/api/admin/training/plan", req)
    }

    /// `POST /api/admin/training/start`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn start_training(&self, req: &StartTraining) -> Result<JobCreated, ClientError> {
        self.post("/api/admin/training/start", req)
    }

    /// `GET /api/admin/training`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn jobs(&self) -> Result<JobList, ClientError> {
        self.get("/api/admin/training")
    }

    /// `GET /api/admin/training/{id}`: status, curve, logs and lease.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn job(&self, id: Uuid) -> Result<TrainingJob, ClientError> {
        self.get(&format!("/api/admin/training/{id}"))
    }

    /// `POST /api/admin/training/{id}/cancel`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn cancel(&self, id: Uuid) -> Result<TrainingJob, ClientError> {
        self.post(&format!("/api/admin/training/{id}/cancel"), &())
    }

    /// `GET /api/admin/models`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn models(&self) -> Result<ModelList, ClientError> {
        self.get("/api/admin/models")
    }

    /// `GET /api/admin/models/compare?a=&b=`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn compare(&self, a: Uuid, b: Uuid) -> Result<Comparison, ClientError> {
        self.get_query("/api/admin/models/compare", &[("a", a), ("b", b)])
    }

    /// `POST /api/admin/models/{id}/activate`: moves `production` of its kind to it.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn activate(&self, id: Uuid) -> Result<(), ClientError> {
        let url = format!("{}/api/admin/models/{id}/activate", self.base);
        self.send(&url, self.http.post(&url)).map(|_| ())
    }

    /// `PUT /api/admin/aliases/{kind}/{alias}`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn set_alias(&self, kind: &str, alias: &str, model_id: Uuid) -> Result<(), ClientError> {
        let url = format!("{}/api/admin/aliases/{kind}/{alias}", self.base);
        self.send(&url, self.http.put(&url).json(&SetAlias { model_id }))
            .map(|_| ())
    }

    /// `GET /api/admin/aliases/history`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn alias_history(&self) -> Result<AliasHistory, ClientError> {
        self.get("/api/admin/aliases/history")
    }

    /// `POST /api/inference/generate` with the admin token (the served generator).
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn generate(&self, req: &GenerateRequest) -> Result<Generated, ClientError> {
        self.post("/api/inference/generate", req)
    }

    /// `POST /api/admin/exports`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn start_export(&self, req: &StartExport) -> Result<ExportJob, ClientError> {
        self.post("/api/admin/exports", req)
    }

    /// `GET /api/admin/exports`.
    ///
    /// # Errors
    /// As [`Self::drawings`].
    pub fn exports(&self) -> Result<ExportList, ClientError> {
        self.get("/api/admin/exports")
    }

    /// `GET /api/admin/exports/{id}/download`, streamed into `path`; returns bytes written.
    ///
    /// # Errors
    /// As [`Self::drawings`], or [`ClientError::Io`] when the file cannot be written.
    pub fn download_export(&self, id: Uuid, path: &std::path::Path) -> Result<u64, ClientError> {
        let url = format!("{}/api/admin/exports/{id}/download", self.base);
        let mut resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if !resp.status().is_success() {
            return check(&url, resp).map(|_| 0);
        }
        let io = |e: std::io::Error| ClientError::Io(format!("{}: {e}", path.display()));
        let tmp = path.with_extension("part");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        let n = resp
            .copy_to(&mut file)
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(n)
    }

    /// `GET /api/admin/stats`: the dashboard's numbers.
    ///
    /// # Errors
    /// As the other calls; [`ClientError::Unauthorized`] once the token expired.
    pub fn stats(&self) -> Result<AdminStats, ClientError> {
        self.get("/api/admin/stats")
    }
}
