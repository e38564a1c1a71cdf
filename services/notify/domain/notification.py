"""The notification a recipient receives, as a schema: what ``payload.build_notification``
writes, published with the event schemas (``docs/schemas/org.safepath.notify.*Notification
.v1.json``) so a provider can validate what arrives on its subject or webhook."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.events.notify import TemplateName
from shared.events.referral import UnmetReason
from shared.events.vocabulary import AgeBand, Category, Language, Region, ServiceType, Sex, Urgency

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class Action(BaseModel):
    """How to act on the referral through the referral service's API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["GET", "POST"]
    path: str


class Message(BaseModel):
    """The message text, rendered from the same checked facts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: Language
    text: str


class NotificationData(BaseModel):
    """The allow-listed facts of a referral: no name, contact or case id, ever.

    A withdrawal (``referral_withdrawn``, ``data_deletion_reminder``) carries only the
    referral id, case reference and needs: the routing facts are absent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TemplateName
    referral_id: Identifier | None = Field(
        None, description="The referral; absent when the notification is about a case."
    )
    case_reference: Annotated[
        str,
        StringConstraints(pattern=r"^SP-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$"),
        Field(description="A keyed hash of the case id (the case id never leaves)."),
    ]
    needs: list[ServiceType] | None = None
    urgency: Urgency | None = None
    categories: list[Category] | None = None
    region: Region | None = None
    district: str | None = None
    sex: Sex | None = None
    age_band: AgeBand | None = None
    language: Language | None = None
    disability: bool | None = None
    # A reflection period ending (``reflection_period_ending``): when, and in how many days.
    ends_on: date | None = None
    days_left: Annotated[int, Field(ge=0)] | None = None
    # A goal or a follow-up due (``plan_goal_due``, ``follow_up_due``): on which day (with
    # ``days_left``); which goal or follow-up is for the caseworker to see in the case.
    due_on: date | None = None
    # Break the glass (``emergency_access_granted``): who opened it (a role) and until when.
    role: Literal["caseworker", "supervisor"] | None = None
    until: AwareDatetime | None = None
    # A need left unmet (``need_unmet``): the coordinator's reason, a code.
    reason_code: UnmetReason | None = None
    actions: dict[Literal["view", "accept", "decline", "confirm_deletion", "find_case"], Action]
    message: Message


class Notification(BaseModel):
    """A CloudEvents 1.0 structured-mode notification (type names the recipient kind)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"]
    id: Identifier = Field(description="The notification id, the same on every attempt.")
    source: Literal["safepath/notify"]
    type: Literal[
        "org.safepath.notify.ProviderNotification.v1",
        "org.safepath.notify.CoordinatorNotification.v1",
        "org.safepath.notify.CaseworkerNotification.v1",
        "org.safepath.notify.SupervisorNotification.v1",
    ]
    subject: Identifier = Field(
        description="The referral id (for a notification about a case: its case reference)."
    )
    time: AwareDatetime
    datacontenttype: Literal["application/json"]
    dataschema: str
    data: NotificationData
