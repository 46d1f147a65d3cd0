-- The production recognizer's answer for each drawing, stored by the quality scorer beside
-- the score (inkset_server::quality): its top class and that class's probability. The
-- console filters by it ("model verdict") and sorts by confidence.
ALTER TABLE drawings ADD COLUMN model_guess TEXT;
ALTER TABLE drawings ADD COLUMN model_confidence DOUBLE PRECISION;
CREATE INDEX drawings_model_confidence ON drawings (model_confidence, id);
CREATE INDEX drawings_quality_id ON drawings (quality_score, id);

-- Background exports (POST /api/admin/exports): progress, and the finished file's object key.
CREATE TABLE export_jobs (
    id TEXT PRIMARY KEY,
    format TEXT NOT NULL,
    filter TEXT NOT NULL,
    raster_size BIGINT,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    total BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT,
    object_key TEXT,
    error TEXT,
    created_by TEXT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX export_jobs_created ON export_jobs (created_at);
