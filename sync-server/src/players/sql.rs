//! SQL of players: users, login tokens, sessions and their links to accounts, per-player
//! counts and active days.

use crate::now_ms;
use sqlx::Row;
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::db::Db;

/// The sessions of the player holding session `$1`: itself, and every session of the
/// account it is linked to.
const PLAYER_SESSIONS: &str = "SELECT s2.id FROM sessions s1 JOIN sessions s2 \
     ON s2.id = s1.id OR (s1.user_id IS NOT NULL AND s2.user_id = s1.user_id) WHERE s1.id = $1";

impl Db {
    /// The username of account `user_id`, if it exists.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn username(&self, user_id: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query("SELECT username FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get("username"))
            .transpose()
    }

    /// Creates an account (`role` = `admin` or `player`); returns `false` when the name is
    /// taken.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(username)
        .bind(password_hash)
        .bind(role)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `(user id, password hash, role)` of an enabled account.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn user_for_login(
        &self,
        username: &str,
    ) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, password_hash, role FROM users WHERE username = $1 AND disabled = 0",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("password_hash")?,
                r.try_get("role")?,
            ))
        })
        .transpose()
    }

    /// Stores an auth token's hash for `user_id`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn insert_auth_token(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The role of the account holding a live token, if any.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn token_role(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT u.id, u.role FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 \
             AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("role")?)))
            .transpose()
    }

    /// Revokes a token; returns whether one was live.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn revoke_token(&self, token_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates an anonymous player session whose token expires at `expires_at` (ms since
    /// the Unix epoch, server clock).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_session(
        &self,
        id: Uuid,
        token_hash: &str,
        user_agent: Option<&str>,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_agent, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(token_hash)
        .bind(user_agent)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session holding a token: its id and expiry (ms since the Unix epoch).
    /// Revoked and expired sessions are `None`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn session_for_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(Uuid, i64)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, expires_at FROM sessions WHERE token_hash = $1 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        let expires_at: Option<i64> = row.try_get("expires_at")?;
        Ok(Uuid::parse_str(&id)
            .ok()
            .map(|id| (id, expires_at.unwrap_or(i64::MAX))))
    }

    /// Moves a live session's expiry to `expires_at` (ms since the Unix epoch).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn extend_session(&self, id: Uuid, expires_at: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(expires_at)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes the session holding a token; returns whether one was live.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn revoke_session(&self, token_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every account, oldest first.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn users(&self) -> Result<Vec<inkset_protocol::api::UserAccount>, sqlx::Error> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.role, u.created_at, u.disabled, \
             (SELECT COUNT(*) FROM auth_tokens t WHERE t.user_id = u.id \
              AND t.revoked_at IS NULL AND t.expires_at > $1) AS live_tokens, \
             (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id \
              AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > $1)) \
              AS live_sessions \
             FROM users u ORDER BY u.created_at, u.username",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(inkset_protocol::api::UserAccount {
                    id: r.try_get("id")?,
                    username: r.try_get("username")?,
                    role: r.try_get("role")?,
                    created_at: r.try_get("created_at")?,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                    live_tokens: u64::try_from(r.try_get::<i64, _>("live_tokens")?).unwrap_or(0),
                    live_sessions: u64::try_from(r.try_get::<i64, _>("live_sessions")?)
                        .unwrap_or(0),
                })
            })
            .collect()
    }

    /// Revokes every live login token of an account and every session linked to it, and
    /// sets `disabled` when given, in one transaction. `None` when there is no such
    /// username; else `(login tokens revoked, sessions revoked)`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn revoke_user(
        &self,
        username: &str,
        disabled: Option<bool>,
    ) -> Result<Option<(u64, u64)>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        if let Some(d) = disabled {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(i64::from(d))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        if disabled == Some(false) {
            tx.commit().await?;
            return Ok(Some((0, 0)));
        }
        let now = now_ms();
        let tokens = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let sessions = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Some((tokens, sessions)))
    }

    /// Deletes login tokens that expired or were revoked more than `grace_ms` ago, and
    /// erases the token hashes of sessions in the same state (the session rows stay: their
    /// drawings refer to them). Returns `(login tokens deleted, session tokens erased)`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn purge_tokens(&self, grace_ms: i64) -> Result<(u64, u64), sqlx::Error> {
        let before = now_ms().saturating_sub(grace_ms);
        let tokens =
            sqlx::query("DELETE FROM auth_tokens WHERE expires_at < $1 OR revoked_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        let sessions = sqlx::query(
            "UPDATE sessions SET token_hash = 'purged:' || id \
             WHERE (expires_at < $1 OR revoked_at < $1) AND token_hash NOT LIKE 'purged:%'",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((tokens, sessions))
    }

    /// Drawings per shape of a player: the session, or every session of its account when
    /// it is linked to one (removed drawings not counted).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn player_counts(&self, session: Uuid) -> Result<BTreeMap<String, u64>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT shape, COUNT(*) AS n FROM drawings WHERE session_id IN ({PLAYER_SESSIONS}) \
             AND removed_at IS NULL GROUP BY shape"
        ))
        .bind(session.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("shape")?,
                    u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// The days (whole days since the Unix epoch, shifted by `utc_offset_ms`) on which a
    /// player (as in [`Db::player_counts`]) made a drawing, by server-corrected time.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn player_days(
        &self,
        session: Uuid,
        utc_offset_ms: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT CAST((COALESCE(drawn_at, received_at) + $2) / 86400000 AS BIGINT) \
             AS day FROM drawings WHERE session_id IN ({PLAYER_SESSIONS}) \
             AND removed_at IS NULL ORDER BY 1"
        ))
        .bind(session.to_string())
        .bind(utc_offset_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get("day")).collect()
    }

    /// The account a session is linked to: `(user id, username)`.
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn session_account(
        &self,
        session: Uuid,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1",
        )
        .bind(session.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("username")?)))
            .transpose()
    }

    /// Creates a player account and links `session` to it, in one transaction. Returns the
    /// new user id, or `None` when the username is taken (nothing changed).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn create_player(
        &self,
        session: Uuid,
        username: &str,
        password_hash: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let id = Uuid::new_v4().to_string();
        let done = sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at) \
             VALUES ($1, $2, $3, 'player', $4) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&id)
        .bind(username)
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query("UPDATE sessions SET user_id = $1 WHERE id = $2")
            .bind(&id)
            .bind(session.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Links `session` to the account `user_id` (signing in on another device).
    ///
    /// # Errors
    /// On SQL failure.
    pub async fn link_session(&self, session: Uuid, user_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE sessions SET user_id = $1 WHERE id = $2")
            .bind(user_id)
            .bind(session.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
