-- The referrals whose last fact or provider came at or after an instant, found without
-- reading the whole table. A count by a referral's outcome or provider's kind as of a day
-- reads every referral as it stands (a parallel scan) and corrects for these few, taken
-- back as they stand and counted as they stood (``query._moved``): before, each row's
-- last kind was worked out where it was read, a sub-query per row that kept the whole
-- scan in one process. ``greatest`` is what ``_moved`` asks (NULLs ignored: a referral
-- with no fact of either kind is never found), the request's instant beside it so that
-- only those requested before the day are read from the table. On the benchmark's store
-- referrals need x outcome as of a month back took 82 to 83 ms (medians) as it was
-- (docs/statistics.md, "Speed", fourteenth round). Kept by every merge of a referral
-- fact into its row (an index entry more per fact); ``finish_rebuild`` builds it again
-- after the fold's rows, with the table's other indexes.
CREATE INDEX IF NOT EXISTS stat_referral_moved
    ON {schema}.stat_referral ((greatest(last_at, provider_at)), requested_at);
