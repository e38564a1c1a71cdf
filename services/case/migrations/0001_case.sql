-- Per-case data keys (wrapped with SAFEPATH_MASTER_KEY); deleting a row erases a case.
CREATE TABLE IF NOT EXISTS {schema}.case_key (
    case_id     text PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {schema}.case_key IS
    'Per-case data keys, wrapped with SAFEPATH_MASTER_KEY. '
    'Deleting a row erases the case''s identifying data.';

-- The list view of cases: a projection of the case streams, updated in the transaction of
-- each append (services/case/app/projection.py) and rebuildable from the events alone.
-- Clear routing fields only: never a name, a birth date, a contact or a narrative.
CREATE TABLE {schema}.case_summary (
    case_id     text PRIMARY KEY,
    status      text NOT NULL,
    region      text NOT NULL,
    district    text,
    categories  text[] NOT NULL,
    office      text,
    caseworker  text NOT NULL,
    opened_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     integer NOT NULL
);
CREATE INDEX case_summary_region ON {schema}.case_summary (region, case_id DESC);
CREATE INDEX case_summary_office ON {schema}.case_summary (office, case_id DESC);
CREATE INDEX case_summary_caseworker ON {schema}.case_summary (caseworker, case_id DESC);
