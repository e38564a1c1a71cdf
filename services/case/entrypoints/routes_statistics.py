"""Statistics for the national bodies: tables, charts and reports (docs/statistics.md).

Read-only aggregates of clear fields, small cells hidden; every route needs one of
``STATISTICS_ROLES`` and answers over the caller's region when the role is regional.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from services.case.app.statistics import charts, exports, reports
from services.case.app.statistics.catalogue import (
    MAX_MONTHS,
    MEASURES,
    NOT_YET_AVAILABLE,
    MeasureName,
)
from services.case.app.statistics.query import Question, answer
from services.case.app.statistics.scope import STATISTICS_ROLES, NoScope, region_scope
from services.case.app.statistics.tables import publish, rule_text
from services.case.entrypoints.deps import CaseService, Service
from services.case.entrypoints.schemas_statistics import ReportParams, StatisticsParams
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.problems import forbidden, problem_responses

router = APIRouter(tags=["statistics"], dependencies=[Depends(require_roles(*STATISTICS_ROLES))])
ERRORS = problem_responses(401, 403, 422)


def _scope(principal: Principal) -> str | None:
    try:
        return region_scope(principal)
    except NoScope:
        raise forbidden("This token has no region to read statistics for.") from None


async def _table(
    svc: CaseService, principal: Principal, measure: str, params: StatisticsParams
) -> dict[str, Any]:
    params.check_for(measure)
    scope = _scope(principal)
    k = params.threshold(svc.settings.statistics_min_cell)
    first, last = params.months(svc.clock().date())
    q = Question(
        measure=measure,
        rows=params.rows,
        columns=params.columns,
        first_month=first,
        last_month=last,
        as_of=params.as_of,
        filters=params.filters(),
        region_scope=scope,
    )
    return publish(q, await answer(svc.pool, q), k)


@router.get("/statistics", summary="What the statistics can answer", responses=ERRORS)
async def catalogue(principal: CurrentPrincipal, svc: Service) -> dict[str, Any]:
    return {
        "measures": [
            {
                "name": m.name,
                "unit": m.unit,
                "description": m.description,
                "dimensions": list(m.dimensions),
                "href": f"/statistics/{m.name}",
            }
            for m in MEASURES.values()
        ],
        "not_yet_available": [{"name": n, "reason": r} for n, r in NOT_YET_AVAILABLE.items()],
        "reports": [
            {"name": n, "title": r.title, "href": f"/reports/{n}"}
            for n, r in reports.REPORTS.items()
        ],
        "scope": {"region": _scope(principal)},
        "suppression": {
            "k": svc.settings.statistics_min_cell,
            "rule": rule_text(svc.settings.statistics_min_cell),
        },
        "max_months": MAX_MONTHS,
    }


@router.get(
    "/statistics/{measure}",
    summary="A table of one measure by one or two dimensions, small cells hidden",
    responses=ERRORS,
)
async def statistics(
    measure: MeasureName,
    params: Annotated[StatisticsParams, Query()],
    principal: CurrentPrincipal,
    svc: Service,
) -> dict[str, Any]:
    return await _table(svc, principal, measure, params)


@router.get(
    "/statistics/{measure}/chart.svg",
    summary="The same table as an SVG chart (bars; a line by month; tiles by district)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **ERRORS},
)
async def chart(
    measure: MeasureName,
    params: Annotated[StatisticsParams, Query()],
    principal: CurrentPrincipal,
    svc: Service,
) -> Response:
    table = await _table(svc, principal, measure, params)
    return Response(
        charts.render(table),
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


@router.get(
    "/reports/{report}",
    summary="A ready-made report (JSON, CSV or XLSX) with period, scope and suppression rule",
    response_model=None,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        },
        **ERRORS,
    },
)
async def report(
    report: reports.ReportName,
    params: Annotated[ReportParams, Query()],
    principal: CurrentPrincipal,
    svc: Service,
) -> dict[str, Any] | Response:
    scope = _scope(principal)
    k = params.threshold(svc.settings.statistics_min_cell)
    first, last = params.months(svc.clock().date())
    built = await reports.build(svc.pool, report, first, last, params.as_of, scope, k)
    if params.format == "json":
        return built
    name = f"safepath-{report}-{first:%Y-%m}-{last:%Y-%m}"
    if params.format == "csv":
        return Response(
            exports.to_csv(built),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        exports.to_xlsx(built),
        media_type=exports.XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
