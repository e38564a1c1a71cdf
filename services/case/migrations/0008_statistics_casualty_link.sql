-- The casualty record a case's person is family of (``CasualtyLinked``, issue 14), or
-- 'none': the casualty statistics count that person as an indirect victim when their
-- profile records no incident (docs/statistics.md). An id, never an output.
ALTER TABLE {schema}.stat_case ADD COLUMN relative_killed text NOT NULL DEFAULT 'none';
