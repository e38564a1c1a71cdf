-- Where each case stands now (region of the person, office, responsible caseworker), from
-- the case events this service consumes (shared/case_scope.py). Reads of referrals are
-- scoped on this, so a transfer or a move to another region takes the referrals along.
-- Each part keeps the case stream version it came from: an older event arriving late
-- never overwrites a newer one. 0 = not heard of yet (reads fall back to referral_view's
-- office/caseworker/region, as the ReferralRequested gave them).
CREATE TABLE {schema}.case_scope (
    case_id        text PRIMARY KEY,
    region         text,
    region_version integer NOT NULL DEFAULT 0,
    office         text,
    caseworker     text,
    owner_version  integer NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
