-- The case plan's dates the due-date timer reminds of (issue 13 item 4,
-- docs/case-domain.md "The case plan"): one row per goal or follow-up, written in the
-- transaction of each append (services/case/app/due_dates.py). ``open``: a goal still open
-- with a date, a follow-up not done; ``reminded_days``: the nearest reminder setting
-- decided for ``due_on`` (the decision itself is in the case's events, so a restart
-- neither loses nor repeats one); ``case_open``: false while the case is closed or erased.
-- Rebuildable from the events alone (safepath replay --projection due_date).
CREATE TABLE "case".due_date (
    case_id        text NOT NULL,
    kind           text NOT NULL,
    item_id        text NOT NULL,
    due_on         date,
    open           boolean NOT NULL,
    reminded_days  integer,
    case_open      boolean NOT NULL DEFAULT true,
    version        integer NOT NULL,
    PRIMARY KEY (case_id, kind, item_id)
);
CREATE INDEX due_date_chase ON "case".due_date (due_on) WHERE open AND case_open;
