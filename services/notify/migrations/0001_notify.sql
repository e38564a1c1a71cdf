-- The notify service's views. Its facts are events ({schema}.event); these tables are
-- read models written in the same transaction as the events (or inbox row) they follow.

-- Providers as the directory knows them: the default file at start-up (source 'file'),
-- overridden by the referral service's directory events (source 'event').
CREATE TABLE {schema}.provider_contact (
    provider_id text PRIMARY KEY,
    languages text[] NOT NULL DEFAULT '{}',
    suspended boolean NOT NULL DEFAULT false,
    source text NOT NULL CHECK (source IN ('file', 'event')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The national coordinator alerted per category.
CREATE TABLE {schema}.coordinator_contact (
    category text PRIMARY KEY,
    coordinator_id text NOT NULL,
    source text NOT NULL CHECK (source IN ('file', 'event')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The allow-listed routing facts of a referral, from its last ReferralRouted or
-- ReferralUnroutable, so events that do not repeat them can still be rendered.
CREATE TABLE {schema}.referral_facts (
    referral_id text PRIMARY KEY,
    case_id text NOT NULL,
    facts jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Who is responsible for a case (the recipient of accept/decline/completion notices).
CREATE TABLE {schema}.case_caseworker (
    case_id text PRIMARY KEY,
    caseworker text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A provider's webhook endpoint and signing secrets [{secret, expires_at}], newest last.
-- Secrets never go into events: every notify event is published on the bus.
CREATE TABLE {schema}.webhook (
    provider_id text PRIMARY KEY,
    url text NOT NULL,
    secrets jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per notification: the list view behind GET /referrals/{id}/notifications.
CREATE TABLE {schema}.notification (
    notification_id text PRIMARY KEY,
    referral_id text NOT NULL,
    case_id text NOT NULL,
    recipient_kind text NOT NULL,
    recipient_id text NOT NULL,
    template text NOT NULL,
    language text NOT NULL,
    channels text[] NOT NULL,
    status text NOT NULL,
    queued_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX notification_referral ON {schema}.notification (referral_id, queued_at);

-- One row per try on a channel.
CREATE TABLE {schema}.delivery_attempt (
    notification_id text NOT NULL,
    channel text NOT NULL,
    attempt integer NOT NULL,
    status_code integer,
    error_kind text,
    latency_ms double precision NOT NULL,
    succeeded boolean NOT NULL,
    attempted_at timestamptz NOT NULL,
    PRIMARY KEY (notification_id, channel, attempt)
);

-- Channels given up on, until an operator asks for redelivery.
CREATE TABLE {schema}.dead_letter (
    notification_id text NOT NULL,
    channel text NOT NULL,
    reason text NOT NULL,
    attempts integer NOT NULL,
    last_status_code integer,
    last_error_kind text,
    failed_at timestamptz NOT NULL,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX dead_letter_time ON {schema}.dead_letter (failed_at);
