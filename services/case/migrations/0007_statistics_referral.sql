-- One row per need's referral, merged from its facts (services/case/app/statistics/
-- model.py): every column is a least/greatest of the facts so far, so facts may arrive in
-- any order, twice, and a rebuild (derived from stat_fact) gives the same row. Read by the
-- statistics without as_of; a reading with as_of folds stat_fact instead.
CREATE TABLE {schema}.stat_referral (
    referral_id   text PRIMARY KEY,
    case_id       text NOT NULL,
    need          text,
    requested_at  timestamptz,
    routed_at     timestamptz,
    answered_at   timestamptz,
    started_at    timestamptz,
    last_at       timestamptz,
    last_rank     integer,
    last_kind     text,
    provider_id   text,
    provider_at   timestamptz,
    provider_rank integer
);
CREATE INDEX stat_referral_case ON {schema}.stat_referral (case_id);
CREATE INDEX stat_fact_case ON {schema}.stat_fact (case_id);
