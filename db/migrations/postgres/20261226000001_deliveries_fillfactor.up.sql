-- A delivery is updated in place several times while it is sent. Marking it handed to the
-- mail server changes no indexed column: with room left on its page that update is HOT
-- (no index entry written); with pages packed full it wrote an entry into each of the
-- table's four indexes.
ALTER TABLE deliveries SET (fillfactor = 70);
