"""A follow-up service on a long-term need (pure; issue 13 item 4, docs/case-domain.md).

A prosthesis is fitted, then repaired, then replaced over years: each is a new referral
request on the same need that names the earlier referral it follows up. The rules:

- the earlier referral is one of **this** case's (a referral of another case, or one never
  heard of, is the same "no such referral of this case": nothing says it exists);
- the new request is for the earlier referral's need alone;
- the earlier referral is completed (the provider completed it or recorded an outcome):
  a follow-up of a service still under way is refused (409), nothing recorded.

What became of a referral is the referral service's; the case service knows it from the
events it received (``case_referral_status``), which the app passes in as
``EarlierReferral``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from services.case.domain.errors import DomainError
from services.case.domain.state import Case
from shared.events.vocabulary import ServiceType


class EarlierReferral(BaseModel):
    """What the case service received about the referral a request follows up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    referral_id: str  # one need's referral id
    request_id: str | None  # the case's request it came from
    need: ServiceType | None
    status: str  # as the case shows it (docs/routing.md): "completed" once done


class InvalidFollowUpService(DomainError):
    """The follow-up names no referral of this case, or another need; ``field`` names the
    offending field of the request."""

    code = "invalid_follow_up_service"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EarlierReferralNotCompleted(DomainError):
    code = "earlier_referral_not_completed"

    def __init__(self) -> None:
        super().__init__(
            "the earlier referral is not completed: a follow-up service follows a service"
            " that was delivered or whose outcome was recorded"
        )


def check_follow_up_service(
    state: Case,
    follows_up: str | None,
    earlier: EarlierReferral | None,
    needs: Sequence[ServiceType],
) -> None:
    """Raise when a request naming ``follows_up`` breaks a rule (nothing to check without)."""
    if follows_up is None:
        return
    own = earlier is not None and earlier.referral_id == follows_up
    if not own or earlier is None or state.referral(earlier.request_id or "") is None:
        raise InvalidFollowUpService("follows_up", "no referral of this case has that id")
    if earlier.need is None or list(needs) != [earlier.need]:
        raise InvalidFollowUpService(
            "needs", f"a follow-up service is for the earlier referral's need alone: {earlier.need}"
        )
    if earlier.status != "completed":
        raise EarlierReferralNotCompleted()
