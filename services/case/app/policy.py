"""Who may see and change which case (the scope matrix of ``docs/case-api.md``).

Roles come from the token. Scope is checked against the case as it stands now (after
transfers): a case outside the caller's scope is answered as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from shared.auth import Principal

READ_ROLES = ("caseworker", "supervisor", "auditor", "admin")
WRITE_ROLES = ("caseworker", "supervisor", "admin")
# Roles whose case reads return identifying fields in clear (each read is recorded).
# Auditors review what was done, not who the survivor is; admins configure the system and
# have "no special access to identifying data" (docs/security.md).
IDENTIFYING_ROLES = frozenset({"caseworker", "supervisor"})


def sees_identifying(principal: Principal) -> bool:
    return principal.role in IDENTIFYING_ROLES


def in_scope(principal: Principal, *, region: str, office: str | None, caseworker: str) -> bool:
    """True when ``principal`` may see (and, with a write role, act on) such a case."""
    match principal.role:
        case "admin":
            return True
        case "auditor":
            return principal.region is None or principal.region == region
        case "supervisor":
            return principal.region is not None and principal.region == region
        case "caseworker":
            if caseworker == principal.sub:
                return True  # the caseworker responsible for a case always keeps it
            if principal.office is not None:
                return office == principal.office
            return principal.region is not None and principal.region == region
        case _:
            return False


def scope_filter(principal: Principal, first_arg: int) -> tuple[str, list[Any]]:
    """The SQL condition on ``case_summary`` that ``in_scope`` describes, and its args.

    Placeholders start at ``$first_arg``.
    """
    n = first_arg
    match principal.role:
        case "admin":
            return "true", []
        case "auditor":
            if principal.region is None:
                return "true", []
            return f"region = ${n}", [principal.region]
        case "supervisor":
            if principal.region is None:
                return "false", []
            return f"region = ${n}", [principal.region]
        case "caseworker":
            if principal.office is not None:
                return f"(caseworker = ${n} OR office = ${n + 1})", [
                    principal.sub,
                    principal.office,
                ]
            if principal.region is not None:
                return f"(caseworker = ${n} OR region = ${n + 1})", [
                    principal.sub,
                    principal.region,
                ]
            return f"caseworker = ${n}", [principal.sub]
        case _:
            return "false", []
