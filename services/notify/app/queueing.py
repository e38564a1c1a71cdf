"""From a referral event to queued notifications, in the consumer's transaction.

The notification id is derived from the causing event's id and the recipient, so a
referral event handled twice (even one that slipped past the inbox) queues the same
notification, which the delivery record then refuses to queue again.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg

from services.notify.app.directory import DirectoryViews, recipient_token
from services.notify.app.records import Records
from services.notify.app.transfer_senders import TransferSenders
from services.notify.domain import (
    NotificationPlan,
    NotShareable,
    TemplateSet,
    build_notification,
    who_hears_what,
)
from services.notify.domain.delivery import DeliveryRecord, QueueNotification
from services.notify.domain.payload import build_case_notification
from services.notify.domain.referral_facts import (
    NOTIFIED_EVENTS,
    Answer,
    Deletion,
    RoutingAttempt,
    facts_of_answer,
    facts_of_attempt,
    facts_of_deletion,
    facts_of_unmet,
)
from shared.case_scope import SCOPE_EVENT_TYPES, CaseScopes
from shared.envelope import Envelope, schema_base
from shared.events import registry
from shared.events.base import Event
from shared.events.case import CaseOpened, CaseTransferred, ReferralRequested
from shared.events.case_emergency import EmergencyAccessGranted
from shared.events.case_plan import DueDateReminderDue
from shared.events.case_reflection import ReflectionPeriodReminderDue
from shared.events.case_transfer import (
    CaseTransferAccepted,
    CaseTransferExpired,
    CaseTransferRefused,
    CaseTransferRequested,
)
from shared.events.notify import RecipientKind, TemplateName
from shared.events.referral import DIRECTORY_EVENTS, ReferralClosedUnmet
from shared.logging import get_logger

log = get_logger("safepath.notify")

NOTIFICATION_NAMESPACE = uuid.UUID("6f1c8f0e-5b7a-4c1e-9d62-7a0b3f1e2d44")
# What ``notify-referrals`` reads from the referral stream: the events somebody hears
# about, and the directory (the only way notify learns providers and coordinators).
REFERRAL_STREAM_EVENTS: tuple[type[Event], ...] = (*NOTIFIED_EVENTS, *DIRECTORY_EVENTS)
# The caseworker to tell, and the case's scope (who may read a referral's notifications).
# And what the caseworker must be reminded of about the case itself (no referral).
CASE_STREAM_EVENTS: tuple[type[Event], ...] = tuple(
    m
    for m in registry.models("case")
    if m.name()
    in {
        "CaseOpened",
        "CaseTransferred",
        "ReferralRequested",
        "ReflectionPeriodReminderDue",
        "DueDateReminderDue",
        "EmergencyAccessGranted",
        "CaseTransferRequested",
        "CaseTransferAccepted",
        "CaseTransferRefused",
        "CaseTransferExpired",
        *SCOPE_EVENT_TYPES,
    }
)


def notification_id_for(cause_id: str, recipient_kind: str, recipient_id: str) -> str:
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{cause_id}|{recipient_kind}|{recipient_id}"))


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Queueing:
    def __init__(
        self,
        records: Records,
        views: DirectoryViews,
        templates: TemplateSet,
        case_key: bytes,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.records = records
        self.views = views
        self.templates = templates
        self.case_key = case_key
        self.clock = clock
        self.scopes = CaseScopes(records.store.schema)
        self.senders = TransferSenders(records.store.schema)

    # -- consumers (IdempotentConsumer ``apply`` functions) -------------------------------

    async def on_referral_event(
        self, conn: asyncpg.Connection, env: Envelope, event: Event
    ) -> None:
        if isinstance(event, DIRECTORY_EVENTS):
            await self.views.apply_directory_event(conn, event)
            return
        if isinstance(event, RoutingAttempt):
            facts = facts_of_attempt(event)
            await self.views.keep_facts(conn, facts)
        elif isinstance(event, Answer):  # these do not repeat the routing facts
            attempt = await self.views.facts_of(conn, event.referral_id)
            if attempt is None:
                log.warning("referral_facts_unknown", event_type=event.name())
                return
            facts = facts_of_answer(event, attempt)
        elif isinstance(event, Deletion):  # names its providers; facts of the last attempt
            attempt = await self.views.facts_of(conn, event.referral_id)
            if attempt is None:
                log.warning("referral_facts_unknown", event_type=event.name())
                return
            facts = facts_of_deletion(event, attempt)
        elif isinstance(event, ReferralClosedUnmet):  # the caseworker hears the decision
            attempt = await self.views.facts_of(conn, event.referral_id)
            if attempt is None:
                log.warning("referral_facts_unknown", event_type=event.name())
                return
            facts = facts_of_unmet(event, attempt)
        else:
            return
        providers = tuple(event.provider_ids) if isinstance(event, Deletion) else ()
        contacts = await self.views.contacts_for(conn, facts, providers)
        for plan in who_hears_what(event, facts, contacts):
            await self.queue(conn, plan, cause_id=env.id, correlation_id=env.correlationid)

    async def on_case_event(self, conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
        await self.scopes.record(conn, env.subject, env.streamversion, event)
        if isinstance(event, CaseTransferred):
            await self.views.set_caseworker(conn, env.subject, event.to_caseworker)
        elif isinstance(event, CaseOpened | ReferralRequested):
            await self.views.set_caseworker(conn, env.subject, event.caseworker)
        elif isinstance(event, ReflectionPeriodReminderDue):
            await self.remind_reflection(conn, env, event)
        elif isinstance(event, DueDateReminderDue):
            await self.remind_due_date(conn, env, event)
        elif isinstance(event, EmergencyAccessGranted):
            await self.alert_emergency_access(conn, env, event)
        elif isinstance(event, CaseTransferRequested):
            await self.senders.keep(conn, env, event)
            await self.ask_receiving_side(conn, env, event)
        elif isinstance(event, CaseTransferAccepted | CaseTransferRefused | CaseTransferExpired):
            await self.tell_sending_side(conn, env, event)

    async def ask_receiving_side(
        self, conn: asyncpg.Connection, env: Envelope, event: CaseTransferRequested
    ) -> str | None:
        """Tell the receiving side of a transfer that a case waits for its answer: the
        caseworker the request names, else the receiving office's supervisors."""
        kind: RecipientKind
        if event.to_caseworker is not None:
            kind, recipient = "caseworker", recipient_token(event.to_caseworker)
        else:
            office = event.to_office or event.from_office
            if office is None:
                log.warning("transfer_without_receiving_office")
                return None
            kind, recipient = "supervisor", recipient_token(office)
        return await self._queue_about_case(
            conn,
            env,
            template="transfer_requested",
            recipient_kind=kind,
            recipient_id=recipient,
            language=await self.views.language_of(conn, kind, recipient),
            facts={},
        )

    async def tell_sending_side(
        self,
        conn: asyncpg.Connection,
        env: Envelope,
        event: CaseTransferAccepted | CaseTransferRefused | CaseTransferExpired,
    ) -> str | None:
        """Tell whoever asked for the transfer how it ended (``transfer_senders.py``), in
        their language: the case reference and the outcome only."""
        sender = await self.senders.sender(conn, env.subject, event.transfer_id)
        if sender is None:
            log.warning("transfer_answer_without_request", event_type=event.name())
            return None
        kind, recipient = sender
        template: TemplateName
        if isinstance(event, CaseTransferAccepted):
            template = "transfer_accepted"
        elif isinstance(event, CaseTransferRefused):
            template = "transfer_refused"
        else:
            template = "transfer_expired"
        return await self._queue_about_case(
            conn,
            env,
            template=template,
            recipient_kind=kind,
            recipient_id=recipient,
            language=await self.views.language_of(conn, kind, recipient),
            facts={},
        )

    async def alert_emergency_access(
        self, conn: asyncpg.Connection, env: Envelope, event: EmergencyAccessGranted
    ) -> str | None:
        """Tell the owning office's supervisors at once that someone outside the office
        opened one of its cases (break the glass): its reference, the role, until when."""
        office = event.owning_office
        recipient = recipient_token(office) if office else f"region-{event.owning_region}"
        return await self._queue_about_case(
            conn,
            env,
            template="emergency_access_granted",
            recipient_kind="supervisor",
            recipient_id=recipient,
            language=await self.views.language_of(conn, "supervisor", recipient),
            facts={"role": event.role, "until": event.expires_at.isoformat()},
        )

    async def remind_reflection(
        self, conn: asyncpg.Connection, env: Envelope, event: ReflectionPeriodReminderDue
    ) -> str | None:
        """Tell the case's caseworker (as notify knows it now) that the recovery and
        reflection period ends soon: a notification about the case, no referral."""
        contact = await self.views.caseworker_of(conn, env.subject)
        if contact is None:
            log.warning("reflection_reminder_without_caseworker")
            return None
        days_left = max(0, math.ceil((event.ends_at - env.time) / timedelta(days=1)))
        return await self._queue_about_case(
            conn,
            env,
            template="reflection_period_ending",
            recipient_kind="caseworker",
            recipient_id=contact.id,
            language=contact.language,
            facts={"days_left": days_left, "ends_on": event.ends_at.date().isoformat()},
        )

    async def remind_due_date(
        self, conn: asyncpg.Connection, env: Envelope, event: DueDateReminderDue
    ) -> str | None:
        """Tell the case's caseworker (as notify knows it now, in their language) that a
        goal of the plan or a follow-up is due: the case reference, the date, the days
        left; not which goal (the caseworker sees that in the case)."""
        contact = await self.views.caseworker_of(conn, env.subject)
        if contact is None:
            log.warning("due_date_reminder_without_caseworker")
            return None
        days_left = max(0, (event.due_on - env.time.date()).days)
        return await self._queue_about_case(
            conn,
            env,
            template="plan_goal_due" if event.kind == "plan_goal" else "follow_up_due",
            recipient_kind="caseworker",
            recipient_id=contact.id,
            language=contact.language,
            facts={"days_left": days_left, "due_on": event.due_on.isoformat()},
        )

    async def _queue_about_case(
        self,
        conn: asyncpg.Connection,
        env: Envelope,
        *,
        template: TemplateName,
        recipient_kind: RecipientKind,
        recipient_id: str,
        language: str,
        facts: dict[str, object],
    ) -> str | None:
        """Queue a notification about the case ``env`` belongs to (NotificationQueued v2,
        no referral), once per event and recipient."""
        case_id = env.subject
        nid = notification_id_for(env.id, recipient_kind, recipient_id)
        now = self.clock()
        try:
            cloudevent = build_case_notification(
                template=template,
                recipient_kind=recipient_kind,
                language=language,
                case_id=case_id,
                facts=dict(facts),
                notification_id=nid,
                now=now,
                case_key=self.case_key,
                templates=self.templates,
                schema_base=schema_base(),
            )
        except NotShareable as e:
            log.warning("notification_not_shareable", field=e.field, cause_id=env.id)
            return None
        command = QueueNotification(
            notification_id=nid,
            referral_id=None,
            case_id=case_id,
            recipient_kind=recipient_kind,
            recipient_id=recipient_id,
            channels=("nats",),
            template=template,
            language=cloudevent["data"]["message"]["language"],
            notification=cloudevent,
        )
        await self.records.record(
            conn, nid, command, now, correlation_id=env.correlationid, causation_id=env.id
        )
        log.info("notification_queued", notification_id=nid, template=template)
        return nid

    # -- queueing ---------------------------------------------------------------------------

    async def queue(
        self,
        conn: asyncpg.Connection,
        plan: NotificationPlan,
        *,
        cause_id: str,
        correlation_id: str,
    ) -> str | None:
        """Queue ``plan``'s notification; its id, or None when a fact may not be shared."""
        if plan.recipient_kind == "caseworker":
            plan = replace(plan, recipient_id=recipient_token(plan.recipient_id))
        nid = notification_id_for(cause_id, plan.recipient_kind, plan.recipient_id)
        now = self.clock()
        try:
            cloudevent = build_notification(
                plan,
                notification_id=nid,
                now=now,
                case_key=self.case_key,
                templates=self.templates,
                schema_base=schema_base(),
            )
        except NotShareable as e:
            # Names the field only: its value may be exactly what must not be shared.
            log.warning("notification_not_shareable", field=e.field, cause_id=cause_id)
            return None
        command = QueueNotification(
            notification_id=nid,
            referral_id=cloudevent["data"]["referral_id"],
            case_id=plan.facts.case_id,
            recipient_kind=plan.recipient_kind,
            recipient_id=plan.recipient_id,
            channels=plan.channels,
            template=plan.template,
            language=cloudevent["data"]["message"]["language"],
            notification=cloudevent,
        )
        await self.records.record(
            conn, nid, command, now, correlation_id=correlation_id, causation_id=cause_id
        )
        log.info(
            "notification_queued",
            notification_id=nid,
            recipient_kind=plan.recipient_kind,
            template=plan.template,
            channels=list(plan.channels),
        )
        return nid

    async def alert_unreachable(
        self,
        conn: asyncpg.Connection,
        record: DeliveryRecord,
        *,
        cause_id: str,
        correlation_id: str,
    ) -> list[str]:
        """Tell the category coordinators that a provider's notification was dead-lettered."""
        if record.recipient_kind != "provider" or record.referral_id is None:
            return []
        facts = await self.views.facts_of(conn, record.referral_id)
        if facts is None:
            return []
        contacts = await self.views.contacts_for(conn, facts)
        queued = []
        for c in {c.id: c for c in contacts.coordinators.values()}.values():
            plan = NotificationPlan(
                recipient_kind="coordinator",
                recipient_id=c.id,
                template="provider_unreachable",
                language=c.language,
                channels=("nats",),
                facts=facts,
            )
            nid = await self.queue(conn, plan, cause_id=cause_id, correlation_id=correlation_id)
            if nid is not None:
                queued.append(nid)
        return queued
