-- Credentialed supervision (issue 18): a template may require a credential of the faculty who
-- supervise it (a procedure they are privileged for), and a faculty member holds credentials.
-- Only faculty holding a template's credential are placed on it (roster/credentials.go). Names
-- are short lower-case words; the application checks each, the table their shape.
ALTER TABLE people ADD COLUMN credentials text[] NOT NULL DEFAULT '{}'
    CONSTRAINT people_credentials_shape CHECK (cardinality(credentials) <= 50 AND array_position(credentials, NULL) IS NULL
        AND array_to_string(credentials, ',') ~ '^([a-z0-9][a-z0-9_-]{0,62}(,|$))*$'),
    -- Credentials are faculty's: residents learn the procedure under someone who holds it.
    ADD CONSTRAINT people_credentials_faculty CHECK (type = 'faculty' OR cardinality(credentials) = 0);
ALTER TABLE rotation_templates ADD COLUMN required_credential text
    CONSTRAINT rotation_templates_required_credential_shape CHECK (required_credential ~ '^[a-z0-9][a-z0-9_-]{0,62}$');
