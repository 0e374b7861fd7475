-- Shifts of any start and length (issue 18). A template with a start_time is a shift: it starts
-- at that wall-clock time, in the half-day its start falls in (before 13:00 the morning, from
-- 13:00 the afternoon: assignments keep one row per person and half-day), and lasts up to 24
-- hours (a 07-19 day, a 19-07 night float, a 07:00 24-hour call, a post-call hand-over). A
-- template without one stays in the half-day family, as every template written before this
-- migration is: its sessions start with their half-day (07:00 or 13:00) and last up to 6 hours,
-- or up to 18 for an overnight call from 13:00. Nothing already stored changes meaning.
ALTER TABLE rotation_templates ADD COLUMN start_time time
    CONSTRAINT rotation_templates_start_time_minutes CHECK (extract(second FROM start_time) = 0);

-- The session length now depends on the family (the two checks of 006 replaced by one).
ALTER TABLE rotation_templates DROP CONSTRAINT rotation_templates_hours_per_session_check,
    DROP CONSTRAINT rotation_templates_check1, -- 006: activity_type = 'call' OR hours_per_session <= 6
    ADD CONSTRAINT rotation_templates_session_hours CHECK (CASE
        WHEN start_time IS NOT NULL THEN hours_per_session BETWEEN 0 AND 24
        WHEN activity_type IN ('call', 'home_call', 'backup_call') THEN hours_per_session BETWEEN 0 AND 18
        ELSE hours_per_session BETWEEN 0 AND 6 END);
