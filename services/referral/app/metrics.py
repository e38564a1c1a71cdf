"""The referral service's own gauges, read when ``/metrics`` is scraped
(``shared/metrics.py``): referrals awaiting a provider's answer, and those past their
answer time, by urgency, from the ``referral_view`` read model."""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args

from shared.events.vocabulary import Urgency
from shared.metrics import REFERRALS_AWAITING, REFERRALS_OVERDUE, scrape_probe
from shared.migrations import quote_ident

if TYPE_CHECKING:
    from shared.runtime import Runtime

URGENCIES: tuple[str, ...] = get_args(Urgency)


@scrape_probe("referral", "referrals")
async def referrals_awaiting(rt: Runtime) -> None:
    rows = await rt.pool.fetch(
        "SELECT urgency, count(*) AS awaiting,"
        " count(*) FILTER (WHERE respond_by <= now()) AS overdue"
        f" FROM {quote_ident(rt.store.schema)}.referral_view"
        " WHERE status = 'awaiting_answer' GROUP BY urgency"
    )
    found = {r["urgency"]: r for r in rows}
    for urgency in sorted({*URGENCIES, *found}):
        row = found.get(urgency)
        REFERRALS_AWAITING.labels(urgency).set(row["awaiting"] if row else 0)
        REFERRALS_OVERDUE.labels(urgency).set(row["overdue"] if row else 0)
