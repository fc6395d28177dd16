//! `movement_amplitude` → words in the prompt.
//!
//! The request's motion strength reaches the model as a sentence appended to the prompt: the text
//! conditioning is the one input every Wan-family model has and was trained to follow for motion
//! (Wan's own prompt guide describes motion and camera in words), and it leaves the sampling —
//! which distilled weights must keep — untouched. `auto` leaves the prompt as the user wrote it.
//!
//! | level | appended |
//! |---|---|
//! | `auto` | nothing |
//! | `small` | [`SMALL`] |
//! | `medium` | [`MEDIUM`] |
//! | `large` (`high`) | [`HIGH`] |

use refvid_engine::Motion;

/// Appended for `small`.
pub const SMALL: &str = "Subtle, slow movement; the camera stays almost still.";
/// Appended for `medium`.
pub const MEDIUM: &str = "Natural, moderate movement with a smoothly moving camera.";
/// Appended for `large`.
pub const HIGH: &str = "Fast, energetic, large movements with a dynamic, moving camera.";

/// The sentence a motion level adds, if any.
pub fn sentence(motion: Motion) -> Option<&'static str> {
    match motion {
        Motion::Auto => None,
        Motion::Small => Some(SMALL),
        Motion::Medium => Some(MEDIUM),
        Motion::High => Some(HIGH),
    }
}

/// The prompt with the level's sentence after it (a full stop added when the prompt lacks one).
pub fn with_motion(prompt: &str, motion: Motion) -> String {
    let Some(add) = sentence(motion) else {
        return prompt.to_string();
    };
    let base = prompt.trim_end();
    if base.is_empty() {
        return add.to_string();
    }
    let stop = if base.ends_with(['.', '!', '?']) {
        ""
    } else {
        "."
    };
    format!("{base}{stop} {add}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_gives_its_own_prompt_and_auto_none() {
        let p = "the red fox runs";
        let all: Vec<String> = [Motion::Auto, Motion::Small, Motion::Medium, Motion::High]
            .iter()
            .map(|&m| with_motion(p, m))
            .collect();
        assert_eq!(all[0], p);
        assert_eq!(all[1], format!("the red fox runs. {SMALL}"));
        assert_eq!(
            with_motion("A cat waves!  ", Motion::High),
            format!("A cat waves! {HIGH}")
        );
        assert_eq!(with_motion("", Motion::Medium), MEDIUM);
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
    }
}
