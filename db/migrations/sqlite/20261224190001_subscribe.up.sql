-- A confirmed subscribe link is spent once: the consent keeps the hash of what it signed, so
-- a second press (or a replayed link) finds it and adds nothing. requested_at is when the
-- form was sent, confirmed_at when the button was pressed.
ALTER TABLE consents ADD COLUMN token_hash TEXT;
--bun:split
ALTER TABLE consents ADD COLUMN requested_at TIMESTAMP;
--bun:split
CREATE UNIQUE INDEX consents_token ON consents (token_hash);
