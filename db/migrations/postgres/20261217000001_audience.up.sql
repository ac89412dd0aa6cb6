-- Tags: per owner, case-insensitive (name_lc), on clients and as a mailing's audience.
CREATE TABLE tags (
    id         BIGSERIAL PRIMARY KEY,
    owner_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    name_lc    TEXT    NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (owner_id, name_lc)
);
--bun:split
CREATE TABLE client_tags (
    client_id BIGINT  NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    tag_id    BIGINT  NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, tag_id)
);
--bun:split
CREATE INDEX client_tags_tag ON client_tags (tag_id, client_id);
--bun:split
CREATE TABLE mailing_tags (
    mailing_id BIGINT  NOT NULL REFERENCES mailings (id) ON DELETE CASCADE,
    tag_id     BIGINT  NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (mailing_id, tag_id)
);
--bun:split
-- "All my clients" is resolved when each run starts, no longer copied at save time.
ALTER TABLE mailings ADD COLUMN all_clients BOOLEAN NOT NULL DEFAULT FALSE;
--bun:split
-- Addresses a run skips, with why and since when; one per owner and address.
CREATE TABLE suppressions (
    id         BIGSERIAL PRIMARY KEY,
    owner_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    reason     TEXT    NOT NULL CHECK (reason IN ('unsubscribed', 'hard_bounce', 'complaint', 'soft_bounces', 'manual')),
    detail     TEXT    NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (owner_id, email)
);
--bun:split
CREATE INDEX suppressions_owner_created ON suppressions (owner_id, created_at, id);
--bun:split
CREATE INDEX suppressions_email ON suppressions (email, id);
--bun:split
INSERT INTO suppressions (owner_id, email, reason, detail, created_at)
SELECT owner_id, email, 'unsubscribed', '', unsubscribed_at FROM clients WHERE unsubscribed_at IS NOT NULL;
--bun:split
-- Bounces and complaints as reported (SMTP, a provider's webhook, the bounce mailbox).
CREATE TABLE bounces (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    source      TEXT    NOT NULL CHECK (source IN ('smtp', 'webhook', 'mailbox')),
    detail      TEXT    NOT NULL DEFAULT '',
    mailing_id  BIGINT ,
    delivery_id BIGINT ,
    created_at  TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX bounces_owner_email ON bounces (owner_id, email, created_at);
--bun:split
CREATE INDEX bounces_mailing ON bounces (mailing_id, created_at);
--bun:split
CREATE INDEX bounces_time ON bounces (created_at);
--bun:split
-- A delivery may now be 'suppressed': skipped at the run's start, its reason kept.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
--bun:split
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'cancelled', 'suppressed'));
--bun:split
ALTER TABLE deliveries ADD COLUMN reason TEXT NOT NULL DEFAULT '';
--bun:split
CREATE INDEX suppressions_owner_email_prefix ON suppressions (owner_id, email text_pattern_ops);
