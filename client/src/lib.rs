//! `inkset-client`: the one typed client of `inkset-server`'s HTTP API.
//!
//! Every Inkset program that talks to a server goes through [`Client`]: Inkset Draw (player
//! API), the console (admin API), the workbench (model registry and artifacts) and the
//! training worker (`/api/worker/...`). Request and response bodies are the
//! [`inkset_protocol`] types; a refusal becomes a [`ClientError`] that keeps the HTTP status
//! and the server's error body (code, message, field).
//!
//! * [`Client`]: async (reqwest on tokio). Cheap to clone; [`Client::with_token`] gives a
//!   copy that sends `Authorization: Bearer <token>`.
//! * [`blocking::BlockingClient`]: the same calls for GUI threads, on a runtime of its own.
//! * Idempotent calls (reads, artifact downloads, heartbeats, uploads keyed by drawing id)
//!   are retried on transport errors and 408/429/502/503/504, with exponential backoff and
//!   full jitter ([`Retry`], `backon`), waiting at least what a `Retry-After` answer asks
//!   (up to [`Retry::max_retry_after`]); calls that create something are sent once.
//!
//! The calls are grouped by audience: [`player`](Client::create_session) (sessions, shapes,
//! uploads, progress, accounts), admin (statistics, curation, training, registry, aliases,
//! exports, worker tokens), inference and registry downloads, and the worker protocol.

pub mod admin;
pub mod blocking;
mod error;
mod player;
mod registry;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;

pub use error::ClientError;
pub use worker::DataSink;

/// How idempotent calls are retried: up to `attempts` tries in all, waiting an exponentially
/// growing, fully jittered delay between `min_delay` and `max_delay` before each retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included (1: never retry).
    pub attempts: usize,
    /// Delay before the first retry (before jitter).
    pub min_delay: Duration,
    /// Longest delay between tries.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured: a refusal asking for a longer wait is returned at
    /// once rather than waited out (a UI call should not hang for a minute).
    pub max_retry_after: Duration,
}

impl Retry {
    /// No retries: each call is tried once.
    pub const NONE: Self = Self {
        attempts: 1,
        min_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_retry_after: Duration::ZERO,
    };
}

impl Default for Retry {
    /// 3 tries, 100 ms then 200 ms (jittered), at most 2 s apart, or as long as a
    /// `Retry-After` of up to 10 s asks.
    fn default() -> Self {
        Self {
            attempts: 3,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

/// Longest a pooled connection is kept idle before a new one is opened: below the server's
/// keep-alive limit (`http.header_read_timeout_secs`, default 30 s), so no request goes out
/// on a connection the server is closing at that moment.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base: String,
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: String,
    retry: Retry,
    token: Option<String>,
}

impl ClientBuilder {
    /// Time to open a connection (default 5 s).
    #[must_use]
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time for a whole request, body included (default 60 s; long downloads set their own).
    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The `User-Agent` header (default `inkset-client/<version>`).
    #[must_use]
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// How idempotent calls are retried (default [`Retry::default`]).
    #[must_use]
    pub fn retry(mut self, r: Retry) -> Self {
        self.retry = r;
        self
    }

    /// A bearer token for every call.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`ClientError::Url`] for a base URL that is not `http(s)://...`;
    /// [`ClientError::Transport`] when the TLS stack cannot be set up.
    pub fn build(self) -> Result<Client, ClientError> {
        let base = self.base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Url(base));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            // Below the server's keep-alive limit (`http.header_read_timeout_secs`, 30 s by
            // default): a request is never sent on a connection the server is closing.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .user_agent(self.user_agent)
            .build()
            .map_err(|source| ClientError::Transport {
                url: base.clone(),
                source,
            })?;
        Ok(Client {
            http,
            base: base.into(),
            token: self.token.map(Into::into),
            retry: self.retry,
        })
    }
}

/// A connection to one `inkset-server` (base URL such as `http://127.0.0.1:8080`), with an
/// optional bearer token. Clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<str>,
    token: Option<Arc<str>>,
    retry: Retry,
}

/// Whether a call may be sent again after a failure that left its outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotent {
    Yes,
    No,
}

impl Client {
    /// A client for `base` with the default settings.
    ///
    /// # Errors
    /// As [`ClientBuilder::build`].
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Self::builder(base).build()
    }

    /// Settings for a client of `base`.
    pub fn builder(base: &str) -> ClientBuilder {
        ClientBuilder {
            base: base.to_owned(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            user_agent: concat!("inkset-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: Retry::default(),
            token: None,
        }
    }

    /// A copy of this client that sends `token` as its bearer token.
    #[must_use]
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// A copy of this client that retries as `retry` says.
    #[must_use]
    pub fn with_retry(&self, retry: Retry) -> Self {
        Self {
            retry,
            ..self.clone()
        }
    }

    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The bearer token sent, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` with the bearer token, for calls this crate has no method for.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends what `build` makes (again on each retry when `idempotent`) and checks the
    /// status: a non-success answer becomes [`ClientError::Status`].
    pub(crate) async fn send<F>(
        &self,
        idempotent: Idempotent,
        build: F,
    ) -> Result<Response, ClientError>
    where
        F: Fn(&Self) -> RequestBuilder,
    {
        let once = || async {
            // reqwest's errors carry the URL asked: no copy of the request (and its body)
            // is made to name it.
            let transport = |source: reqwest::Error| ClientError::Transport {
                url: source.url().map_or_else(String::new, ToString::to_string),
                source,
            };
            let request = build(self).build().map_err(transport)?;
            let resp = self.http.execute(request).await.map_err(transport)?;
            let status = resp.status();
            if status.is_success() {
                return Ok(resp);
            }
            let url = resp.url().to_string();
            // Retry-After as delay-seconds (RFC 9110 10.2.3), the form Inkset sends.
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = resp.bytes().await.unwrap_or_default();
            Err(ClientError::refused(
                &url,
                status.as_u16(),
                &body,
                retry_after,
            ))
        };
        if idempotent == Idempotent::No || self.retry.attempts <= 1 {
            return once().await;
        }
        let policy = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.attempts - 1)
            .with_jitter();
        let max_retry_after = self.retry.max_retry_after;
        once.retry(policy)
            .when(move |e: &ClientError| {
                e.is_retryable() && e.retry_after().is_none_or(|wait| wait <= max_retry_after)
            })
            // The server's Retry-After over the backoff's shorter delay; no retry left: none.
            .adjust(|e, backoff| backoff.map(|d| e.retry_after().map_or(d, |wait| wait.max(d))))
            .notify(|e, after| tracing::debug!(error = %e, ?after, "retrying"))
            .await
    }

    /// [`Self::send`], then the body as JSON.
    pub(crate) async fn json<T, F>(
        &self,
        idempotent: Idempotent,
        build: F,
    ) -> Result<T, ClientError>
    where
        T: DeserializeOwned,
        F: Fn(&Self) -> RequestBuilder,
    {
        let resp = self.send(idempotent, build).await?;
        decode(resp).await
    }

    /// [`Self::send`], then the whole body.
    pub(crate) async fn bytes<F>(
        &self,
        idempotent: Idempotent,
        build: F,
    ) -> Result<Vec<u8>, ClientError>
    where
        F: Fn(&Self) -> RequestBuilder,
    {
        let resp = self.send(idempotent, build).await?;
        let url = resp.url().to_string();
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|source| ClientError::Transport { url, source })
    }

    /// `GET path` as JSON, retried.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Idempotent::Yes, |c| c.request(Method::GET, path))
            .await
    }

    /// `GET path?query` as JSON, retried.
    pub(crate) async fn get_query<T, Q>(&self, path: &str, query: &Q) -> Result<T, ClientError>
    where
        T: DeserializeOwned,
        Q: serde::Serialize + ?Sized,
    {
        self.json(Idempotent::Yes, |c| {
            c.request(Method::GET, path).query(query)
        })
        .await
    }

    /// `method path` with a JSON body, answer as JSON.
    pub(crate) async fn call<T, B>(
        &self,
        idempotent: Idempotent,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError>
    where
        T: DeserializeOwned,
        B: serde::Serialize + ?Sized,
    {
        self.json(idempotent, |c| c.request(method.clone(), path).json(body))
            .await
    }

    /// `method path` with a JSON body, answer ignored.
    pub(crate) async fn call_empty<B>(
        &self,
        idempotent: Idempotent,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ClientError>
    where
        B: serde::Serialize + ?Sized,
    {
        self.send(idempotent, |c| {
            let r = c.request(method.clone(), path);
            match body {
                Some(b) => r.json(b),
                None => r,
            }
        })
        .await
        .map(drop)
    }
}

/// The body of `resp` as JSON `T`.
async fn decode<T: DeserializeOwned>(resp: Response) -> Result<T, ClientError> {
    let url = resp.url().to_string();
    let bytes = resp
        .bytes()
        .await
        .map_err(|source| ClientError::Transport {
            url: url.clone(),
            source,
        })?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        url,
        message: e.to_string(),
    })
}
