-- ``stat_referral``'s columns in the order a reading needs them. PostgreSQL takes a row's
-- values apart from the first column up to the last one a statement reads, so a reading
-- pays for every column before the last it uses. Every count or duration as of a day
-- reads ``opened_at`` (was its case open then), and every one now reads ``region``
-- (``query.build_sql``): both stood last, after the thirteen other case dimensions, so
-- every reading took apart all 27 columns of every row. Now the two come right after the
-- ids, then the dimensions most asked for, then the referral's own, then the rest. On the
-- benchmark's store (a copy of the table in each order, the same statements alternated,
-- medians of seven, two runs): time to service start by provider's kind as of a day 104
-- to 111 against 77 to 86 ms, time to first answer by region x sex 75 to 88 against 56 to
-- 73, referrals outcome x identification 100 to 109 against 82 to 93 (docs/statistics.md,
-- "Speed", sixteenth round).
--
-- The referrals moved since a day (0028) by the instants a reading counts them at too, the
-- answer's and the start of service's beside the request's: a duration as of a day keeps
-- only the referrals moved since that were answered (or started) in its period, and read
-- them from the table before (some 15,700 rows read for 2,600 kept on that store).
--
-- A read model: ``safepath replay --service case --projection statistics`` writes the
-- same rows again; here they are copied as they are.
CREATE TABLE {schema}.stat_referral_ordered (
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
INSERT INTO {schema}.stat_referral_ordered (referral_id, case_id, opened_at, region, sex,
        age_band, identification, need, requested_at, routed_at, answered_at, started_at,
        last_at, last_rank, last_kind, provider_id, provider_at, provider_rank, disability,
        disability_kind, district, nationality_group, trafficking_scope,
        recruitment_channel, procedure_stage, categories, exploitation_forms)
    SELECT referral_id, case_id, opened_at, region, sex, age_band, identification, need,
        requested_at, routed_at, answered_at, started_at, last_at, last_rank, last_kind,
        provider_id, provider_at, provider_rank, disability, disability_kind, district,
        nationality_group, trafficking_scope, recruitment_channel, procedure_stage,
        categories, exploitation_forms
    FROM {schema}.stat_referral;
-- (Its indexes and the statistics on its expressions go with it; made again below.)
DROP TABLE {schema}.stat_referral;
ALTER TABLE {schema}.stat_referral_ordered RENAME TO stat_referral;
ALTER TABLE {schema}.stat_referral ADD CONSTRAINT stat_referral_pkey PRIMARY KEY (referral_id);
CREATE INDEX stat_referral_case ON {schema}.stat_referral (case_id);
CREATE INDEX stat_referral_moved ON {schema}.stat_referral
    ((greatest(last_at, provider_at)), requested_at, answered_at, started_at);
-- As 0025 made them.
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

-- A referral's facts by their instant, with the two columns a reading as of a day looks up
-- in them (``model.last_kind_as_of``, ``provider_as_of``: the kind and provider of its last
-- fact before the day, for each referral moved since): read from the index alone instead
-- of a visit to the table per fact.
-- (IF EXISTS: an interrupted rebuild leaves the secondary indexes dropped.)
DROP INDEX IF EXISTS {schema}.stat_fact_referral;
CREATE INDEX stat_fact_referral ON {schema}.stat_fact (referral_id, at)
    INCLUDE (kind, provider_id) WHERE referral_id IS NOT NULL;

-- The index of the facts by kind and instant (0027) holds each fact's referral too: a count
-- of facts by their referral's outcome (services started or completed by outcome) joins
-- each fact to its referral, and without the referral's id in the index the planner read
-- the whole table instead (27,000 pages): services completed by outcome 240 to 450 ms,
-- as of a day 400 to 600 ms on the benchmark's store; from the index alone, 100 to 125 and
-- about 140 ms. The index is some 13% larger (185 MB against 163 MB) and took 3.3 to 3.7 s
-- to build against 2.4 to 3.1 s (docs/statistics.md, "Speed", sixteenth round).
DROP INDEX IF EXISTS {schema}.stat_fact_kind_at;
CREATE INDEX stat_fact_kind_at ON {schema}.stat_fact (kind, at)
    INCLUDE (opened_at, need, provider_id, detail, referral_id, categories, sex, age_band,
        disability, disability_kind, region, district, identification, nationality_group,
        trafficking_scope, recruitment_channel, procedure_stage, exploitation_forms);

-- A rebuild's staging table (0021) is emptied by every rebuild's settle: never worth a
-- vacuum, which autovacuum started on it again and again while a rebuild filled it (five
-- times in one rebuild of the benchmark's store).
ALTER TABLE {schema}.stat_fact_rebuilt SET (autovacuum_enabled = off);
