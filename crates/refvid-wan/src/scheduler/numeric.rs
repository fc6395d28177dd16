//! numpy's `linspace` (to the bit: the schedules depend on its rounding) and a small dense
//! linear solver for the UniPC coefficients.

/// `numpy.linspace(start, stop, num)` (endpoint included) in f64: `start + i·step` with
/// `step = (stop − start)/(num − 1)`, and the last value exactly `stop`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let div = (num - 1) as f64;
            let step = (stop - start) / div;
            let mut y: Vec<f64> = if step == 0.0 {
                (0..num)
                    .map(|i| i as f64 / div * (stop - start) + start)
                    .collect()
            } else {
                (0..num).map(|i| i as f64 * step + start).collect()
            };
            y[num - 1] = stop;
            y
        }
    }
}

/// Solves `a · x = b` for a small square `a` (row-major, `n × n`) by Gaussian elimination with
/// partial pivoting, in f64. Returns `None` when `a` is singular.
pub fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, &bi)| {
            let mut r = row.clone();
            r.push(bi);
            r
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col] == 0.0 || !m[pivot][col].is_finite() {
            return None;
        }
        m.swap(col, pivot);
        let (top, rest) = m.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for row in rest.iter_mut() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| m[row][k] * x[k]).sum();
        x[row] = (m[row][n] - s) / m[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy() {
        // numpy.linspace(1, 0.001, 4) == [1.0, 0.667, 0.334, 0.001] with these exact bits.
        let y = linspace(1.0, 0.001, 4);
        assert_eq!(y.len(), 4);
        assert_eq!(y[0], 1.0);
        assert_eq!(y[1], 1.0 + (0.001 - 1.0) / 3.0);
        assert_eq!(y[3], 0.001);
        assert_eq!(linspace(2.0, 5.0, 1), vec![2.0]);
        assert!(linspace(0.0, 1.0, 0).is_empty());
    }

    #[test]
    fn solve_small_systems() {
        let x = solve(&[vec![1.0, 1.0], vec![0.5, 1.0]], &[3.0, 2.0]).unwrap();
        assert!(
            (x[0] - 2.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12,
            "{x:?}"
        );
        // Needs a row swap.
        let x = solve(&[vec![0.0, 1.0], vec![2.0, 0.0]], &[3.0, 4.0]).unwrap();
        assert_eq!(x, vec![2.0, 3.0]);
        assert!(solve(&[vec![1.0, 2.0], vec![2.0, 4.0]], &[1.0, 2.0]).is_none());
    }
}
