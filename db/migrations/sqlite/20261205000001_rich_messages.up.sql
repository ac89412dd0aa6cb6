CREATE TABLE layouts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    name_lc    TEXT    NOT NULL,
    html       TEXT    NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX layouts_owner_name ON layouts (owner_id, name_lc, id);
--bun:split
CREATE INDEX layouts_name ON layouts (name_lc, id);
--bun:split
ALTER TABLE messages ADD COLUMN format TEXT NOT NULL DEFAULT 'text' CHECK (format IN ('text', 'markdown', 'html'));
--bun:split
ALTER TABLE messages ADD COLUMN text_body TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE messages ADD COLUMN layout_id INTEGER REFERENCES layouts (id) ON DELETE RESTRICT;
--bun:split
CREATE INDEX messages_layout ON messages (layout_id);
