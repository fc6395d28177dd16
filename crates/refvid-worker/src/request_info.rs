//! `extra.debug_info.request_info`: what rendered a task, as one compact JSON object string.
//!
//! The engine describes itself ([`refvid_engine::Engine::describe`]: engine, model, preset …),
//! adds what the render did ([`refvid_engine::Engine::render_noted`]: e.g. transformer passes)
//! and the post-processing stages add per-task notes (e.g. the sound stage's voice fallbacks);
//! the worker stores the result with the task when it ends.

/// One `(key, value)` pair of `request_info`.
pub type Note = (&'static str, String);

/// `pairs` as a compact JSON object, keys in first-seen order; a later pair whose key was
/// already given replaces that value in place (a stage may correct the engine's word).
pub fn request_info(pairs: impl IntoIterator<Item = Note>) -> String {
    let mut merged: Vec<Note> = Vec::new();
    for (key, value) in pairs {
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => merged.push((key, value)),
        }
    }
    let fields: Vec<String> = merged
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::request_info;

    #[test]
    fn pairs_become_a_compact_object_in_order() {
        let info = request_info([
            ("engine", "wan".to_string()),
            ("model", "Wan2.1-VACE-1.3B-diffusers".to_string()),
            ("preset", "quality".to_string()),
        ]);
        assert_eq!(
            info,
            r#"{"engine":"wan","model":"Wan2.1-VACE-1.3B-diffusers","preset":"quality"}"#
        );
    }

    #[test]
    fn a_repeated_key_replaces_its_value_in_place_and_text_is_escaped() {
        let info = request_info([
            ("engine", "a".to_string()),
            ("voice", "say \"hi\"\n".to_string()),
            ("engine", "b".to_string()),
        ]);
        assert_eq!(info, r#"{"engine":"b","voice":"say \"hi\"\n"}"#);
        let parsed: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(parsed["voice"], "say \"hi\"\n");
    }
}
