"""NRM identification: a presumption first, then a conclusive decision either way.

- no decision yet → any status (a competent authority may decide before anyone presumed);
- presumed → identified or not_identified;
- a conclusive decision → the other one (a review or appeal reverses it);
- a conclusive decision → presumed only after the case was closed and reopened since that
  decision (new indicators, e.g. the person was trafficked again);
- recording the status the case already has is refused (it would decide nothing).
"""

from __future__ import annotations

from services.case.domain.errors import InvalidTransition
from services.case.domain.state import Case
from shared.events.case import IdentificationStatus


def check_identification(state: Case, status: IdentificationStatus) -> None:
    current = state.identification
    if current == status:
        raise InvalidTransition(f"identification is already {status}")
    conclusive = current in ("identified", "not_identified")
    if conclusive and status == "presumed" and not state.reopened_since_identification:
        raise InvalidTransition(
            f"identification is {current}: a new presumption needs the case reopened first"
        )
