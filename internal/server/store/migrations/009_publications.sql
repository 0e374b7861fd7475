-- Draft -> review -> publish -> roll back.
--
-- A finished run keeps the fingerprint of the inputs it solved on (and the margin of days around
-- its range the fingerprint covers), so a draft is published only onto the data it was made
-- from: anything changed since and the publication is refused, as a live run's write is.
ALTER TABLE schedule_runs ADD COLUMN fingerprint text;
ALTER TABLE schedule_runs ADD COLUMN margin integer CHECK (margin >= 0);

-- A publication made a run's schedule the live schedule of its range (a live run at its finish,
-- a draft when published). assignments_digest is the digest of the range's live assignments
-- right after it wrote them: a rollback happens only while the range is still exactly that, so
-- it never undoes an edit or a later publication made since.
CREATE TABLE schedule_publications (
    id                 uuid PRIMARY KEY,
    run_id             uuid NOT NULL UNIQUE REFERENCES schedule_runs (id) ON DELETE RESTRICT,
    start_date         date NOT NULL,
    end_date           date NOT NULL CHECK (end_date >= start_date),
    scope              uuid[],
    published_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    published_at       timestamptz NOT NULL DEFAULT now(),
    replaced           integer NOT NULL CHECK (replaced >= 0),
    written            integer NOT NULL CHECK (written >= 0),
    assignments_digest text NOT NULL,
    rolled_back_at     timestamptz,
    rolled_back_by     uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX schedule_publications_recent ON schedule_publications (published_at DESC);

-- The assignments a publication replaced, to put back on rollback as they were (same id and
-- versions, so the range digests as before and the publication before it can be rolled back in
-- turn). People and templates they name cannot be deleted while a publication keeps them
-- (history is archived, never lost).
CREATE TABLE schedule_publication_replaced (
    publication_id       uuid NOT NULL REFERENCES schedule_publications (id) ON DELETE CASCADE,
    assignment_id        uuid NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    person_id            uuid NOT NULL REFERENCES people (id) ON DELETE RESTRICT,
    date                 date NOT NULL,
    time_of_day          text NOT NULL CHECK (time_of_day IN ('AM', 'PM')),
    rotation_template_id uuid NOT NULL REFERENCES rotation_templates (id) ON DELETE RESTRICT,
    source               text NOT NULL CHECK (source IN ('manual', 'generated')),
    schedule_run_id      uuid,
    PRIMARY KEY (publication_id, person_id, date, time_of_day)
);
