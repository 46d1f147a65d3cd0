-- Inkset schema, version 1. One file for SQLite and PostgreSQL: only types and syntax both
-- accept (TEXT, BIGINT, DOUBLE PRECISION, BYTEA-free; booleans as BIGINT 0/1; times as
-- BIGINT ms since the Unix epoch, server clock).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'player')),
    created_at BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT REFERENCES users (id),
    user_agent TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE shapes (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    round_seconds BIGINT NOT NULL DEFAULT 20,
    created_at BIGINT NOT NULL
);

-- One object per group commit: packed drawing records (see inkset_protocol::packed).
CREATE TABLE segments (
    object_key TEXT PRIMARY KEY,
    drawing_count BIGINT NOT NULL,
    byte_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE drawings (
    id TEXT PRIMARY KEY,
    shape TEXT NOT NULL REFERENCES shapes (name),
    session_id TEXT REFERENCES sessions (id),
    origin TEXT NOT NULL CHECK (origin IN ('api', 'import')),
    received_at BIGINT NOT NULL,
    client_started_at BIGINT,
    duration_ms BIGINT,
    device TEXT,
    stroke_count BIGINT NOT NULL,
    point_count BIGINT NOT NULL,
    segment_key TEXT NOT NULL REFERENCES segments (object_key),
    segment_offset BIGINT NOT NULL,
    segment_length BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    quality_score DOUBLE PRECISION,
    flagged BIGINT NOT NULL DEFAULT 0,
    flag_reason TEXT,
    flagged_at BIGINT,
    removed_at BIGINT,
    source_key_id TEXT,
    source_recognized BIGINT,
    source_countrycode TEXT,
    source_timestamp_us BIGINT
);

CREATE INDEX drawings_shape ON drawings (shape, received_at);
CREATE INDEX drawings_received_at ON drawings (received_at, id);
CREATE INDEX drawings_quality ON drawings (quality_score);
CREATE INDEX drawings_session ON drawings (session_id, received_at);

-- Training jobs and models (filled by the model pipeline).
CREATE TABLE training_jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    model_kind TEXT NOT NULL,
    config TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    metrics TEXT,
    model_id TEXT
);
CREATE INDEX training_jobs_status ON training_jobs (status, created_at);

CREATE TABLE job_events (
    job_id TEXT NOT NULL REFERENCES training_jobs (id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    model_kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    job_id TEXT REFERENCES training_jobs (id),
    artifact_key TEXT NOT NULL,
    manifest TEXT NOT NULL,
    metrics TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (model_kind, version)
);

CREATE TABLE model_aliases (
    model_kind TEXT NOT NULL,
    alias TEXT NOT NULL,
    model_id TEXT NOT NULL REFERENCES models (id),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (model_kind, alias)
);

-- Append-only: every alias move.
CREATE TABLE alias_history (
    model_kind TEXT NOT NULL,
    alias TEXT NOT NULL,
    seq BIGINT NOT NULL,
    model_id TEXT NOT NULL REFERENCES models (id),
    previous_model_id TEXT,
    moved_by TEXT,
    moved_at BIGINT NOT NULL,
    PRIMARY KEY (model_kind, alias, seq)
);
