-- Faculty shifts (issue 18): a template may need faculty of its own in every half-day it runs
-- (an inpatient attending, a faculty clinic), whether or not residents are on it. The solver
-- staffs it with the faculty the residents' supervision leaves free; a shortfall is the soft
-- faculty_coverage. 0 (every template so far): faculty come only to supervise.
ALTER TABLE rotation_templates ADD COLUMN min_faculty integer NOT NULL DEFAULT 0 CHECK (min_faculty BETWEEN 0 AND 100);
