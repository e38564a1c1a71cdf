-- The event store of one service, in that service's own schema.
-- {schema} is replaced by the quoted schema name.

CREATE TABLE {schema}.event (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction: global readers only read below the oldest running one,
    -- so an event committed late with a lower position is never skipped.
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL,
    stream_version integer NOT NULL CHECK (stream_version <> 0),
    event_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    prev_hash bytea,
    hash bytea NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX event_tx_order ON {schema}.event (tx_id, global_position);
CREATE INDEX event_stream_time ON {schema}.event (stream_id, occurred_at);

-- Append-only: the database itself refuses to change or remove an event.
CREATE FUNCTION {schema}.refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER event_append_only
    BEFORE UPDATE OR DELETE ON {schema}.event
    FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_event_change();
CREATE TRIGGER event_no_truncate
    BEFORE TRUNCATE ON {schema}.event
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_event_change();

-- Where each global reader (relay, projections) has got to.
CREATE TABLE {schema}.checkpoint (
    name text PRIMARY KEY,
    tx_id xid8 NOT NULL DEFAULT '0'::xid8,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events from other services already handled by a consumer (idempotency).
CREATE TABLE {schema}.inbox (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
