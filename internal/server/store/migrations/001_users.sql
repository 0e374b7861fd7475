-- Accounts and what authentication needs about them. Secrets are never stored in clear:
-- password_hash is an Argon2id PHC string (or a legacy bcrypt hash until the next login),
-- totp_secret is sealed by internal/server/crypto, recovery codes are hashes.
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    username            text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.-]{3,50}$'),
    email               text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role                text NOT NULL CHECK (role IN ('admin', 'coordinator', 'faculty', 'resident', 'clinical_staff', 'rn', 'lpn', 'msa')),
    password_hash       text NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    is_active           boolean NOT NULL DEFAULT true,
    failed_logins       integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    lockouts            integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    locked_until        timestamptz,
    totp_secret         text,
    totp_last_step      bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE password_history (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_history_user ON password_history (user_id, created_at DESC);

CREATE TABLE mfa_recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

---- create above / drop below ----

DROP TABLE mfa_recovery_codes;
DROP TABLE password_history;
DROP TABLE users;
