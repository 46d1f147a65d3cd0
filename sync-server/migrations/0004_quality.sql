-- Automatic quality scores (see inkset_server::quality): which production recognizer
-- scored a drawing ('none' without one), and whether an admin's score overrides it.

ALTER TABLE drawings ADD COLUMN quality_model_id TEXT;
ALTER TABLE drawings ADD COLUMN quality_override BIGINT NOT NULL DEFAULT 0;
CREATE INDEX drawings_quality_model ON drawings (quality_model_id);

-- Dashboard facts of each drawing: the distinct reported pointer types of its strokes
-- (sorted, comma-separated, e.g. "mouse" or "pen,touch") and the time from the prompt
-- being shown to the first point, ms (client clock).
ALTER TABLE drawings ADD COLUMN pointer_types TEXT;
ALTER TABLE drawings ADD COLUMN prompt_to_first_point_ms BIGINT;
