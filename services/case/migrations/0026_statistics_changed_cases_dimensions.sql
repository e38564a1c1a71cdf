-- The cases changed since an instant, as they stood then and as they stand now, from two
-- indexes alone: a reading with ``as_of`` corrects its counts for the cases whose
-- dimensions asked for differed then (``query._cases_since``), and counts the cases opened
-- before it that changed since as they stood (``query._opened_as_of``). It looked up each
-- such case's row then by its key and read its current row from the table: on the
-- benchmark's store, as of a month back, 5,090 cases changed since, 45 ms of some 120 for
-- a duration by sex; from these two indexes, 8 ms (docs/statistics.md, "Speed", twelfth
-- round). The current rows by their start (0021, 0022) now hold every dimension carried;
-- the rows that ended, by their end, hold the row's start, status, opening and the same
-- dimensions (a case's row then is the one that began before the instant and ended at or
-- after it). A rebuild drops both with its first batch and builds them again at the end
-- (``model._SECONDARY``).
DROP INDEX IF EXISTS {schema}.stat_case_now_from;
CREATE INDEX stat_case_now_from ON {schema}.stat_case (valid_from)
    INCLUDE (opened_at, case_id, categories, sex, age_band, disability, disability_kind,
        region, district, identification, nationality_group, trafficking_scope,
        recruitment_channel, procedure_stage, exploitation_forms)
    WHERE valid_to IS NULL;
CREATE INDEX stat_case_ended ON {schema}.stat_case (valid_to)
    INCLUDE (valid_from, case_id, status, opened_month, opened_at, categories, sex, age_band,
        disability, disability_kind, region, district, identification, nationality_group,
        trafficking_scope, recruitment_channel, procedure_stage, exploitation_forms)
    WHERE valid_to IS NOT NULL;
