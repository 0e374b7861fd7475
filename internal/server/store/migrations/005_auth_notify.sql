-- Every change that can end or alter an authenticated principal notifies the replicas, which
-- keep the principals of recent requests in memory (internal/server/accounts cache.go). A trigger
-- rather than application code, so no write path can forget to notify; pg_notify inside the
-- transaction is delivered only on commit.
CREATE FUNCTION rsched_auth_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('rsched_auth', 'u:' || OLD.id::text);
    ELSIF TG_TABLE_NAME = 'sessions' THEN
        PERFORM pg_notify('rsched_auth', 'u:' || OLD.user_id::text);
    ELSIF TG_TABLE_NAME = 'revoked_tokens' THEN
        PERFORM pg_notify('rsched_auth', 'j:' || NEW.jti);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_auth_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION rsched_auth_notify();
CREATE TRIGGER sessions_auth_notify AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION rsched_auth_notify();
CREATE TRIGGER revoked_tokens_auth_notify AFTER INSERT ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION rsched_auth_notify();

---- create above / drop below ----

DROP TRIGGER revoked_tokens_auth_notify ON revoked_tokens;
DROP TRIGGER sessions_auth_notify ON sessions;
DROP TRIGGER users_auth_notify ON users;
DROP FUNCTION rsched_auth_notify();
