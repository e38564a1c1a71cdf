-- Interpreters (issue 13 item 8, docs/routing.md "Languages and interpreters"): whether the
-- person asked for one, so the provider holding the referral can arrange it. Referrals
-- projected before this knew no such flag (nobody had asked).
ALTER TABLE {schema}.referral_view
    ADD COLUMN interpreter_needed boolean NOT NULL DEFAULT false;
