-- The call roster's kinds (issue 18): besides in-house call, home call and backup call
-- (roster.HomeCall, roster.BackupCall): afternoon sessions that run overnight like a call,
-- on the call roster and in its equity, without duty hours. 014 already gives them a call's
-- session length (up to 18 hours); only the list of activity types changes here.
ALTER TABLE rotation_templates DROP CONSTRAINT rotation_templates_activity_type_check,
    ADD CONSTRAINT rotation_templates_activity_type_check
        CHECK (activity_type IN ('clinic', 'inpatient', 'procedure', 'conference', 'call', 'home_call', 'backup_call', 'off'));
