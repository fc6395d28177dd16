-- Where a task's terminal event goes, and the outbox of deliveries still to make.
ALTER TABLE tasks ADD COLUMN webhook_url TEXT;

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id          TEXT NOT NULL,
    url              TEXT NOT NULL,
    -- For test-mode events: the status the mock event reports; NULL for real events.
    mock_status      TEXT,
    state            TEXT NOT NULL DEFAULT 'PENDING',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    created_ms       INTEGER NOT NULL
);
CREATE INDEX webhook_due ON webhook_deliveries (state, next_attempt_ms);

-- A task that turns terminal queues its event in the same transaction, whoever ended it.
CREATE TRIGGER task_terminal_webhook AFTER UPDATE OF status ON tasks
WHEN NEW.status IN ('SUCCEED', 'FAILED') AND OLD.status <> NEW.status AND NEW.webhook_url IS NOT NULL
BEGIN
    INSERT INTO webhook_deliveries (task_id, url, next_attempt_ms, created_ms)
    VALUES (NEW.id, NEW.webhook_url, COALESCE(NEW.complete_ms, 0), COALESCE(NEW.complete_ms, 0));
END;
