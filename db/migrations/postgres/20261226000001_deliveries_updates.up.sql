-- A delivery is updated in place several times while it is sent. Marking it handed to the
-- mail server changes no indexed column: with room left on its page that update is HOT (no
-- index entry written); with pages packed full it wrote an entry into each of the table's
-- indexes.
ALTER TABLE deliveries SET (fillfactor = 70);
--bun:split
-- Claims are looked for only among the deliveries being sent (expired, or held by a dead
-- worker). Indexed as the state and the claim's end, every delivery written an entry as it
-- was made pending and again as it was sent, and left a dead one each time: a million of
-- each for a million recipients, a tenth of the run's start.
DROP INDEX deliveries_claims;
--bun:split
CREATE INDEX deliveries_claims ON deliveries (claimed_until) WHERE state = 'sending';
