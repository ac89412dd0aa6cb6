-- API tokens: only a SHA-256 of the 256-bit value is kept; prefix is what lists show.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    read_only    BOOLEAN NOT NULL DEFAULT FALSE,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP,
    created_at   TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);
--bun:split
-- A user's public subscribe form: one per user, found by its key.
CREATE TABLE subscribe_forms (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    form_key   TEXT    NOT NULL UNIQUE,
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    tag        TEXT    NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);
--bun:split
-- Consent given on a subscribe form: when, from where, through which form.
CREATE TABLE consents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id    INTEGER REFERENCES clients (id) ON DELETE SET NULL,
    email        TEXT    NOT NULL,
    ip           TEXT    NOT NULL DEFAULT '',
    form_key     TEXT    NOT NULL DEFAULT '',
    confirmed_at TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX consents_owner_email ON consents (owner_id, email);
