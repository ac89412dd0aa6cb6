CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT,
    role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'manager')),
    language      TEXT    NOT NULL DEFAULT '',
    timezone      TEXT    NOT NULL DEFAULT '',
    confirmed_at  TIMESTAMP,
    blocked_at    TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX users_created_at ON users (created_at);
