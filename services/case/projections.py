"""Read models of the case service that ``safepath replay`` can rebuild from the events.

``case_summary`` (the list endpoint) is a pure fold of the case's own events. The
history's entries from other services (``case_timeline``) and the referral statuses are
what this service *received*; they are rebuilt by replaying those services' streams to
its consumers (delete the consumer's inbox rows and its durable consumer), not from the
case store, so they are not listed here.
"""

from __future__ import annotations

from services.case.app.projection import TABLE, project
from shared.projections import Projection

PROJECTIONS: dict[str, Projection] = {
    "case_summary": Projection("case_summary", (TABLE,), project),
}
