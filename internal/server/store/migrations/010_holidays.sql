-- Holidays of the program (issue 18): a name and a date, one holiday per date. A rotation
-- template runs on a holiday only when it says so (holidays): a clinic is closed, so its
-- coverage minimum does not apply that day and no one is placed on it. Existing templates run on
-- holidays as they run on weekends (wards and call do, weekday clinics do not).
CREATE TABLE holidays (
    id         uuid PRIMARY KEY,
    date       date NOT NULL UNIQUE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE rotation_templates ADD COLUMN holidays boolean NOT NULL DEFAULT false;
UPDATE rotation_templates SET holidays = weekends;
