-- The facts a question counts, read from the index of their kind and instant alone. Every
-- fact question reads the facts of one kind or a few in a period (``query.build_sql``: the
-- ``t`` rows), and the facts of one kind lie one row in ten or so across the whole table
-- (a case's facts are written as they happen, every kind together): on the benchmark's
-- store, services started in a year were 73,000 rows over 16,500 of stat_fact's pages,
-- 64 to 73 ms (medians) by sex as of a month back when warm, over 100 in the benchmark's
-- sample. This index holds every column such a count reads (the need, provider and
-- detail, and every dimension carried), so the planner reads the rows in the index's
-- order and no table page where the visibility map shows them all visible (autovacuum
-- keeps it so; a rebuild's VACUUM ANALYZE too): 31 to 32 ms for that question
-- (docs/statistics.md, "Speed", thirteenth round). Not the case or the referral: the
-- rows changed since an instant are found by their case through ``stat_fact_case``, and a
-- question by a referral's outcome reads each fact's referral anyway; with both the index
-- took twice as long to build. It replaces the index of 0005 on (kind, at) alone, which
-- it serves in full; 163 MB against 24 MB on the benchmark's store (the table: 233 MB). A
-- rebuild drops it with its first batch and builds it again at the end
-- (``model._SECONDARY``), beside the referral fold.
DROP INDEX IF EXISTS {schema}.stat_fact_kind_at;
CREATE INDEX stat_fact_kind_at ON {schema}.stat_fact (kind, at)
    INCLUDE (opened_at, need, provider_id, detail, categories, sex, age_band, disability,
        disability_kind, region, district, identification, nationality_group,
        trafficking_scope, recruitment_channel, procedure_stage, exploitation_forms);
