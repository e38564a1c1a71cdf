-- The index of the cases opened (migration 0020) holds every other dimension of each case
-- too: a count of cases opened, by any of them, with any filter or a region's scope, reads
-- the index alone (a fifth of the table's size: the cases as they stand, without their
-- history) instead of the index and then each case's row; with each row's start, so does
-- a reading ``as_of`` for the cases that did not change since (``query._opened_as_of``).
-- Figures in docs/statistics.md, "Speed", eleventh round. The list is ``model.CARRIED``'s
-- but the key's columns, and the row's start, as ``model._SECONDARY`` builds it again
-- after a rebuild.
DROP INDEX IF EXISTS {schema}.stat_case_opened;
CREATE INDEX stat_case_opened ON {schema}.stat_case (opened_month, categories)
    INCLUDE (sex, age_band, disability, disability_kind, region, district, identification,
             nationality_group, trafficking_scope, recruitment_channel, procedure_stage,
             exploitation_forms, valid_from)
    WHERE valid_to IS NULL AND status <> 'casualty_record';
