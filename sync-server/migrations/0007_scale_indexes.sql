-- Indexes for a store of millions of drawings (issue "Scale and durability", item 4): the
-- browse filters whose matches are rare otherwise scan the whole table.
--
-- Flagged drawings, newest or oldest first (a partial index: few rows are flagged; the
-- filter writes `flagged = 1` as a literal so both planners can use it).
CREATE INDEX drawings_flagged ON drawings (received_at, id) WHERE flagged = 1;
-- Removed drawings (the dashboard's removed count and `include_removed` browsing).
CREATE INDEX drawings_removed ON drawings (received_at, id) WHERE removed_at IS NOT NULL;
-- The device, origin and model-verdict filters in the browse order.
CREATE INDEX drawings_device ON drawings (device, received_at, id);
CREATE INDEX drawings_origin ON drawings (origin, received_at, id);
CREATE INDEX drawings_model_guess ON drawings (model_guess, received_at, id);
