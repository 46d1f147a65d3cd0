-- Automatic quality scores (see inkset_server::quality): which production recognizer
-- scored a drawing ('none' without one), and whether an admin's score overrides it.

ALTER TABLE drawings ADD COLUMN quality_model_id TEXT;
ALTER TABLE drawings ADD COLUMN quality_override BIGINT NOT NULL DEFAULT 0;
CREATE INDEX drawings_quality_model ON drawings (quality_model_id);
