-- The statistics read model (docs/statistics.md): clear, non-identifying fields only, never
-- a name, a birth date, a contact, an office, a caseworker or a narrative.

-- A case's dimensions as they stood from ``valid_from`` to ``valid_to`` (NULL: now): one
-- row per case event that changes one, so ``as_of`` reads the case as it then stood.
CREATE TABLE {schema}.stat_case (
    case_id           text NOT NULL,
    version           integer NOT NULL,
    valid_from        timestamptz NOT NULL,
    valid_to          timestamptz,
    opened_at         timestamptz NOT NULL,
    status            text NOT NULL,
    categories        text[] NOT NULL,
    sex               text NOT NULL,
    age_band          text NOT NULL,
    disability        text NOT NULL,
    disability_kind   text NOT NULL,
    region            text NOT NULL,
    district          text NOT NULL,
    identification    text NOT NULL,
    nationality_group text NOT NULL,
    -- mine/EO casualty facts of the profile (issue 14); 'none' before they are recorded
    victim            text NOT NULL,
    casualty          text NOT NULL,
    device_type       text NOT NULL,
    incident_year     text NOT NULL,
    incident_district text NOT NULL,
    PRIMARY KEY (case_id, version)
);
CREATE UNIQUE INDEX stat_case_now ON {schema}.stat_case (case_id) WHERE valid_to IS NULL;

-- Countable facts: one row per event (per need, for a referral request). ``referral_id``
-- ties the facts of one need's referral together (the per-need id both services derive).
CREATE TABLE {schema}.stat_fact (
    fact_id     text PRIMARY KEY,
    case_id     text NOT NULL,
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    referral_id text,
    need        text,
    provider_id text,
    detail      text
);
CREATE INDEX stat_fact_kind_at ON {schema}.stat_fact (kind, at);
CREATE INDEX stat_fact_referral ON {schema}.stat_fact (referral_id, at)
    WHERE referral_id IS NOT NULL;

-- The kind of organisation each provider is (from the directory events received).
CREATE TABLE {schema}.stat_provider (
    provider_id text PRIMARY KEY,
    org_type    text NOT NULL,
    version     integer NOT NULL
);
