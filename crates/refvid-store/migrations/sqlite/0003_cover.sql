-- A JPEG cover frame stored beside each finished video.
ALTER TABLE tasks ADD COLUMN cover_key TEXT;
