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

-- The predecessor's person attributes (its People API): kept, validated and filterable. The
-- solver uses max_sessions_per_week; the others describe people for coordinators.
ALTER TABLE people ADD COLUMN performs_procedures boolean NOT NULL DEFAULT false;
ALTER TABLE people ADD COLUMN specialties text[] NOT NULL DEFAULT '{}' CHECK (cardinality(specialties) <= 20);
ALTER TABLE people ADD COLUMN primary_duty text CHECK (length(primary_duty) BETWEEN 1 AND 100);
ALTER TABLE people ADD COLUMN faculty_role text CHECK (faculty_role IN ('pd', 'apd', 'oic', 'dept_chief', 'sports_med', 'core'));
ALTER TABLE people ADD COLUMN admin_type text CHECK (length(admin_type) BETWEEN 1 AND 50);
ALTER TABLE people ADD COLUMN min_clinic_halfdays_per_week integer NOT NULL DEFAULT 0 CHECK (min_clinic_halfdays_per_week BETWEEN 0 AND 14);
-- Faculty attributes belong to faculty.
ALTER TABLE people ADD CONSTRAINT people_faculty_attributes CHECK (type = 'faculty' OR (faculty_role IS NULL AND admin_type IS NULL));
