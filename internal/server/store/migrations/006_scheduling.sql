-- The scheduling domain: people, rotation templates, assignments (one per person and half-day),
-- absences (requested, then approved or rejected; the reason sealed by internal/server/crypto,
-- bound to its row) and schedule runs (what the solver was asked, what it found, and the
-- assignments it proposed). The rules the solver keeps are in internal/server/acgme; the
-- database holds only what they need.
CREATE TABLE people (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type                  text NOT NULL CHECK (type IN ('resident', 'faculty')),
    email                 text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
    pgy_level             integer CHECK (pgy_level BETWEEN 1 AND 3),
    max_sessions_per_week integer NOT NULL DEFAULT 0 CHECK (max_sessions_per_week BETWEEN 0 AND 14),
    user_id               uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- A resident has a PGY level and a faculty member none.
    CHECK ((type = 'resident') = (pgy_level IS NOT NULL))
);
CREATE UNIQUE INDEX people_email_key ON people (lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX people_user_key ON people (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX people_listing ON people (type, pgy_level, name, id);

CREATE TABLE rotation_templates (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    activity_type        text NOT NULL CHECK (activity_type IN ('clinic', 'inpatient', 'procedure', 'conference', 'call', 'off')),
    hours_per_session    numeric(4, 2) NOT NULL CHECK (hours_per_session >= 0 AND hours_per_session <= 18),
    min_residents        integer NOT NULL DEFAULT 0 CHECK (min_residents >= 0),
    max_residents        integer NOT NULL CHECK (max_residents >= min_residents AND max_residents <= 1000),
    allowed_pgy_levels   integer[] NOT NULL DEFAULT '{}' CHECK (allowed_pgy_levels <@ ARRAY[1, 2, 3]),
    supervision_required boolean NOT NULL DEFAULT false,
    weekends             boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- A half-day session ends before the afternoon begins; only a call runs overnight.
    CHECK (activity_type = 'call' OR hours_per_session <= 6)
);
CREATE UNIQUE INDEX rotation_templates_name_key ON rotation_templates (lower(name));

-- A run in progress holds its date range: a second run over an overlapping range is refused by
-- the exclusion constraint (the API answers 409), however many replicas take requests.
CREATE TABLE schedule_runs (
    id              uuid PRIMARY KEY,
    start_date      date NOT NULL,
    end_date        date NOT NULL CHECK (end_date >= start_date),
    status          text NOT NULL CHECK (status IN ('in_progress', 'success', 'partial', 'failed')),
    draft           boolean NOT NULL DEFAULT false,
    request         jsonb NOT NULL,
    progress        jsonb,
    stats           jsonb,
    violations      integer CHECK (violations >= 0),
    message         text,
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash    bytea CHECK (length(request_hash) = 32),
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    EXCLUDE USING gist (daterange(start_date, end_date, '[]') WITH &&) WHERE (status = 'in_progress')
);
CREATE UNIQUE INDEX schedule_runs_idempotency ON schedule_runs (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX schedule_runs_recent ON schedule_runs (created_at DESC);

CREATE TABLE assignments (
    id                   uuid PRIMARY KEY,
    person_id            uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    date                 date NOT NULL,
    time_of_day          text NOT NULL CHECK (time_of_day IN ('AM', 'PM')),
    rotation_template_id uuid NOT NULL REFERENCES rotation_templates (id) ON DELETE RESTRICT,
    locked               boolean NOT NULL DEFAULT false,
    source               text NOT NULL CHECK (source IN ('manual', 'generated')),
    schedule_run_id      uuid REFERENCES schedule_runs (id) ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (person_id, date, time_of_day)
);
CREATE INDEX assignments_by_day ON assignments (date, time_of_day);

-- What a run proposed, kept with the run (a draft is never written to assignments).
CREATE TABLE schedule_run_assignments (
    run_id               uuid NOT NULL REFERENCES schedule_runs (id) ON DELETE CASCADE,
    person_id            uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    date                 date NOT NULL,
    time_of_day          text NOT NULL CHECK (time_of_day IN ('AM', 'PM')),
    rotation_template_id uuid NOT NULL REFERENCES rotation_templates (id) ON DELETE CASCADE,
    PRIMARY KEY (run_id, person_id, date, time_of_day)
);

CREATE TABLE absences (
    id            uuid PRIMARY KEY,
    person_id     uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    start_date    date NOT NULL,
    end_date      date NOT NULL CHECK (end_date >= start_date AND end_date - start_date < 400),
    absence_type  text NOT NULL CHECK (absence_type IN ('vacation', 'conference', 'medical', 'family_emergency', 'bereavement', 'training', 'military_duty', 'other')),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
    -- The reason is confidential: only its ciphertext is stored (internal/server/crypto, bound to
    -- table, column and row).
    reason_sealed text,
    requested_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    reviewed_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    reviewed_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('approved', 'rejected')) = (reviewed_at IS NOT NULL))
);
CREATE INDEX absences_by_person ON absences (person_id, start_date);
CREATE INDEX absences_by_day ON absences (start_date, end_date) WHERE status = 'approved';
