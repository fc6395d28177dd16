//! refvid-media (being written).
