-- When a pending transfer request expires (docs/case-domain.md "Transfers the receiving
-- side accepts"): fixed in the request (CaseTransferRequested v2), NULL for requests from
-- before requests expired. The transfer timer reads it (services/case/app/transfer_timer.py),
-- so a restart neither loses nor repeats an expiry: what it decided is in the case's events.
ALTER TABLE "case".transfer_request ADD COLUMN expires_at timestamptz;
CREATE INDEX transfer_request_expiry ON "case".transfer_request (expires_at) WHERE pending;
