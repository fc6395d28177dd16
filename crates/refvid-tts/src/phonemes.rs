//! Text → phonemes → ids, the way piper-tts 1.8.0 does it for espeak voices.
//!
//! espeak-ng gives clauses; each clause's phonemes get its punctuation appended (plus a space
//! after `,` `:` `;`, which do not end a sentence), language-switch marks such as `(fr)` are
//! dropped, and the result is split into Unicode code points after canonical decomposition
//! (so an accent is a phoneme of its own). Clauses are grouped into sentences; each sentence
//! becomes one id sequence: `^`, then every phoneme followed by the pad `_`, then `$`.

use crate::TtsError;
use crate::config::VoiceConfig;
use crate::espeak::{Clause, Espeak};
use unicode_normalization::UnicodeNormalization;

/// The sentence-start, pad and sentence-end symbols of Piper's id maps.
const BOS: &str = "^";
const PAD: &str = "_";
const EOS: &str = "$";

/// One sentence's phonemes, each a short string (usually one code point).
pub type Sentence = Vec<String>;

/// Phonemizes `text` for `config`'s voice: one phoneme list per sentence, empty ones dropped.
pub fn phonemize(
    espeak: &Espeak,
    config: &VoiceConfig,
    text: &str,
) -> Result<Vec<Sentence>, TtsError> {
    let clauses = espeak.clauses(&config.espeak_voice, text)?;
    let mut sentences = group_sentences(&clauses);
    if let Some(clusters) = &config.vowel_clusters {
        for sentence in &mut sentences {
            *sentence = merge_clusters(sentence, clusters);
        }
    }
    sentences.retain(|s| !s.is_empty());
    Ok(sentences)
}

/// Groups clauses into sentences of decomposed phonemes.
pub fn group_sentences(clauses: &[Clause]) -> Vec<Sentence> {
    let mut sentences = Vec::new();
    let mut current = Sentence::new();
    for clause in clauses {
        let mut text = strip_language_marks(&clause.phonemes);
        if let Some(t) = clause.terminator {
            text.push(t);
            if matches!(t, ',' | ':' | ';') {
                text.push(' ');
            }
        }
        current.extend(text.nfd().map(String::from));
        if clause.end_of_sentence {
            sentences.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        sentences.push(current);
    }
    sentences
}

/// Removes every `(…)` group: espeak-ng's marks around words it read in another language.
fn strip_language_marks(phonemes: &str) -> String {
    let mut out = String::with_capacity(phonemes.len());
    let mut rest = phonemes;
    while let Some(open) = rest.find('(') {
        match rest[open + 1..].find(')') {
            // Only a non-empty group is a mark, as in piper's `\([^)]+\)`.
            Some(len) if len > 0 => {
                out.push_str(&rest[..open]);
                rest = &rest[open + 1 + len + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Joins runs of phonemes that the voice treats as one (its `vowel_clusters`), longest first.
fn merge_clusters(phonemes: &[String], clusters: &[Vec<String>]) -> Sentence {
    let longest = clusters.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(phonemes.len());
    let mut i = 0;
    while i < phonemes.len() {
        let fits = longest.min(phonemes.len() - i);
        let found = (2..=fits)
            .rev()
            .find(|&n| clusters.iter().any(|c| c[..] == phonemes[i..i + n]));
        match found {
            Some(n) => {
                out.push(phonemes[i..i + n].concat());
                i += n;
            }
            None => {
                out.push(phonemes[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// A sentence's ids: start, each known phoneme followed by the pad, end. Phonemes the voice
/// has no id for are skipped (as piper does); they are returned so the caller can say so.
pub fn to_ids(
    config: &VoiceConfig,
    sentence: &[String],
) -> Result<(Vec<i64>, Vec<String>), TtsError> {
    let map = &config.phoneme_id_map;
    let symbol = |s: &str| {
        map.get(s)
            .ok_or_else(|| TtsError::Config(format!("the voice's phoneme_id_map lacks {s:?}")))
    };
    let (bos, pad, eos) = (symbol(BOS)?, symbol(PAD)?, symbol(EOS)?);
    let mut ids = Vec::with_capacity(sentence.len() * 2 + 3);
    let mut missing = Vec::new();
    ids.extend(bos);
    ids.extend(pad);
    for phoneme in sentence {
        match map.get(phoneme.as_str()) {
            Some(known) => {
                ids.extend(known);
                ids.extend(pad);
            }
            None => missing.push(phoneme.clone()),
        }
    }
    ids.extend(eos);
    Ok((ids, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(p: &str, t: Option<char>, end: bool) -> Clause {
        Clause {
            phonemes: p.into(),
            terminator: t,
            end_of_sentence: end,
        }
    }

    fn joined(s: &[Sentence]) -> Vec<String> {
        s.iter().map(|p| p.concat()).collect()
    }

    #[test]
    fn clauses_group_into_sentences_with_their_punctuation() {
        let s = group_sentences(&[
            clause("həlˈoʊ", Some(','), false),
            clause("wˈɜːld", Some('.'), true),
            clause("haʊ", None, false),
        ]);
        assert_eq!(joined(&s), vec!["həlˈoʊ, wˈɜːld.", "haʊ"]);
        // One code point per phoneme.
        assert_eq!(s[1], vec!["h", "a", "ʊ"]);
    }

    #[test]
    fn accents_are_separate_phonemes_and_language_marks_go() {
        let s = group_sentences(&[clause("(fr)ʒɛ̃(en) ɐ", Some('!'), true)]);
        assert_eq!(s[0], vec!["ʒ", "ɛ", "\u{303}", " ", "ɐ", "!"]);
        assert_eq!(strip_language_marks("a()b(x"), "a()b(x");
    }

    #[test]
    fn vowel_clusters_merge_longest_first() {
        let p: Vec<String> = ["a", "ɪ", "b", "o", "ʊ"].map(String::from).to_vec();
        let clusters = vec![
            vec!["a".to_string(), "ɪ".to_string()],
            vec!["o".to_string(), "ʊ".to_string()],
        ];
        assert_eq!(merge_clusters(&p, &clusters), vec!["aɪ", "b", "oʊ"]);
    }
}
