"""The notification a recipient receives: a CloudEvents 1.0 structured-mode JSON object.

Built from an allow-list: the data is assembled field by field from ``ReferralFacts``,
each value checked against the shared vocabulary, so whatever else an input event
carries (names, phone numbers, birth dates, narratives) cannot reach a recipient. The
message text is rendered from the same checked values. The case id itself never
leaves: recipients get a keyed hash of it (``case_reference``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, get_args

from services.notify.domain.recipients import NotificationPlan
from services.notify.domain.referral_facts import ReferralFacts
from services.notify.domain.rendering import TemplateSet
from shared.envelope import SCHEMA_PATH, dataschema_for
from shared.events.referral import UnmetReason
from shared.events.vocabulary import (
    AGE_BANDS,
    CATEGORIES,
    LANGUAGES,
    REGIONS,
    SERVICE_TYPES,
    URGENCIES,
    Sex,
    region_of,
)
from shared.pseudonym import case_reference

SOURCE = "safepath/notify"
SEXES: tuple[str, ...] = get_args(Sex)
NOTIFICATION_TYPES = {
    "provider": "org.safepath.notify.ProviderNotification.v1",
    "coordinator": "org.safepath.notify.CoordinatorNotification.v1",
    "caseworker": "org.safepath.notify.CaseworkerNotification.v1",
    # The supervisors of an office (break the glass on one of its cases).
    "supervisor": "org.safepath.notify.SupervisorNotification.v1",
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
# After a withdrawal a recipient learns which referral to delete and nothing more: not
# the person's sex, age band, place or language (docs/notify.md).
WITHDRAWAL_TEMPLATES = frozenset({"referral_withdrawn", "data_deletion_reminder"})
WITHDRAWAL_FACTS = ("referral_id", "case_reference", "needs")
# A need left unmet: the caseworker learns which referral, its need and the coordinator's
# reason code; nothing else about the person (it is their own case).
UNMET_TEMPLATE = "need_unmet"
UNMET_FACTS = (*WITHDRAWAL_FACTS, "reason_code")
UNMET_REASONS: tuple[str, ...] = get_args(UnmetReason)


class NotShareable(ValueError):
    """A fact is outside the vocabulary that may be shared. Names the field, never the value."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is not a shareable value")
        self.field = field


def shareable_facts(facts: ReferralFacts, case_key: bytes) -> dict[str, Any]:
    """The allow-listed facts, checked; raises ``NotShareable`` for anything else."""
    district = facts.district
    if district is not None and region_of(district) != facts.region:
        raise NotShareable("district")
    return {
        "referral_id": _identifier("referral_id", facts.referral_id),
        "case_reference": case_reference(case_key, _identifier("case_id", facts.case_id)),
        "needs": [_member("needs", n, SERVICE_TYPES) for n in facts.needs],
        "urgency": _member("urgency", facts.urgency, URGENCIES),
        "categories": [_member("categories", c, CATEGORIES) for c in facts.categories],
        "region": _member("region", facts.region, REGIONS),
        "district": district,
        "sex": _member("sex", facts.sex, SEXES),
        "age_band": _member("age_band", facts.age_band, AGE_BANDS),
        "language": _member("language", facts.language, LANGUAGES),
        "disability": bool(facts.disability),
        "reason_code": None
        if facts.unmet_reason is None
        else _member("reason_code", facts.unmet_reason, UNMET_REASONS),
    }


def referral_actions(
    recipient_kind: str, referral_id: str, template: str = ""
) -> dict[str, dict[str, str]]:
    """How the recipient acts on the referral through the referral service's API."""
    if template in WITHDRAWAL_TEMPLATES:  # the referral is gone for it: only confirm
        path = f"/referrals/{referral_id}/data-deleted"
        return {"confirm_deletion": {"method": "POST", "path": path}}
    actions = {"view": {"method": "GET", "path": f"/referrals/{referral_id}"}}
    if recipient_kind == "provider":
        actions["accept"] = {"method": "POST", "path": f"/referrals/{referral_id}/accept"}
        actions["decline"] = {"method": "POST", "path": f"/referrals/{referral_id}/decline"}
    return actions


def build_notification(
    plan: NotificationPlan,
    *,
    notification_id: str,
    now: datetime,
    case_key: bytes,
    templates: TemplateSet,
    schema_base: str = SCHEMA_PATH,
) -> dict[str, Any]:
    """The CloudEvent for ``plan``; ``notification_id`` is its id on every attempt.
    ``schema_base``: where the notification schemas are published (``shared.envelope``)."""
    facts = shareable_facts(plan.facts, case_key)
    if plan.template in WITHDRAWAL_TEMPLATES:
        facts = {k: facts[k] for k in WITHDRAWAL_FACTS}
    elif plan.template == UNMET_TEMPLATE:
        facts = {k: facts[k] for k in UNMET_FACTS}
    else:
        facts.pop("reason_code")  # only an unmet need's notification carries one
    text, text_language = templates.render(plan.template, plan.language, facts)
    type_name = NOTIFICATION_TYPES[plan.recipient_kind]
    return {
        "specversion": "1.0",
        "id": _identifier("notification_id", notification_id),
        "source": SOURCE,
        "type": type_name,
        "subject": facts["referral_id"],
        "time": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": dataschema_for(type_name, schema_base),
        "data": {
            "kind": plan.template,
            **facts,
            "actions": referral_actions(plan.recipient_kind, facts["referral_id"], plan.template),
            "message": {"language": text_language, "text": text},
        },
    }


TRANSFER_TEMPLATES = (
    "transfer_requested",
    "transfer_accepted",
    "transfer_refused",
    "transfer_expired",
)


def _case_facts(template: str, facts: dict[str, Any]) -> dict[str, Any]:
    if template == "reflection_period_ending":
        return {
            "days_left": int(facts["days_left"]),
            "ends_on": date.fromisoformat(str(facts["ends_on"])).isoformat(),
        }
    if template in ("plan_goal_due", "follow_up_due"):
        return {
            "days_left": int(facts["days_left"]),
            "due_on": date.fromisoformat(str(facts["due_on"])).isoformat(),
        }
    if template in TRANSFER_TEMPLATES:
        # The reference is all: the receiving side answers in its list; the sending side
        # hears the outcome (never who answered, the reason, or where the case went).
        return {}
    if template == "emergency_access_granted":
        until = datetime.fromisoformat(str(facts["until"])).astimezone(UTC)
        return {
            "role": _member("role", str(facts["role"]), ("caseworker", "supervisor")),
            "until": until.isoformat(timespec="minutes").replace("+00:00", "Z"),
        }
    raise NotShareable("template")


def _member(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise NotShareable(field)
    return value


def _identifier(field: str, value: str) -> str:
    if not _ID.match(value):
        raise NotShareable(field)
    return value


def build_case_notification(
    *,
    template: str,
    recipient_kind: str,
    language: str,
    case_id: str,
    facts: dict[str, Any],
    notification_id: str,
    now: datetime,
    case_key: bytes,
    templates: TemplateSet,
    schema_base: str = SCHEMA_PATH,
) -> dict[str, Any]:
    """A notification about a case rather than a referral: the pseudonymous case
    reference, the allow-listed facts of its kind, a ``find_case`` action, the message.
    Never the case id.

    - ``reflection_period_ending``: ``days_left``, ``ends_on`` (ISO date);
    - ``plan_goal_due``, ``follow_up_due``: ``days_left``, ``due_on`` (ISO date), never
      which goal or follow-up (its id could be anything a caseworker typed);
    - ``emergency_access_granted``: ``role`` (caseworker or supervisor), ``until``
      (ISO date-time, UTC).
    """
    reference = case_reference(case_key, _identifier("case_id", case_id))
    checked = _case_facts(template, facts)
    fields = {"case_reference": reference, **checked}
    text, text_language = templates.render(template, language, fields)
    type_name = NOTIFICATION_TYPES[recipient_kind]
    return {
        "specversion": "1.0",
        "id": _identifier("notification_id", notification_id),
        "source": SOURCE,
        "type": type_name,
        "subject": reference,
        "time": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": dataschema_for(type_name, schema_base),
        "data": {
            "kind": template,
            "case_reference": reference,
            **checked,
            "actions": {"find_case": {"method": "GET", "path": f"/cases/by-reference/{reference}"}},
            "message": {"language": text_language, "text": text},
        },
    }
