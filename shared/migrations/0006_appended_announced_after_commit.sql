-- The relay is no longer woken by a NOTIFY inside every appending transaction.
-- Postgres serialises the commits of all transactions that issued NOTIFY (a database-wide
-- lock taken before commit and held until the commit's WAL flush is done), so the trigger
-- of 0005 made every append wait for the previous appender's fsync: measured, one event
-- per transaction, 8 writers 1,775-2,343 events/s with it against 3,195-3,575 without.
-- The store now announces a commit that appended after it (shared/eventstore.py): to the
-- relay in its own process directly, and to a relay in another process with a NOTIFY in
-- a transaction of its own that does not wait for its flush.
DROP TRIGGER IF EXISTS event_appended ON {schema}.event;
DROP FUNCTION IF EXISTS {schema}.notify_appended();
