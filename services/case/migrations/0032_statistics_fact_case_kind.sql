-- ``stat_fact_case`` (0007) keyed by the fact's kind after its case. A count of facts as
-- of a day corrects the cases changed since (``query._cases_since``): it reads the facts
-- of those cases through this index, and with the case alone it fetched every fact of
-- each from the table to keep the few of the kind counted. On the benchmark's store, as
-- of a month back, services started by outcome x identification fetched 19,568 facts of
-- the 2,598 cases whose identification changed since, to keep 1,921; with the kind in the
-- key it reads those 1,921 (that part 29 against 18 ms; the question 75 to 80 against 69
-- to 75 ms, three alternated pairs; docs/statistics.md, "Speed", eighteenth round).
-- Everything else that finds facts by their case (the live path carrying a case's
-- dimensions onto its facts) reads the same first column.
DROP INDEX IF EXISTS {schema}.stat_fact_case;
CREATE INDEX stat_fact_case ON {schema}.stat_fact (case_id, kind);
