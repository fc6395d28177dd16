//! Spoken lines: which quoted passages of the prompt a subject says (`docs/API.md`, "Dialogue").
//!
//! A line is a passage in double quotes (`"…"` or `“…”`). It is **attributed** to a subject
//! when the last `@mention` before its opening quote (and after the previous quoted passage)
//! is followed only by *glue*: spaces, at most one speech verb (`says`, `asks`, `shouts`, …),
//! and at most one `:` or `,`. So `@cat says "Hello there"`, `@1: "Run!"`, `@cat "Hi"` and
//! `@cat whispers, "psst"` are lines; in `@cat jumps and says "Hi"` the words between are more
//! than glue, and `"Hi," says @cat` puts the quote before the mention: neither is attributed.
//! Unattributed quotes are not spoken; they stay in the prompt like any other text. An empty
//! passage says nothing. Lines are spoken only with `audio: true`.

use crate::TaskSpec;

/// A line one subject says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Index into the request's subjects.
    pub subject: usize,
    /// What is said, without the quotes, trimmed.
    pub text: String,
}

/// Verbs that may stand between a mention and its quoted line (any case).
pub const SPEECH_VERBS: &[&str] = &[
    "says",
    "said",
    "say",
    "asks",
    "asked",
    "replies",
    "replied",
    "answers",
    "answered",
    "shouts",
    "shouted",
    "yells",
    "yelled",
    "whispers",
    "whispered",
    "calls",
    "called",
    "cries",
    "cried",
    "exclaims",
    "exclaimed",
    "sings",
    "sang",
    "mutters",
    "muttered",
];

/// The lines of `prompt`, in prompt order, for subjects named `names` (`@N` is the N-th).
pub fn lines(prompt: &str, names: &[&str]) -> Vec<Line> {
    let mentions = mention_spans(prompt, names);
    let mut out = Vec::new();
    let mut after = 0; // where the last quoted passage ended
    for (open, body, close) in quoted(prompt) {
        let speaker = mentions
            .iter()
            .rev()
            .find(|m| m.end <= open && m.start >= after);
        after = close;
        let Some(mention) = speaker else { continue };
        if !is_glue(&prompt[mention.end..open]) {
            continue;
        }
        let text = prompt[body.0..body.1].trim();
        if text.is_empty() {
            continue;
        }
        out.push(Line {
            subject: mention.subject,
            text: text.to_string(),
        });
    }
    out
}

impl TaskSpec {
    /// The lines this request speaks: none unless `audio` is on.
    pub fn spoken_lines(&self) -> Vec<Line> {
        if !self.audio {
            return Vec::new();
        }
        let names: Vec<&str> = self.subjects.iter().map(|s| s.name.as_str()).collect();
        lines(&self.prompt, &names)
    }
}

/// A mention of a known subject: byte range (`@` included) and the subject's index.
struct Span {
    start: usize,
    end: usize,
    subject: usize,
}

/// The prompt's mentions of known subjects (refvid-prompt's one `@mention` rule).
fn mention_spans(prompt: &str, names: &[&str]) -> Vec<Span> {
    refvid_prompt::mentions(prompt, names)
        .into_iter()
        .filter_map(|m| {
            Some(Span {
                start: m.start,
                end: m.end,
                subject: m.subject()?,
            })
        })
        .collect()
}

/// Every quoted passage: (opening quote's byte, the text's byte range, end after the closing
/// quote). An opening quote without a closing one is not a passage.
fn quoted(prompt: &str) -> Vec<(usize, (usize, usize), usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((offset, c)) = prompt[at..]
        .char_indices()
        .find(|&(_, c)| matches!(c, '"' | '“'))
    {
        let open = at + offset;
        let closing = if c == '"' { '"' } else { '”' };
        let body_start = open + c.len_utf8();
        let Some(len) = prompt[body_start..].find(closing) else {
            break;
        };
        let body_end = body_start + len;
        at = body_end + closing.len_utf8();
        out.push((open, (body_start, body_end), at));
    }
    out
}

/// Spaces, at most one speech verb, at most one `:` or `,`.
fn is_glue(between: &str) -> bool {
    let mut rest = between.trim();
    if let Some(stripped) = rest.strip_suffix([':', ',']) {
        rest = stripped.trim_end();
    }
    rest.is_empty() || SPEECH_VERBS.iter().any(|v| rest.eq_ignore_ascii_case(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(prompt: &str) -> Vec<(usize, String)> {
        lines(prompt, &["cat", "ball"])
            .into_iter()
            .map(|l| (l.subject, l.text))
            .collect()
    }

    #[test]
    fn the_three_forms_are_lines_of_their_subject() {
        assert_eq!(
            said(r#"@cat says "Hello there" and @2: "Run!" then @Cat “Bye.”"#),
            vec![
                (0, "Hello there".to_string()),
                (1, "Run!".to_string()),
                (0, "Bye.".to_string())
            ]
        );
        assert_eq!(
            said(r#"@ball whispers, "psst" while @cat ASKS: "who?""#),
            vec![(1, "psst".to_string()), (0, "who?".to_string())]
        );
    }

    #[test]
    fn unattributed_quotes_are_not_lines() {
        // Words that are not glue, a quote before its mention, no mention, an empty quote.
        assert!(said(r#"@cat jumps and says "Hi""#).is_empty());
        assert!(said(r#""Hi," says @cat"#).is_empty());
        assert!(said(r#"a sign reads "OPEN""#).is_empty());
        assert!(said(r#"@cat says """#).is_empty());
        assert!(said(r#"@cat says "unclosed"#).is_empty());
        // A mention inside a line does not attribute the next quote.
        assert_eq!(
            said(r#"@cat says "look, @ball" "no""#),
            vec![(0, "look, @ball".to_string())]
        );
        // Unknown mentions attribute nothing (a checked prompt has none).
        assert!(lines(r#"@dog says "woof""#, &["cat"]).is_empty());
    }

    #[test]
    fn only_audio_requests_speak() {
        let spec = |audio: bool| TaskSpec {
            prompt: r#"@cat says "Hello""#.into(),
            duration_secs: 5,
            subjects: vec![crate::SubjectSpec {
                name: "cat".into(),
                images: vec![],
                voice_id: None,
            }],
            subject_mode: true,
            bgm: false,
            audio,
            watermark: false,
            seed: None,
            resolution: crate::Resolution::P720,
            aspect_ratio: crate::AspectRatio::default(),
            movement: crate::Movement::Auto,
            webhook: None,
            upstream: None,
        };
        assert_eq!(spec(true).spoken_lines().len(), 1);
        assert!(spec(false).spoken_lines().is_empty());
    }
}
