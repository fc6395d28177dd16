//! Scene colours from the prompt's words and the seed.
//!
//! A handful of themes (meadow, beach, sea, snow, desert, dusk, night, forest, city, studio,
//! space) are picked by the first prompt word that names one ("across the lawn" → meadow);
//! prompts naming none get a pleasant outdoor theme chosen by a hash of their words. The seed
//! then nudges every colour a little, so reruns with new seeds look related but not identical.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub type Rgb = [f32; 3];

/// The colours the backdrop is painted with (channels `0.0..=255.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Palette {
    pub sky_top: Rgb,
    pub sky_horizon: Rgb,
    pub ground_far: Rgb,
    pub ground_near: Rgb,
    pub sun: Rgb,
    pub cloud: Rgb,
}

struct Theme {
    words: &'static [&'static str],
    palette: Palette,
}

const fn theme(words: &'static [&'static str], c: [[f32; 3]; 6]) -> Theme {
    Theme {
        words,
        palette: Palette {
            sky_top: c[0],
            sky_horizon: c[1],
            ground_far: c[2],
            ground_near: c[3],
            sun: c[4],
            cloud: c[5],
        },
    }
}

const SUN: Rgb = [255.0, 236.0, 190.0];
const CLOUD: Rgb = [246.0, 246.0, 250.0];

/// The themes; the first five are the fallbacks for prompts that name no setting.
const THEMES: [Theme; 11] = [
    theme(
        &[
            "lawn", "grass", "meadow", "field", "park", "garden", "yard", "farm",
        ],
        [
            [70.0, 130.0, 210.0],
            [185.0, 215.0, 240.0],
            [120.0, 170.0, 85.0],
            [62.0, 124.0, 52.0],
            SUN,
            CLOUD,
        ],
    ),
    theme(
        &["beach", "sand", "shore", "coast", "island"],
        [
            [55.0, 145.0, 225.0],
            [200.0, 230.0, 245.0],
            [232.0, 208.0, 155.0],
            [212.0, 180.0, 122.0],
            SUN,
            CLOUD,
        ],
    ),
    theme(
        &["sunset", "dusk", "evening", "dawn", "sunrise"],
        [
            [72.0, 62.0, 135.0],
            [250.0, 156.0, 92.0],
            [128.0, 92.0, 82.0],
            [72.0, 56.0, 62.0],
            [255.0, 205.0, 140.0],
            [240.0, 170.0, 150.0],
        ],
    ),
    theme(
        &["forest", "woods", "jungle", "tree", "trees"],
        [
            [82.0, 132.0, 172.0],
            [172.0, 202.0, 200.0],
            [56.0, 104.0, 58.0],
            [32.0, 72.0, 38.0],
            SUN,
            CLOUD,
        ],
    ),
    theme(
        &[
            "snow",
            "snowy",
            "ice",
            "winter",
            "arctic",
            "mountain",
            "mountains",
        ],
        [
            [120.0, 160.0, 210.0],
            [222.0, 230.0, 240.0],
            [232.0, 238.0, 244.0],
            [200.0, 212.0, 228.0],
            SUN,
            CLOUD,
        ],
    ),
    theme(
        &[
            "sea", "ocean", "water", "lake", "river", "pool", "swims", "swim",
        ],
        [
            [60.0, 135.0, 215.0],
            [190.0, 222.0, 242.0],
            [48.0, 118.0, 172.0],
            [22.0, 72.0, 128.0],
            SUN,
            CLOUD,
        ],
    ),
    theme(
        &["desert", "dune", "dunes", "canyon"],
        [
            [88.0, 150.0, 220.0],
            [240.0, 216.0, 172.0],
            [226.0, 176.0, 112.0],
            [196.0, 140.0, 82.0],
            SUN,
            CLOUD,
        ],
    ),
    theme(
        &["night", "moon", "stars", "dark", "midnight"],
        [
            [10.0, 15.0, 42.0],
            [42.0, 52.0, 96.0],
            [32.0, 42.0, 48.0],
            [16.0, 22.0, 28.0],
            [232.0, 232.0, 212.0],
            [70.0, 78.0, 110.0],
        ],
    ),
    theme(
        &["city", "street", "road", "town", "rooftop", "downtown"],
        [
            [108.0, 150.0, 200.0],
            [210.0, 216.0, 226.0],
            [124.0, 124.0, 130.0],
            [82.0, 82.0, 88.0],
            SUN,
            CLOUD,
        ],
    ),
    theme(
        &[
            "studio", "room", "table", "kitchen", "indoor", "indoors", "house", "desk",
        ],
        [
            [92.0, 96.0, 112.0],
            [172.0, 170.0, 178.0],
            [152.0, 146.0, 140.0],
            [112.0, 104.0, 98.0],
            [250.0, 240.0, 220.0],
            [150.0, 150.0, 158.0],
        ],
    ),
    theme(
        &["space", "planet", "galaxy", "orbit", "cosmos"],
        [
            [6.0, 6.0, 22.0],
            [34.0, 22.0, 64.0],
            [62.0, 56.0, 72.0],
            [36.0, 30.0, 46.0],
            [255.0, 220.0, 180.0],
            [60.0, 40.0, 90.0],
        ],
    ),
];

/// The prompt's words, lower-cased, `@` references included as plain words.
pub fn words(prompt: &str) -> Vec<String> {
    prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// FNV-1a over the words: stable across Rust versions, unlike `std`'s hasher.
pub fn words_hash(words: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in words.iter().flat_map(|w| w.bytes().chain([b' '])) {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn base_palette(words: &[String]) -> Palette {
    let named = words
        .iter()
        .find_map(|w| THEMES.iter().find(|t| t.words.contains(&w.as_str())));
    match named {
        Some(t) => t.palette,
        None => THEMES[(words_hash(words) % 5) as usize].palette,
    }
}

/// The palette for a prompt, varied by `rng` (seeded from the job's seed and words).
pub fn choose(prompt: &str, rng: &mut ChaCha8Rng) -> Palette {
    let p = base_palette(&words(prompt));
    let tint: Rgb = [0; 3].map(|_| rng.random_range(-14.0..14.0));
    let mut vary = |c: Rgb| {
        let gain = rng.random_range(0.92..1.08);
        [0, 1, 2].map(|i| (c[i] * gain + tint[i]).clamp(0.0, 250.0))
    };
    Palette {
        sky_top: vary(p.sky_top),
        sky_horizon: vary(p.sky_horizon),
        ground_far: vary(p.ground_far),
        ground_near: vary(p.ground_near),
        sun: p.sun,
        cloud: p.cloud,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pal(prompt: &str, seed: u64) -> Palette {
        choose(prompt, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    #[test]
    fn words_split_references_and_punctuation() {
        assert_eq!(
            words("@cat chases @Ball, across the lawn!"),
            ["cat", "chases", "ball", "across", "the", "lawn"]
        );
    }

    #[test]
    fn settings_in_the_prompt_pick_their_theme() {
        let lawn = pal("@cat chases @ball across the lawn", 1);
        assert!(
            lawn.ground_near[1] > lawn.ground_near[0] + 30.0,
            "green ground: {lawn:?}"
        );
        let night = pal("@owl at night", 1);
        assert!(night.sky_top.iter().all(|&c| c < 60.0), "{night:?}");
    }

    #[test]
    fn palettes_are_deterministic_and_vary_with_the_seed() {
        assert_eq!(pal("a dog", 7), pal("a dog", 7));
        assert_ne!(pal("a dog", 7), pal("a dog", 8));
    }
}
