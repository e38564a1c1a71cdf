"""A case's story in time order, from what the case and referral APIs return: the page
shows it as a list of dated entries (each a ``kind`` the template words in the reader's
language, and the vocabulary values it needs)."""

from __future__ import annotations

from typing import Any


def case_timeline(case: dict[str, Any], referrals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"at": case["opened_at"], "kind": "opened"}]
    if case.get("identification"):
        ident = case["identification"]
        out.append({"at": ident["recorded_at"], "kind": "identification", "value": ident["status"]})
    if case.get("needs"):
        out.append(
            {"at": case["needs"]["assessed_at"], "kind": "needs", "values": case["needs"]["needs"]}
        )
    for c in case.get("consents", []):
        out.append({"at": c["given_at"], "kind": "consent", "value": c["purpose"]})
        if c.get("withdrawn_at"):
            out.append(
                {"at": c["withdrawn_at"], "kind": "consent_withdrawn", "value": c["purpose"]}
            )
    for r in case.get("referrals", []):
        out.append(
            {
                "at": r["requested_at"],
                "kind": "referral",
                "values": r["needs"],
                "value": r["urgency"],
            }
        )
    for r in referrals:
        out.append(
            {
                "at": r["updated_at"],
                "kind": "referral_status",
                "value": r["status"],
                "need": r["need"],
                "provider": r.get("provider_id"),
            }
        )
    for n in case.get("notes", []):
        out.append({"at": n["added_at"], "kind": "note"})
    return sorted(out, key=lambda e: str(e["at"]), reverse=True)


def referral_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (str(r.get("request_id")), str(r.get("need"))))
