-- What the planner knows of the periods a question groups by: each is a month, quarter or
-- year of an instant (``query._group_key``: ``date_trunc(period, at AT TIME ZONE 'UTC')``),
-- and without statistics on the expression itself the planner takes it to have as many
-- values as the instant has (some 50,000 groups for time to first answer by month on the
-- benchmark's store, where there are 12). It then reads and groups the rows in one
-- process, where with the right estimate it groups them in parallel: time to first answer
-- by month 128 ms, 80 ms with these (EXPLAIN ANALYZE, a throw-away 100,000-case store;
-- docs/statistics.md, "Speed", twelfth round). ANALYZE fills them (autovacuum's, after a
-- rebuild too). Each expression word for word as ``_group_key`` writes it, over the
-- instants the measures count at: a referral's request, first answer and start of
-- service, and a fact's.
CREATE STATISTICS {schema}.stat_referral_requested_month
    ON (date_trunc('month', requested_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_requested_quarter
    ON (date_trunc('quarter', requested_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_requested_year
    ON (date_trunc('year', requested_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_answered_month
    ON (date_trunc('month', answered_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_answered_quarter
    ON (date_trunc('quarter', answered_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_answered_year
    ON (date_trunc('year', answered_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_started_month
    ON (date_trunc('month', started_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_started_quarter
    ON (date_trunc('quarter', started_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_referral_started_year
    ON (date_trunc('year', started_at AT TIME ZONE 'UTC')) FROM {schema}.stat_referral;
CREATE STATISTICS {schema}.stat_fact_at_month
    ON (date_trunc('month', at AT TIME ZONE 'UTC')) FROM {schema}.stat_fact;
CREATE STATISTICS {schema}.stat_fact_at_quarter
    ON (date_trunc('quarter', at AT TIME ZONE 'UTC')) FROM {schema}.stat_fact;
CREATE STATISTICS {schema}.stat_fact_at_year
    ON (date_trunc('year', at AT TIME ZONE 'UTC')) FROM {schema}.stat_fact;
