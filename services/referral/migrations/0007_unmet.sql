-- Unmet needs (issue 13 item 6, docs/routing.md "Coordinators"): the coordinator decided
-- no provider exists for an unroutable referral's need (ReferralClosedUnmet), for a reason
-- code. Referrals projected before this were never closed unmet.
ALTER TABLE {schema}.referral_view ADD COLUMN unmet_reason text;
