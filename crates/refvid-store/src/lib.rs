//! refvid-store (being written).
