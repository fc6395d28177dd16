//! Media in and out: reference images fetched behind the address guard and decoded under the
//! contract's rules; frames encoded to H.264 in MP4 (and read back, for tests); the watermark.

pub mod encode;
pub mod fetch;
pub mod guard;
pub mod h264;
pub mod probe;
pub mod reference;
pub mod watermark;

pub use encode::{AacAudio, EncodeError, EncodeStats, Mp4VideoWriter};
pub use fetch::{FetchError, FetchPolicy, GuardedHttp};
pub use probe::{AudioTrackInfo, Mp4Probe, ProbeError, decode_frames, probe_mp4, top_level_boxes};
pub use reference::{ImageHeader, ImageRuleError, RefFormat, decode_reference, inspect_reference};
