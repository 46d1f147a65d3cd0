-- Token lifetimes and leases bound to their token (issue "Protection").
--
-- Player session tokens expire and can be revoked (logout, an admin disabling the account).
-- Sessions made before this migration get the default lifetime (365 days) from their start.
ALTER TABLE sessions ADD COLUMN expires_at BIGINT;
ALTER TABLE sessions ADD COLUMN revoked_at BIGINT;
UPDATE sessions SET expires_at = created_at + 31536000000;

-- Worker tokens may expire (NULL: never, as before).
ALTER TABLE worker_tokens ADD COLUMN expires_at BIGINT;

-- The worker token that claimed the current attempt: only it may heartbeat, upload,
-- complete, fail or release that attempt.
ALTER TABLE training_jobs ADD COLUMN lease_token_id TEXT;

-- The purge of expired and revoked login tokens, and revocation by user.
CREATE INDEX auth_tokens_expires ON auth_tokens (expires_at);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);
