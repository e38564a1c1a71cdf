-- Responses to writes made with an Idempotency-Key: a retry gets the first answer.
CREATE TABLE {schema}.idempotency_key (
    principal text NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    status integer,
    body jsonb,
    headers jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
