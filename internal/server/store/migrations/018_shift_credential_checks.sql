-- The table's own checks as strict as the application's (security review L5): a start_time of
-- '24:00' (which PostgreSQL's time type takes, and "HH:MM" cannot be read back from) is refused,
-- and every credential is checked on its own (016 checked the list joined by commas, which let
-- a credential with a comma or an empty one through).
ALTER TABLE rotation_templates ADD CONSTRAINT rotation_templates_start_time_of_day CHECK (start_time < '24:00');

CREATE FUNCTION rsched_credentials_valid(credentials text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(bool_and(c IS NOT NULL AND c ~ '^[a-z0-9][a-z0-9_-]{0,62}$'), true) FROM unnest(credentials) AS c $$;

ALTER TABLE people DROP CONSTRAINT people_credentials_shape,
    ADD CONSTRAINT people_credentials_shape CHECK (cardinality(credentials) <= 50 AND rsched_credentials_valid(credentials));
