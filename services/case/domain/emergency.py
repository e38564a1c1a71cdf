"""Break the glass: emergency access to a case outside one's scope (pure rules).

- Only a caseworker or supervisor, with a written reason (sealed by the app layer), for a
  limited time (the app passes ``expires_at`` from the setting).
- No renewal: while the person's grant is still running a new one is refused; once it
  has expired, a new grant needs a new reason.
- A grant opens reading only (the case view and its history); every read of identifying
  fields is still recorded as an access, and the grant itself is in the case's record.
Whether the caller is outside the case's scope (else there is nothing to break) is the
app layer's check: scope is not the domain's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.case.domain.errors import DomainError, InvalidTransition
from services.case.domain.state import Case
from shared.events.base import Event, Sealed
from shared.events.case import Identifier, Subject
from shared.events.case_emergency import EmergencyAccessGranted, EmergencyRole


class EmergencyAccessActive(DomainError):
    """The caller's emergency access is still running: no renewal."""

    code = "emergency_access_active"

    def __init__(self) -> None:
        super().__init__(
            "your emergency access to this case is still running; once it has expired a new"
            " one needs a new reason"
        )


class BreakGlass(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    grant_id: Identifier
    who: Subject
    role: EmergencyRole
    reason: Sealed
    expires_at: AwareDatetime


def decide_emergency(state: Case, command: BreakGlass, now: datetime) -> list[Event]:
    if command.expires_at <= now:
        raise InvalidTransition("emergency access must end after now")
    if has_emergency_access(state, command.who, now):
        raise EmergencyAccessActive()
    return [
        EmergencyAccessGranted(
            grant_id=command.grant_id,
            who=command.who,
            role=command.role,
            reason=command.reason,
            expires_at=command.expires_at,
            owning_office=state.office,
            owning_region=state.region,
        )
    ]


def has_emergency_access(state: Case, who: str, now: datetime) -> bool:
    """Whether ``who`` holds a running grant on the case at ``now``."""
    return any(w == who and now < until for w, until in state.emergency_grants)


def evolve_emergency(state: Case, event: Event) -> Case | None:
    """The case after a grant; None for any other event."""
    if isinstance(event, EmergencyAccessGranted):
        grants = (*state.emergency_grants, (event.who, event.expires_at))
        return replace(state, emergency_grants=grants)
    return None
