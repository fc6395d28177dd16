-- API keys: only a SHA-256 digest of each key is stored.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);

-- Tasks double as the durable queue: QUEUED rows are claimed with a lease.
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    key_id           TEXT NOT NULL,
    spec             TEXT NOT NULL,
    seed             INTEGER NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    progress         INTEGER NOT NULL DEFAULT 0,
    eta_s            INTEGER NOT NULL DEFAULT 0,
    submit_ms        INTEGER NOT NULL,
    execute_ms       INTEGER,
    complete_ms      INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_after_ms     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_ms INTEGER,
    output_key       TEXT
);
CREATE INDEX tasks_queue ON tasks (status, run_after_ms, submit_ms);
CREATE INDEX tasks_lease ON tasks (status, lease_expires_ms);
