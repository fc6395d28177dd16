//! `UniPCMultistepScheduler` with flow sigmas (`prediction_type = "flow_prediction"`,
//! `use_flow_sigmas = true`, `predict_x0 = true`): the shipped Wan scheduler.
//!
//! Schedule (`set_timesteps(n)`, f64 as numpy): `σ = linspace(1, 1/N, n+1)[..n]`, shifted by
//! `s·σ / (1 + (s − 1)·σ)` with `s = flow_shift`; `σ_0 −= 1e-6` when it is 1; timesteps
//! `⌊σ·N⌋` (integers, as diffusers casts them to int64); then the final σ (0, or the last σ for
//! `final_sigmas_type = "sigma_min"`) is appended and the sigmas are stored as f32. An explicit
//! step list (`set_custom_timesteps`, diffusers' `set_timesteps(sigmas=t/N)`) replaces the
//! linspace by `t/N` and goes through the same shift, nudge and truncation.
//!
//! A step (diffusers' `step`): the model's velocity `v` becomes the data prediction
//! `x0 = x − σ_i·v`; if a previous step exists the UniC corrector refines the current sample with
//! it; then the UniP predictor of order `min(solver_order, steps done + 1)` (and, with
//! `lower_order_final`, at most the number of steps left) gives the next sample. In terms of
//! `α = 1 − σ`, `λ = ln α − ln σ` and `h = λ_t − λ_s0`, both are the `bh1`/`bh2` updates of
//! `multistep_uni_p_bh_update` / `multistep_uni_c_bh_update`; their scalar coefficients are
//! computed in f32, like the 0-d torch tensors of the reference.

use candle_core::{DType, Tensor};

use super::FlowScheduler;
use super::config::UniPcConfig;
use super::numeric::{linspace, solve};
use super::step_list;
use crate::error::{Result, WanError};

/// The UniPC multistep scheduler on flow sigmas.
#[derive(Debug, Clone)]
pub struct UniPcScheduler {
    cfg: UniPcConfig,
    timesteps: Vec<f64>,
    sigmas: Vec<f32>,
    /// Data predictions of the last `solver_order` steps, oldest first.
    model_outputs: Vec<Option<Tensor>>,
    /// The sample the last predictor started from (for the corrector).
    last_sample: Option<Tensor>,
    lower_order_nums: usize,
    /// The order the last predictor used (the corrector of the next step uses it too).
    this_order: usize,
    step_index: usize,
}

/// The scalar coefficients of one predictor or corrector update.
#[derive(Debug, Clone, PartialEq)]
struct Coefficients {
    /// `σ_t / σ_s0`.
    ratio: f32,
    /// `α_t · hφ₁(h)` (`hφ₁ = expm1(−h)`).
    alpha_phi: f32,
    /// `α_t · B(h)`.
    alpha_bh: f32,
    /// `r_k = (λ_{s_k} − λ_s0)/h` for the older steps.
    rks: Vec<f32>,
    /// `R` (`order × order`, rows `r^(i−1)` with a trailing `r = 1`) and `b`.
    r: Vec<Vec<f32>>,
    b: Vec<f32>,
}

/// `(α, σ, λ)` of a flow sigma, in f32.
fn alpha_sigma_lambda(sigma: f32) -> (f32, f32, f32) {
    let alpha = 1.0 - sigma;
    (alpha, sigma, alpha.ln() - sigma.ln())
}

impl UniPcScheduler {
    /// Shifts unshifted flow sigmas (f64, as numpy), nudges a first σ of 1 down by 1e-6, stores
    /// the timesteps `⌊σ·N⌋` and the sigmas (f32) with the final one, and resets the step state.
    fn store(&mut self, unshifted: &[f64]) {
        let big_n = self.cfg.num_train_timesteps as f64;
        let s = self.cfg.flow_shift;
        let mut sig: Vec<f64> = unshifted
            .iter()
            .map(|&x| step_list::shift_f64(s, x))
            .collect();
        let eps = 1e-6;
        if (sig[0] - 1.0).abs() < eps {
            sig[0] -= eps;
        }
        // numpy's astype(int64) truncates toward zero.
        self.timesteps = sig.iter().map(|&x| (x * big_n).trunc()).collect();
        let last = if self.cfg.final_sigmas_type == "sigma_min" {
            sig[sig.len() - 1]
        } else {
            0.0
        };
        sig.push(last);
        self.sigmas = sig.into_iter().map(|x| x as f32).collect();
        self.model_outputs = vec![None; self.cfg.solver_order];
        self.last_sample = None;
        self.lower_order_nums = 0;
        self.this_order = 0;
        self.step_index = 0;
    }

    /// A scheduler for a validated config (see [`UniPcConfig::validate`]).
    pub fn new(cfg: UniPcConfig) -> Self {
        let order = cfg.solver_order;
        Self {
            cfg,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
            model_outputs: vec![None; order],
            last_sample: None,
            lower_order_nums: 0,
            this_order: 0,
            step_index: 0,
        }
    }

    /// The config in use.
    pub fn config(&self) -> &UniPcConfig {
        &self.cfg
    }

    /// The next step index `step` expects.
    pub fn step_index(&self) -> usize {
        self.step_index
    }

    /// The coefficients for going from `sigma_s0` to `sigma_t` given the sigmas of the older
    /// steps (`history[k−1]` is `k` steps before `s0`).
    fn coefficients(&self, sigma_t: f32, sigma_s0: f32, history: &[f32]) -> Coefficients {
        let (alpha_t, sig_t, lambda_t) = alpha_sigma_lambda(sigma_t);
        let (_, sig_s0, lambda_s0) = alpha_sigma_lambda(sigma_s0);
        let h = lambda_t - lambda_s0;
        let mut rks: Vec<f32> = history
            .iter()
            .map(|&s| (alpha_sigma_lambda(s).2 - lambda_s0) / h)
            .collect();
        let hh = -h; // predict_x0
        let h_phi_1 = hh.exp_m1();
        let b_h = if self.cfg.solver_type == "bh1" {
            hh
        } else {
            hh.exp_m1()
        };
        let order = history.len() + 1;
        rks.push(1.0);
        let mut r = Vec::with_capacity(order);
        let mut b = Vec::with_capacity(order);
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let mut factorial: u64 = 1;
        for i in 1..=order {
            r.push(
                rks.iter()
                    .map(|&x| x.powi(i as i32 - 1))
                    .collect::<Vec<f32>>(),
            );
            b.push(h_phi_k * factorial as f32 / b_h);
            factorial *= i as u64 + 1;
            h_phi_k = h_phi_k / hh - (1.0 / factorial as f64) as f32;
        }
        rks.pop();
        Coefficients {
            ratio: sig_t / sig_s0,
            alpha_phi: alpha_t * h_phi_1,
            alpha_bh: alpha_t * b_h,
            rks,
            r,
            b,
        }
    }

    /// The `k`-th newest stored data prediction (`k = 0` is the newest).
    fn output(&self, k: usize) -> Result<&Tensor> {
        let n = self.model_outputs.len();
        self.model_outputs[n - 1 - k]
            .as_ref()
            .ok_or_else(|| WanError::Input(format!("UniPC history lacks the output {k} back")))
    }

    /// `Σ_k ρ_k · D_k` with `D_k = (m_k − m_0) / r_k` (`m_k` `k` steps before the newest).
    fn weighted_differences(&self, rhos: &[f32], rks: &[f32]) -> Result<Tensor> {
        let m0 = self.output(0)?;
        let mut acc: Option<Tensor> = None;
        for (k, (&rho, &rk)) in rhos.iter().zip(rks).enumerate() {
            let mk = self.output(k + 1)?;
            let d = div_scalar(&(mk - m0)?, rk)?;
            let term = d.affine(f64::from(rho), 0.0)?;
            acc = Some(match acc {
                Some(a) => (a + term)?,
                None => term,
            });
        }
        acc.ok_or_else(|| WanError::Input("no differences to weight".into()))
    }

    /// UniP: the next sample from `x` at step `step_index` with the given order.
    fn predict(&self, x: &Tensor, order: usize) -> Result<Tensor> {
        let i = self.step_index;
        let history: Vec<f32> = (1..order).map(|k| self.sigmas[i - k]).collect();
        let c = self.coefficients(self.sigmas[i + 1], self.sigmas[i], &history);
        let m0 = self.output(0)?;
        let base =
            (x.affine(f64::from(c.ratio), 0.0)? - m0.affine(f64::from(c.alpha_phi), 0.0)?)?;
        if order == 1 {
            return Ok(base);
        }
        let rhos = if order == 2 {
            vec![0.5f32]
        } else {
            let k = order - 1;
            let r: Vec<Vec<f32>> = c.r[..k].iter().map(|row| row[..k].to_vec()).collect();
            solve_f32(&r, &c.b[..k])?
        };
        let res = self.weighted_differences(&rhos, &c.rks)?;
        Ok((base - res.affine(f64::from(c.alpha_bh), 0.0)?)?)
    }

    /// UniC: corrects `last_sample`'s update with the new data prediction `model_t`.
    fn correct(&self, model_t: &Tensor, last_sample: &Tensor, order: usize) -> Result<Tensor> {
        let i = self.step_index;
        let history: Vec<f32> = (1..order).map(|k| self.sigmas[i - k - 1]).collect();
        let c = self.coefficients(self.sigmas[i], self.sigmas[i - 1], &history);
        let m0 = self.output(0)?;
        let base = (last_sample.affine(f64::from(c.ratio), 0.0)?
            - m0.affine(f64::from(c.alpha_phi), 0.0)?)?;
        let rhos = if order == 1 {
            vec![0.5f32]
        } else {
            solve_f32(&c.r, &c.b)?
        };
        let (rho_t, rho_hist) = rhos.split_last().expect("at least one coefficient");
        let d1_t = (model_t - m0)?.affine(f64::from(*rho_t), 0.0)?;
        let corr = if rho_hist.is_empty() {
            d1_t
        } else {
            (self.weighted_differences(rho_hist, &c.rks)? + d1_t)?
        };
        Ok((base - corr.affine(f64::from(c.alpha_bh), 0.0)?)?)
    }
}

/// `t / v` elementwise (a true division, as torch does with a 0-d tensor).
fn div_scalar(t: &Tensor, v: f32) -> Result<Tensor> {
    let d = Tensor::new(v, t.device())?.to_dtype(t.dtype())?;
    Ok(t.broadcast_div(&d)?)
}

/// Solves the small system in f64 and rounds the solution to f32.
fn solve_f32(r: &[Vec<f32>], b: &[f32]) -> Result<Vec<f32>> {
    let r64: Vec<Vec<f64>> = r
        .iter()
        .map(|row| row.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let b64: Vec<f64> = b.iter().map(|&x| f64::from(x)).collect();
    let x = solve(&r64, &b64).ok_or_else(|| {
        WanError::Input(format!(
            "UniPC coefficient system is singular (R = {r:?}, b = {b:?}); diffusers gives NaN here \
             (e.g. final_sigmas_type sigma_min without lower_order_final)"
        ))
    })?;
    Ok(x.into_iter().map(|v| v as f32).collect())
}

impl FlowScheduler for UniPcScheduler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(WanError::Input(
                "num_inference_steps must be at least 1".into(),
            ));
        }
        let big_n = self.cfg.num_train_timesteps as f64;
        let unshifted = &linspace(1.0, 1.0 / big_n, n + 1)[..n];
        self.store(unshifted);
        Ok(())
    }

    fn set_custom_timesteps(&mut self, timesteps: &[f64]) -> Result<()> {
        let big_n = self.cfg.num_train_timesteps;
        step_list::check(timesteps, big_n)?;
        let unshifted: Vec<f64> = timesteps.iter().map(|&t| t / big_n as f64).collect();
        self.store(&unshifted);
        Ok(())
    }

    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
    ) -> Result<Tensor> {
        let n = self.timesteps.len();
        if n == 0 {
            return Err(WanError::Input("call set_timesteps before step".into()));
        }
        if step_index != self.step_index || step_index >= n {
            return Err(WanError::Input(format!(
                "UniPC steps must be taken in order: expected step {} of {n}, got {step_index}",
                self.step_index
            )));
        }
        let i = step_index;
        let sample = sample.to_dtype(DType::F32)?;
        let v = model_output.to_dtype(DType::F32)?;
        let x0 = (&sample - v.affine(f64::from(self.sigmas[i]), 0.0)?)?;

        let use_corrector = i > 0 && !self.cfg.disable_corrector.contains(&(i - 1));
        let sample = match (&self.last_sample, use_corrector) {
            (Some(last), true) => self.correct(&x0, last, self.this_order)?,
            _ => sample,
        };

        self.model_outputs.remove(0);
        self.model_outputs.push(Some(x0));
        let order = self.cfg.solver_order;
        let this_order = if self.cfg.lower_order_final {
            order.min(n - i)
        } else {
            order
        };
        self.this_order = this_order.min(self.lower_order_nums + 1);
        let prev = self.predict(&sample, self.this_order)?;
        self.last_sample = Some(sample);
        self.lower_order_nums = (self.lower_order_nums + 1).min(order);
        self.step_index += 1;
        Ok(prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn wan_schedule_starts_below_one_and_ends_at_zero() {
        let mut s = UniPcScheduler::new(UniPcConfig::wan(3.0));
        s.set_timesteps(4).unwrap();
        assert_eq!(s.sigmas().len(), 5);
        assert_eq!(s.sigmas()[0], (1.0f64 - 1e-6) as f32);
        assert_eq!(s.sigmas()[4], 0.0);
        assert_eq!(s.timesteps()[0], 999.0);
        assert!(s.timesteps().windows(2).all(|w| w[0] > w[1]));
        assert!(s.timesteps().iter().all(|t| t.fract() == 0.0));
    }

    #[test]
    fn custom_lists_truncate_to_integer_timesteps() -> Result<()> {
        let mut s = UniPcScheduler::new(UniPcConfig::wan(5.0));
        s.set_custom_timesteps(&[1000.0, 750.0, 500.0, 250.0])?;
        assert_eq!(s.timesteps(), &[999.0, 937.0, 833.0, 625.0]);
        assert_eq!(s.sigmas()[0], (1.0f64 - 1e-6) as f32);
        assert_eq!(s.sigmas()[4], 0.0);
        assert!(s.set_custom_timesteps(&[1000.0, 1000.0]).is_err());
        Ok(())
    }

    #[test]
    fn steps_must_come_in_order() -> Result<()> {
        let mut s = UniPcScheduler::new(UniPcConfig::wan(3.0));
        let x = Tensor::ones(4, DType::F32, &Device::Cpu)?;
        assert!(s.step(&x, 0, &x).is_err(), "no schedule yet");
        s.set_timesteps(3)?;
        assert!(s.step(&x, 1, &x).is_err());
        let y = s.step(&x, 0, &x)?;
        assert!(s.step(&x, 0, &y).is_err());
        s.step(&x, 1, &y)?;
        Ok(())
    }

    #[test]
    fn last_first_order_step_lands_on_the_data_prediction() -> Result<()> {
        // One step with final sigma 0: the result is x0 = x − σ·v exactly.
        let mut s = UniPcScheduler::new(UniPcConfig::wan(3.0));
        s.set_timesteps(1)?;
        let dev = Device::Cpu;
        let x = Tensor::new(&[0.5f32, -1.0], &dev)?;
        let v = Tensor::new(&[2.0f32, 3.0], &dev)?;
        let y = s.step(&v, 0, &x)?.to_vec1::<f32>()?;
        let sig = s.sigmas()[0];
        assert_eq!(y, vec![0.5 - sig * 2.0, -1.0 - sig * 3.0]);
        Ok(())
    }

    #[test]
    fn second_order_coefficients_are_consistent() {
        // R is [[1, 1], [r₁, 1]]; the older step has the lower λ, so r₁ < 0.
        let mut s = UniPcScheduler::new(UniPcConfig::wan(3.0));
        s.set_timesteps(5).unwrap();
        let c = s.coefficients(s.sigmas[3], s.sigmas[2], &[s.sigmas[1]]);
        assert_eq!(c.r.len(), 2);
        assert_eq!(c.r[0], vec![1.0, 1.0]);
        assert_eq!(c.r[1][1], 1.0);
        assert!(c.rks[0] < 0.0, "older step has lower λ: {:?}", c.rks);
        assert!(c.ratio > 0.0 && c.ratio < 1.0);
    }
}
