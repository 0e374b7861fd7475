-- Per-year PGY levels: people.pgy_level is a resident's level now; pgy_history keeps the level
-- of each academic year (academic_year: the year it starts, 2026 for July 2026 - June 2027), so a
-- past year's schedule is judged with that year's levels (compliance report).
--
-- A row is written when a resident is created and when their level (or type) changes through
-- PATCH /people/{id} (source create, update: the year the stored levels are for, the later of
-- the program's academic year of that day and the latest year rolled over), and by every
-- rollover into year Y (source rollover): Y's new level for each resident advanced, and, where
-- no row exists yet, Y-1's level each advanced or graduated resident leaves (a graduate keeps
-- only that last year's row).
--
-- A year without a row is read as the latest recorded year before it (a level holds until a
-- change is recorded), else the earliest recorded after it, else the current pgy_level.
CREATE TABLE pgy_history (
    person_id     uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    academic_year integer NOT NULL CHECK (academic_year BETWEEN 2000 AND 2200),
    pgy_level     integer NOT NULL CHECK (pgy_level BETWEEN 1 AND 8),
    source        text NOT NULL CHECK (source IN ('create', 'update', 'rollover', 'migration')),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, academic_year)
);

-- Backfill: each active resident's current level, for the year the stored levels are for by the
-- same rule as PATCH: the later of the latest year rolled over and the academic year of the day
-- the migration runs (in UTC: a program east or west of UTC migrating within hours of 1 July may
-- get the neighbouring year; the next rollover writes the right rows over it, since it records
-- the new year's level and leaves an existing earlier row alone). Archived residents get no row:
-- the year they left is not known, and their current level is what a read falls back to.
INSERT INTO pgy_history (person_id, academic_year, pgy_level, source)
SELECT id, greatest(
        (SELECT max(extract(year FROM academic_year_start))::integer FROM academic_year_rollovers),
        CASE WHEN extract(month FROM now() AT TIME ZONE 'UTC') >= 7 THEN extract(year FROM now() AT TIME ZONE 'UTC')::integer
            ELSE extract(year FROM now() AT TIME ZONE 'UTC')::integer - 1 END),
    pgy_level, 'migration'
FROM people WHERE type = 'resident' AND archived_at IS NULL AND pgy_level IS NOT NULL;
