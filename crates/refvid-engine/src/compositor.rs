//! The deterministic CPU compositor engine (to be written).
