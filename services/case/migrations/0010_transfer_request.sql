-- Transfers waiting for the receiving side (issue 13 item 7, docs/case-domain.md): one row
-- per case with a pending request, written in the transaction of each append
-- (services/case/app/transfers.py), removed when it is accepted, refused or cancelled. The
-- receiving side lists it (GET /transfers/incoming). Rebuildable from the events alone.
CREATE TABLE "case".transfer_request (
    case_id        text PRIMARY KEY,
    transfer_id    text NOT NULL,
    from_office    text,
    to_caseworker  text,
    to_office      text,  -- the office that receives it (the same office when only a caseworker is named)
    requested_at   timestamptz NOT NULL,
    version        integer NOT NULL,
    pending        boolean NOT NULL
);
CREATE INDEX transfer_request_office ON "case".transfer_request (to_office) WHERE pending;
CREATE INDEX transfer_request_caseworker ON "case".transfer_request (to_caseworker) WHERE pending;
