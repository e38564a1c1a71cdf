-- Where each consumer stands in each stream it reads: the version of the last event of
-- that stream it applied or passed over. A consumer applies event v of a stream only when
-- it stands at v - 1 (shared/consumer.py), so a redelivery that comes back late (a killed
-- replica's message, after ack_wait) is never applied after a newer event of its stream,
-- and a second delivery of an applied event changes nothing. It replaces the inbox's
-- per-event rows for consumers from this migration on.
CREATE TABLE {schema}.inbox_stream (
    consumer text NOT NULL,
    source text NOT NULL,           -- the service that published the stream
    stream_id text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, stream_id)
);

-- Handler failures per event, across replicas and restarts: after the last allowed
-- attempt the event is dead-lettered. Waiting for an earlier event is not a failure,
-- and neither is an attempt that could not reach Postgres.
CREATE TABLE {schema}.inbox_failure (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    attempts integer NOT NULL,
    last_error text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
