-- The case's dimensions as they stand now, carried on each of its facts and referral rows
-- (docs/statistics.md, "Carried dimensions"): a count or a duration by a case dimension
-- then reads the fact or referral table alone, not a join of tens of thousands of rows to
-- the cases' current rows, which cost 60 to 125 ms over 100,000 cases whatever the tables'
-- width (issue 15's "under 100 ms"; "Speed", tenth round). NULL: no case row was known
-- when the row was written (a question by a case dimension does not count it, as the
-- join did not). The live path keeps them in step (``model.carry``); ``as_of`` readings,
-- which need the dimensions as they stood, still join.
ALTER TABLE {schema}.stat_fact
    ADD COLUMN categories text[], ADD COLUMN sex text, ADD COLUMN age_band text,
    ADD COLUMN disability text, ADD COLUMN disability_kind text, ADD COLUMN region text,
    ADD COLUMN district text, ADD COLUMN identification text,
    ADD COLUMN nationality_group text, ADD COLUMN trafficking_scope text,
    ADD COLUMN recruitment_channel text, ADD COLUMN procedure_stage text,
    ADD COLUMN exploitation_forms text[];
ALTER TABLE {schema}.stat_referral
    ADD COLUMN categories text[], ADD COLUMN sex text, ADD COLUMN age_band text,
    ADD COLUMN disability text, ADD COLUMN disability_kind text, ADD COLUMN region text,
    ADD COLUMN district text, ADD COLUMN identification text,
    ADD COLUMN nationality_group text, ADD COLUMN trafficking_scope text,
    ADD COLUMN recruitment_channel text, ADD COLUMN procedure_stage text,
    ADD COLUMN exploitation_forms text[];
-- The rows written before this migration, from their case's current row.
UPDATE {schema}.stat_fact f SET categories = c.categories, sex = c.sex,
        age_band = c.age_band, disability = c.disability, disability_kind = c.disability_kind,
        region = c.region, district = c.district, identification = c.identification,
        nationality_group = c.nationality_group, trafficking_scope = c.trafficking_scope,
        recruitment_channel = c.recruitment_channel, procedure_stage = c.procedure_stage,
        exploitation_forms = c.exploitation_forms
    FROM {schema}.stat_case c WHERE c.case_id = f.case_id AND c.valid_to IS NULL;
UPDATE {schema}.stat_referral f SET categories = c.categories, sex = c.sex,
        age_band = c.age_band, disability = c.disability, disability_kind = c.disability_kind,
        region = c.region, district = c.district, identification = c.identification,
        nationality_group = c.nationality_group, trafficking_scope = c.trafficking_scope,
        recruitment_channel = c.recruitment_channel, procedure_stage = c.procedure_stage,
        exploitation_forms = c.exploitation_forms
    FROM {schema}.stat_case c WHERE c.case_id = f.case_id AND c.valid_to IS NULL;
-- A rebuild's facts as it folds them, before the case's dimensions are carried onto them:
-- written into ``stat_fact`` once, with their dimensions, when the fold is done
-- (``model.settle_rebuild``). Empty but for a rebuild under way.
CREATE TABLE {schema}.stat_fact_rebuilt (
    fact_id     text NOT NULL,
    case_id     text NOT NULL,
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    referral_id text,
    need        text,
    provider_id text,
    detail      text
);
