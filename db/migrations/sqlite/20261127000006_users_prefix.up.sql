-- SQLite answers prefix search from the unique index on users.email already.
SELECT 1;
