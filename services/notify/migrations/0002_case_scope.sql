-- Where each case stands now (region of the person, office, responsible caseworker), from
-- the case events this service consumes (shared/case_scope.py). A referral's notifications
-- are shown to case roles within this scope (GET /referrals/{id}/notifications).
-- Each part keeps the case stream version it came from: an older event arriving late
-- never overwrites a newer one. 0 = not heard of yet (the region then falls back to the
-- routed referral's region in referral_facts; office and caseworker are unknown).
CREATE TABLE {schema}.case_scope (
    case_id        text PRIMARY KEY,
    region         text,
    region_version integer NOT NULL DEFAULT 0,
    office         text,
    caseworker     text,
    owner_version  integer NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
