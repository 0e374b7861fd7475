-- Request counters shared by all replicas (sliding window approximation: the previous window's
-- count, weighted by how much of it still overlaps, plus the current window's). Keys are SHA-256
-- digests: they name client addresses and user names, which need not be stored in clear.
CREATE TABLE rate_limits (
    key_hash     bytea PRIMARY KEY CHECK (length(key_hash) = 32),
    window_start timestamptz NOT NULL,
    prev_count   integer NOT NULL CHECK (prev_count >= 0),
    curr_count   integer NOT NULL CHECK (curr_count >= 0),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX rate_limits_expiry ON rate_limits (expires_at);

---- create above / drop below ----

DROP TABLE rate_limits;
