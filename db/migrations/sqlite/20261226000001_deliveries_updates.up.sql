-- PostgreSQL leaves room on the deliveries' pages for updates in place and indexes only
-- the claims being sent (see its migration of the same name): it leaves a dead index entry
-- for every version of a row. SQLite updates a row and its index entries in place.
SELECT 1;
