-- Who asked for each transfer of a case (issue 13 item 7, docs/notify.md): the
-- requesting caseworker, or the sending office's supervisors when a supervisor asked. The
-- answer events (accepted, refused, expired) name only the transfer, so notify keeps this
-- from CaseTransferRequested to tell the sending side of the outcome. Account subjects
-- as recipient tokens (services/notify/app/directory.py), never a person's data.
CREATE TABLE {schema}.transfer_sender (
    case_id         text NOT NULL,
    transfer_id     text NOT NULL,
    recipient_kind  text NOT NULL,
    recipient_id    text NOT NULL,
    PRIMARY KEY (case_id, transfer_id)
);
