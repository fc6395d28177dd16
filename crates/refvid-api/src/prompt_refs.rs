//! `@name` and `@N` references in the prompt.
//!
//! A reference starts at an `@` that is not preceded by a letter or digit (so `a@b.com` is not
//! one). It matches the longest subject name that follows it (case-insensitive) and ends at a
//! word boundary, or a number `N` meaning the N-th subject.

/// A reference found in the prompt: where it is and which subject it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    /// Byte range of the reference in the prompt, `@` included.
    pub start: usize,
    pub end: usize,
    /// Index into the subjects.
    pub subject: usize,
}

/// Finds every reference; the error names the first one that matches no subject.
pub fn find_refs(prompt: &str, names: &[&str]) -> Result<Vec<PromptRef>, String> {
    let mut refs = Vec::new();
    let mut prev: Option<char> = None;
    for (at, ch) in prompt.char_indices() {
        let is_ref_start = ch == '@' && !prev.is_some_and(|p| p.is_alphanumeric());
        prev = Some(ch);
        if !is_ref_start {
            continue;
        }
        let rest = &prompt[at + 1..];
        let word = leading_word(rest);
        if word.is_empty() {
            continue; // a lone "@" is just a character
        }
        let (subject, len) = resolve(rest, word, names).ok_or_else(|| unknown(word, names))?;
        refs.push(PromptRef {
            start: at,
            end: at + 1 + len,
            subject,
        });
    }
    Ok(refs)
}

/// Rewrites every reference with `f(subject index)`; text around them is kept.
pub fn rewrite(prompt: &str, refs: &[PromptRef], f: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(prompt.len());
    let mut last = 0;
    for r in refs {
        out.push_str(&prompt[last..r.start]);
        out.push_str(&f(r.subject));
        last = r.end;
    }
    out.push_str(&prompt[last..]);
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

fn leading_word(text: &str) -> &str {
    let end = text.find(|c: char| !is_word_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// Longest subject name at the start of `rest`, then `@N`.
fn resolve(rest: &str, word: &str, names: &[&str]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (i, name) in names.iter().enumerate() {
        let n = name.len();
        let matches = rest.len() >= n
            && rest.is_char_boundary(n)
            && rest[..n].eq_ignore_ascii_case(name)
            && !rest[n..].starts_with(is_word_char);
        if matches && best.is_none_or(|(_, len)| n > len) {
            best = Some((i, n));
        }
    }
    best.or_else(|| {
        let index: usize = word.parse().ok()?;
        (1..=names.len())
            .contains(&index)
            .then(|| (index - 1, word.len()))
    })
}

fn unknown(word: &str, names: &[&str]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("@{n}")).collect();
    format!(
        "refers to @{word}, which matches no subject; use one of {} or @1..@{}",
        list.join(", "),
        names.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve() {
        let r = find_refs("@cat chases @2 and @Cat.", &["cat", "ball"]).unwrap();
        let subjects: Vec<usize> = r.iter().map(|r| r.subject).collect();
        assert_eq!(subjects, vec![0, 1, 0]);
        let text = rewrite(
            "@cat chases @2.",
            &find_refs("@cat chases @2.", &["cat", "ball"]).unwrap(),
            |i| ["the cat", "the ball"][i].into(),
        );
        assert_eq!(text, "the cat chases the ball.");
    }

    #[test]
    fn longest_name_wins_and_emails_are_not_refs() {
        let r = find_refs("@red ball and @red", &["red", "red ball"]).unwrap();
        assert_eq!((r[0].subject, r[1].subject), (1, 0));
        assert!(
            find_refs("mail me at a@b.com", &["cat"])
                .unwrap()
                .is_empty()
        );
        assert!(find_refs("just an @ sign", &["cat"]).unwrap().is_empty());
    }

    #[test]
    fn unknown_refs_are_errors() {
        assert!(
            find_refs("@dog runs", &["cat"])
                .unwrap_err()
                .contains("@dog")
        );
        assert!(find_refs("@3 runs", &["cat", "ball"]).is_err());
        assert!(find_refs("@0 runs", &["cat"]).is_err());
        assert!(find_refs("@catfish", &["cat"]).is_err());
    }
}
