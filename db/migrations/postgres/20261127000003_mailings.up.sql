CREATE TABLE clients (
    id              BIGSERIAL PRIMARY KEY,
    owner_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email           TEXT    NOT NULL,
    full_name       TEXT    NOT NULL DEFAULT '',
    name_lc         TEXT    NOT NULL DEFAULT '',
    comment         TEXT    NOT NULL DEFAULT '',
    unsubscribed_at TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (owner_id, email)
);
--bun:split
CREATE INDEX clients_owner_name ON clients (owner_id, name_lc, id);
--bun:split
CREATE INDEX clients_owner_created ON clients (owner_id, created_at, id);
--bun:split
CREATE INDEX clients_email ON clients (email, id);
--bun:split
CREATE INDEX clients_name ON clients (name_lc, id);
--bun:split
CREATE TABLE messages (
    id         BIGSERIAL PRIMARY KEY,
    owner_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject    TEXT    NOT NULL,
    subject_lc TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX messages_owner_subject ON messages (owner_id, subject_lc, id);
--bun:split
CREATE INDEX messages_owner_created ON messages (owner_id, created_at, id);
--bun:split
CREATE INDEX messages_subject ON messages (subject_lc, id);
--bun:split
CREATE TABLE mailings (
    id               BIGSERIAL PRIMARY KEY,
    owner_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id       BIGINT  NOT NULL REFERENCES messages (id) ON DELETE RESTRICT,
    start_at         TIMESTAMPTZ NOT NULL,
    end_at           TIMESTAMPTZ NOT NULL,
    period           TEXT    NOT NULL DEFAULT 'none' CHECK (period IN ('none', 'daily', 'weekly', 'monthly')),
    disabled         BOOLEAN NOT NULL DEFAULT FALSE,
    first_attempt_at TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CHECK (end_at > start_at)
);
--bun:split
CREATE INDEX mailings_owner_created ON mailings (owner_id, created_at, id);
--bun:split
CREATE INDEX mailings_owner_start ON mailings (owner_id, start_at, id);
--bun:split
CREATE INDEX mailings_end ON mailings (end_at);
--bun:split
CREATE INDEX mailings_created ON mailings (created_at, id);
--bun:split
CREATE INDEX mailings_message ON mailings (message_id);
--bun:split
CREATE TABLE mailing_clients (
    mailing_id BIGINT  NOT NULL REFERENCES mailings (id) ON DELETE CASCADE,
    client_id  BIGINT  NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (mailing_id, client_id)
);
--bun:split
CREATE INDEX mailing_clients_client ON mailing_clients (client_id);
--bun:split
-- Prefix search with LIKE 'q%' uses these whatever the database's collation is.
CREATE INDEX clients_owner_email_prefix ON clients (owner_id, email text_pattern_ops);
--bun:split
CREATE INDEX clients_owner_name_prefix ON clients (owner_id, name_lc text_pattern_ops);
--bun:split
CREATE INDEX clients_email_prefix ON clients (email text_pattern_ops);
--bun:split
CREATE INDEX clients_name_prefix ON clients (name_lc text_pattern_ops);
--bun:split
CREATE INDEX messages_owner_subject_prefix ON messages (owner_id, subject_lc text_pattern_ops);
--bun:split
CREATE INDEX messages_subject_prefix ON messages (subject_lc text_pattern_ops);
