"""Why a referral command was refused. Messages carry ids and states only, never a person."""

from __future__ import annotations

from typing import ClassVar


class ReferralError(Exception):
    """Base of refused referral commands; ``code`` is stable for problem+json."""

    code: ClassVar[str] = "referral_error"


class ReferralNotFound(ReferralError):
    """No such referral (HTTP 404)."""

    code = "referral_not_found"

    def __init__(self, referral_id: str) -> None:
        super().__init__(f"referral {referral_id} not found")


class NotAssignedProvider(ReferralError):
    """The provider does not hold this referral. Shown as 404: it may not know it exists."""

    code = "not_assigned_provider"

    def __init__(self, referral_id: str, provider_id: str) -> None:
        super().__init__(f"referral {referral_id} is not assigned to provider {provider_id}")


class InvalidTransition(ReferralError):
    """The referral is not in a state where this step is possible (HTTP 409)."""

    code = "invalid_transition"

    def __init__(self, referral_id: str, status: str, action: str) -> None:
        self.status = status
        self.action = action
        super().__init__(f"cannot {action} referral {referral_id}: it is {status}")


class ReferralAlreadyOpened(ReferralError):
    """The referral id already belongs to another request (HTTP 409)."""

    code = "referral_already_opened"

    def __init__(self, referral_id: str) -> None:
        super().__init__(f"referral {referral_id} was opened by another request")


class NoCoordinator(ReferralError):
    """Unroutable, and the directory names no coordinator for the person's categories."""

    code = "no_coordinator"

    def __init__(self, categories: tuple[str, ...]) -> None:
        super().__init__(f"no coordinator in the directory for {', '.join(categories)}")


class ProviderNotInDirectory(ReferralError):
    """A coordinator named a provider the directory does not have (HTTP 422)."""

    code = "provider_not_in_directory"

    def __init__(self, provider_id: str) -> None:
        super().__init__(f"provider {provider_id} is not in the directory")


class CannotAssign(ReferralError):
    """Not even a coordinator may give the referral to this provider (HTTP 409): it is
    suspended, or the person's consent does not cover it."""

    code = "cannot_assign"

    def __init__(self, provider_id: str, rule: str) -> None:
        self.rule = rule
        super().__init__(f"provider {provider_id} cannot be assigned by hand: {rule}")


class OutcomeReasonRequired(ReferralError):
    """A service not (fully) delivered needs a reason code (HTTP 422)."""

    code = "outcome_reason_required"

    def __init__(self, referral_id: str) -> None:
        super().__init__(f"referral {referral_id}: an outcome other than delivered needs a reason")
