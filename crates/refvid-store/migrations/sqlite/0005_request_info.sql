-- What rendered a task (engine, model, preset, notes), as a compact JSON object string; stored
-- when the task ends, shown as `extra.debug_info.request_info`.
ALTER TABLE tasks ADD COLUMN request_info TEXT NOT NULL DEFAULT '';
