//! Explicit step lists: the unshifted timesteps distilled models publish (`1000,750,500,250`),
//! parsed, checked and turned into sigmas (`docs/PARITY.md`, "Fast").
//!
//! A list `t_1 > t_2 > … > t_S` in `(0, N]` (`N = num_train_timesteps`, 1000 for Wan) becomes
//! the sigmas `σ_i = shift·s_i / (1 + (shift − 1)·s_i)` with `s_i = t_i / N`, followed by a final
//! sigma of 0; the model timesteps are `σ_i · N`. Each scheduler does the arithmetic in the
//! precision diffusers uses for it when the list is passed as `set_timesteps(sigmas=t / N)`.

use crate::error::{Result, WanError};

/// A checked step list of a 1000-step model, as the command line gives it (`1000,750,500,250`).
#[derive(Debug, Clone, PartialEq)]
pub struct StepList(pub Vec<f64>);

impl std::str::FromStr for StepList {
    type Err = WanError;
    fn from_str(s: &str) -> Result<Self> {
        parse(s, 1000).map(StepList)
    }
}

/// Parses `1000,750,500,250` (spaces allowed) into a checked step list (see [`check`]).
pub fn parse(text: &str, num_train_timesteps: usize) -> Result<Vec<f64>> {
    let steps = text
        .split(',')
        .map(|part| {
            let part = part.trim();
            part.parse::<f64>().map_err(|_| {
                WanError::Input(format!(
                    "timesteps: `{part}` is not a number (expected e.g. 1000,750,500,250)"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    check(&steps, num_train_timesteps)?;
    Ok(steps)
}

/// Checks a step list: at least one entry, every entry finite and in `(0, N]`, strictly
/// decreasing. The error names the first entry that is wrong.
pub fn check(steps: &[f64], num_train_timesteps: usize) -> Result<()> {
    let n = num_train_timesteps as f64;
    if steps.is_empty() {
        return Err(WanError::Input("timesteps: the list is empty".into()));
    }
    if let Some((i, t)) = steps
        .iter()
        .enumerate()
        .find(|(_, t)| !(t.is_finite() && **t > 0.0 && **t <= n))
    {
        return Err(WanError::Input(format!(
            "timesteps: entry {i} is {t}; every timestep must lie in (0, {n}]"
        )));
    }
    if let Some(i) = steps.windows(2).position(|w| w[1] >= w[0]) {
        return Err(WanError::Input(format!(
            "timesteps: entry {} ({}) is not below entry {i} ({}); the list must decrease",
            i + 1,
            steps[i + 1],
            steps[i]
        )));
    }
    Ok(())
}

/// The evenly spaced list of `n` steps from `N` down (`N·(1 − i/n)`): `1000,750,500,250` for
/// four steps. What the few-step sampler uses when no list is given.
pub fn even(n: usize, num_train_timesteps: usize) -> Vec<f64> {
    let big_n = num_train_timesteps as f64;
    (0..n)
        .map(|i| big_n * (1.0 - i as f64 / n as f64))
        .collect()
}

/// The shift in f64: `s·σ / (1 + (s − 1)·σ)`.
pub fn shift_f64(shift: f64, sigma: f64) -> f64 {
    shift * sigma / (1.0 + (shift - 1.0) * sigma)
}

/// The shift in f32 as numpy/torch evaluate it on an f32 array with Python-float scalars (each
/// scalar rounded to f32 first).
pub fn shift_f32(shift: f64, sigma: f32) -> f32 {
    let s = shift as f32;
    let s1 = (shift - 1.0) as f32;
    (s * sigma) / (1.0 + s1 * sigma)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_bad_entries_are_named() {
        assert_eq!(
            parse(" 1000, 750,500 ,250", 1000).unwrap(),
            vec![1000.0, 750.0, 500.0, 250.0]
        );
        let e = parse("1000,abc", 1000).unwrap_err().to_string();
        assert!(e.contains("`abc`"), "{e}");
        let e = parse("1000,0", 1000).unwrap_err().to_string();
        assert!(e.contains("entry 1 is 0"), "{e}");
        let e = parse("1001", 1000).unwrap_err().to_string();
        assert!(e.contains("(0, 1000]"), "{e}");
        let e = parse("1000,500,500", 1000).unwrap_err().to_string();
        assert!(e.contains("must decrease"), "{e}");
        assert!(parse("", 1000).is_err());
        assert!(check(&[], 1000).is_err());
        assert!(check(&[f64::NAN], 1000).is_err());
    }

    #[test]
    fn even_lists_are_the_published_four_steps() {
        assert_eq!(even(4, 1000), vec![1000.0, 750.0, 500.0, 250.0]);
        assert_eq!(even(1, 1000), vec![1000.0]);
    }

    #[test]
    fn shift_maps_the_ends_to_themselves() {
        assert_eq!(shift_f64(5.0, 1.0), 1.0);
        assert_eq!(shift_f64(5.0, 0.0), 0.0);
        assert!((shift_f64(5.0, 0.75) - 3.75 / 4.0).abs() < 1e-15);
        assert_eq!(shift_f32(1.0, 0.3), 0.3);
    }
}
