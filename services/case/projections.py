"""Read models of the case service that ``safepath replay`` can rebuild from the events.

``case_summary`` (the list endpoint) is a pure fold of the case's own events. The
history's entries from other services (``case_timeline``) and the referral statuses are
what this service *received*; they are rebuilt by replaying those services' streams to
its consumers (delete the consumer's inbox rows and its durable consumer), not from the
case store, so they are not listed here. ``statistics`` (docs/statistics.md) is rebuilt
from the case store and, for its referral facts, from the received events the timeline
recorded, and its provider kinds from the directory events received
(``received_directory_event``). ``reflection_period`` (the ends the reflection timer
chases) is a fold of the case's own events, replayed through its live
``project_reflection``; ``due_date`` (the plan's dates the due-date timer chases)
likewise through ``project_due_dates``.
"""

from __future__ import annotations

from services.case.app import due_dates, reflection, transfers
from services.case.app.projection import REBUILD_COLUMNS, TABLE, project, rebuild_fold
from services.case.app.statistics import model as stats
from shared.projections import Projection, Rebuild

PROJECTIONS: dict[str, Projection] = {
    # ``project`` defines the table (the live path); the rebuild folds set-based, to the
    # same rows (tests/integration/case/test_replay.py).
    "case_summary": Projection(
        "case_summary", (TABLE,), project, Rebuild(REBUILD_COLUMNS, rebuild_fold)
    ),
    # The statistics (docs/statistics.md): the case events folded set-based (to the same
    # rows as ``project``), the referral facts derived again from the received events the
    # timeline recorded (alongside, on a connection of their own), all the facts written
    # with their case's dimensions (settle), then the referral rows from all the facts.
    "statistics": Projection(
        "statistics",
        stats.TABLES,
        stats.project,
        Rebuild(stats.REBUILD_COLUMNS, stats.rebuild_fold),
        finish=stats.finish_rebuild,
        alongside=stats.derive_received,
        settle=stats.settle_rebuild,
        settle_indexes=stats.CASE_INDEXES,
        indexes=stats.INDEXES,
    ),
    # The periods the reflection timer chases: few events, so replayed through the live
    # upserts (tests/integration/case/test_reflection_period.py).
    "reflection_period": Projection(
        "reflection_period", (reflection.TABLE,), reflection.project_reflection
    ),
    # The plan's dates the due-date timer chases, the same way
    # (tests/integration/case/test_due_date_reminders.py).
    "due_date": Projection("due_date", (due_dates.TABLE,), due_dates.project_due_dates),
    # Transfers waiting for the receiving side (GET /transfers/incoming), the same way.
    "transfer_request": Projection(
        "transfer_request", (transfers.TABLE,), transfers.project_transfers
    ),
}
