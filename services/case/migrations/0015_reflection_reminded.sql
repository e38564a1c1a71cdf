-- The reflection timer loads only the cases with a reminder (or the end) due now
-- (services/case/app/reflection.py), as the due-date timer does: the nearest reminder
-- setting already decided for the current end, from ReflectionPeriodReminderDue (NULL:
-- none yet, or the period was extended since). Rows from before this column fill in as
-- their next reminder is decided; a rebuild (safepath replay --projection
-- reflection_period) fills them from the events at once.
ALTER TABLE "case".reflection_period ADD COLUMN reminded_days integer;
