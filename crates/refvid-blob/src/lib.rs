//! refvid-blob (being written).
