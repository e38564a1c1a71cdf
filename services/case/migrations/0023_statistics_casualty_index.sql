-- The casualties (a survivor's case with an incident, a case of family of a person killed,
-- a person killed's record) by opening month, each row of their history: the casualty
-- questions read these rows alone, now and ``as_of``, instead of every case's every row (a
-- mine/EO casualty is one case in a few among the trafficking and refugee cases). On the
-- benchmark's store (20,000 casualties among 100,000 cases) casualties by sex took 76-91
-- ms and 20-22 with it (docs/statistics.md, "Speed", eleventh round). A rebuild drops it
-- with its first batch and builds it again at the end (``model._SECONDARY``).
CREATE INDEX stat_case_casualty ON {schema}.stat_case (opened_month)
    WHERE casualty <> 'none' OR relative_killed <> 'none';
