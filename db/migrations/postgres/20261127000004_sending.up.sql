CREATE TABLE runs (
    id          BIGSERIAL PRIMARY KEY,
    mailing_id  BIGINT  NOT NULL REFERENCES mailings (id) ON DELETE CASCADE,
    owner_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('manual', 'cli', 'schedule', 'resend')),
    slot        TIMESTAMPTZ,          -- the schedule slot of a scheduled run; at most one run per slot
    total       INTEGER NOT NULL DEFAULT 0,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    UNIQUE (mailing_id, slot)
);
--bun:split
CREATE INDEX runs_mailing ON runs (mailing_id, id);
--bun:split
CREATE INDEX runs_unfinished ON runs (finished_at, id);
--bun:split
CREATE TABLE deliveries (
    id            BIGSERIAL PRIMARY KEY,
    run_id        BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    mailing_id    BIGINT  NOT NULL,
    client_id     BIGINT,
    email         TEXT    NOT NULL,   -- the address the client had when the run started
    name          TEXT    NOT NULL DEFAULT '',
    state         TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    tries         INTEGER NOT NULL DEFAULT 0,
    next_try_at   TIMESTAMPTZ NOT NULL,
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, client_id)
);
--bun:split
CREATE INDEX deliveries_run_state ON deliveries (run_id, state, next_try_at, id);
--bun:split
CREATE INDEX deliveries_claims ON deliveries (state, claimed_until);
--bun:split
CREATE TABLE attempts (
    id           BIGSERIAL PRIMARY KEY,
    mailing_id   BIGINT  NOT NULL,
    run_id       BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    delivery_id  BIGINT  NOT NULL,
    client_id    BIGINT,
    email        TEXT    NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('success', 'failure')),
    smtp_code    INTEGER NOT NULL DEFAULT 0,
    response     TEXT    NOT NULL,
    latency_ms   INTEGER NOT NULL DEFAULT 0
);
--bun:split
CREATE INDEX attempts_mailing ON attempts (mailing_id, id);
--bun:split
CREATE INDEX attempts_mailing_status ON attempts (mailing_id, status, id);
--bun:split
CREATE INDEX attempts_run ON attempts (run_id, id);
--bun:split
CREATE INDEX attempts_time ON attempts (attempted_at);
