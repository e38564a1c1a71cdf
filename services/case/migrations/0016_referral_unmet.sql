-- Unmet needs (issue 13 item 6): when the coordinator decides no provider exists for a
-- need (ReferralClosedUnmet), the case shows that need's referral as unmet with the
-- reason code. NULL for every other status, and for rows from before this column.
ALTER TABLE {schema}.case_referral_status ADD COLUMN unmet_reason text;
