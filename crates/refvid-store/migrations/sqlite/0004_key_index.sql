-- The per-key quota counts a key's queued and running tasks at every submit.
CREATE INDEX tasks_key_status ON tasks (key_id, status);
