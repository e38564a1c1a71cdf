-- Cases opened by month (quarter, year) and category, the Committee's commonest question,
-- read from this index alone: the cases as they stand now (not a person killed), in the
-- order of their opening month, with their categories. The question's period is whole
-- months, so it selects by the stored month (migration 0013) and reads a range of the
-- index; the rows come already grouped by month and category. Without it the question read
-- the whole table, every case's history with it (issue 15's "under 100 ms over 100,000
-- cases"; docs/statistics.md, "Speed", eighth round). A rebuild drops it with its first
-- batch and builds it again at the end (``model._SECONDARY``).
CREATE INDEX stat_case_opened ON {schema}.stat_case (opened_month, categories)
    WHERE valid_to IS NULL AND status <> 'casualty_record';
