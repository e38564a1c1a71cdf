-- The case timeline in arrival order, and the case's own events in it.
-- 0002_record.sql created case_timeline for the events received from the referral and
-- notify services; the case's own events are now inserted in the transaction of their
-- append (services/case/app/timeline.py: record_own_events), so the history is one query.
-- ``seq`` orders entries that share a time (events one command decides share a time).
ALTER TABLE {schema}.case_timeline ADD COLUMN seq bigserial;
CREATE INDEX case_timeline_case_order ON {schema}.case_timeline (case_id, occurred_at, seq);

-- Backfill: the case events appended before this migration (never the access-* streams:
-- reads are in the access log, not the history).
INSERT INTO {schema}.case_timeline (event_id, case_id, service, event_type, occurred_at, actor,
        stream_id, stream_version, correlation_id, causation_id, data)
    SELECT event_id, stream_id, 'case', event_type, occurred_at, metadata->>'actor',
           stream_id, stream_version, metadata->>'correlationid', metadata->>'causationid', data
    FROM {schema}.event
    WHERE event_type LIKE 'org.safepath.case.%' AND stream_id NOT LIKE 'access-%'
    ORDER BY global_position
    ON CONFLICT (event_id) DO NOTHING;
