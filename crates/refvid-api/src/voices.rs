//! `GET /v3/voices`: the voices this server speaks dialogue with (ours; not in the hosted API).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One voice a subject's `voice_id` may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoiceInfo {
    /// The `voice_id` to send (`NAME`; a multi-speaker voice also takes `NAME:SPEAKER`).
    #[schema(example = "en_US-joe-medium")]
    pub id: String,
    /// The voice's language (its espeak-ng voice, e.g. `en-us`).
    #[schema(example = "en-us")]
    pub language: String,
    /// Samples per second of the voice's model (refvid resamples to 48 kHz for the clip).
    #[schema(example = 22050)]
    pub sample_rate: u32,
    /// The speakers of a multi-speaker voice (`voice_id` `NAME:SPEAKER`); empty for one speaker.
    pub speakers: Vec<String>,
    /// Whether this is the voice subjects without a known `voice_id` speak with.
    pub default: bool,
}

/// The answer of `GET /v3/voices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoiceList {
    pub voices: Vec<VoiceInfo>,
    /// Why this server cannot speak, when it cannot (then `voices` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}
