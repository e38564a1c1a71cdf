-- The cases' current rows by when they began, now with each case's opening and id in the
-- index: a reading with ``as_of`` asks for the cases whose current row began since the
-- instant but that were opened before it (``query._cases_since``), and reads that from the
-- index alone. Without them it read each such row from the table to look at its opening:
-- on the benchmark's store some 8,000 rows of cases opened in the last month, spread over
-- 5,800 pages, to keep one (36 of 167 ms of a reading; docs/statistics.md, "Speed",
-- eleventh round). A rebuild drops it with its first batch and builds it again at the end
-- (``model._SECONDARY``).
DROP INDEX IF EXISTS {schema}.stat_case_now_from;
CREATE INDEX stat_case_now_from ON {schema}.stat_case (valid_from) INCLUDE (opened_at, case_id)
    WHERE valid_to IS NULL;
