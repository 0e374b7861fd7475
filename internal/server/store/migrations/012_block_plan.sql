-- The block rotation plan (issue 18): rotations a resident does for a whole academic block
-- (inpatient, clinic, elective, night float, vacation, ...), with per-block capacities and PGY
-- eligibility, and the plan putting each resident on one rotation per block. A template may
-- belong to a rotation: the daily schedule places a resident only on the templates of the
-- rotation the plan gives them that day, or on templates of no rotation (so programs without a
-- plan schedule as before).
CREATE TABLE rotations (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind               text NOT NULL CHECK (kind IN ('inpatient', 'clinic', 'elective', 'night_float', 'vacation', 'icu',
                           'emergency', 'consult', 'research', 'other')),
    min_residents      integer NOT NULL DEFAULT 0 CHECK (min_residents >= 0),
    max_residents      integer NOT NULL CHECK (max_residents >= min_residents AND max_residents <= 1000),
    allowed_pgy_levels integer[] NOT NULL DEFAULT '{}' CHECK (allowed_pgy_levels <@ ARRAY[1, 2, 3, 4, 5, 6, 7, 8]),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX rotations_name_key ON rotations (lower(name));

-- A rotation in use by a template or a plan cannot be deleted.
ALTER TABLE rotation_templates ADD COLUMN rotation_id uuid REFERENCES rotations (id) ON DELETE RESTRICT;

-- One rotation per resident and block. start_date and end_date are the block's days
-- (roster.AcademicYear.Blocks), stored so the scheduler reads a date range's plan directly.
CREATE TABLE block_assignments (
    id            uuid PRIMARY KEY,
    person_id     uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    academic_year integer NOT NULL CHECK (academic_year BETWEEN 2000 AND 2200),
    block_number  integer NOT NULL CHECK (block_number BETWEEN 0 AND 13),
    rotation_id   uuid NOT NULL REFERENCES rotations (id) ON DELETE RESTRICT,
    start_date    date NOT NULL,
    end_date      date NOT NULL CHECK (end_date >= start_date),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (person_id, academic_year, block_number)
);
CREATE INDEX block_assignments_dates ON block_assignments (start_date, end_date);
CREATE INDEX block_assignments_rotation ON block_assignments (rotation_id);
