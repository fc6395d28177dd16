//! refvid-api (being written).
