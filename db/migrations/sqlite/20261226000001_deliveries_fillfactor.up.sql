-- PostgreSQL leaves room on the deliveries' pages for updates in place (see its migration
-- of the same name); SQLite always updates a row in place.
SELECT 1;
