-- Each fact carries its referral's last kind as it stands and that last fact's instant
-- (``referral_kind``, ``referral_last_at``: the ``last_kind`` and ``last_at`` of its
-- ``stat_referral`` row; NULL for a fact of no referral, or of one with no fact past its
-- request), as it carries its case's dimensions (0021).
--
-- A count of facts by the referral's outcome (services started or completed by outcome)
-- joined every counted fact to its referral by the referral's text id: on the benchmark's
-- store 73,000 services started in a year to 160,000 referral rows, 130 to 360 ms in all
-- (docs/statistics.md, "Speed", seventeenth round). Now such a count reads the facts alone.
-- As of a day, a fact's referral's outcome is its ``referral_kind`` when that last fact
-- came before the day, else the kind of the referral's last fact before the day, looked up
-- by the index of the referral's facts (``query._fact_kind_as_of``): a few thousand
-- look-ups, no join and no correction.
--
-- Kept by the live path: every fact that names a referral, once the referral's row is
-- merged, carries the row's last kind and instant onto all of that referral's facts
-- (``model._CARRY_KIND_SQL``: a few rows, by ``stat_fact_referral``). A rebuild writes each
-- fact with what its referral's rebuilt facts give (``model._SETTLE_FACTS``) and corrects
-- the few the live path wrote meanwhile after the referral fold (``model._FILL_NEEDS``).
ALTER TABLE {schema}.stat_fact ADD COLUMN referral_kind text,
    ADD COLUMN referral_last_at timestamptz;

UPDATE {schema}.stat_fact f SET referral_kind = r.last_kind, referral_last_at = r.last_at
FROM {schema}.stat_referral r
WHERE f.referral_id = r.referral_id AND r.last_kind IS NOT NULL;

-- The index a fact question reads alone (0027, 0029) holds both too.
DROP INDEX IF EXISTS {schema}.stat_fact_kind_at;
CREATE INDEX stat_fact_kind_at ON {schema}.stat_fact (kind, at)
    INCLUDE (opened_at, need, provider_id, detail, referral_id, referral_kind,
        referral_last_at, categories, sex, age_band, disability, disability_kind, region,
        district, identification, nationality_group, trafficking_scope,
        recruitment_channel, procedure_stage, exploitation_forms);
