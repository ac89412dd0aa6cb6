-- Bounce reports already taken from a provider (an SNS MessageId, a Mailgun token, a signed
-- SendGrid request): a replay of one is refused, and the row is written in the same
-- transaction as the bounces it brought, so a report that failed half-way can come again.
CREATE TABLE bounce_events (
    source     TEXT      NOT NULL,
    event_key  TEXT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, event_key)
);
--bun:split
CREATE INDEX bounce_events_time ON bounce_events (created_at);
