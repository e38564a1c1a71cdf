-- The index of the cases opened (migration 0020) holds every other dimension of each case
-- too: a count of cases opened, by any of them, with any filter or a region's scope, reads
-- the index alone (a tenth of the table's size: the cases as they stand, without their
-- history) instead of the index and then each case's row. On the benchmark's store cases
-- opened by age band and sex took 94-102 ms and 33-40 with it, by district 77-100 and
-- 23-25 (docs/statistics.md, "Speed", eleventh round). The list is ``model.CARRIED``'s but
-- the key's columns, as ``model._SECONDARY`` builds it again after a rebuild.
DROP INDEX IF EXISTS {schema}.stat_case_opened;
CREATE INDEX stat_case_opened ON {schema}.stat_case (opened_month, categories)
    INCLUDE (sex, age_band, disability, disability_kind, region, district, identification,
             nationality_group, trafficking_scope, recruitment_channel, procedure_stage,
             exploitation_forms)
    WHERE valid_to IS NULL AND status <> 'casualty_record';
