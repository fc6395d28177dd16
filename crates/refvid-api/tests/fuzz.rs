//! Property tests over the request parser and validator: whatever arrives, the answer is a
//! checked spec or an error naming a field — never a panic — and accepted specs obey the rules.
//! CI runs the default case count; `scripts/fuzz.sh` runs many more.

use proptest::prelude::*;
use refvid_api::parse_submit;
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("720p"),
            Just("1080p"),
            Just("16:9"),
            Just("1:5"),
            Just("@cat"),
            Just("data:image/png;base64,AAAA"),
            Just("http://127.0.0.1/x.png")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 14] = [
    "prompt",
    "duration",
    "subjects",
    "images",
    "bgm",
    "audio",
    "watermark",
    "seed",
    "resolution",
    "aspect_ratio",
    "movement_amplitude",
    "extra",
    "name",
    "voice_id",
];

fn base() -> Value {
    json!({"prompt": "@cat plays", "subjects": [{"name": "cat", "images": ["https://example.com/c.png"]}]})
}

fn check_outcome(bytes: &[u8]) {
    match parse_submit(bytes) {
        Ok(spec) => {
            assert!((1..=10).contains(&spec.duration_secs));
            assert!((1..=7).contains(&spec.subjects.len()));
            assert!(spec.subjects.iter().map(|s| s.images.len()).sum::<usize>() <= 7);
            assert!(spec.prompt.chars().count() <= 2000);
            let g = spec.geometry();
            assert!(g.width % 2 == 0 && g.height % 2 == 0 && g.width.min(g.height) >= 720);
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            assert!(
                e.field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]-".contains(c)),
                "odd field {:?}",
                e.field
            );
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_outcome(&bytes);
    }

    #[test]
    fn arbitrary_values_in_known_fields_never_panic(field in prop::sample::select(&FIELDS[..]), value in arb_json(), in_subject in any::<bool>()) {
        let mut body = base();
        if in_subject {
            body["subjects"][0][field] = value;
        } else {
            body[field] = value;
        }
        check_outcome(&serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn arbitrary_prompts_with_references_never_panic(prompt in "[@a-zA-Z0-9 é_.-]{0,80}", names in prop::collection::vec("[a-zA-Z0-9 _-]{1,10}", 1..4)) {
        let subjects: Vec<Value> = names.iter().map(|n| json!({"name": n, "images": ["https://example.com/i.png"]})).collect();
        let body = json!({"prompt": prompt, "subjects": subjects});
        check_outcome(&serde_json::to_vec(&body).unwrap());
    }
}
