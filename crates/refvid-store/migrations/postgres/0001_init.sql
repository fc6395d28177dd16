-- API keys: only a SHA-256 digest of each key is stored.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);

-- Tasks double as the durable queue: QUEUED rows are claimed with a lease.
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    key_id           TEXT NOT NULL,
    spec             TEXT NOT NULL,
    seed             BIGINT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    progress         BIGINT NOT NULL DEFAULT 0,
    eta_s            BIGINT NOT NULL DEFAULT 0,
    submit_ms        BIGINT NOT NULL,
    execute_ms       BIGINT,
    complete_ms      BIGINT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    run_after_ms     BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_ms BIGINT,
    output_key       TEXT,
    cover_key        TEXT,
    webhook_url      TEXT
);
CREATE INDEX tasks_queue ON tasks (status, run_after_ms, submit_ms);
CREATE INDEX tasks_lease ON tasks (status, lease_expires_ms);

CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    task_id          TEXT NOT NULL,
    url              TEXT NOT NULL,
    mock_status      TEXT,
    state            TEXT NOT NULL DEFAULT 'PENDING',
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    created_ms       BIGINT NOT NULL
);
CREATE INDEX webhook_due ON webhook_deliveries (state, next_attempt_ms);

-- A task that turns terminal queues its event in the same transaction, whoever ended it.
CREATE FUNCTION refvid_task_terminal_webhook() RETURNS trigger AS $$
BEGIN
    IF NEW.status IN ('SUCCEED', 'FAILED') AND OLD.status <> NEW.status AND NEW.webhook_url IS NOT NULL THEN
        INSERT INTO webhook_deliveries (task_id, url, next_attempt_ms, created_ms)
        VALUES (NEW.id, NEW.webhook_url, COALESCE(NEW.complete_ms, 0), COALESCE(NEW.complete_ms, 0));
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER task_terminal_webhook AFTER UPDATE OF status ON tasks
FOR EACH ROW EXECUTE FUNCTION refvid_task_terminal_webhook();

-- Wakes idle workers (LISTEN refvid_tasks) when a task is queued.
CREATE FUNCTION refvid_task_queued_notify() RETURNS trigger AS $$
BEGIN
    IF NEW.status = 'QUEUED' THEN
        PERFORM pg_notify('refvid_tasks', NEW.id);
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER task_queued_notify AFTER INSERT OR UPDATE OF status ON tasks
FOR EACH ROW EXECUTE FUNCTION refvid_task_queued_notify();
