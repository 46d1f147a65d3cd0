-- Inkset Draw: drawings dated on server-corrected time (client first-point time plus the
-- device clock's offset measured at upload, never after receipt), the on-device guess that
-- travelled with each drawing, and samples the client dropped as non-finite.

ALTER TABLE drawings ADD COLUMN drawn_at BIGINT;
ALTER TABLE drawings ADD COLUMN guess_recognized BIGINT;
ALTER TABLE drawings ADD COLUMN guess_confidence DOUBLE PRECISION;
ALTER TABLE drawings ADD COLUMN guess_model_version BIGINT;
UPDATE drawings SET drawn_at = received_at;
CREATE INDEX drawings_session_drawn ON drawings (session_id, drawn_at);
CREATE INDEX sessions_user ON sessions (user_id);
