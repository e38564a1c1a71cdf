-- Service outcomes (docs/routing.md, "Service outcomes"): what the provider said about how
-- the service ended, and whether the caseworker confirmed it (the referral loop closed).
ALTER TABLE {schema}.referral_view
    ADD COLUMN outcome            text,
    ADD COLUMN outcome_reason     text,
    ADD COLUMN outcome_confirmed  boolean NOT NULL DEFAULT false;
