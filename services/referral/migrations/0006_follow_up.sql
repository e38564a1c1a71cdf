-- A follow-up service on a long-term need (issue 13 item 4, docs/routing.md "Service
-- outcomes"): the referral a follow-up request opened, and the earlier referral of the same
-- case and need it follows. Written by the case-events consumer from ReferralRequested v3
-- (services/referral/app/case_events.py) in its inbox transaction; like case_scope it is
-- what this service received, rebuilt by replaying the case stream to that consumer, and
-- survives a rebuild of referral_view.
CREATE TABLE {schema}.referral_follow_up (
    referral_id  text PRIMARY KEY,
    case_id      text NOT NULL,
    follows_up   text NOT NULL
);
