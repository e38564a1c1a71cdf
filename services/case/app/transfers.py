"""Who is the receiving side of a pending transfer (issue 13 item 7).

The receiving side cannot see the case until it accepts (the sending office keeps it), so
accepting or refusing is checked here instead of by scope: the caseworker the request
names, or a caseworker or supervisor of the receiving office (their token's ``office``).
Nobody else, whatever their role, learns that the case exists (404).
"""

from __future__ import annotations

from services.case.domain import Case
from shared.auth import Principal


def receives_transfer(principal: Principal, case: Case) -> bool:
    pending = case.pending_transfer
    if pending is None or principal.role not in ("caseworker", "supervisor"):
        return False
    if principal.role == "caseworker" and pending.to_caseworker is not None:
        return principal.sub == pending.to_caseworker
    to_office = pending.to_office or case.office
    return principal.office is not None and principal.office == to_office
