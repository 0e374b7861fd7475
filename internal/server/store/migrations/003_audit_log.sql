-- The audit trail. Each row's hash covers the previous row's hash and this row's fields, so
-- editing, deleting or inserting a row anywhere breaks the chain from that row on
-- (internal/server/audit Verify). details is canonical JSON kept as text: jsonb would re-encode
-- it and the hash could no longer be recomputed.
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    ip         text NOT NULL,
    user_agent text NOT NULL,
    request_id text NOT NULL,
    details    text NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL UNIQUE
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

---- create above / drop below ----

DROP TABLE audit_log;
