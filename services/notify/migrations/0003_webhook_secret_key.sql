-- Webhook signing secrets are stored encrypted (services/notify/app/webhooks.py): each
-- provider's row gets its own data key, wrapped with SAFEPATH_MASTER_KEY and bound to the
-- provider id; every entry of `secrets` then holds a sealed secret ({sealed, expires_at})
-- instead of the secret in clear. NULL marks a row written in clear by an earlier
-- version: the service encrypts those when it starts.
ALTER TABLE {schema}.webhook ADD COLUMN wrapped_key bytea;
COMMENT ON COLUMN {schema}.webhook.wrapped_key IS
    'The provider''s data key, wrapped with SAFEPATH_MASTER_KEY; secrets are sealed under it.';
