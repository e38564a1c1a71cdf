-- Events from the referral and notify services are recorded with the signed CloudEvent
-- exactly as it was verified on arrival, so `audit verify` can check the signature again
-- later (and that the recorded row still says what the signed event said). NULL for the
-- case service's own events (their hash chain covers them) and for foreign events
-- recorded before events were signed.
ALTER TABLE {schema}.case_timeline ADD COLUMN envelope text;
