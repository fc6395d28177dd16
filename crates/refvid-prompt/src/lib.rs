//! How a prompt names its subjects: the one `@mention` rule of refvid.
//!
//! The API checks every mention against the request's subjects (`refvid-api`), the models rewrite
//! them into words for their text encoders (`refvid-wan`), and spoken lines are attributed to the
//! subject they follow; all of them read the prompt with [`mentions`]. This crate has no
//! dependencies so that the server (which must not link a model) and the models (which must not
//! link the HTTP API) can both use it.
//!
//! # The rule
//! 1. A mention starts at an `@` that does not follow a name character (a letter, a digit or `_`):
//!    `me@example.com` holds no mention. The scan resumes after each mention's end.
//! 2. The subject it means is the **longest subject name** that follows the `@`, compared
//!    case-insensitively (Unicode lower case: `@Émile` is `émile`), and that ends at a word end:
//!    the next character is not a name character, and not a `-` joined to one. Names may hold
//!    spaces and punctuation (`@red ball`), so names are tried before anything else.
//! 3. Otherwise the mention's word is read: name characters, with single `-` between them
//!    (`@mary-jane`), never ending in `-` (so in `@cat.`, `@cat,` and `@cat-` the punctuation
//!    stays outside). A word of ASCII digits `N` means the N-th subject (`@1` is the first);
//!    any other word, or a number past the subjects (`@0`, `@9` of two), is [`Target::Unknown`].
//! 4. An `@` followed by no name and no word (a lone `@`, `@ 1`, the first `@` of `@@cat`) is
//!    plain text; in `@@cat` the second `@` starts the mention `@cat`.

/// A mention found in a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mention {
    /// Byte range in the prompt, the `@` included.
    pub start: usize,
    pub end: usize,
    /// What it refers to.
    pub target: Target,
}

/// What a mention refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The subject at this index (by its name or by `@N`).
    Subject(usize),
    /// No subject has this name or number.
    Unknown,
}

impl Mention {
    /// The mention's text after the `@` (`red ball` for `@red ball`).
    pub fn word<'a>(&self, prompt: &'a str) -> &'a str {
        &prompt[self.start + 1..self.end]
    }

    /// The subject's index, if it names one.
    pub fn subject(&self) -> Option<usize> {
        match self.target {
            Target::Subject(i) => Some(i),
            Target::Unknown => None,
        }
    }
}

/// Whether `c` is a name character: a letter, a digit or `_`.
pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether two subject names are the same name to a mention (so a request must not use both).
pub fn same_name(a: &str, b: &str) -> bool {
    name_prefix_len(a, b) == Some(a.len())
}

/// Every mention of `prompt`, in order, resolved against the subjects' `names` (see the rule in
/// the crate docs).
pub fn mentions(prompt: &str, names: &[&str]) -> Vec<Mention> {
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(offset) = prompt[pos..].find('@') {
        let at = pos + offset;
        pos = at + 1;
        if prompt[..at].chars().next_back().is_some_and(is_name_char) {
            continue;
        }
        if let Some((target, len)) = resolve(&prompt[at + 1..], names) {
            pos = at + 1 + len;
            found.push(Mention {
                start: at,
                end: pos,
                target,
            });
        }
    }
    found
}

/// Rewrites every mention with `f(mention)`; the text around them is kept.
pub fn rewrite(
    prompt: &str,
    mentions: &[Mention],
    mut f: impl FnMut(&Mention) -> String,
) -> String {
    let mut out = String::with_capacity(prompt.len());
    let mut last = 0;
    for m in mentions {
        out.push_str(&prompt[last..m.start]);
        out.push_str(&f(m));
        last = m.end;
    }
    out.push_str(&prompt[last..]);
    out
}

/// The mention at the start of `rest` (the text after an `@`): its target and byte length.
fn resolve(rest: &str, names: &[&str]) -> Option<(Target, usize)> {
    let by_name = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let len = name_prefix_len(rest, name)?;
            (len > 0 && ends_at_word_end(rest, len)).then_some((i, len))
        })
        .max_by_key(|&(i, len)| (len, std::cmp::Reverse(i)));
    if let Some((i, len)) = by_name {
        return Some((Target::Subject(i), len));
    }
    let len = word_len(rest);
    if len == 0 {
        return None;
    }
    let word = &rest[..len];
    let target = match word.bytes().all(|b| b.is_ascii_digit()) {
        true => match word.parse::<usize>() {
            Ok(n) if (1..=names.len()).contains(&n) => Target::Subject(n - 1),
            _ => Target::Unknown,
        },
        false => Target::Unknown,
    };
    Some((target, len))
}

/// Bytes of `text` that spell `name` at its start, compared by Unicode lower case.
fn name_prefix_len(text: &str, name: &str) -> Option<usize> {
    let mut text_chars = text.char_indices();
    for n in name.chars() {
        let (_, t) = text_chars.next()?;
        if !t.to_lowercase().eq(n.to_lowercase()) {
            return None;
        }
    }
    Some(text_chars.next().map_or(text.len(), |(i, _)| i))
}

/// Whether a match of `len` bytes at the start of `rest` ends a word: a name that ends in a name
/// character must not be followed by another one, or by a `-` joined to one.
fn ends_at_word_end(rest: &str, len: usize) -> bool {
    let ends_in_name_char = rest[..len].chars().next_back().is_some_and(is_name_char);
    !ends_in_name_char || word_len(&rest[len..]) == 0 && !joined(&rest[len..])
}

/// Whether `text` starts with a `-` followed by a name character.
fn joined(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next() == Some('-') && chars.next().is_some_and(is_name_char)
}

/// Length of the word at the start of `text`: name characters, single `-` between them.
fn word_len(text: &str) -> usize {
    let mut len = 0;
    let mut rest = text;
    loop {
        let run = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        len += run;
        rest = &rest[run..];
        if run == 0 || !joined(rest) {
            return len;
        }
        len += 1;
        rest = &rest[1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(word, subject)` of every mention.
    fn scan(prompt: &str, names: &[&str]) -> Vec<(String, Option<usize>)> {
        mentions(prompt, names)
            .iter()
            .map(|m| (m.word(prompt).to_string(), m.subject()))
            .collect()
    }

    fn one(word: &str, subject: Option<usize>) -> Vec<(String, Option<usize>)> {
        vec![(word.to_string(), subject)]
    }

    #[test]
    fn names_and_numbers_resolve() {
        let found = mentions("@cat chases @2 and @Cat.", &["cat", "ball"]);
        let spans: Vec<(usize, usize, Option<usize>)> = found
            .iter()
            .map(|m| (m.start, m.end, m.subject()))
            .collect();
        assert_eq!(
            spans,
            vec![(0, 4, Some(0)), (12, 14, Some(1)), (19, 23, Some(0))]
        );
    }

    #[test]
    fn names_with_digits_underscores_and_hyphens() {
        let names = ["cat2", "red_fox", "mary-jane", "r2-d2"];
        assert_eq!(scan("@cat2 runs", &names), one("cat2", Some(0)));
        assert_eq!(scan("@RED_FOX!", &names), one("RED_FOX", Some(1)));
        assert_eq!(scan("(@mary-jane)", &names), one("mary-jane", Some(2)));
        assert_eq!(scan("@r2-d2's arm", &names), one("r2-d2", Some(3)));
        // A name is not a prefix of a longer word.
        assert_eq!(scan("@cat22", &names), one("cat22", None));
        assert_eq!(scan("@red_foxes", &names), one("red_foxes", None));
        assert_eq!(scan("@mary-janet", &names), one("mary-janet", None));
        // Unknown words keep their joined hyphens.
        assert_eq!(
            scan("@mary-jane-smith", &["cat"]),
            one("mary-jane-smith", None)
        );
    }

    #[test]
    fn trailing_punctuation_stays_outside() {
        for prompt in [
            "@cat.",
            "@cat,",
            "@cat!",
            "@cat-",
            "@cat's",
            "@cat:",
            "@cat--dog",
        ] {
            assert_eq!(scan(prompt, &["cat"]), one("cat", Some(0)), "{prompt}");
            assert_eq!(scan(prompt, &[]), one("cat", None), "{prompt}");
        }
        assert_eq!(scan("@1: \"Run!\"", &["cat"]), one("1", Some(0)));
        assert_eq!(scan("@2.", &["a", "b"]), one("2", Some(1)));
    }

    #[test]
    fn longest_name_wins_and_names_may_hold_spaces() {
        let names = ["red", "red ball"];
        assert_eq!(scan("@red ball rolls", &names), one("red ball", Some(1)));
        assert_eq!(scan("@red balloon", &names), one("red", Some(0)));
        assert_eq!(scan("@red", &names), one("red", Some(0)));
    }

    #[test]
    fn emails_and_glued_at_signs_are_not_mentions() {
        for prompt in [
            "mail me@example.com",
            "a@b.com",
            "x_@cat",
            "just an @ sign",
            "@ 1",
            "@",
            "@@",
            "@-cat",
            "",
        ] {
            assert_eq!(scan(prompt, &["cat", "example"]), vec![], "{prompt}");
        }
    }

    #[test]
    fn double_at_sign_is_an_at_and_a_mention() {
        let found = mentions("@@cat", &["cat"]);
        assert_eq!(
            found,
            vec![Mention {
                start: 1,
                end: 5,
                target: Target::Subject(0)
            }]
        );
        // A mention's end is not a new start.
        assert_eq!(scan("@cat@cat", &["cat"]), one("cat", Some(0)));
    }

    #[test]
    fn unknown_names_and_numbers() {
        let names = ["cat", "ball"];
        assert_eq!(scan("@dog runs", &names), one("dog", None));
        assert_eq!(scan("@0 runs", &names), one("0", None));
        assert_eq!(scan("@3 runs", &names), one("3", None));
        assert_eq!(scan("@99999999999999999999999", &names)[0].1, None);
        assert_eq!(scan("@2nd", &names), one("2nd", None));
    }

    #[test]
    fn case_is_compared_by_unicode_lower_case() {
        assert_eq!(scan("(@ÉMILE)", &["émile"]), one("ÉMILE", Some(0)));
        assert!(same_name("Émile", "émile"));
        assert!(same_name("Cat", "cAT"));
        assert!(!same_name("cat", "cats"));
        assert!(!same_name("cats", "cat"));
    }

    #[test]
    fn a_name_matching_a_number_comes_first() {
        assert_eq!(scan("@2", &["2", "cat"]), one("2", Some(0)));
    }

    #[test]
    fn rewrite_keeps_the_text_around_mentions() {
        let prompt = "@cat chases @2 (a@b.com) @dog.";
        let names = ["cat", "ball"];
        let found = mentions(prompt, &names);
        let text = rewrite(prompt, &found, |m| match m.target {
            Target::Subject(i) => ["the cat", "the ball"][i].to_string(),
            Target::Unknown => format!("<{}>", m.word(prompt)),
        });
        assert_eq!(text, "the cat chases the ball (a@b.com) <dog>.");
        let same = rewrite(prompt, &found, |m| prompt[m.start..m.end].to_string());
        assert_eq!(same, prompt);
    }
}
