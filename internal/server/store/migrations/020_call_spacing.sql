-- A call template's pattern, "q-N" (issue 18): a resident holds at most one of its sessions in
-- any N consecutive days (roster.RuleCallSpacing, hard). 0 (every template so far): no pattern
-- beyond ACGME's call_frequency. Only call kinds take one.
ALTER TABLE rotation_templates ADD COLUMN call_every_nth_night integer NOT NULL DEFAULT 0
    CHECK (call_every_nth_night = 0 OR call_every_nth_night BETWEEN 2 AND 28),
    ADD CONSTRAINT rotation_templates_call_pattern_on_call
    CHECK (call_every_nth_night = 0 OR activity_type IN ('call', 'home_call', 'backup_call'));
