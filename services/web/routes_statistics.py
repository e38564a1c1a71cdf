"""Statistics: one measure as a table and a chart, from the case service's statistics API
(issue 15), for supervisors, auditors, coordinators and admins within their scope.

The API decides the scope and hides small figures (``shown`` is ``<5`` or ``x``); this
page only chooses the question and shows the answer. The chart is the API's own SVG,
fetched with the person's token and served from this site (the page's CSP allows images
from itself only)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.apis import Apis
from services.web.errors import ApiProblem, FieldErrors, field_errors
from services.web.pages import gettext_for, render, signed_in
from services.web.statistics_words import statistics_words

router = APIRouter()
READERS = ("supervisor", "auditor", "coordinator", "admin")
NAME = re.compile(r"^[a-z_]{1,40}$")
MONTH = re.compile(r"^\d{4}-\d{2}$")
# Dimensions whose values the vocabulary words (others are shown as the API gives them).
WORDED = {
    "region": "region",
    "sex": "sex",
    "category": "category",
    "need": "need",
    "decision": "identification",
    "outcome": "status",
    "service_outcome": "outcome",
    "device": "assistive_device",
    "device_action": "device_action",
}


def _question(request: Request) -> tuple[str | None, list[tuple[str, Any]]]:
    q = request.query_params
    measure = q.get("measure") or None
    if measure is not None and not NAME.match(measure):
        measure = None
    params: list[tuple[str, Any]] = []
    for name in ("rows", "columns"):
        value = q.get(name)
        if value and NAME.match(value):
            params.append((name, value))
    for name in ("from", "to"):
        value = q.get(name)
        if value and MONTH.match(value):
            params.append((name, value))
    return measure, params


@router.get("/statistics")
async def statistics(request: Request) -> Response:
    _, _principal, token = signed_in(request, *READERS)
    apis: Apis = request.app.state.apis
    catalogue: dict[str, Any] = await apis.call(token, "case", "GET", "/statistics")
    measures = {m["name"]: m for m in catalogue.get("measures", [])}
    measure, params = _question(request)
    table = None
    errors = FieldErrors()
    if measure in measures:
        try:
            table = await apis.call(token, "case", "GET", f"/statistics/{measure}", params=params)
        except ApiProblem as p:
            if p.status != 422:
                raise
            errors = field_errors(p, gettext_for(request))
            for name in list(errors.by_field):  # query.rows -> rows
                errors.by_field[name.removeprefix("query.")] = errors.by_field.pop(name)
    chosen = dict(params)
    return render(
        request,
        "statistics.html",
        http_status=422 if errors else 200,
        errors=errors,
        catalogue=catalogue,
        measures=measures,
        measure=measure if measure in measures else "",
        chosen=chosen,
        table=table,
        chart_query=request.url.query,
        worded=WORDED,
        stats=statistics_words(gettext_for(request)),
    )


@router.get("/statistics/chart.svg")
async def chart(request: Request) -> Response:
    _, _principal, token = signed_in(request, *READERS)
    measure, params = _question(request)
    if measure is None:
        return Response(status_code=404)
    apis: Apis = request.app.state.apis
    svg = await apis.picture(token, "case", f"/statistics/{measure}/chart.svg", params)
    # The API's own policy for its SVG (no script; inline styles only), kept as it is.
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )
