-- Wake the relay when events are committed, not before: each statement that appends
-- sends one notification on channel 'safepath_appended_<schema>', which Postgres delivers
-- at commit (and never for a transaction that rolls back), to the relay of whichever
-- replica listens. Notifications of one transaction on one channel are folded into one.
CREATE FUNCTION {schema}.notify_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('safepath_appended_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END $$;

CREATE TRIGGER event_appended
    AFTER INSERT ON {schema}.event
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_appended();
