//! refvid-server (being written).
