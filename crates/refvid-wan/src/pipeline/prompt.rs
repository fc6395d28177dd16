//! Prompt text: `@name` subject references rewritten into plain words, and the cleaning the
//! pipeline applies before tokenizing.
//!
//! Users of a reference-to-video API name their subjects in the prompt (`"@cat chases @1"`).
//! The text encoder never saw that syntax, so [`rewrite_mentions`] turns each mention (found by
//! refvid's one rule, [`refvid_prompt::mentions`]) into words: the name of the subject it means,
//! `_` read as a space (`@red_fox` → `red fox`, `@2` → the second subject's name), and a purely
//! numeric name (`@1` in a request without names) into `the first subject`, `the second subject`,
//! … (`subject 11` past the tenth). A mention of no subject is read by its own word the same way.
//! An `@` that does not start a mention (an e-mail address, a lone `@`) is left as it is.

use refvid_prompt::{Target, mentions, rewrite};

/// Ordinal words for numeric mentions `@1` … `@10`.
const ORDINALS: [&str; 10] = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
];

/// Rewrites every mention of `prompt` into plain words (see the module docs); `names` are the
/// subjects' names in request order.
pub fn rewrite_mentions(prompt: &str, names: &[&str]) -> String {
    rewrite(prompt, &mentions(prompt, names), |m| match m.target {
        Target::Subject(i) => name_words(names[i]),
        Target::Unknown => name_words(m.word(prompt)),
    })
}

/// The words for one name.
fn name_words(name: &str) -> String {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return match name.parse::<usize>() {
            Ok(n @ 1..=10) => format!("the {} subject", ORDINALS[n - 1]),
            _ => format!("subject {name}"),
        };
    }
    name.split('_')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The pipeline's `prompt_clean` without `ftfy`: HTML entities unescaped (twice, as
/// `html.unescape(html.unescape(text))`), then whitespace runs collapsed and the ends trimmed.
/// Only the common named entities and numeric ones are decoded.
pub fn clean_prompt(prompt: &str) -> String {
    crate::tokenizer::clean_prompt(&unescape_html(&unescape_html(prompt)))
}

/// Decodes `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and `&#N;` / `&#xN;`.
fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match tail.find(';').filter(|&end| end <= 10) {
            Some(end) => match decode_entity(&tail[1..end]) {
                Some(c) => {
                    out.push(c);
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = &tail[1..];
                }
            },
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_become_the_subjects_names() {
        let names = ["cat", "red_fox", "mary-jane", "red ball"];
        assert_eq!(
            rewrite_mentions("@cat chases @3.", &names),
            "cat chases mary-jane."
        );
        assert_eq!(rewrite_mentions("@RED_FOX jumps", &names), "red fox jumps");
        assert_eq!(
            rewrite_mentions("@red ball, @4!", &names),
            "red ball, red ball!"
        );
        assert_eq!(rewrite_mentions("@2 and @1", &names), "red fox and cat");
    }

    #[test]
    fn unknown_mentions_are_read_by_their_word() {
        assert_eq!(rewrite_mentions("@red_fox jumps", &[]), "red fox jumps");
        assert_eq!(
            rewrite_mentions("with @mary-jane, ok", &[]),
            "with mary-jane, ok"
        );
        assert_eq!(rewrite_mentions("(@Émile)", &[]), "(Émile)");
        assert_eq!(rewrite_mentions("@cat-", &[]), "cat-");
    }

    #[test]
    fn numeric_names_become_ordinals() {
        assert_eq!(
            rewrite_mentions("@1 hands @2 a cup", &["1", "2"]),
            "the first subject hands the second subject a cup"
        );
        assert_eq!(
            rewrite_mentions("@10 and @11", &[]),
            "the tenth subject and subject 11"
        );
        assert_eq!(rewrite_mentions("@0", &[]), "subject 0");
    }

    #[test]
    fn non_mentions_are_untouched() {
        for s in [
            "mail me@example.com",
            "a lone @ sign",
            "@@",
            "@ 1",
            "",
            "no mentions",
        ] {
            assert_eq!(rewrite_mentions(s, &["cat"]), s);
        }
        assert_eq!(rewrite_mentions("@@cat", &["cat"]), "@cat");
    }

    #[test]
    fn clean_unescapes_and_collapses_whitespace() {
        assert_eq!(
            clean_prompt("  fish &amp;amp; chips\n\t&lt;3 "),
            "fish & chips <3"
        );
        assert_eq!(
            clean_prompt("caf&#233; &#x41; &bogus; & x"),
            "café A &bogus; & x"
        );
    }
}
