-- The people of programs of any length, kept for as long as their history is (issue 18).
--
-- Residents are PGY 1 to 8 (the predecessor's range: 4- and 5-year specialties, fellows), and a
-- template may name any of those levels.
ALTER TABLE people DROP CONSTRAINT people_pgy_level_check,
    ADD CONSTRAINT people_pgy_level_check CHECK (pgy_level BETWEEN 1 AND 8);
ALTER TABLE rotation_templates DROP CONSTRAINT rotation_templates_allowed_pgy_levels_check,
    ADD CONSTRAINT rotation_templates_allowed_pgy_levels_check CHECK (allowed_pgy_levels <@ ARRAY[1, 2, 3, 4, 5, 6, 7, 8]);

-- The PGY level a resident finishes their program in: the academic-year rollover graduates
-- (archives) a resident in it and advances the others by one. A level rather than a length in
-- years, because a fellow's years continue their residency's (a 2-year fellowship after a
-- 3-year residency runs PGY 4 and 5). Every resident so far was in a 3-year program.
ALTER TABLE people ADD COLUMN final_pgy_level integer CHECK (final_pgy_level BETWEEN 1 AND 8);
UPDATE people SET final_pgy_level = greatest(3, pgy_level) WHERE type = 'resident';
ALTER TABLE people ADD CONSTRAINT people_final_pgy_level CHECK ((type = 'resident') = (final_pgy_level IS NOT NULL)
    AND (pgy_level IS NULL OR pgy_level <= final_pgy_level));

-- Archiving, never deleting: a person with history (assignments, absences, runs' proposals) is
-- archived, so the duty-hour record the program must keep stays whole. An archived person is
-- listed only on request and never scheduled; their assignments and absences stay and count.
ALTER TABLE people ADD COLUMN archived_at timestamptz,
    ADD COLUMN archived_by uuid REFERENCES users (id) ON DELETE SET NULL,
    -- removed: by DELETE /people/{id}; graduated: by the academic-year rollover.
    ADD COLUMN archived_reason text CHECK (archived_reason IN ('removed', 'graduated')),
    ADD CONSTRAINT people_archived CHECK ((archived_at IS NULL) = (archived_reason IS NULL));
CREATE INDEX people_active_listing ON people (type, pgy_level, name, id) WHERE archived_at IS NULL;

-- Deleting a person can never take their history with them: these cascaded in 006.
ALTER TABLE assignments DROP CONSTRAINT assignments_person_id_fkey,
    ADD CONSTRAINT assignments_person_id_fkey FOREIGN KEY (person_id) REFERENCES people (id) ON DELETE RESTRICT;
ALTER TABLE absences DROP CONSTRAINT absences_person_id_fkey,
    ADD CONSTRAINT absences_person_id_fkey FOREIGN KEY (person_id) REFERENCES people (id) ON DELETE RESTRICT;
ALTER TABLE schedule_run_assignments DROP CONSTRAINT schedule_run_assignments_person_id_fkey,
    ADD CONSTRAINT schedule_run_assignments_person_id_fkey FOREIGN KEY (person_id) REFERENCES people (id) ON DELETE RESTRICT;

-- Learners (medical students; the predecessor's med_student): no PGY level and no duty-hour
-- accounting; placed by hand on the templates that take them (max_learners per half-day, 0:
-- none), supervised as a PGY-1 is.
ALTER TABLE people DROP CONSTRAINT people_type_check,
    ADD CONSTRAINT people_type_check CHECK (type IN ('resident', 'faculty', 'learner'));
ALTER TABLE rotation_templates ADD COLUMN max_learners integer NOT NULL DEFAULT 0 CHECK (max_learners BETWEEN 0 AND 1000);

-- One row per academic year rolled over (advanced, graduated): a second rollover of the same
-- year finds it and changes nothing; years roll forward only.
CREATE TABLE academic_year_rollovers (
    academic_year_start date PRIMARY KEY CHECK (extract(month FROM academic_year_start) = 7 AND extract(day FROM academic_year_start) = 1),
    advanced            integer NOT NULL CHECK (advanced >= 0),
    graduated           integer NOT NULL CHECK (graduated >= 0),
    performed_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    performed_at        timestamptz NOT NULL DEFAULT now()
);
