-- A message's transactional sends (POST /api/v1/messages/{id}/send) are the deliveries of
-- one hidden mailing per message, so they go through the same engine and ledger; lists,
-- home figures and the scheduler leave such mailings out.
ALTER TABLE mailings ADD COLUMN transactional BOOLEAN NOT NULL DEFAULT FALSE;
--bun:split
CREATE UNIQUE INDEX mailings_transactional ON mailings (message_id) WHERE transactional;
