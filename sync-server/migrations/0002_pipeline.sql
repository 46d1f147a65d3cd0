-- The model pipeline: distractor words (drawings of "not a shape" that train the recognizer's
-- `unknown` class; never prompted), trainer worker tokens, job data plans, one model per job.

ALTER TABLE shapes ADD COLUMN kind TEXT NOT NULL DEFAULT 'prompt' CHECK (kind IN ('prompt', 'distractor'));

CREATE TABLE worker_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_seen_at BIGINT
);

ALTER TABLE training_jobs ADD COLUMN plan TEXT;
ALTER TABLE training_jobs ADD COLUMN lease_attempt BIGINT;
ALTER TABLE training_jobs ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX models_job ON models (job_id);
