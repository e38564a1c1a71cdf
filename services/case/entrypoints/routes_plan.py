"""The case plan (issue 13 item 4; docs/case-domain.md "The case plan").

``PUT /cases/{id}/plan/goals/{goal_id}`` sets one goal whole: the need it serves, its
wording (sealed with the case key), the responsible provider, a due date and a status.
``PUT /cases/{id}/follow-ups/{follow_up_id}`` sets a follow-up date (no reminder yet).
A goal or follow-up that breaks a plan rule is bad input: 422 naming the field, nothing appended.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import Field

from services.case.app.directory import directory_entry
from services.case.app.policy import WRITE_ROLES
from services.case.app.sealing import seal_text
from services.case.domain import Case
from services.case.domain.commands import CaseCommand
from services.case.domain.plan import (
    InvalidGoal,
    SetFollowUp,
    SetPlanGoal,
    check_follow_up,
    check_goal,
)
from services.case.entrypoints.change import Change, doc
from services.case.entrypoints.schemas import Body, CaseWritten, LongText
from shared.auth import require_roles
from shared.events.case import Identifier
from shared.events.case_plan import GoalStatus
from shared.events.vocabulary import ServiceType
from shared.problems import ProblemFieldError, unprocessable

router = APIRouter(tags=["cases"], dependencies=[Depends(require_roles(*WRITE_ROLES))])
GoalId = Annotated[
    str,
    Path(
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Chosen by the caller; the same id changes the goal.",
    ),
]


FollowUpId = Annotated[
    str,
    Path(
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Chosen by the caller; the same id changes the follow-up.",
    ),
]


def _bad(e: InvalidGoal) -> Exception:
    where = ProblemFieldError(path=f"body.{e.field}", message=e.message, type=e.code)
    return unprocessable(e.message, [where])


class FollowUpIn(Body):
    due_on: date = Field(description="New or changed: not before today.")
    note: LongText | None = Field(default=None, description="Sealed with the case key.")
    done: bool = False


class GoalIn(Body):
    need: ServiceType = Field(description="One of the case's assessed needs.")
    description: LongText | None = Field(default=None, description="Sealed with the case key.")
    provider_id: Identifier | None = Field(
        default=None,
        description="The responsible provider's directory id: new or changed, it must be"
        " in the directory, not suspended, and offer the need (once the case service has"
        " heard the directory).",
    )
    due_on: date | None = Field(default=None, description="New or changed: not before today.")
    status: GoalStatus = "open"


@router.put(
    "/cases/{case_id}/plan/goals/{goal_id}",
    **doc(200, CaseWritten, "Set a goal of the case plan (the whole goal)"),
)
async def put_goal(goal_id: GoalId, body: GoalIn, change: Change) -> JSONResponse:
    # The directory's word on the provider (public facts; checked in build, after scope).
    known, responsible = await directory_entry(change.service.pool, body.provider_id)

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        command = SetPlanGoal(
            goal_id=goal_id,
            need=body.need,
            description=None,
            provider_id=body.provider_id,
            due_on=body.due_on,
            status=body.status,
            directory_known=known,
            responsible=responsible,
        )
        try:  # before sealing: a refused goal is bad input, not a conflict
            check_goal(case, command, now.date())
        except InvalidGoal as e:
            raise _bad(e) from None
        sealed = seal_text(key, change.case_id, body.description)
        return command.model_copy(update={"description": sealed})

    return await change.run(body, build)


@router.put(
    "/cases/{case_id}/follow-ups/{follow_up_id}",
    **doc(200, CaseWritten, "Set a follow-up date on the case (the caseworker is reminded of it)"),
)
async def put_follow_up(follow_up_id: FollowUpId, body: FollowUpIn, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        command = SetFollowUp(follow_up_id=follow_up_id, due_on=body.due_on, done=body.done)
        try:
            check_follow_up(case, command, now.date())
        except InvalidGoal as e:
            raise _bad(e) from None
        return command.model_copy(update={"note": seal_text(key, change.case_id, body.note)})

    return await change.run(body, build)
