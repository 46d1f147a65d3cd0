-- Summary tables of the drawings (issue "Scale and durability", item 4): see
-- migrations/sqlite/0008_tallies.sql for what each counts; the tables are the same here.
--
-- PostgreSQL's version: statement-level triggers (transition tables) add one row per
-- distinct key and statement. Drawing and prompt-time counts go to append-only delta tables,
-- so concurrent ingest transactions never wait on one another for a hot count row (today's
-- circles); the server folds the deltas into the counts every second
-- (inkset_server::curation::tallies) and readers add both. Session counts are per session,
-- never hot: they are updated in place, in key order.
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
CREATE TABLE session_drawing_counts (
    session_id TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);

-- The quality bin of a score (the dashboard's histogram bins).
CREATE FUNCTION drawings_tally_quality_bin(q DOUBLE PRECISION) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN q IS NULL THEN -1 WHEN q >= 0.9 THEN 9 WHEN q >= 0.8 THEN 8
        WHEN q >= 0.7 THEN 7 WHEN q >= 0.6 THEN 6 WHEN q >= 0.5 THEN 5 WHEN q >= 0.4 THEN 4
        WHEN q >= 0.3 THEN 3 WHEN q >= 0.2 THEN 2 WHEN q >= 0.1 THEN 1 ELSE 0 END
$$;

-- The counted facts of the rows a statement wrote, with a sign: +1 for rows as they now are,
-- -1 for rows as they were. One statement per trigger call; keys that net to zero (a flag
-- reason changed) write nothing.
CREATE FUNCTION drawings_tally() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    source TEXT := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM tally_new'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM tally_old'
        ELSE 'SELECT 1 AS sign, * FROM tally_new UNION ALL SELECT -1 AS sign, * FROM tally_old'
    END;
BEGIN
    EXECUTE 'WITH r AS (' || source || $sql$),
    counts AS (
        INSERT INTO drawing_count_deltas
            (day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n)
        SELECT received_at / 86400000, shape, origin, COALESCE(device, ''),
            COALESCE(pointer_types, ''), flagged,
            CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END,
            drawings_tally_quality_bin(quality_score), SUM(sign)
        FROM r GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING SUM(sign) <> 0
    ),
    times AS (
        INSERT INTO prompt_time_deltas (ms, removed, n)
        SELECT prompt_to_first_point_ms, CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END,
            SUM(sign)
        FROM r WHERE prompt_to_first_point_ms IS NOT NULL
        GROUP BY 1, 2 HAVING SUM(sign) <> 0
    )
    INSERT INTO session_drawing_counts AS c (session_id, n)
    SELECT session_id, SUM(sign) FROM r WHERE session_id IS NOT NULL
    GROUP BY 1 HAVING SUM(sign) <> 0 ORDER BY 1
    ON CONFLICT (session_id) DO UPDATE SET n = c.n + EXCLUDED.n$sql$;
    RETURN NULL;
END $fn$;

CREATE TRIGGER drawings_tally_insert AFTER INSERT ON drawings
    REFERENCING NEW TABLE AS tally_new FOR EACH STATEMENT EXECUTE FUNCTION drawings_tally();
CREATE TRIGGER drawings_tally_update AFTER UPDATE ON drawings
    REFERENCING OLD TABLE AS tally_old NEW TABLE AS tally_new
    FOR EACH STATEMENT EXECUTE FUNCTION drawings_tally();
CREATE TRIGGER drawings_tally_delete AFTER DELETE ON drawings
    REFERENCING OLD TABLE AS tally_old FOR EACH STATEMENT EXECUTE FUNCTION drawings_tally();

-- The drawings stored before this migration (CREATE TRIGGER has locked out writers of
-- drawings until this migration commits, so none is missed or counted twice).
INSERT INTO drawing_counts (day, shape, origin, device, pointer_types, flagged, removed, quality_bin, n)
SELECT received_at / 86400000, shape, origin, COALESCE(device, ''), COALESCE(pointer_types, ''),
    flagged, CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END,
    drawings_tally_quality_bin(quality_score), COUNT(*)
FROM drawings GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
INSERT INTO prompt_time_counts (ms, removed, n)
SELECT prompt_to_first_point_ms, CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END, COUNT(*)
FROM drawings WHERE prompt_to_first_point_ms IS NOT NULL GROUP BY 1, 2;
INSERT INTO session_drawing_counts (session_id, n)
SELECT session_id, COUNT(*) FROM drawings WHERE session_id IS NOT NULL GROUP BY 1;
