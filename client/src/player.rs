//! The player API: anonymous sessions, prompts, uploads, progress and accounts.

use inkset_protocol::api::{
    BatchResult, BatchUpload, LoginRequest, LoginResponse, PlayerAccount, PromptDeal,
    SessionCreated, ShapeInfo, UserStats,
};
use reqwest::Method;

use crate::{Client, ClientError, Idempotent};

impl Client {
    /// `POST /api/sessions`: a new anonymous player session (sent once: it creates one).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_session(&self) -> Result<SessionCreated, ClientError> {
        self.json(Idempotent::No, |c| c.request(Method::POST, "/api/sessions"))
            .await
    }

    /// `GET /api/shapes`: the shapes players are prompted for.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn shapes(&self) -> Result<Vec<ShapeInfo>, ClientError> {
        self.get("/api/shapes").await
    }

    /// `GET /api/prompts` with the session token: the next `count` prompts the server's
    /// policy chose for this player (`None`: one cycle, every shape at least once). Sent
    /// once: the server records what it dealt.
    ///
    /// # Errors
    /// [`ClientError`]; 422 naming `count` outside 1..=100.
    pub async fn prompts(&self, count: Option<usize>) -> Result<PromptDeal, ClientError> {
        let query: Vec<(&str, usize)> = count.map(|c| ("count", c)).into_iter().collect();
        self.json(Idempotent::No, |c| {
            c.request(Method::GET, "/api/prompts").query(&query)
        })
        .await
    }

    /// `POST /api/drawings/batch` with the session token. Retried: every drawing carries
    /// its client-generated id, so a resend is answered `duplicate`, never stored twice.
    ///
    /// # Errors
    /// [`ClientError`] for the request as a whole; per-drawing outcomes are in the result.
    pub async fn upload_batch(&self, batch: &BatchUpload) -> Result<BatchResult, ClientError> {
        self.call(Idempotent::Yes, Method::POST, "/api/drawings/batch", batch)
            .await
    }

    /// `GET /api/user/stats` for the session or player of the token, days counted in the
    /// time zone `utc_offset_min` minutes east of UTC.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn user_stats(&self, utc_offset_min: i32) -> Result<UserStats, ClientError> {
        self.get_query("/api/user/stats", &[("utc_offset_min", utc_offset_min)])
            .await
    }

    /// `POST /api/auth/login`: a bearer token for an admin or a player account. Use it with
    /// [`Client::with_token`].
    ///
    /// # Errors
    /// [`ClientError`]; a wrong name or password is a 401.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<LoginResponse, ClientError> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call(Idempotent::No, Method::POST, "/api/auth/login", &body)
            .await
    }

    /// Signs in: [`Self::login`], then a copy of this client that sends the token.
    ///
    /// # Errors
    /// As [`Self::login`].
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Self, LoginResponse), ClientError> {
        let login = self.login(username, password).await?;
        Ok((self.with_token(&login.token), login))
    }

    /// `POST /api/auth/logout`: the token stops working.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.call_empty::<()>(Idempotent::No, Method::POST, "/api/auth/logout", None)
            .await
    }

    /// With the session token: `POST /api/auth/signup` (`link == false`: a new player
    /// account that takes over the session's drawings) or `/api/auth/link` (`link == true`:
    /// the session joins an existing account).
    ///
    /// # Errors
    /// [`ClientError`]; a taken name is a 409 naming `username`, a wrong password a 401.
    pub async fn account(
        &self,
        req: &LoginRequest,
        link: bool,
    ) -> Result<PlayerAccount, ClientError> {
        let path = if link {
            "/api/auth/link"
        } else {
            "/api/auth/signup"
        };
        self.call(Idempotent::No, Method::POST, path, req).await
    }
}
