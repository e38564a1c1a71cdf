-- The recovery and reflection period (docs/case-domain.md): when each running period
-- ends, written in the transaction of each append (services/case/app/reflection.py). The
-- reflection timer reads it, so a restart neither loses nor repeats a reminder: what it
-- already decided is in the case's events. Rebuildable from the events alone.
CREATE TABLE "case".reflection_period (
    case_id     text PRIMARY KEY,
    ends_at     timestamptz NOT NULL,
    running     boolean NOT NULL,
    version     integer NOT NULL
);
CREATE INDEX reflection_period_running ON "case".reflection_period (ends_at) WHERE running;
