-- Withdrawal reaches every provider (docs/routing.md): who was told to delete the
-- referral's data, who has not confirmed yet, and when the deletion timer looks next.
-- A provider told to delete gets 410 Gone for the referral and no longer lists it.
ALTER TABLE {schema}.referral_view
    ADD COLUMN deletion_requested  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN deletion_pending    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN deletion_due_at     timestamptz;
-- The deletion timer: referrals with a reminder or an escalation due.
CREATE INDEX referral_view_deletion_due ON {schema}.referral_view (deletion_due_at)
    WHERE deletion_due_at IS NOT NULL;
