"""The sending side of each transfer, so it hears the answer (issue 13 item 7).

``CaseTransferRequested`` says who asked (``requested_by``, and in its envelope the role);
the answers name only the transfer. Notify keeps the sender when the request arrives and
tells it when the request is accepted, refused or expires: the requesting caseworker, or
the sending office's supervisors when a supervisor asked (supervisors are addressed per
office). Anyone else who asked (an admin) is not a recipient: the case's caseworker at the
time of the request is told instead.
"""

from __future__ import annotations

import asyncpg

from services.notify.app.directory import recipient_token
from shared.envelope import Actor, Envelope
from shared.events.case_transfer import CaseTransferRequested
from shared.events.notify import RecipientKind
from shared.migrations import quote_ident


def sender_of(env: Envelope, event: CaseTransferRequested) -> tuple[RecipientKind, str]:
    role = Actor.decode(env.actor).role
    if role == "supervisor" and event.from_office is not None:
        return "supervisor", recipient_token(event.from_office)
    if role == "caseworker":
        return "caseworker", recipient_token(event.requested_by)
    return "caseworker", recipient_token(event.from_caseworker)


class TransferSenders:
    def __init__(self, schema: str) -> None:
        self.table = f"{quote_ident(schema)}.transfer_sender"

    async def keep(
        self, conn: asyncpg.Connection, env: Envelope, event: CaseTransferRequested
    ) -> None:
        kind, recipient = sender_of(env, event)
        await conn.execute(
            f"""INSERT INTO {self.table} (case_id, transfer_id, recipient_kind, recipient_id)
                VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            env.subject,
            event.transfer_id,
            kind,
            recipient,
        )

    async def sender(
        self, conn: asyncpg.Connection, case_id: str, transfer_id: str
    ) -> tuple[RecipientKind, str] | None:
        row = await conn.fetchrow(
            f"""SELECT recipient_kind, recipient_id FROM {self.table}
                WHERE case_id = $1 AND transfer_id = $2""",
            case_id,
            transfer_id,
        )
        if row is None:
            return None
        kind: RecipientKind = (
            "supervisor" if row["recipient_kind"] == "supervisor" else "caseworker"
        )
        return kind, str(row["recipient_id"])
