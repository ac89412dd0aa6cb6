CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,  -- SHA-256 of the cookie value; the cookie itself is never stored
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX sessions_user_id ON sessions (user_id);
--bun:split
CREATE TABLE tokens (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('confirm', 'reset')),
    hash       TEXT    NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX tokens_user_kind ON tokens (user_id, kind);
--bun:split
CREATE TABLE identities (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    email      TEXT    NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, subject)
);
--bun:split
CREATE INDEX identities_user_id ON identities (user_id);
