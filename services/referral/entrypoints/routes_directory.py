"""Directory routes: admins keep the directory; a provider may set its own capacity.

Every change is one directory event (none when it changes nothing), so routing can be
replayed against the directory as it was.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from services.referral.app.directory_admin import (
    DirectoryCommand,
    Register,
    Reinstate,
    SetCapacity,
    Suspend,
    Update,
    change_directory,
)
from services.referral.app.directory_store import places_in_use
from services.referral.domain.directory_view import DirectoryView
from services.referral.entrypoints.deps import (
    IdempotencyKey,
    ReferralService,
    Service,
    actor_of,
    correlation_id,
)
from services.referral.entrypoints.schemas import CapacityIn, DirectoryEntry, SuspendIn
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.events.referral import Provider
from shared.problems import forbidden, not_found, problem_responses, unprocessable

router = APIRouter(tags=["directory"])
READERS = ("caseworker", "supervisor", "auditor", "admin")
ProviderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]
_ADMIN = [Depends(require_roles("admin"))]
_WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422)


def _entry(view: DirectoryView, in_use: dict[str, int], pid: str) -> DirectoryEntry:
    return DirectoryEntry(
        provider=view.providers[pid],
        suspended=pid in view.suspended,
        places_in_use=in_use.get(pid, 0),
    )


async def _snapshot(svc: ReferralService) -> tuple[DirectoryView, dict[str, int]]:
    async with svc.pool.acquire() as conn:
        view, _ = await svc.cache.current(conn)
        return view, await places_in_use(conn, svc.cache.store.schema)


@router.get(
    "/directory/providers",
    summary="Every provider, with suspension and places in use",
    responses=problem_responses(401, 403),
    dependencies=[Depends(require_roles(*READERS))],
)
async def list_providers(svc: Service) -> list[DirectoryEntry]:
    view, in_use = await _snapshot(svc)
    return [_entry(view, in_use, pid) for pid in sorted(view.providers)]


@router.get(
    "/directory/providers/{provider_id}",
    summary="One provider",
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(require_roles(*READERS))],
)
async def get_provider(provider_id: ProviderId, svc: Service) -> DirectoryEntry:
    view, in_use = await _snapshot(svc)
    if provider_id not in view.providers:
        raise not_found("No such provider.")
    return _entry(view, in_use, provider_id)


async def _change(
    request: Request,
    svc: ReferralService,
    principal: Principal,
    key: str | None,
    body: Any,
    command: DirectoryCommand,
    status: int = 200,
) -> JSONResponse:
    pid = command.provider.id if isinstance(command, Register | Update) else command.provider_id

    async def work(conn: Any) -> tuple[int, Any, dict[str, str]]:
        view = await change_directory(
            conn, svc.cache, command, actor_of(principal), correlation_id(request)
        )
        in_use = await places_in_use(conn, svc.cache.store.schema)
        return status, _entry(view, in_use, pid), {}

    return await svc.http.run(request, principal, key, body, work)


@router.post(
    "/directory/providers",
    status_code=201,
    response_model=DirectoryEntry,
    summary="Register a provider (ProviderRegistered)",
    responses=_WRITE_ERRORS,
    dependencies=_ADMIN,
)
async def register_provider(
    request: Request,
    body: Provider,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, svc, principal, idempotency_key, body, Register(body), 201)


@router.put(
    "/directory/providers/{provider_id}",
    response_model=DirectoryEntry,
    summary="Replace a provider's entry (ProviderUpdated)",
    responses=_WRITE_ERRORS,
    dependencies=_ADMIN,
)
async def update_provider(
    request: Request,
    provider_id: ProviderId,
    body: Provider,
    principal: CurrentPrincipal,
    svc: Service,
) -> JSONResponse:
    if body.id != provider_id:
        raise unprocessable("The entry's id must be the provider id of the URL.")
    return await _change(request, svc, principal, None, body, Update(body))


@router.post(
    "/directory/providers/{provider_id}/suspend",
    response_model=DirectoryEntry,
    summary="Suspend: routing skips it (ProviderSuspended)",
    responses=_WRITE_ERRORS,
    dependencies=_ADMIN,
)
async def suspend_provider(
    request: Request,
    provider_id: ProviderId,
    body: SuspendIn,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = Suspend(provider_id, body.reason_code)
    return await _change(request, svc, principal, idempotency_key, body, cmd)


@router.post(
    "/directory/providers/{provider_id}/reinstate",
    response_model=DirectoryEntry,
    summary="Reinstate a suspended provider (ProviderReinstated)",
    responses=_WRITE_ERRORS,
    dependencies=_ADMIN,
)
async def reinstate_provider(
    request: Request,
    provider_id: ProviderId,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = Reinstate(provider_id)
    return await _change(request, svc, principal, idempotency_key, None, cmd)


@router.put(
    "/directory/providers/{provider_id}/capacity",
    response_model=DirectoryEntry,
    summary="Set places (CapacityChanged): admin, or the provider itself",
    responses=_WRITE_ERRORS,
    dependencies=[Depends(require_roles("admin", "provider"))],
)
async def set_capacity(
    request: Request,
    provider_id: ProviderId,
    body: CapacityIn,
    principal: CurrentPrincipal,
    svc: Service,
) -> JSONResponse:
    if principal.role == "provider" and principal.provider_id != provider_id:
        raise forbidden("A provider may only set its own capacity.")
    cmd = SetCapacity(provider_id, body.capacity)
    return await _change(request, svc, principal, None, body, cmd)
