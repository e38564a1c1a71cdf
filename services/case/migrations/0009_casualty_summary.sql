-- Casualty records (persons killed, issue 14) for GET /casualties: the clear facts as
-- they stand after corrections, and the scope (region, office, recording caseworker).
-- Written in the transaction of each casualty event (services/case/app/casualties.py);
-- nothing identifying. Filled here once from the events an installation already holds.
CREATE TABLE {schema}.casualty_summary (
    casualty_id       text PRIMARY KEY,
    region            text NOT NULL,
    office            text,
    caseworker        text NOT NULL,
    sex               text NOT NULL,
    age_band          text NOT NULL,
    incident_district text NOT NULL,
    incident_year     integer,
    device_type       text NOT NULL,
    activity          text NOT NULL,
    recorded_at       timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           integer NOT NULL,
    identity_erased   boolean NOT NULL DEFAULT false
);

INSERT INTO {schema}.casualty_summary
    (casualty_id, region, office, caseworker, sex, age_band, incident_district,
     incident_year, device_type, activity, recorded_at, updated_at, version)
SELECT stream_id, data->>'region', data->>'office', data->>'caseworker', data->>'sex',
       data->>'age_band', data->>'incident_district', (data->>'incident_year')::integer,
       coalesce(data->>'device_type', 'unknown'), coalesce(data->>'activity', 'unknown'),
       occurred_at, occurred_at, stream_version
FROM {schema}.event
WHERE event_type LIKE '%.CasualtyRecorded.v%' AND stream_id LIKE 'casualty-%';

UPDATE {schema}.casualty_summary s
SET identity_erased = true, updated_at = e.occurred_at, version = e.stream_version
FROM {schema}.event e
WHERE e.stream_id = s.casualty_id AND e.event_type LIKE '%.IdentityErased.v%';
