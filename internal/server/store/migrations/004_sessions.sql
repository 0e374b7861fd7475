-- Sessions, refresh token families, revoked access tokens, MFA challenges and lockout state.
--
-- A session is one sign-in: its refresh tokens form a family (each use rotates the token; a
-- token used twice revokes the session). Access tokens carry the session id, so revoking the
-- session ends them too. Lockout is counted per account *name*, whether or not an account has
-- that name, so a locked name tells nothing about which accounts exist. users.locked_until now
-- only holds an administrator's lock ('infinity' until unlocked).
ALTER TABLE users
    DROP COLUMN failed_logins,
    DROP COLUMN lockouts,
    ADD COLUMN mfa_enabled          boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_pending         text,
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN last_login_at        timestamptz,
    ADD COLUMN deleted_at           timestamptz;

CREATE TABLE login_failures (
    name_hash    bytea PRIMARY KEY CHECK (length(name_hash) = 32),
    failures     integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    lockouts     integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text,
    csrf_hash      bytea NOT NULL CHECK (length(csrf_hash) = 32),
    ip             text NOT NULL,
    user_agent     text NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

CREATE TABLE mfa_challenges (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0
);

-- Where the audit chain starts after old entries were removed by retention: the sequence number
-- and hash of the last removed entry. The removal itself is an audited event in the chain.
CREATE TABLE audit_anchor (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash bytea NOT NULL
);

---- create above / drop below ----

DROP TABLE audit_anchor;
DROP TABLE mfa_challenges;
DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE login_failures;
ALTER TABLE users
    DROP COLUMN deleted_at,
    DROP COLUMN last_login_at,
    DROP COLUMN must_change_password,
    DROP COLUMN totp_pending,
    DROP COLUMN mfa_enabled,
    ADD COLUMN failed_logins integer NOT NULL DEFAULT 0,
    ADD COLUMN lockouts integer NOT NULL DEFAULT 0;
