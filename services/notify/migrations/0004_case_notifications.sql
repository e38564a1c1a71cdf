-- Notifications about a case rather than a referral (NotificationQueued v2, e.g. a
-- reflection period ending): they have no referral id.
ALTER TABLE {schema}.notification ALTER COLUMN referral_id DROP NOT NULL;
