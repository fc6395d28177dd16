//! refvid-worker (being written).
