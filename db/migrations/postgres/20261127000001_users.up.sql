CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT      NOT NULL UNIQUE,
    password_hash TEXT,
    role          TEXT      NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'manager')),
    language      TEXT      NOT NULL DEFAULT '',
    timezone      TEXT      NOT NULL DEFAULT '',
    confirmed_at  TIMESTAMPTZ,
    blocked_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX users_created_at ON users (created_at);
