"""HTTP API: webhook registration, dead letters, redelivery, a referral's notifications."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.notify.app.reading import dead_letters, referral_in_scope, referral_notifications
from services.notify.app.service import Notify
from services.notify.app.subjects import check_provider_id
from services.notify.domain.delivery import NotDeadLettered, RequestRedelivery
from services.notify.domain.webhook_url import UnsafeWebhookUrl, vet_webhook_url
from services.notify.entrypoints.schemas import (
    DeadLetters,
    RedeliveryAccepted,
    ReferralNotifications,
    WebhookRegistration,
    WebhookView,
)
from shared.app import service_dependency
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.envelope import Actor
from shared.events.notify import NotificationRedeliveryRequested
from shared.eventstore import ConcurrencyError
from shared.http_writes import IdempotencyKey, Redact, respond_once
from shared.problems import (
    ProblemError,
    ProblemFieldError,
    conflict,
    forbidden,
    not_found,
    problem_responses,
    unprocessable,
)

router = APIRouter(tags=["notifications"])

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


Parts = Annotated[Notify, Depends(service_dependency(Notify))]


async def _once(
    request: Request,
    n: Notify,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    work: Any,
    redact: Redact | None = None,
) -> JSONResponse:
    """Run ``work(conn) -> (status, model)`` once per Idempotency-Key; ``redact``: what is
    kept of the response for a retry."""

    async def with_headers(conn: Any) -> tuple[int, BaseModel, dict[str, str]]:
        status, model = await work(conn)
        return status, model, {}

    def unmapped(e: Exception) -> Exception:
        return e  # the handlers' own errors are already problems or surface as 500

    return await respond_once(
        request,
        n.pool,
        n.records.store.schema,
        principal,
        key,
        body,
        with_headers,
        unmapped,
        redact=redact,
    )


def _without_secret(body: dict[str, Any]) -> dict[str, Any]:
    """A registration as kept for a retry: the secret is shown once, never stored with it."""
    return {**body, "secret": None}


@router.put(
    "/providers/{provider_id}/webhook",
    response_model=WebhookView,
    status_code=200,
    summary="Register or change a provider's webhook; rotate its signing secret",
    responses={
        201: {"model": WebhookView, "description": "Registered (first time)."},
        **problem_responses(401, 403, 404, 422),
    },
)
async def put_webhook(
    request: Request,
    provider_id: Annotated[str, Path(max_length=64)],
    body: WebhookRegistration,
    principal: Annotated[Principal, Depends(require_roles("provider", "admin"))],
    n: Parts,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    try:
        check_provider_id(provider_id)
    except ValueError:
        raise not_found("No such provider.") from None
    if principal.role == "provider" and principal.provider_id != provider_id:
        raise forbidden("A provider may set only its own webhook.")
    try:
        vet_webhook_url(body.url, environment=n.environment, allow_hosts=n.settings.allow_hosts)
    except UnsafeWebhookUrl as e:
        # The reason names the rule, never the URL (see services/notify/domain/webhook_url.py).
        raise unprocessable(
            "The webhook URL may not be used; nothing was changed.",
            [ProblemFieldError(path="body.url", message=e.message, type=e.code)],
        ) from None

    async def work(conn: Any) -> tuple[int, WebhookView]:
        if not await n.views.provider_known(conn, provider_id):
            raise not_found("No such provider.")
        now = n.clock()
        reg = await n.webhooks.register(
            conn,
            provider_id,
            body.url,
            rotate_secret=body.rotate,
            now=now,
            overlap=timedelta(hours=n.settings.secret_overlap_hours),
        )
        view = WebhookView(
            provider_id=provider_id,
            url=body.url,
            secret=reg.new_secret,
            active_secrets=reg.active_secrets,
            previous_secrets_expire_at=reg.previous_expire_at,
        )
        return (201 if reg.created else 200), view

    return await _once(request, n, principal, idempotency_key, body, work, _without_secret)


@router.get(
    "/notifications/dead-letters",
    response_model=DeadLetters,
    summary="Notifications given up on, per channel (oldest first)",
    responses=problem_responses(401, 403),
)
async def get_dead_letters(
    _: Annotated[Principal, Depends(require_roles("admin"))],
    n: Parts,
) -> DeadLetters:
    async with n.pool.acquire() as conn:
        return DeadLetters(dead_letters=await dead_letters(conn, n.records.store.schema))


@router.post(
    "/notifications/{notification_id}/redeliver",
    response_model=RedeliveryAccepted,
    status_code=202,
    summary="Replay a dead-lettered notification on its failed channels",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def redeliver(
    request: Request,
    notification_id: Id,
    principal: Annotated[Principal, Depends(require_roles("admin"))],
    n: Parts,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    actor = Actor(sub=principal.sub, role=principal.role)
    cid = getattr(request.state, "correlation_id", notification_id)

    async def work(conn: Any) -> tuple[int, RedeliveryAccepted]:
        if (await n.records.current(conn, notification_id)).notification_id is None:
            raise not_found("No such notification.")
        command = RequestRedelivery(notification_id, requested_by=actor.encode())
        try:
            recorded = await n.records.record(
                conn, notification_id, command, n.clock(), correlation_id=cid, actor=actor
            )
        except NotDeadLettered as e:
            raise ProblemError(409, "Conflict", str(e), type_suffix="not-dead-lettered") from None
        except ConcurrencyError as e:
            raise conflict(e.actual, "The notification changed meanwhile; try again.") from None
        event = recorded[0][1]
        assert isinstance(event, NotificationRedeliveryRequested)
        return 202, RedeliveryAccepted(
            notification_id=notification_id, channels=list(event.channels)
        )

    return await _once(request, n, principal, idempotency_key, None, work)


@router.get(
    "/referrals/{referral_id}/notifications",
    response_model=ReferralNotifications,
    summary="Who was told about a referral, and every delivery attempt",
    responses=problem_responses(401, 403, 404),
)
async def get_referral_notifications(
    referral_id: Id,
    principal: CurrentPrincipal,
    n: Parts,
) -> ReferralNotifications:
    if principal.role not in ("caseworker", "supervisor", "auditor", "admin", "provider"):
        raise forbidden()
    schema = n.records.store.schema
    only = principal.provider_id if principal.role == "provider" else None
    async with n.pool.acquire() as conn:
        # Case roles: the referral's scope, on its case as it stands now (as for the referral).
        if only is None and not await referral_in_scope(conn, schema, referral_id, principal):
            raise not_found("No notifications for this referral.")
        items = await referral_notifications(conn, schema, referral_id, provider_id=only)
    if not items:
        raise not_found("No notifications for this referral.")
    return ReferralNotifications(referral_id=referral_id, notifications=items)
