"""Events of the notify service: one delivery record per notification.

The stream id (CloudEvents ``subject``) is the notification id, which is also the id of
the CloudEvent the recipient receives, stable across retries so receivers can
deduplicate. The events repeat it because delivery history is read per notification
and per referral without the envelope at hand.

Nothing here identifies a survivor: the queued ``notification`` is the allow-listed
CloudEvent built by ``services.notify.domain.payload`` (routing facts and a
pseudonymous case reference), and failure reasons are codes, never free text.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from shared.events.base import Event
from shared.events.registry import registry
from shared.events.vocabulary import Language

# ``supervisor``: an office's supervisors (from NotificationQueued v2), told at once when
# someone outside the office opens one of its cases in an emergency.
RecipientKind = Literal["provider", "coordinator", "caseworker", "supervisor"]
Channel = Literal["nats", "webhook"]

# Transport failures that never reached an HTTP status (or a JetStream ack).
ErrorKind = Literal[
    "timeout",
    "connection_refused",
    "connection_error",
    "tls_error",
    "no_responders",
    "invalid_endpoint",
]

# Why a notification was given up on (a code, so no free text can leak through it).
FailureReason = Literal["attempts_exhausted", "rejected"]

TemplateName = Literal[
    "new_referral",
    "referral_escalated",
    "referral_unroutable",
    "referral_accepted",
    "referral_declined",
    "service_completed",
    "service_outcome_recorded",  # to the caseworker, who confirms it (closes the loop)
    "need_unmet",  # to the caseworker: the coordinator decided no provider exists (a reason)
    "provider_unreachable",  # to the coordinator: a provider's notification was dead-lettered
    # After a withdrawal (docs/notify.md): every provider that received the referral must
    # stop and delete; the silent ones are reminded, then their coordinator is told.
    "referral_withdrawn",
    "data_deletion_reminder",
    "data_deletion_overdue",
    # About a case, not a referral (NotificationQueued v2): to the case's caseworker.
    "reflection_period_ending",
    "emergency_access_granted",  # to the owning office's supervisors: break the glass
    "transfer_requested",  # to the receiving side of a transfer: answer it (issue 13 item 7)
    # To the sending side (whoever asked): the receiving side's answer, or no answer in time.
    "transfer_accepted",
    "transfer_refused",
    "transfer_expired",
    # To the case's caseworker: a goal of the plan, or a follow-up, is due (issue 13 item 4).
    "plan_goal_due",
    "follow_up_due",
]

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
# Who asked for a redelivery: an account subject and role, never a narrative.
Requester = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Channels = Annotated[tuple[Channel, ...], Field(min_length=1, max_length=2)]


@registry.register
class NotificationQueued(Event):
    """Someone must hear about a referral (or, from v2, about a case: ``referral_id`` is
    None, e.g. a reflection period ending); the notification is ready to deliver."""

    service = "notify"
    version = 2

    notification_id: Identifier
    referral_id: Identifier | None
    case_id: Identifier  # so the case timeline can show it; not identifying by itself
    recipient_kind: RecipientKind
    recipient_id: Identifier
    channels: Channels
    template: TemplateName
    language: Language  # the language the message text was rendered in
    notification: dict[str, Any]  # the CloudEvent delivered, identical on every attempt

    @model_validator(mode="after")
    def _channels_distinct(self) -> NotificationQueued:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must be distinct")
        return self


@registry.upcaster("notify", "NotificationQueued", 1)
def _queued_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 was always about a referral: the same fields, ``referral_id`` always set."""
    return dict(data)


@registry.register
class DeliveryAttempted(Event):
    """One try on one channel: an HTTP status, or the transport error that prevented one."""

    service = "notify"

    notification_id: Identifier
    channel: Channel
    attempt: Annotated[int, Field(ge=1)]  # counts every try on this channel, across redeliveries
    status_code: Annotated[int, Field(ge=100, le=599)] | None = None
    error_kind: ErrorKind | None = None
    latency_ms: Annotated[float, Field(ge=0)]
    succeeded: bool

    @model_validator(mode="after")
    def _status_or_error(self) -> DeliveryAttempted:
        if self.status_code is not None and self.error_kind is not None:
            raise ValueError("an attempt has a status code or an error kind, not both")
        if self.succeeded and self.error_kind is not None:
            raise ValueError("an attempt with a transport error cannot have succeeded")
        return self


@registry.register
class NotificationDelivered(Event):
    """The recipient's channel took the notification (2xx, or a JetStream ack)."""

    service = "notify"

    notification_id: Identifier
    channel: Channel
    attempt: Annotated[int, Field(ge=1)]


@registry.register
class NotificationFailed(Event):
    """Given up on a channel: dead-lettered until an operator asks for redelivery."""

    service = "notify"

    notification_id: Identifier
    channel: Channel
    reason: FailureReason
    attempts: Annotated[int, Field(ge=0)]
    last_status_code: Annotated[int, Field(ge=100, le=599)] | None = None
    last_error_kind: ErrorKind | None = None


@registry.register
class NotificationRedeliveryRequested(Event):
    """An operator replays a dead-lettered notification; its failed channels start again."""

    service = "notify"

    notification_id: Identifier
    requested_by: Requester
    channels: Channels
