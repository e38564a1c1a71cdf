"""Break the glass (issue 13, docs/case-domain.md): someone outside a case's scope opens it
in an emergency, for a short time, with a written reason (sealed: it may name the person)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from shared.events.base import Event, Sealed
from shared.events.case import Identifier, Office, Subject
from shared.events.registry import registry
from shared.events.vocabulary import Region

EmergencyRole = Literal["caseworker", "supervisor"]


@registry.register
class EmergencyAccessGranted(Event):
    """``who`` (``role``) may read the case until ``expires_at``, although it is outside
    their scope. ``owning_office``/``owning_region``: whose supervisors are told at once."""

    service = "case"

    grant_id: Identifier
    who: Subject
    role: EmergencyRole
    reason: Sealed  # the written reason, under the case key
    expires_at: AwareDatetime
    owning_office: Office | None
    owning_region: Region
