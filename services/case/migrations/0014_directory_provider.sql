-- The service directory as the case service hears it (issue 13 item 4, docs/case-domain.md
-- "The case plan"): which provider ids exist, the needs each offers, whether suspended.
-- The referral service owns the directory; its directory events reach the case service's
-- referral consumer (services/case/app/directory.py), which keeps this in its inbox
-- transaction. A plan goal's responsible provider is checked against it. Rebuilt by
-- replaying the referral stream's directory events to that consumer.
CREATE TABLE "case".directory_provider (
    provider_id  text PRIMARY KEY,
    services     text[] NOT NULL,
    suspended    boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
