-- Prefix search on users' emails (LIKE 'q%') under any collation.
CREATE INDEX users_email_prefix ON users (email text_pattern_ops);
