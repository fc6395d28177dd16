//! Subjects' voices on the installed en_US-joe-medium: the length told without audio is the
//! length spoken, to the sample, and two subjects without a voice of their own sound apart.

use refvid_tts::Catalog;
use refvid_tts::cast::{DEFAULT_PITCHES, cast};

const LINES: [&str; 2] = [
    "Hello there, little ball.",
    "Catch me if you can, it is 4:45 already!",
];

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Median fundamental frequency of the voiced 40 ms frames at 48 kHz (normalised
/// autocorrelation above 0.6 at a lag of 70..400 Hz).
fn median_f0(samples: &[f32]) -> f64 {
    let frame = 1_920;
    let mut found = Vec::new();
    for chunk in samples.chunks_exact(frame) {
        if dot(chunk, chunk) < 1e-3 {
            continue;
        }
        let (mut best, mut best_lag) = (0.0, 0);
        for lag in 120..=686 {
            let (a, b) = (&chunk[..frame - lag], &chunk[lag..]);
            let r = dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt() + 1e-12);
            if r > best {
                (best, best_lag) = (r, lag);
            }
        }
        if best > 0.6 {
            found.push(48_000.0 / best_lag as f64);
        }
    }
    assert!(found.len() >= 5, "too few voiced frames ({})", found.len());
    found.sort_by(f64::total_cmp);
    found[found.len() / 2]
}

/// The installed runtime; fails, saying what to run, when it is missing.
fn catalog() -> Catalog {
    let dir = refvid_tts::runtime::default_dir();
    let catalog = Catalog::open(&dir, &[], 2).unwrap();
    if let Some(why) = catalog.unavailable() {
        panic!(
            "no speech in {} ({why}); run scripts/install-speech.sh",
            dir.display()
        );
    }
    catalog
}

#[test]
fn told_lengths_are_spoken_lengths_and_two_default_voices_differ_in_pitch() {
    let catalog = catalog();
    // A hosted-service id this server does not have, then a subject without a voice_id.
    let roles = cast(&catalog, &[Some("english_voice_hosted_1"), None]).unwrap();
    assert_eq!(roles[0].voice, "en_US-joe-medium");
    assert_eq!(
        roles[0].unknown_voice_id.as_deref(),
        Some("english_voice_hosted_1")
    );
    assert_eq!((roles[0].pitch, roles[1].pitch), (1.0, DEFAULT_PITCHES[1]));
    assert_eq!(roles[1].describe(), "en_US-joe-medium pitch x1.26");
    let known = cast(&catalog, &[Some("en_US-joe-medium")]).unwrap();
    assert_eq!(
        (known[0].pitch, known[0].unknown_voice_id.clone()),
        (1.0, None)
    );

    let mut pitches = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        for (line, text) in LINES.iter().enumerate() {
            let told = role.samples(&catalog, text, 4242, line, 48_000).unwrap();
            let spoken = role.speak(&catalog, text, 4242, line, 48_000).unwrap();
            assert_eq!(spoken.len(), told, "role {i}, line {line}");
            let peak = spoken.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!((0.5..=1.2).contains(&peak), "peak {peak}");
        }
        let spoken = role.speak(&catalog, LINES[0], 4242, 0, 48_000).unwrap();
        pitches.push(median_f0(&spoken));
    }
    let ratio = pitches[1] / pitches[0];
    assert!(
        (1.15..1.4).contains(&ratio),
        "pitches {pitches:?}: ratio {ratio}, wanted about {}",
        DEFAULT_PITCHES[1]
    );
    // A different seed or line index gives different noise, the same seed the same audio.
    let again = roles[0].speak(&catalog, LINES[0], 4242, 0, 48_000).unwrap();
    assert_eq!(
        again,
        roles[0].speak(&catalog, LINES[0], 4242, 0, 48_000).unwrap()
    );
}
