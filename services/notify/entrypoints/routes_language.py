"""Recipients' own language for their notifications (issue 13 item 8, docs/notify.md).

Providers' languages come from the directory. A caseworker sets its own; the supervisors
of an office (or, without an office claim, of a region) set their office's; an admin sets
anyone's, coordinators' included (a coordinator token names no coordinator id yet).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict

from services.notify.app.directory import recipient_token
from services.notify.app.service import Notify
from shared.app import service_dependency
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.problems import forbidden, problem_responses

router = APIRouter(tags=["notifications"])
Parts = Annotated[Notify, Depends(service_dependency(Notify))]
Kind = Literal["caseworker", "supervisor", "coordinator"]
RecipientId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
]
TemplateLanguage = Literal["tg", "ru", "en"]


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: TemplateLanguage


class LanguageOut(BaseModel):
    recipient_kind: Kind
    recipient_id: str
    language: str


def _own(principal: Principal, kind: str, recipient_id: str) -> bool:
    if principal.role == "admin":
        return True
    if principal.role == "caseworker" and kind == "caseworker":
        return recipient_id == recipient_token(principal.sub)
    if principal.role == "supervisor" and kind == "supervisor":
        mine = (
            recipient_token(principal.office) if principal.office else f"region-{principal.region}"
        )
        return recipient_id == mine
    return False


_ROLES = [Depends(require_roles("caseworker", "supervisor", "admin"))]


@router.put(
    "/recipients/{kind}/{recipient_id}/language",
    summary="Set the language a caseworker, an office's supervisors or a coordinator is told in",
    dependencies=_ROLES,
    responses=problem_responses(401, 403, 422),
)
async def put_language(
    kind: Kind, recipient_id: RecipientId, body: LanguageIn, principal: CurrentPrincipal, n: Parts
) -> LanguageOut:
    if not _own(principal, kind, recipient_id):
        raise forbidden("You may set only your own language (an admin sets anyone's).")
    async with n.pool.acquire() as conn:
        await n.views.set_language(conn, kind, recipient_id, body.language)
    return LanguageOut(recipient_kind=kind, recipient_id=recipient_id, language=body.language)


@router.get(
    "/recipients/{kind}/{recipient_id}/language",
    summary="The language a recipient is told in",
    dependencies=_ROLES,
    responses=problem_responses(401, 403, 422),
)
async def get_language(
    kind: Kind, recipient_id: RecipientId, principal: CurrentPrincipal, n: Parts
) -> LanguageOut:
    if not _own(principal, kind, recipient_id):
        raise forbidden("You may read only your own language (an admin reads anyone's).")
    async with n.pool.acquire() as conn:
        language = await n.views.language_of(conn, kind, recipient_id)
    return LanguageOut(recipient_kind=kind, recipient_id=recipient_id, language=language)
