-- The annual planner (issue 18): the program's graduation requirements and residents' rotation
-- requests, which roster.PlanAnnual weighs when it solves a year's block plan.
--
-- A requirement: a resident of pgy_level does at least min_blocks (and at most max_blocks, when
-- set) blocks of an academic year on one rotation, or on any rotation of one kind.
CREATE TABLE graduation_requirements (
    id          uuid PRIMARY KEY,
    pgy_level   integer NOT NULL CHECK (pgy_level BETWEEN 1 AND 8),
    rotation_id uuid REFERENCES rotations (id) ON DELETE RESTRICT,
    kind        text CHECK (kind IN ('inpatient', 'clinic', 'elective', 'night_float', 'vacation', 'icu',
                    'emergency', 'consult', 'research', 'other')),
    min_blocks  integer NOT NULL CHECK (min_blocks BETWEEN 0 AND 14),
    max_blocks  integer CHECK (max_blocks BETWEEN min_blocks AND 14),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((rotation_id IS NULL) <> (kind IS NULL)),
    CHECK (min_blocks > 0 OR max_blocks IS NOT NULL)
);
CREATE UNIQUE INDEX graduation_requirements_key ON graduation_requirements (pgy_level, coalesce(rotation_id::text, kind));

-- A request: a resident wishes to be on (or, avoid, not to be on) a rotation in one block, with
-- a weight 1-10. A wish is not history: it goes with its person; a rotation with requests is in use.
CREATE TABLE rotation_requests (
    id            uuid PRIMARY KEY,
    person_id     uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    academic_year integer NOT NULL CHECK (academic_year BETWEEN 2000 AND 2200),
    block_number  integer NOT NULL CHECK (block_number BETWEEN 0 AND 13),
    rotation_id   uuid NOT NULL REFERENCES rotations (id) ON DELETE RESTRICT,
    avoid         boolean NOT NULL DEFAULT false,
    weight        integer NOT NULL CHECK (weight BETWEEN 1 AND 10),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (person_id, academic_year, block_number, rotation_id)
);
CREATE INDEX rotation_requests_year ON rotation_requests (academic_year);
CREATE INDEX rotation_requests_rotation ON rotation_requests (rotation_id);
