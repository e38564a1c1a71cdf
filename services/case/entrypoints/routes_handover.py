"""Handover: the provider that accepted reads what the consent lets it (app/handover.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from services.case.app.handover import HandoverNotConsented, NoHandover, read_handover
from services.case.app.reading import record_access
from services.case.entrypoints.deps import Service
from shared.auth import CurrentPrincipal, require_roles
from shared.problems import ProblemError, not_found, problem_responses

router = APIRouter(tags=["handover"])
ENDPOINT = "GET /referrals/{referral_id}/handover"
ReferralId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


class HandoverOut(BaseModel):
    """Exactly the fields of the consented categories (``identity``: given and family
    name; ``contact``: the contact arrangement). Never over the bus, always recorded."""

    referral_id: str
    categories: list[str]
    given_name: str | None = Field(None, description="With `identity`.")
    family_name: str | None = Field(None, description="With `identity`.")
    contact_arrangement: str | None = Field(None, description="With `contact`.")


@router.get(
    "/referrals/{referral_id}/handover",
    summary="The accepting provider reads who is arriving, within the survivor's consent",
    dependencies=[Depends(require_roles("provider"))],
    response_model=HandoverOut,
    response_model_exclude_unset=True,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_handover(
    request: Request, referral_id: ReferralId, principal: CurrentPrincipal, svc: Service
) -> HandoverOut:
    assert principal.provider_id is not None  # a provider token always names it
    try:
        handover = await read_handover(
            svc.pool,
            svc.store,
            svc.writes.keys.get,
            principal.provider_id,
            referral_id,
            svc.clock(),
        )
    except NoHandover:
        raise not_found("No such referral.") from None
    except HandoverNotConsented as e:
        raise ProblemError(
            403, detail=e.detail, type_suffix="not-consented", extra={"missing": list(e.missing)}
        ) from None
    # Recorded before the data leaves: no record, no response. The access log names the
    # provider with the account that read: "<provider id>/<subject>".
    reader = replace(principal, sub=f"{principal.provider_id}/{principal.sub}")
    await record_access(
        svc.store,
        handover.case,
        handover.case_id,
        reader,
        [f"handover.{name}" for name in handover.fields],
        ENDPOINT,
        request.state.correlation_id,
        svc.clock,
    )
    return HandoverOut(
        referral_id=referral_id, categories=list(handover.categories), **handover.fields
    )
