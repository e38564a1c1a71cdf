-- Each referral row carries its provider's kind as the directory gives it now
-- (``provider_type``: the ``org_type`` of its ``provider_id`` in ``stat_provider``; NULL
-- for a referral with no provider, or one the directory has not described). A count or a
-- duration of referrals by the provider's kind joined every referral row (160,000 on the
-- benchmark's store) to the directory before grouping: some 20 ms a process of a 100 ms
-- reading (docs/statistics.md, "Speed", seventeenth round). Now it reads the row alone.
--
-- Kept by the live path: a merge that changes a referral's provider takes the provider's
-- kind (``model._REFERRAL_UPSERT``, reading the directory's row ``FOR SHARE``), and a
-- directory event that changes a provider's kind carries it onto that provider's referral
-- rows (``model.record_received``). A rebuild folds the directory first and writes each
-- referral row with its provider's kind (``model.finish_rebuild``).
--
-- The table is written again with the column beside ``provider_id``, not at its end:
-- PostgreSQL takes a row apart from its first column to the last one a statement reads,
-- and every reading by the provider's kind would have taken apart all 28 (0029). A read
-- model: its rows are copied as they are, the kind from the directory.
CREATE TABLE {schema}.stat_referral_kinded (
    referral_id         text NOT NULL,
    case_id             text NOT NULL,
    opened_at           timestamptz,
    region              text,
    sex                 text,
    age_band            text,
    identification      text,
    need                text,
    requested_at        timestamptz,
    routed_at           timestamptz,
    answered_at         timestamptz,
    started_at          timestamptz,
    last_at             timestamptz,
    last_rank           integer,
    last_kind           text,
    provider_id         text,
    provider_type       text,
    provider_at         timestamptz,
    provider_rank       integer,
    disability          text,
    disability_kind     text,
    district            text,
    nationality_group   text,
    trafficking_scope   text,
    recruitment_channel text,
    procedure_stage     text,
    categories          text[],
    exploitation_forms  text[]
);
INSERT INTO {schema}.stat_referral_kinded (referral_id, case_id, opened_at, region, sex,
        age_band, identification, need, requested_at, routed_at, answered_at, started_at,
        last_at, last_rank, last_kind, provider_id, provider_type, provider_at,
        provider_rank, disability, disability_kind, district, nationality_group,
        trafficking_scope, recruitment_channel, procedure_stage, categories,
        exploitation_forms)
    SELECT r.referral_id, r.case_id, r.opened_at, r.region, r.sex, r.age_band,
        r.identification, r.need, r.requested_at, r.routed_at, r.answered_at, r.started_at,
        r.last_at, r.last_rank, r.last_kind, r.provider_id, p.org_type, r.provider_at,
        r.provider_rank, r.disability, r.disability_kind, r.district, r.nationality_group,
        r.trafficking_scope, r.recruitment_channel, r.procedure_stage, r.categories,
        r.exploitation_forms
    FROM {schema}.stat_referral r
    LEFT JOIN {schema}.stat_provider p ON p.provider_id = r.provider_id;
-- (Its indexes and the statistics on its expressions go with it; made again below, as
-- 0029 made them.)
DROP TABLE {schema}.stat_referral;
ALTER TABLE {schema}.stat_referral_kinded RENAME TO stat_referral;
ALTER TABLE {schema}.stat_referral ADD CONSTRAINT stat_referral_pkey PRIMARY KEY (referral_id);
CREATE INDEX stat_referral_case ON {schema}.stat_referral (case_id);
CREATE INDEX stat_referral_moved ON {schema}.stat_referral
    ((greatest(last_at, provider_at)), requested_at, answered_at, started_at);
CREATE STATISTICS {schema}.stat_referral_requested_month
    ON (date_trunc('month', requested_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_requested_quarter
    ON (date_trunc('quarter', requested_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_requested_year
    ON (date_trunc('year', requested_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_answered_month
    ON (date_trunc('month', answered_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_answered_quarter
    ON (date_trunc('quarter', answered_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_answered_year
    ON (date_trunc('year', answered_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_started_month
    ON (date_trunc('month', started_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_started_quarter
    ON (date_trunc('quarter', started_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_started_year
    ON (date_trunc('year', started_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
ANALYZE {schema}.stat_referral;
