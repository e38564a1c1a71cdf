"""Why a command was refused.

Every error has a stable machine ``code`` (for problem+json ``type``/``code``) and a human
``message``. Messages name only ids, statuses and vocabulary values: never identifying data,
which the domain only ever holds sealed anyway.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A command that the case, as it stands, cannot accept. Nothing was decided."""

    code: ClassVar[str] = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CaseNotFound(DomainError):
    code = "case_not_found"

    def __init__(self) -> None:
        super().__init__("no such case")


class CaseAlreadyExists(DomainError):
    code = "case_already_exists"

    def __init__(self) -> None:
        super().__init__("a case with this id already exists")


class CaseClosedError(DomainError):
    code = "case_closed"

    def __init__(self, action: str) -> None:
        super().__init__(f"the case is closed: cannot {action}; reopen it first")


class InvalidTransition(DomainError):
    """The command makes no sense from the case's current state."""

    code = "invalid_transition"


class ProfileRequired(DomainError):
    code = "profile_required"

    def __init__(self, action: str) -> None:
        super().__init__(f"record the survivor profile before you {action}")


class ProfileAlreadyRecorded(DomainError):
    code = "profile_already_recorded"

    def __init__(self) -> None:
        super().__init__("the profile is already recorded; update it instead")


class ConsentRequired(DomainError):
    """No active consent covers what would be shared."""

    code = "consent_required"


class EmergencyReasonRequired(ConsentRequired):
    code = "emergency_reason_required"

    def __init__(self) -> None:
        super().__init__(
            "no active consent covers these needs; an emergency referral without consent "
            "needs a recorded emergency reason"
        )


class InvalidConsent(DomainError):
    code = "invalid_consent"


class ConsentAlreadyExists(DomainError):
    code = "consent_already_exists"

    def __init__(self, consent_id: str) -> None:
        super().__init__(f"consent {consent_id} is already recorded")


class ConsentNotFound(DomainError):
    code = "consent_not_found"

    def __init__(self, consent_id: str) -> None:
        super().__init__(f"no consent {consent_id} on this case")


class ConsentAlreadyWithdrawn(DomainError):
    code = "consent_already_withdrawn"

    def __init__(self, consent_id: str) -> None:
        super().__init__(f"consent {consent_id} is already withdrawn")


class ReferralAlreadyRequested(DomainError):
    code = "referral_already_requested"

    def __init__(self, referral_id: str) -> None:
        super().__init__(f"referral {referral_id} was already requested")


class NoteAlreadyAdded(DomainError):
    code = "note_already_added"

    def __init__(self, note_id: str) -> None:
        super().__init__(f"note {note_id} was already added")


class IdentityErasedError(DomainError):
    code = "identity_erased"

    def __init__(self, action: str) -> None:
        super().__init__(f"the survivor's identity was erased: cannot {action}")


class CorruptStream(Exception):
    """The stored events cannot be a case (e.g. an event before ``CaseOpened``).

    Not a ``DomainError``: this is a bug or tampering, not a refused command.
    """
