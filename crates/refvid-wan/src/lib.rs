//! refvid-wan (being written).
