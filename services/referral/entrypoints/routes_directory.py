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
    actor_of,
    correlation_id,
    run_write,
    runtime,
    service,
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


async def _snapshot(request: Request) -> tuple[DirectoryView, dict[str, int]]:
    svc = service(request)
    async with runtime(request).pool.acquire() as conn:
        view, _ = await svc.cache.current(conn)
        return view, await places_in_use(conn, svc.cache.store.schema)


@router.get(
    "/directory/providers",
    summary="Every provider, with suspension and places in use",
    responses=problem_responses(401, 403),
    dependencies=[Depends(require_roles(*READERS))],
)
async def list_providers(request: Request) -> list[DirectoryEntry]:
    view, in_use = await _snapshot(request)
    return [_entry(view, in_use, pid) for pid in sorted(view.providers)]


@router.get(
    "/directory/providers/{provider_id}",
    summary="One provider",
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(require_roles(*READERS))],
)
async def get_provider(request: Request, provider_id: ProviderId) -> DirectoryEntry:
    view, in_use = await _snapshot(request)
    if provider_id not in view.providers:
        raise not_found("No such provider.")
    return _entry(view, in_use, provider_id)


async def _change(
    request: Request,
    principal: Principal,
    key: str | None,
    body: Any,
    command: DirectoryCommand,
    status: int = 200,
) -> JSONResponse:
    svc = service(request)
    pid = command.provider.id if isinstance(command, Register | Update) else command.provider_id

    async def work(conn: Any) -> tuple[int, Any, dict[str, str]]:
        view = await change_directory(
            conn, svc.cache, command, actor_of(principal), correlation_id(request)
        )
        in_use = await places_in_use(conn, svc.cache.store.schema)
        return status, _entry(view, in_use, pid), {}

    return await run_write(request, principal, key, body, work)


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
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, principal, idempotency_key, body, Register(body), 201)


@router.put(
    "/directory/providers/{provider_id}",
    response_model=DirectoryEntry,
    summary="Replace a provider's entry (ProviderUpdated)",
    responses=_WRITE_ERRORS,
    dependencies=_ADMIN,
)
async def update_provider(
    request: Request, provider_id: ProviderId, body: Provider, principal: CurrentPrincipal
) -> JSONResponse:
    if body.id != provider_id:
        raise unprocessable("The entry's id must be the provider id of the URL.")
    return await _change(request, principal, None, body, Update(body))


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
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = Suspend(provider_id, body.reason_code)
    return await _change(request, principal, idempotency_key, body, cmd)


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
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, principal, idempotency_key, None, Reinstate(provider_id))


@router.put(
    "/directory/providers/{provider_id}/capacity",
    response_model=DirectoryEntry,
    summary="Set places (CapacityChanged): admin, or the provider itself",
    responses=_WRITE_ERRORS,
    dependencies=[Depends(require_roles("admin", "provider"))],
)
async def set_capacity(
    request: Request, provider_id: ProviderId, body: CapacityIn, principal: CurrentPrincipal
) -> JSONResponse:
    if principal.role == "provider" and principal.provider_id != provider_id:
        raise forbidden("A provider may only set its own capacity.")
    return await _change(request, principal, None, body, SetCapacity(provider_id, body.capacity))
