-- The case's dimensions as they stand now, carried on each of its facts and referral rows
-- (docs/statistics.md, "Carried dimensions"): a count or a duration by a case dimension
-- then reads the fact or referral table alone, not a join of tens of thousands of rows to
-- the cases' current rows, which cost 60 to 125 ms over 100,000 cases whatever the tables'
-- width (issue 15's "under 100 ms"; "Speed", tenth round). ``opened_at``: when the case
-- opened (a reading with ``as_of`` counts a row only if its case had one then). NULL: no
-- case row was known when the row was written (not counted by a case dimension, as the
-- join did not count it). The live path keeps them in step (``model._CARRY_SQL``,
-- ``model._hold_case_row``); a reading with ``as_of`` reads the few cases that changed
-- since as they stood (``query._cases_since``).

-- A rebuild's facts as it folds them, before the case's dimensions are carried onto them:
-- written into ``stat_fact`` once, with their dimensions, when the fold is done
-- (``model.settle_rebuild``). Empty but for a rebuild under way. ``stat_fact``'s columns as
-- they were (before the ones below), no key.
CREATE TABLE {schema}.stat_fact_rebuilt (LIKE {schema}.stat_fact);
ALTER TABLE {schema}.stat_fact
    ADD COLUMN categories text[], ADD COLUMN sex text, ADD COLUMN age_band text,
    ADD COLUMN disability text, ADD COLUMN disability_kind text, ADD COLUMN region text,
    ADD COLUMN district text, ADD COLUMN identification text,
    ADD COLUMN nationality_group text, ADD COLUMN trafficking_scope text,
    ADD COLUMN recruitment_channel text, ADD COLUMN procedure_stage text,
    ADD COLUMN exploitation_forms text[], ADD COLUMN opened_at timestamptz;
ALTER TABLE {schema}.stat_referral
    ADD COLUMN categories text[], ADD COLUMN sex text, ADD COLUMN age_band text,
    ADD COLUMN disability text, ADD COLUMN disability_kind text, ADD COLUMN region text,
    ADD COLUMN district text, ADD COLUMN identification text,
    ADD COLUMN nationality_group text, ADD COLUMN trafficking_scope text,
    ADD COLUMN recruitment_channel text, ADD COLUMN procedure_stage text,
    ADD COLUMN exploitation_forms text[], ADD COLUMN opened_at timestamptz;
-- The rows written before this migration, from their case's current row.
UPDATE {schema}.stat_fact f SET categories = c.categories, sex = c.sex,
        age_band = c.age_band, disability = c.disability, disability_kind = c.disability_kind,
        region = c.region, district = c.district, identification = c.identification,
        nationality_group = c.nationality_group, trafficking_scope = c.trafficking_scope,
        recruitment_channel = c.recruitment_channel, procedure_stage = c.procedure_stage,
        exploitation_forms = c.exploitation_forms, opened_at = c.opened_at
    FROM {schema}.stat_case c WHERE c.case_id = f.case_id AND c.valid_to IS NULL;
UPDATE {schema}.stat_referral f SET categories = c.categories, sex = c.sex,
        age_band = c.age_band, disability = c.disability, disability_kind = c.disability_kind,
        region = c.region, district = c.district, identification = c.identification,
        nationality_group = c.nationality_group, trafficking_scope = c.trafficking_scope,
        recruitment_channel = c.recruitment_channel, procedure_stage = c.procedure_stage,
        exploitation_forms = c.exploitation_forms, opened_at = c.opened_at
    FROM {schema}.stat_case c WHERE c.case_id = f.case_id AND c.valid_to IS NULL;
-- The cases' current rows by when they began: a reading with ``as_of`` finds the few cases
-- that changed (or opened) since, and reads only those as they stood; every other case
-- stood as its facts and referral rows carry it (``query._cases_since``). A rebuild drops
-- it with its first batch and builds it again at the end (``model._SECONDARY``).
CREATE INDEX stat_case_now_from ON {schema}.stat_case (valid_from) WHERE valid_to IS NULL;
