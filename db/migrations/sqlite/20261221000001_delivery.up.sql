-- Workers say they are alive every second or so; the claims of a worker that stopped saying
-- it are handed back by any live one, in seconds rather than after CLAIM_TTL.
CREATE TABLE workers (
    id         TEXT PRIMARY KEY,   -- the claims' claimed_by
    kind       TEXT NOT NULL,      -- serve (single process, embedded Redis), worker or cli
    started_at TIMESTAMP NOT NULL,
    seen_at    TIMESTAMP NOT NULL
);
--bun:split
-- When a delivery was handed to the mail server by the worker that claims it; NULL while it
-- is only claimed. A claim taken back from a dead worker with this set gets an attempt
-- "outcome unknown", since the server may have accepted the message.
ALTER TABLE deliveries ADD COLUMN handed_at TIMESTAMP;
--bun:split
-- The attempt's failure, normalised ("550 5.1.1", "connection refused"): statistics group by
-- it, since raw texts differ by address and port.
ALTER TABLE attempts ADD COLUMN reason TEXT NOT NULL DEFAULT '';
--bun:split
-- One row: this installation's id, part of every Message-ID, made once at the first start.
CREATE TABLE installation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    uid        TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
--bun:split
-- One row: the mail server as workers see it. down_since is set while it is unreachable,
-- and no worker sends before next_try_at.
CREATE TABLE relay (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    down_since  TIMESTAMP,
    next_try_at TIMESTAMP,
    failures    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMP NOT NULL
);
