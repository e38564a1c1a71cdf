-- The list view of referrals: a projection of the referral streams, written in the
-- transaction of each append (services/referral/app/projection.py) and rebuildable from
-- the events alone. Routing facts only: never a name, a contact or a narrative.
-- office/caseworker/case_region come from the ReferralRequested and scope caseworkers'
-- reads; consent_id says which consent a withdrawal of consent stops.
CREATE TABLE {schema}.referral_view (
    referral_id     text PRIMARY KEY,
    case_id         text NOT NULL,
    request_id      text NOT NULL,
    need            text NOT NULL,
    urgency         text NOT NULL,
    status          text NOT NULL,
    provider_id     text,
    coordinator_id  text,
    attempt         integer NOT NULL,
    respond_by      timestamptz,
    reasons         jsonb NOT NULL,
    categories      text[] NOT NULL,
    region          text NOT NULL,
    district        text,
    sex             text NOT NULL,
    age_band        text NOT NULL,
    language        text NOT NULL,
    disability      boolean NOT NULL,
    consent_id      text,
    office          text,
    caseworker      text,
    version         integer NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX referral_view_case ON {schema}.referral_view (case_id, created_at);
CREATE INDEX referral_view_provider ON {schema}.referral_view (provider_id, updated_at DESC);
-- The escalation scanner: open referrals whose deadline passed.
CREATE INDEX referral_view_due ON {schema}.referral_view (respond_by)
    WHERE status = 'awaiting_answer';
-- Places in use per provider (capacity): accepted until completed or withdrawn.
CREATE INDEX referral_view_holding ON {schema}.referral_view (provider_id)
    WHERE status IN ('accepted', 'in_service');
