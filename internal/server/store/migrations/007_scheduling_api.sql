-- What the scheduling API adds to 006.
--
-- A run in progress beats a heartbeat while it solves: a run whose server died stops beating,
-- and the next request over its range closes it as abandoned instead of being refused for ever.
ALTER TABLE schedule_runs ADD COLUMN heartbeat_at timestamptz;
-- The people a filtered run rescheduled (NULL: everyone); the others' half-days were kept.
ALTER TABLE schedule_runs ADD COLUMN scope uuid[];
-- The violations a finished run found, as the API lists them (hard ones first).
ALTER TABLE schedule_runs ADD COLUMN violation_list jsonb;
-- Who asked for an absence to be reviewed sees who reviewed it; the review's note is not kept.
CREATE INDEX absences_by_status ON absences (status, start_date);
CREATE INDEX assignments_by_person ON assignments (person_id, date);
