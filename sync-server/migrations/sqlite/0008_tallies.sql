-- Summary tables of the drawings (issue "Scale and durability", item 4), kept by triggers in
-- the writing transaction, so the dashboard, the counts and the training plan read a few
-- thousand rows instead of every drawing. SQLite's version: one writer at a time, so the
-- triggers add to the counts directly. PostgreSQL's (migrations/postgres) appends deltas
-- that the server folds in (inkset_server::curation::tallies).
--
-- drawing_counts: drawings per UTC day of receipt (received_at / 86,400,000), shape, origin,
-- device ('' for none), pointer types ('' for none), flagged (0/1), removed (0/1) and
-- quality bin (-1 unscored, 0..=9 for scores in [b/10, (b+1)/10), 9 including 1.0).
CREATE TABLE drawing_counts (
    day BIGINT NOT NULL,
    shape TEXT NOT NULL,
    origin TEXT NOT NULL,
    device TEXT NOT NULL,
    pointer_types TEXT NOT NULL,
    flagged BIGINT NOT NULL,
    removed BIGINT NOT NULL,
    quality_bin BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, shape, origin, device, pointer_types, flagged, removed, quality_bin)
);
-- Not used on SQLite (always empty); read alongside drawing_counts on both backends.
CREATE TABLE drawing_count_deltas (
    day BIGINT NOT NULL,
    shape TEXT NOT NULL,
    origin TEXT NOT NULL,
    device TEXT NOT NULL,
    pointer_types TEXT NOT NULL,
    flagged BIGINT NOT NULL,
    removed BIGINT NOT NULL,
    quality_bin BIGINT NOT NULL,
    n BIGINT NOT NULL
);
-- Drawings per exact time from prompt to first point (ms, client clock) and removed (0/1).
CREATE TABLE prompt_time_counts (
    ms BIGINT NOT NULL,
    removed BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (ms, removed)
);
CREATE TABLE prompt_time_deltas (
    ms BIGINT NOT NULL,
    removed BIGINT NOT NULL,
    n BIGINT NOT NULL
);
-- Drawings per session (removed ones included), for the contributing sessions and players.
CREATE TABLE session_drawing_counts (
    session_id TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);

CREATE TRIGGER drawings_tally_insert AFTER INSERT ON drawings BEGIN
    INSERT INTO drawing_counts (day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n)
    VALUES (
        NEW.received_at / 86400000, NEW.shape, NEW.origin, COALESCE(NEW.device, ''),
        COALESCE(NEW.pointer_types, ''), NEW.flagged,
        CASE WHEN NEW.removed_at IS NULL THEN 0 ELSE 1 END,
        CASE WHEN NEW.quality_score IS NULL THEN -1 WHEN NEW.quality_score >= 0.9 THEN 9
             WHEN NEW.quality_score >= 0.8 THEN 8 WHEN NEW.quality_score >= 0.7 THEN 7
             WHEN NEW.quality_score >= 0.6 THEN 6 WHEN NEW.quality_score >= 0.5 THEN 5
             WHEN NEW.quality_score >= 0.4 THEN 4 WHEN NEW.quality_score >= 0.3 THEN 3
             WHEN NEW.quality_score >= 0.2 THEN 2 WHEN NEW.quality_score >= 0.1 THEN 1 ELSE 0 END,
        1)
    ON CONFLICT (day, shape, origin, device, pointer_types, flagged, removed, quality_bin)
    DO UPDATE SET n = n + excluded.n;
    INSERT INTO prompt_time_counts (ms, removed, n)
    SELECT NEW.prompt_to_first_point_ms, CASE WHEN NEW.removed_at IS NULL THEN 0 ELSE 1 END, 1
    WHERE NEW.prompt_to_first_point_ms IS NOT NULL
    ON CONFLICT (ms, removed) DO UPDATE SET n = n + excluded.n;
    INSERT INTO session_drawing_counts (session_id, n)
    SELECT NEW.session_id, 1 WHERE NEW.session_id IS NOT NULL
    ON CONFLICT (session_id) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER drawings_tally_delete AFTER DELETE ON drawings BEGIN
    INSERT INTO drawing_counts (day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n)
    VALUES (
        OLD.received_at / 86400000, OLD.shape, OLD.origin, COALESCE(OLD.device, ''),
        COALESCE(OLD.pointer_types, ''), OLD.flagged,
        CASE WHEN OLD.removed_at IS NULL THEN 0 ELSE 1 END,
        CASE WHEN OLD.quality_score IS NULL THEN -1 WHEN OLD.quality_score >= 0.9 THEN 9
             WHEN OLD.quality_score >= 0.8 THEN 8 WHEN OLD.quality_score >= 0.7 THEN 7
             WHEN OLD.quality_score >= 0.6 THEN 6 WHEN OLD.quality_score >= 0.5 THEN 5
             WHEN OLD.quality_score >= 0.4 THEN 4 WHEN OLD.quality_score >= 0.3 THEN 3
             WHEN OLD.quality_score >= 0.2 THEN 2 WHEN OLD.quality_score >= 0.1 THEN 1 ELSE 0 END,
        -1)
    ON CONFLICT (day, shape, origin, device, pointer_types, flagged, removed, quality_bin)
    DO UPDATE SET n = n + excluded.n;
    INSERT INTO prompt_time_counts (ms, removed, n)
    SELECT OLD.prompt_to_first_point_ms, CASE WHEN OLD.removed_at IS NULL THEN 0 ELSE 1 END, -1
    WHERE OLD.prompt_to_first_point_ms IS NOT NULL
    ON CONFLICT (ms, removed) DO UPDATE SET n = n + excluded.n;
    INSERT INTO session_drawing_counts (session_id, n)
    SELECT OLD.session_id, -1 WHERE OLD.session_id IS NOT NULL
    ON CONFLICT (session_id) DO UPDATE SET n = n + excluded.n;
END;

-- Only when a counted fact changes (curation, quality scores); the rest of an update (a flag
-- reason, the model's guess) leaves the counts alone.
CREATE TRIGGER drawings_tally_update AFTER UPDATE ON drawings
WHEN OLD.received_at IS NOT NEW.received_at OR OLD.shape IS NOT NEW.shape
    OR OLD.origin IS NOT NEW.origin OR OLD.device IS NOT NEW.device
    OR OLD.pointer_types IS NOT NEW.pointer_types OR OLD.flagged IS NOT NEW.flagged
    OR (OLD.removed_at IS NULL) <> (NEW.removed_at IS NULL)
    OR OLD.quality_score IS NOT NEW.quality_score
    OR OLD.prompt_to_first_point_ms IS NOT NEW.prompt_to_first_point_ms
    OR OLD.session_id IS NOT NEW.session_id
BEGIN
    INSERT INTO drawing_counts (day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n)
    VALUES (
        OLD.received_at / 86400000, OLD.shape, OLD.origin, COALESCE(OLD.device, ''),
        COALESCE(OLD.pointer_types, ''), OLD.flagged,
        CASE WHEN OLD.removed_at IS NULL THEN 0 ELSE 1 END,
        CASE WHEN OLD.quality_score IS NULL THEN -1 WHEN OLD.quality_score >= 0.9 THEN 9
             WHEN OLD.quality_score >= 0.8 THEN 8 WHEN OLD.quality_score >= 0.7 THEN 7
             WHEN OLD.quality_score >= 0.6 THEN 6 WHEN OLD.quality_score >= 0.5 THEN 5
             WHEN OLD.quality_score >= 0.4 THEN 4 WHEN OLD.quality_score >= 0.3 THEN 3
             WHEN OLD.quality_score >= 0.2 THEN 2 WHEN OLD.quality_score >= 0.1 THEN 1 ELSE 0 END,
        -1)
    ON CONFLICT (day, shape, origin, device, pointer_types, flagged, removed, quality_bin)
    DO UPDATE SET n = n + excluded.n;
    INSERT INTO drawing_counts (day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n)
    VALUES (
        NEW.received_at / 86400000, NEW.shape, NEW.origin, COALESCE(NEW.device, ''),
        COALESCE(NEW.pointer_types, ''), NEW.flagged,
        CASE WHEN NEW.removed_at IS NULL THEN 0 ELSE 1 END,
        CASE WHEN NEW.quality_score IS NULL THEN -1 WHEN NEW.quality_score >= 0.9 THEN 9
             WHEN NEW.quality_score >= 0.8 THEN 8 WHEN NEW.quality_score >= 0.7 THEN 7
             WHEN NEW.quality_score >= 0.6 THEN 6 WHEN NEW.quality_score >= 0.5 THEN 5
             WHEN NEW.quality_score >= 0.4 THEN 4 WHEN NEW.quality_score >= 0.3 THEN 3
             WHEN NEW.quality_score >= 0.2 THEN 2 WHEN NEW.quality_score >= 0.1 THEN 1 ELSE 0 END,
        1)
    ON CONFLICT (day, shape, origin, device, pointer_types, flagged, removed, quality_bin)
    DO UPDATE SET n = n + excluded.n;
    INSERT INTO prompt_time_counts (ms, removed, n)
    SELECT OLD.prompt_to_first_point_ms, CASE WHEN OLD.removed_at IS NULL THEN 0 ELSE 1 END, -1
    WHERE OLD.prompt_to_first_point_ms IS NOT NULL
    ON CONFLICT (ms, removed) DO UPDATE SET n = n + excluded.n;
    INSERT INTO prompt_time_counts (ms, removed, n)
    SELECT NEW.prompt_to_first_point_ms, CASE WHEN NEW.removed_at IS NULL THEN 0 ELSE 1 END, 1
    WHERE NEW.prompt_to_first_point_ms IS NOT NULL
    ON CONFLICT (ms, removed) DO UPDATE SET n = n + excluded.n;
    INSERT INTO session_drawing_counts (session_id, n)
    SELECT OLD.session_id, -1 WHERE OLD.session_id IS NOT NULL
    ON CONFLICT (session_id) DO UPDATE SET n = n + excluded.n;
    INSERT INTO session_drawing_counts (session_id, n)
    SELECT NEW.session_id, 1 WHERE NEW.session_id IS NOT NULL
    ON CONFLICT (session_id) DO UPDATE SET n = n + excluded.n;
END;

-- The drawings stored before this migration.
INSERT INTO drawing_counts (day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n)
SELECT received_at / 86400000, shape, origin, COALESCE(device, ''), COALESCE(pointer_types, ''),
    flagged, CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END,
    CASE WHEN quality_score IS NULL THEN -1 WHEN quality_score >= 0.9 THEN 9
         WHEN quality_score >= 0.8 THEN 8 WHEN quality_score >= 0.7 THEN 7
         WHEN quality_score >= 0.6 THEN 6 WHEN quality_score >= 0.5 THEN 5
         WHEN quality_score >= 0.4 THEN 4 WHEN quality_score >= 0.3 THEN 3
         WHEN quality_score >= 0.2 THEN 2 WHEN quality_score >= 0.1 THEN 1 ELSE 0 END,
    COUNT(*)
FROM drawings GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
INSERT INTO prompt_time_counts (ms, removed, n)
SELECT prompt_to_first_point_ms, CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END, COUNT(*)
FROM drawings WHERE prompt_to_first_point_ms IS NOT NULL GROUP BY 1, 2;
INSERT INTO session_drawing_counts (session_id, n)
SELECT session_id, COUNT(*) FROM drawings WHERE session_id IS NOT NULL GROUP BY 1;
