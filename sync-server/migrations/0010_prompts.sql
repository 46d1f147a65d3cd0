-- Prompts dealt to players (inkset_server::prompts): which shapes each session was asked
-- for, in order, and by which policy. The console shows the dealt shares beside the plan.
CREATE TABLE prompt_deals (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq BIGINT NOT NULL,
    shape TEXT NOT NULL,
    policy TEXT NOT NULL,
    dealt_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX prompt_deals_shape ON prompt_deals (shape);
