"""A raw answer to a published table: every row and column value, margins, and the
small-cell rule applied (``services/case/domain/suppression.py``). Pure.

Nothing leaves the service unsuppressed: a hidden figure has ``value: null`` and shows as
``<k`` (primary) or ``x`` (complementary, hidden so that a primary one cannot be worked
out from the totals). A duration cell (median, p90) is hidden when its count is.
"""

from __future__ import annotations

from typing import Any

from services.case.app.statistics.catalogue import (
    LIST_DIMENSIONS,
    MEASURES,
    VALUES,
    period_values,
)
from services.case.app.statistics.query import TOTAL, Question, Raw
from services.case.domain.suppression import suppress, with_margins

SUPPRESSION_RULE = (
    "Figures from 1 to {k_1} are hidden and shown as <{k}; further figures are hidden"
    " (shown as x) until no hidden figure can be worked out from the row and column"
    " totals. Zero is shown."
)


def axis(dimension: str | None, q: Question, found: set[str]) -> list[str]:
    """The values of a dimension shown in a table (vocabulary order; values found but not
    in the vocabulary are added, so the totals stay exact)."""
    if dimension is None:
        return [""]
    known = VALUES.get(dimension)
    if dimension in ("month", "quarter", "year"):
        known = period_values(dimension, q.first_month, q.last_month)
    base = list(known) if known is not None else []
    return base + sorted(found - set(base))


def rule_text(k: int) -> str:
    return SUPPRESSION_RULE.format(k=k, k_1=k - 1)


def publish(q: Question, raw: Raw, k: int) -> dict[str, Any]:
    """The table as the API returns it (see docs/statistics.md, "Answer")."""
    measure = MEASURES[q.measure]
    rows = axis(q.rows, q, {r for r, _ in raw.counts})
    cols = axis(q.columns, q, {c for _, c in raw.counts})
    counts = [[raw.counts.get((r, c), 0) for c in cols] for r in rows]
    one_dim = q.columns is None
    grid = with_margins(counts, one_dimensional=one_dim)
    hidden = suppress(grid, k)
    shown = f"<{k}"

    def cell(i: int, j: int, key: tuple[str, str]) -> dict[str, Any]:
        why = hidden.get((i, j))
        value = grid[i][j]
        out: dict[str, Any] = {
            "value": None if why else value,
            "shown": (shown if why == "primary" else "x") if why else str(value),
        }
        if why:
            out["suppressed"] = why
        if raw.durations is not None:
            _, median, p90 = raw.durations.get(key, (0, None, None))
            out["median_hours"] = None if why else median
            out["p90_hours"] = None if why else p90
        return out

    m, n = len(rows), len(cols)
    table_cells = [[cell(i, j, (rows[i], cols[j])) for j in range(n)] for i in range(m)]
    total_key = (TOTAL, TOTAL)
    answer: dict[str, Any] = {
        "measure": measure.name,
        "unit": "referrals" if measure.base == "duration" else measure.unit,
        "description": measure.description,
        "period": {
            "from": f"{q.first_month:%Y-%m}",
            "to": f"{q.last_month:%Y-%m}",
            "start": q.start.isoformat(),
            "end": q.end.isoformat(),
        },
        "as_of": None if q.as_of is None else q.as_of.isoformat(),
        "scope": {"region": q.region_scope},
        "filters": dict(sorted(q.filters.items())),
        "rows": {"dimension": q.rows, "values": rows},
        "columns": None if one_dim else {"dimension": q.columns, "values": cols},
        "cells": table_cells,
        "total": cell(m, n if not one_dim else 0, total_key),
        "suppression": {"k": k, "rule": rule_text(k)},
        "multi_valued": any(d in LIST_DIMENSIONS for d in q.dimensions),
    }
    if one_dim:
        answer["cells"] = [row[0] for row in table_cells]
    else:
        answer["row_totals"] = [cell(i, n, (rows[i], TOTAL)) for i in range(m)]
        answer["column_totals"] = [cell(m, j, (TOTAL, cols[j])) for j in range(n)]
    if raw.durations is not None:
        answer["durations_of"] = "each figure is the number of referrals measured"
    return answer
