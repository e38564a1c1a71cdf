-- The language a caseworker, a supervisors' office or a coordinator wants its notifications
-- in (PUT /recipients/{kind}/{id}/language). Providers' languages come from the directory.
-- Without a row: SAFEPATH_NOTIFY_DEFAULT_LANGUAGE.
CREATE TABLE {schema}.recipient_language (
    recipient_kind text NOT NULL,
    recipient_id   text NOT NULL,
    language       text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recipient_kind, recipient_id)
);
