//! The submit validator applies `refvid-prompt`'s mention rule: every mention must name a
//! subject, and subject names must differ as mentions compare them.

use refvid_api::parse_submit;
use serde_json::{Value, json};

fn submit(prompt: &str, names: &[&str]) -> Result<refvid_api::TaskSpec, refvid_api::FieldError> {
    let subjects: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "images": ["https://example.com/c.png"]}))
        .collect();
    parse_submit(
        json!({"prompt": prompt, "subjects": subjects})
            .to_string()
            .as_bytes(),
    )
}

#[test]
fn known_mentions_pass() {
    for prompt in [
        "@cat chases @2 and @Cat.",
        "@red ball rolls past @red",
        "mail a@b.com, @@cat",
        "@cat-",
        "",
    ] {
        assert!(
            submit(prompt, &["cat", "red", "red ball"]).is_ok(),
            "{prompt}"
        );
    }
}

#[test]
fn unknown_mentions_name_the_word_and_the_choices() {
    let err = submit("@cat meets @dog-walker.", &["cat", "ball"]).unwrap_err();
    assert_eq!(err.field, "prompt");
    assert_eq!(
        err.message,
        "prompt refers to @dog-walker, which matches no subject; use one of @cat, @ball or @1..@2"
    );
    for prompt in ["@3 runs", "@0 runs", "@catfish", "@cat_2"] {
        assert!(submit(prompt, &["cat", "ball"]).is_err(), "{prompt}");
    }
}

#[test]
fn names_must_differ_in_unicode_case_too() {
    let err = submit("@émile", &["Émile", "émile"]).unwrap_err();
    assert_eq!(err.field, "subjects[1].name");
}
