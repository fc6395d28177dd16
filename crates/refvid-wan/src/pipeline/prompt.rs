//! Prompt text: `@name` subject references rewritten into plain words, and the cleaning the
//! pipeline applies before tokenizing.
//!
//! Users of a reference-to-video API name their subjects in the prompt (`"@cat chases @1"`).
//! The text encoder never saw that syntax, so [`rewrite_mentions`] turns a mention into words:
//! `@cat` → `cat`, `@red_fox` → `red fox`, and a purely numeric name `@1`, `@2`, … into
//! `the first subject`, `the second subject`, … (`subject 11` past the tenth). An `@` that does not
//! start a name (an e-mail address, a lone `@`, `@@`) is left as it is.

/// Ordinal words for numeric mentions `@1` … `@10`.
const ORDINALS: [&str; 10] = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
];

/// Rewrites every `@name` mention of `prompt` into plain words (see the module docs).
pub fn rewrite_mentions(prompt: &str) -> String {
    let chars: Vec<char> = prompt.chars().collect();
    let mut out = String::with_capacity(prompt.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_mention = c == '@' && !(i > 0 && is_name_char(chars[i - 1]));
        let name_len = if starts_mention {
            mention_len(&chars[i + 1..])
        } else {
            0
        };
        if name_len == 0 {
            out.push(c);
            i += 1;
            continue;
        }
        let name: String = chars[i + 1..i + 1 + name_len].iter().collect();
        out.push_str(&mention_words(&name));
        i += 1 + name_len;
    }
    out
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Length of the name after an `@`: name characters, with single `-` or `.` allowed between
/// them (`@mary-jane`, `@v1.2`), never at the end (so `@cat.` keeps its full stop).
fn mention_len(rest: &[char]) -> usize {
    let mut len = 0;
    while len < rest.len() {
        let c = rest[len];
        let joiner = (c == '-' || c == '.')
            && len > 0
            && rest.get(len + 1).is_some_and(|&n| is_name_char(n));
        if !(is_name_char(c) || joiner) {
            break;
        }
        len += 1;
    }
    len
}

/// The words for one mention's name.
fn mention_words(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_digit()) {
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
    fn named_mentions_become_the_name() {
        assert_eq!(rewrite_mentions("@cat chases @dog."), "cat chases dog.");
        assert_eq!(rewrite_mentions("@red_fox jumps"), "red fox jumps");
        assert_eq!(
            rewrite_mentions("with @mary-jane, ok"),
            "with mary-jane, ok"
        );
        assert_eq!(rewrite_mentions("(@Émile)"), "(Émile)");
    }

    #[test]
    fn numeric_mentions_become_ordinals() {
        assert_eq!(
            rewrite_mentions("@1 hands @2 a cup"),
            "the first subject hands the second subject a cup"
        );
        assert_eq!(
            rewrite_mentions("@10 and @11"),
            "the tenth subject and subject 11"
        );
        assert_eq!(rewrite_mentions("@0"), "subject 0");
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
            assert_eq!(rewrite_mentions(s), s);
        }
        assert_eq!(rewrite_mentions("@@cat"), "@cat");
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
