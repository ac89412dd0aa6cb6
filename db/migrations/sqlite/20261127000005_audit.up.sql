CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,   -- block_user, unblock_user, disable_mailing, enable_mailing
    target_type TEXT    NOT NULL,   -- user, mailing
    target_id   INTEGER NOT NULL,
    detail      TEXT    NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX audit_log_created ON audit_log (created_at, id);
--bun:split
CREATE INDEX attempts_status_time ON attempts (status, attempted_at);
