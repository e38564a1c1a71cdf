-- What the case learns from the referral and notify services (their events, consumed
-- idempotently), for the case's history and for each referral's status.
CREATE TABLE {schema}.case_referral_status (
    referral_id text PRIMARY KEY,
    request_id text,
    case_id text NOT NULL,
    need text,
    status text NOT NULL,
    provider_id text,
    attempt integer,
    updated_at timestamptz NOT NULL
);
CREATE INDEX case_referral_status_case ON {schema}.case_referral_status (case_id);

CREATE TABLE {schema}.case_timeline (
    event_id uuid PRIMARY KEY,
    case_id text NOT NULL,
    service text NOT NULL,
    event_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    stream_id text NOT NULL,
    stream_version integer NOT NULL,
    correlation_id text,
    causation_id text,
    data jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX case_timeline_case ON {schema}.case_timeline (case_id, occurred_at);

CREATE TABLE {schema}.notification_case (
    notification_id text PRIMARY KEY,
    case_id text NOT NULL
);
