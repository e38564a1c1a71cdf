-- The directory events the case service received (``ProviderRegistered``,
-- ``ProviderUpdated``: docs/statistics.md, "Provider kinds"), kept so that
-- ``safepath replay --service case --projection statistics`` rebuilds ``stat_provider``
-- from events alone, as it derives the referral facts again from ``case_timeline``.
-- Written by the ``case-referral-events`` consumer in its inbox transaction, after the
-- signature check; only what the statistics read: the provider's id, its kind and the
-- directory stream's version, with the signed event as verified on arrival (as
-- ``case_timeline.envelope``: a later audit can check it again).
CREATE TABLE {schema}.received_directory_event (
    provider_id text NOT NULL,
    version     integer NOT NULL,  -- the event's version in the referral service's directory stream
    org_type    text NOT NULL,
    event_id    uuid UNIQUE,       -- NULL: carried over below, from before this table
    occurred_at timestamptz,
    envelope    text,              -- NULL: carried over below, or an event sent unsigned
    PRIMARY KEY (provider_id, version)
);

-- An installation whose consumer took the directory events before this migration recorded
-- them only in ``stat_provider`` (the inbox will not apply them again): carry each
-- provider's kind over, with its version, so that the first replay after the upgrade keeps
-- it instead of emptying it. Every row there came from a verified directory event (or from
-- the operator's statement over the referral service's own store). Only the latest version
-- of each provider was kept there, and only that is carried over; an installation whose
-- table was never filled (the directory heard before migration 0005) fills this one with
-- the operator's statement in docs/statistics.md.
INSERT INTO {schema}.received_directory_event (provider_id, version, org_type)
    SELECT provider_id, version, org_type FROM {schema}.stat_provider
    ON CONFLICT DO NOTHING;
