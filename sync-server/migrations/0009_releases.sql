-- Versioned dataset releases (inkset_server::dataset::releases): an immutable, named
-- snapshot of drawings. `manifest` is the ReleaseManifest JSON and `datasheet` its Markdown,
-- both fixed at the cut; `release_drawings` holds the exact drawings and their content hashes.
CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    filter TEXT NOT NULL,
    drawing_count BIGINT NOT NULL,
    ids_sha256 TEXT NOT NULL,
    manifest TEXT NOT NULL,
    datasheet TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX releases_created ON releases (created_at);

CREATE TABLE release_drawings (
    release_id TEXT NOT NULL REFERENCES releases (id),
    drawing_id TEXT NOT NULL,
    shape TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (release_id, drawing_id)
);
CREATE INDEX release_drawings_drawing ON release_drawings (drawing_id);
