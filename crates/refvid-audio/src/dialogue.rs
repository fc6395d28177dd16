//! Where spoken lines go in the clip: in prompt order after a short lead-in, with a short pause
//! between lines. The API server uses the same arithmetic to refuse, at submit, dialogue that
//! would not fit the clip.

/// Silence before the first line, in seconds.
pub const LEAD_IN_SECS: f64 = 0.25;
/// Silence between two lines, in seconds.
pub const PAUSE_SECS: f64 = 0.3;

/// The first sample of each line (of `lengths` samples each, at `rate`), and the sample after
/// the last line ends.
pub fn place(lengths: &[usize], rate: u32) -> (Vec<usize>, usize) {
    let lead = (LEAD_IN_SECS * rate as f64).round() as usize;
    let pause = (PAUSE_SECS * rate as f64).round() as usize;
    let mut starts = Vec::with_capacity(lengths.len());
    let mut at = lead;
    for (i, len) in lengths.iter().enumerate() {
        if i > 0 {
            at += pause;
        }
        starts.push(at);
        at += len;
    }
    (starts, if lengths.is_empty() { 0 } else { at })
}

/// Seconds from the clip's start to the end of the last line.
pub fn needed_secs(lengths: &[usize], rate: u32) -> f64 {
    place(lengths, rate).1 as f64 / rate as f64
}

/// The lines (mono, `rate`) laid out on a silent track of `frames` samples; `Err` with the
/// seconds the lines need when they do not fit.
pub fn lay_out(lines: &[Vec<f32>], rate: u32, frames: usize) -> Result<Vec<f32>, f64> {
    let lengths: Vec<usize> = lines.iter().map(Vec::len).collect();
    let (starts, end) = place(&lengths, rate);
    if end > frames {
        return Err(end as f64 / rate as f64);
    }
    let mut track = vec![0.0f32; frames];
    for (line, start) in lines.iter().zip(starts) {
        track[start..start + line.len()].copy_from_slice(line);
    }
    Ok(track)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_a_lead_in_with_pauses_between() {
        let (starts, end) = place(&[100, 50], 1000);
        assert_eq!(starts, vec![250, 650]);
        assert_eq!(end, 700);
        assert_eq!(place(&[], 1000), (vec![], 0));
        assert!((needed_secs(&[1000, 1000], 1000) - 2.55).abs() < 1e-9);
    }

    #[test]
    fn lines_that_do_not_fit_say_how_long_they_need() {
        let track = lay_out(&[vec![1.0; 100]], 1000, 400).unwrap();
        assert_eq!(track.len(), 400);
        assert_eq!(track[249], 0.0);
        assert_eq!(track[250], 1.0);
        assert_eq!(track[350], 0.0);
        assert_eq!(lay_out(&[vec![1.0; 300]], 1000, 500), Err(0.55));
    }
}
