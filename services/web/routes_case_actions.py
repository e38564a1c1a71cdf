"""The case's other changes, each a small form on its own page: the identification
decision, a note, close, reopen, transfer (and cancelling it), the reflection period's
extension, and withdrawing a consent.

Each is one call to the case API with the person's token and the form's own
Idempotency-Key; the case service decides who may (role, office, region) and whether the
case, as it stands, takes the change. A 422 lands at the fields it names; a 409 (the
case is closed, the consent already withdrawn...) is said above the form."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.web.apis import Apis
from services.web.errors import ApiProblem, FieldErrors, Gettext, field_errors
from services.web.forms import Values, form_key, text
from services.web.pages import gettext_for, redirect, render, signed_in
from services.web.security import checked_form
from services.web.vocabulary import labels

router = APIRouter()
WRITERS = ("caseworker", "supervisor", "admin")


@dataclass(frozen=True)
class Field:
    name: str  # the API's field, also the form's
    kind: str  # "select", "textarea", "number" or "text"
    words: str = ""  # the vocabulary (vocabulary.py) of a select's options
    required: bool = False


@dataclass(frozen=True)
class Action:
    key: str  # the page's path under the case, and the "done" notice on the case page
    api: str  # the API's path under /cases/{id}
    fields: tuple[Field, ...] = field(default_factory=tuple)
    back_to_list: bool = False  # after a transfer the case may be out of the person's scope


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action(
            "identification",
            "identification",
            (
                Field("status", "select", "identification", required=True),
                Field("basis", "select", "identification_basis", required=True),
                Field("deciding_agency", "select", "agency", required=True),
                Field("reason_code", "select", "not_identified_reason"),
                Field("note", "textarea"),
            ),
        ),
        Action("note", "notes", (Field("text", "textarea", required=True),)),
        Action(
            "close",
            "close",
            (Field("reason", "select", "close_reason", required=True), Field("note", "textarea")),
        ),
        Action(
            "reopen",
            "reopen",
            (Field("reason", "select", "reopen_reason", required=True), Field("note", "textarea")),
        ),
        Action(
            "transfer",
            "transfer",
            # Only a request (issue 13 item 7): the case stays until the other side accepts.
            (Field("to_caseworker", "text"), Field("to_office", "text")),
        ),
        Action(
            "reflection",
            "reflection-period/extend",
            (
                Field("days", "number", required=True),
                Field("reason_code", "select", "extension_reason", required=True),
            ),
        ),
        Action(
            "withdraw",
            "consents/{consent_id}/withdraw",
            (Field("reason_code", "select", "withdrawal_reason"),),
        ),
    )
}


def texts(_: Gettext) -> dict[str, Any]:
    """Headings, field labels and hints in the reader's language."""
    return {
        "heading": {
            "identification": _("Record an identification decision"),
            "note": _("Add a note"),
            "close": _("Close the case"),
            "reopen": _("Reopen the case"),
            "transfer": _("Request a transfer"),
            "reflection": _("Extend the recovery and reflection period"),
            "withdraw": _("Withdraw a consent"),
        },
        "intro": {
            "identification": _(
                "The decision of the competent authority on whether the person is a victim"
                " of trafficking. While the recovery and reflection period runs, only a"
                " supervisor may record “not identified”, with a reason."
            ),
            "note": _("The note is sealed: only people who may open the case can read it."),
            "close": _("A closed case takes nothing new until it is reopened."),
            "reopen": _("Reopening lets the case take needs, consents and referrals again."),
            "transfer": _(
                "Name the caseworker, the office, or both. The case stays with you until the"
                " receiving side accepts the request."
            ),
            "reflection": _(
                "Add days to the running period, with the reason. The reminders start again"
                " from the new end."
            ),
            "withdraw": _(
                "From now on nothing more is shared under this consent, and referrals made"
                " with it are withdrawn from the providers."
            ),
        },
        "field": {
            "status": _("Decision"),
            "basis": _("Basis"),
            "deciding_agency": _("Deciding agency"),
            "reason_code": _("Reason"),
            "note": _("Note for the case file (sealed)"),
            "text": _("Note (sealed)"),
            "reason": _("Reason"),
            "to_caseworker": _("To caseworker (user id)"),
            "to_office": _("To office"),
            "days": _("Days to add (1 to 365)"),
        },
        "submit": {
            "identification": _("Record the decision"),
            "note": _("Add the note"),
            "close": _("Close the case"),
            "reopen": _("Reopen the case"),
            "transfer": _("Request a transfer"),
            "reflection": _("Extend the period"),
            "withdraw": _("Withdraw the consent"),
        },
    }


def refusal(problem: ApiProblem, _: Gettext) -> str:
    """A 409's reason, by its problem type (never its English text)."""
    kind = str(problem.body.get("type", "")).rsplit("/", 1)[-1]
    messages = {
        "case_closed": _("The case is closed: reopen it first."),
        "consent_already_withdrawn": _("This consent was already withdrawn."),
        "consent_not_found": _("There is no such consent on this case."),
        "invalid_transition": _("The case, as it stands now, does not take this change."),
        "note_already_added": _("This note was already added."),
        "transfer_pending": _("A transfer of this case is already waiting for an answer."),
        "transfer_expired": _("This transfer request has expired: the case stays with you."),
        "transfer_not_pending": _(
            "This transfer is no longer waiting: it was accepted, refused or cancelled."
        ),
    }
    return messages.get(kind, _("The case, as it stands now, does not take this change."))


def body_of(action: Action, form: FormData) -> dict[str, Any]:
    """The API's JSON body: what was typed, empty fields left out (the API says
    "missing" where a field is needed)."""
    body = {}
    for f in action.fields:
        value = text(form, f.name)
        if value is not None:
            body[f.name] = value
    return body


def _page(
    request: Request,
    action: Action,
    case: dict[str, Any],
    values: Values,
    errors: FieldErrors | None = None,
    consent: dict[str, Any] | None = None,
    status: int | None = None,
) -> Response:
    _ = gettext_for(request)
    words = labels(_)
    return render(
        request,
        "case_action.html",
        http_status=status or (422 if errors else 200),
        errors=errors,
        values=values,
        case=case,
        action=action,
        consent=consent,
        words=texts(_),
        options={f.name: list(words.get(f.words, {})) for f in action.fields if f.words},
        post_to=f"/cases/{case['id']}/"
        + (f"consents/{consent['consent_id']}/withdraw" if consent else action.key),
    )


async def _case(request: Request, token: str, case_id: UUID) -> dict[str, Any]:
    apis: Apis = request.app.state.apis
    case: dict[str, Any] = await apis.call(
        token, "case", "GET", f"/cases/{case_id}", params={"identifying": "false"}
    )
    return case


def _consent(case: dict[str, Any], consent_id: UUID) -> dict[str, Any] | None:
    return next((c for c in case.get("consents", []) if c["consent_id"] == str(consent_id)), None)


async def _submit(
    request: Request, action: Action, case_id: UUID, consent_id: UUID | None = None
) -> Response:
    _session, _principal, token = signed_in(request, *WRITERS)
    form = await checked_form(request)
    apis: Apis = request.app.state.apis
    path = f"/cases/{case_id}/" + action.api.format(consent_id=consent_id)
    try:
        written = await apis.call(
            token, "case", "POST", path, json=body_of(action, form),
            idempotency_key=form_key(form),
        )  # fmt: skip
    except ApiProblem as p:
        if p.status not in (409, 422):
            raise
        _ = gettext_for(request)
        errors = field_errors(p, _) if p.status == 422 else FieldErrors(general=[refusal(p, _)])
        case = await _case(request, token, case_id)
        consent = _consent(case, consent_id) if consent_id else None
        return _page(request, action, case, Values(form), errors, consent, status=p.status)
    if action.back_to_list:
        return redirect("/cases", done=action.key)
    # A requested transfer: its id, so the case page can offer to cancel it (the case
    # view does not say which transfer is pending).
    transfer = str((written or {}).get("transfer_id") or "") if action.key == "transfer" else ""
    return redirect(f"/cases/{case_id}", done=action.key, transfer=transfer)


def _register(action: Action) -> None:
    async def show(request: Request, case_id: UUID) -> Response:
        _session, _principal, token = signed_in(request, *WRITERS)
        return _page(request, action, await _case(request, token, case_id), Values())

    async def submit(request: Request, case_id: UUID) -> Response:
        return await _submit(request, action, case_id)

    router.add_api_route(f"/cases/{{case_id}}/{action.key}", show, methods=["GET"])
    router.add_api_route(f"/cases/{{case_id}}/{action.key}", submit, methods=["POST"])


for _key in ("identification", "note", "close", "reopen", "transfer", "reflection"):
    _register(ACTIONS[_key])


@router.get("/cases/{case_id}/consents/{consent_id}/withdraw")
async def withdraw_form(request: Request, case_id: UUID, consent_id: UUID) -> Response:
    _session, _principal, token = signed_in(request, *WRITERS)
    case = await _case(request, token, case_id)
    consent = _consent(case, consent_id)
    if consent is None:
        message = gettext_for(request)("There is no such consent on this case.")
        return render(request, "error.html", http_status=404, message=message)
    return _page(request, ACTIONS["withdraw"], case, Values(), consent=consent)


@router.post("/cases/{case_id}/consents/{consent_id}/withdraw")
async def withdraw(request: Request, case_id: UUID, consent_id: UUID) -> Response:
    return await _submit(request, ACTIONS["withdraw"], case_id, consent_id)


@router.post("/cases/{case_id}/referrals/{referral_id}/confirm-outcome")
async def confirm_outcome(request: Request, case_id: UUID, referral_id: UUID) -> Response:
    """The caseworker confirms the provider's outcome: the referral loop is closed (the
    referral service checks the case is in the person's scope)."""
    _session, _principal, token = signed_in(request, *WRITERS)
    form = await checked_form(request)
    apis: Apis = request.app.state.apis
    await apis.call(
        token, "referral", "POST", f"/referrals/{referral_id}/outcome/confirm",
        idempotency_key=form_key(form),
    )  # fmt: skip
    return redirect(f"/cases/{case_id}", done="outcome_confirmed")


TRANSFER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


@router.post("/cases/{case_id}/transfers/{transfer_id}/cancel")
async def cancel_transfer(request: Request, case_id: UUID, transfer_id: str) -> Response:
    """The sender withdraws its transfer request; the case service checks that the
    caller may change the case and that this transfer is the one still waiting."""
    _session, _principal, token = signed_in(request, *WRITERS)
    form = await checked_form(request)
    if not TRANSFER_ID.fullmatch(transfer_id):
        return render(
            request,
            "error.html",
            http_status=404,
            message=gettext_for(request)("There is nothing here, or you may not see it."),
        )
    apis: Apis = request.app.state.apis
    try:
        await apis.call(
            token, "case", "POST", f"/cases/{case_id}/transfers/{transfer_id}/cancel",
            idempotency_key=form_key(form),
        )  # fmt: skip
    except ApiProblem as p:
        if p.status != 409:
            raise
        message = refusal(p, gettext_for(request))
        return render(request, "error.html", http_status=409, message=message)
    return redirect(f"/cases/{case_id}", done="transfer_cancelled")
