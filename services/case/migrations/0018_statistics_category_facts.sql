-- Issue 14's single-valued trafficking and refugee facts as statistics dimensions
-- (docs/statistics.md, "Measures and dimensions"): clear vocabularies only, never a free
-- text, a date or a country. 'none': the profile records no facts of that category (as
-- the mine/EO columns); 'unknown': it does, without this one.
ALTER TABLE {schema}.stat_case
    ADD COLUMN trafficking_scope text NOT NULL DEFAULT 'none',   -- internal, cross_border
    ADD COLUMN recruitment_channel text NOT NULL DEFAULT 'none', -- job_offer, acquaintance, ...
    ADD COLUMN procedure_stage text NOT NULL DEFAULT 'none';     -- registered, applied, ...
-- The rows written before this migration read 'none' until
-- ``safepath replay --service case --projection statistics`` derives them from the events;
-- every write names the columns from now on (no default hides a path that forgets one).
ALTER TABLE {schema}.stat_case
    ALTER COLUMN trafficking_scope DROP DEFAULT,
    ALTER COLUMN recruitment_channel DROP DEFAULT,
    ALTER COLUMN procedure_stage DROP DEFAULT;
