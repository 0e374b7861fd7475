-- The required coverage a finished run left unfilled and why (roster.Shortfall, as the API shows
-- it): which template, which half-days, how many residents short, and for each resident not
-- there whether they were absent, not eligible, elsewhere or would have broken a rule. NULL:
-- every minimum was met (or the run did not finish).
ALTER TABLE schedule_runs ADD COLUMN shortfall jsonb;
