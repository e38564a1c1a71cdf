-- The month a case was opened (UTC), stored once with its row: a question by month about
-- cases groups by it instead of truncating every case's opening time again (issue 15's
-- "under 100 ms over 100,000 cases"; docs/statistics.md, "Speed"). Derived, so the live
-- path and the rebuild fill it alike.
ALTER TABLE {schema}.stat_case ADD COLUMN opened_month timestamp
    GENERATED ALWAYS AS (date_trunc('month', opened_at AT TIME ZONE 'UTC')) STORED;
