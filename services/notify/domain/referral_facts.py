"""How the referral service's events are read: the one place that knows their field names.

The referral events (``shared/events/referral.py``) are owned by another service. Notify
reads their data as plain dictionaries through this module only, so a renamed field is a
one-line change here. Routing facts may sit at the top level of the event data or in a
nested object (see ``NESTED_FACT_KEYS``).

Events that do not repeat the routing facts (accept, decline, completion) are read with
the facts of the referral's ``ReferralRouted`` merged underneath by the caller:
``{**routed_data, **event_data}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Event names notify reacts to (the ``<Name>`` of ``org.safepath.referral.<Name>.v<N>``).
REFERRAL_ROUTED = "ReferralRouted"
REFERRAL_ESCALATED = "ReferralEscalated"
REFERRAL_UNROUTABLE = "ReferralUnroutable"
REFERRAL_ACCEPTED = "ReferralAccepted"
REFERRAL_DECLINED = "ReferralDeclined"
SERVICE_COMPLETED = "ServiceCompleted"

# Where routing facts may be nested in the event data, tried in order after the top level.
NESTED_FACT_KEYS: tuple[str, ...] = ("facts", "routing_facts", "routing", "subject")


@dataclass(frozen=True)
class ReferralFacts:
    """What notify may know about a referral. Values are unchecked here; the payload
    builder validates each one against the shared vocabulary before it leaves."""

    referral_id: str
    case_id: str
    needs: tuple[str, ...]
    urgency: str
    categories: tuple[str, ...]
    region: str
    district: str | None
    sex: str
    age_band: str
    language: str
    disability: bool
    provider_id: str | None
    coordinator_ids: tuple[str, ...]
    caseworker_id: str | None


def event_name(event_type_name: str) -> str:
    """``org.safepath.referral.ReferralRouted.v1`` or ``ReferralRouted`` → ``ReferralRouted``."""
    parts = event_type_name.split(".")
    if len(parts) >= 2 and parts[-1].startswith("v") and parts[-1][1:].isdigit():
        return parts[-2]
    return parts[-1]


def read_facts(data: Mapping[str, Any]) -> ReferralFacts:
    """The facts of a referral event's data (missing ones become empty or "unknown")."""
    get = _lookup(data)
    needs = get("needs")
    if needs is None:
        need = get("need")
        needs = [need] if need is not None else []
    return ReferralFacts(
        referral_id=str(get("referral_id") or ""),
        case_id=str(get("case_id") or ""),
        needs=tuple(str(n) for n in _as_list(needs)),
        urgency=str(get("urgency") or "routine"),
        categories=tuple(str(c) for c in _as_list(get("categories"))),
        region=str(get("region") or ""),
        district=None if get("district") is None else str(get("district")),
        sex=str(get("sex") or "unknown"),
        age_band=str(get("age_band") or "unknown"),
        language=str(get("language") or "other"),
        disability=get("disability") is True,
        provider_id=_optional_str(get("provider_id")),
        coordinator_ids=_coordinator_ids(data),
        caseworker_id=_optional_str(get("caseworker_id") or get("caseworker")),
    )


def _lookup(data: Mapping[str, Any]) -> Any:
    nested = [data[k] for k in NESTED_FACT_KEYS if isinstance(data.get(k), Mapping)]

    def get(key: str) -> Any:
        if data.get(key) is not None:
            return data[key]
        for inner in nested:
            if inner.get(key) is not None:
                return inner[key]
        return None

    return get


def _coordinator_ids(data: Mapping[str, Any]) -> tuple[str, ...]:
    ids: list[str] = []
    for key in ("coordinator_id", "coordinator_ids", "coordinator", "coordinators"):
        for item in _as_list(data.get(key)):
            if isinstance(item, Mapping):
                value = item.get("coordinator_id") or item.get("id")
            else:
                value = item
            if value and str(value) not in ids:
                ids.append(str(value))
    return tuple(ids)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _optional_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
