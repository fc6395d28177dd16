//! `scheduler_config.json`: which scheduler and with which options.
//!
//! `_class_name` selects [`UniPcConfig`] (`UniPCMultistepScheduler`) or [`EulerConfig`]
//! (`FlowMatchEulerDiscreteScheduler`). Keys default to diffusers' defaults; keys that only
//! concern the discrete-beta schedules (`beta_start`, `trained_betas`, …) are ignored because the
//! flow-sigma path never reads them. A key set to something we do not implement (Karras sigmas,
//! dynamic shifting, thresholding, …) is an error naming the key, never silently ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Result, WanError};

/// The file name inside a scheduler folder.
pub const CONFIG_FILE: &str = "scheduler_config.json";

/// A parsed, validated scheduler config.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerConfig {
    /// `UniPCMultistepScheduler` with flow sigmas.
    UniPc(UniPcConfig),
    /// `FlowMatchEulerDiscreteScheduler`.
    Euler(EulerConfig),
}

/// The options of `UniPCMultistepScheduler` that the flow-sigma path reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct UniPcConfig {
    pub num_train_timesteps: usize,
    pub solver_order: usize,
    pub prediction_type: String,
    pub predict_x0: bool,
    /// `bh1` or `bh2` (`midpoint`, `heun` and `logrho` mean `bh2`, as in diffusers).
    pub solver_type: String,
    pub lower_order_final: bool,
    /// Step indices after which the corrector is skipped.
    pub disable_corrector: Vec<usize>,
    pub use_flow_sigmas: bool,
    pub flow_shift: f64,
    /// `zero` or `sigma_min`.
    pub final_sigmas_type: String,
    pub timestep_spacing: String,
    pub thresholding: bool,
    pub use_karras_sigmas: bool,
    pub use_exponential_sigmas: bool,
    pub use_beta_sigmas: bool,
    pub use_dynamic_shifting: bool,
    pub shift_terminal: Option<f64>,
    pub solver_p: Option<Value>,
}

impl Default for UniPcConfig {
    /// diffusers' defaults (note: `prediction_type` `epsilon` and `use_flow_sigmas` false, which
    /// [`validate`](Self::validate) rejects; the Wan checkpoints set both).
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            solver_order: 2,
            prediction_type: "epsilon".into(),
            predict_x0: true,
            solver_type: "bh2".into(),
            lower_order_final: true,
            disable_corrector: Vec::new(),
            use_flow_sigmas: false,
            flow_shift: 1.0,
            final_sigmas_type: "zero".into(),
            timestep_spacing: "linspace".into(),
            thresholding: false,
            use_karras_sigmas: false,
            use_exponential_sigmas: false,
            use_beta_sigmas: false,
            use_dynamic_shifting: false,
            shift_terminal: None,
            solver_p: None,
        }
    }
}

impl UniPcConfig {
    /// The config the Wan 2.1 checkpoints ship (`flow_prediction`, flow sigmas, order 2, `bh2`)
    /// with the given `flow_shift`.
    pub fn wan(flow_shift: f64) -> Self {
        Self {
            prediction_type: "flow_prediction".into(),
            use_flow_sigmas: true,
            flow_shift,
            ..Self::default()
        }
    }

    /// Checks that every option is one we implement; the error names the key.
    pub fn validate(&mut self) -> std::result::Result<(), String> {
        if self.prediction_type != "flow_prediction" {
            return Err(format!(
                "`prediction_type` is `{}`; only `flow_prediction` is supported",
                self.prediction_type
            ));
        }
        require(self.use_flow_sigmas, "use_flow_sigmas", "true")?;
        require(
            self.predict_x0,
            "predict_x0",
            "true (flow_prediction needs it)",
        )?;
        match self.solver_type.as_str() {
            "bh1" | "bh2" => {}
            "midpoint" | "heun" | "logrho" => self.solver_type = "bh2".into(),
            other => return Err(format!("`solver_type` `{other}` is not bh1 or bh2")),
        }
        if self.solver_order == 0 {
            return Err("`solver_order` must be at least 1".into());
        }
        if !matches!(self.final_sigmas_type.as_str(), "zero" | "sigma_min") {
            return Err(format!(
                "`final_sigmas_type` `{}` is not zero or sigma_min",
                self.final_sigmas_type
            ));
        }
        check_spacing(&self.timestep_spacing)?;
        check_shift(self.flow_shift, "flow_shift")?;
        check_positive(self.num_train_timesteps, "num_train_timesteps")?;
        unsupported(self.thresholding, "thresholding")?;
        unsupported(self.use_karras_sigmas, "use_karras_sigmas")?;
        unsupported(self.use_exponential_sigmas, "use_exponential_sigmas")?;
        unsupported(self.use_beta_sigmas, "use_beta_sigmas")?;
        unsupported(self.use_dynamic_shifting, "use_dynamic_shifting")?;
        unsupported(
            self.shift_terminal.is_some_and(|s| s != 0.0),
            "shift_terminal",
        )?;
        unsupported(
            self.solver_p.as_ref().is_some_and(|v| !v.is_null()),
            "solver_p",
        )
    }
}

/// The options of `FlowMatchEulerDiscreteScheduler` that we implement.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct EulerConfig {
    pub num_train_timesteps: usize,
    pub shift: f64,
    pub use_dynamic_shifting: bool,
    pub invert_sigmas: bool,
    pub shift_terminal: Option<f64>,
    pub use_karras_sigmas: bool,
    pub use_exponential_sigmas: bool,
    pub use_beta_sigmas: bool,
    pub stochastic_sampling: bool,
}

impl Default for EulerConfig {
    /// diffusers' defaults.
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            shift: 1.0,
            use_dynamic_shifting: false,
            invert_sigmas: false,
            shift_terminal: None,
            use_karras_sigmas: false,
            use_exponential_sigmas: false,
            use_beta_sigmas: false,
            stochastic_sampling: false,
        }
    }
}

impl EulerConfig {
    /// Default options with the given `shift`.
    pub fn with_shift(shift: f64) -> Self {
        Self {
            shift,
            ..Self::default()
        }
    }

    /// Checks that every option is one we implement; the error names the key.
    pub fn validate(&mut self) -> std::result::Result<(), String> {
        check_shift(self.shift, "shift")?;
        check_positive(self.num_train_timesteps, "num_train_timesteps")?;
        unsupported(self.use_dynamic_shifting, "use_dynamic_shifting")?;
        unsupported(self.invert_sigmas, "invert_sigmas")?;
        unsupported(
            self.shift_terminal.is_some_and(|s| s != 0.0),
            "shift_terminal",
        )?;
        unsupported(self.use_karras_sigmas, "use_karras_sigmas")?;
        unsupported(self.use_exponential_sigmas, "use_exponential_sigmas")?;
        unsupported(self.use_beta_sigmas, "use_beta_sigmas")?;
        unsupported(self.stochastic_sampling, "stochastic_sampling")
    }
}

fn require(ok: bool, key: &str, what: &str) -> std::result::Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("`{key}` must be {what}"))
    }
}

fn unsupported(set: bool, key: &str) -> std::result::Result<(), String> {
    if set {
        Err(format!("`{key}` is set but not supported by this port"))
    } else {
        Ok(())
    }
}

fn check_shift(shift: f64, key: &str) -> std::result::Result<(), String> {
    if shift.is_finite() && shift > 0.0 {
        Ok(())
    } else {
        Err(format!("`{key}` must be a positive number, got {shift}"))
    }
}

fn check_positive(n: usize, key: &str) -> std::result::Result<(), String> {
    if n > 0 {
        Ok(())
    } else {
        Err(format!("`{key}` must be positive"))
    }
}

fn check_spacing(s: &str) -> std::result::Result<(), String> {
    match s {
        "linspace" | "leading" | "trailing" => Ok(()),
        other => Err(format!(
            "`timestep_spacing` `{other}` is not linspace, leading or trailing"
        )),
    }
}

impl SchedulerConfig {
    /// Parses and validates a config; `path` only names the source in errors.
    pub fn from_json(value: &Value, path: &Path) -> Result<Self> {
        let err = |msg: String| WanError::Config {
            path: path.to_path_buf(),
            msg,
        };
        let class = value
            .get("_class_name")
            .and_then(Value::as_str)
            .ok_or_else(|| err("no `_class_name` string".into()))?;
        let parse_err = |e: serde_json::Error| WanError::Json {
            path: path.to_path_buf(),
            source: e,
        };
        match class {
            "UniPCMultistepScheduler" => {
                let mut c: UniPcConfig =
                    serde_json::from_value(value.clone()).map_err(parse_err)?;
                c.validate().map_err(err)?;
                Ok(Self::UniPc(c))
            }
            "FlowMatchEulerDiscreteScheduler" => {
                let mut c: EulerConfig =
                    serde_json::from_value(value.clone()).map_err(parse_err)?;
                c.validate().map_err(err)?;
                Ok(Self::Euler(c))
            }
            other => Err(err(format!(
                "`_class_name` `{other}` is not a supported scheduler \
                 (UniPCMultistepScheduler, FlowMatchEulerDiscreteScheduler)"
            ))),
        }
    }

    /// Reads `scheduler_config.json` from a pipeline folder (`scheduler/` subfolder), a
    /// scheduler folder, or the file itself.
    pub fn load(path: &Path) -> Result<Self> {
        let file = config_file(path)?;
        let value: Value = crate::loading::read_json(&file)?;
        Self::from_json(&value, &file)
    }

    /// Reads the scheduler config of a model folder, or, when the folder has none (the original
    /// Wan release ships none), the shipped Wan UniPC config with `flow_shift`.
    pub fn load_or_wan(path: &Path, flow_shift: f64) -> Result<Self> {
        if path.is_dir() && config_file(path).is_err() {
            return Ok(Self::UniPc(UniPcConfig::wan(flow_shift)));
        }
        Self::load(path)
    }

    /// Overrides the shift (`flow_shift` for UniPC, `shift` for Euler); it must be positive.
    pub fn set_shift(&mut self, shift: f64) -> Result<()> {
        let key = match self {
            Self::UniPc(_) => "flow_shift",
            Self::Euler(_) => "shift",
        };
        check_shift(shift, key).map_err(WanError::Input)?;
        match self {
            Self::UniPc(c) => c.flow_shift = shift,
            Self::Euler(c) => c.shift = shift,
        }
        Ok(())
    }

    /// The shift in use.
    pub fn shift(&self) -> f64 {
        match self {
            Self::UniPc(c) => c.flow_shift,
            Self::Euler(c) => c.shift,
        }
    }

    /// `num_train_timesteps`.
    pub fn num_train_timesteps(&self) -> usize {
        match self {
            Self::UniPc(c) => c.num_train_timesteps,
            Self::Euler(c) => c.num_train_timesteps,
        }
    }
}

fn config_file(path: &Path) -> Result<PathBuf> {
    let candidates = [
        path.join("scheduler").join(CONFIG_FILE),
        path.join(CONFIG_FILE),
        path.to_path_buf(),
    ];
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| WanError::Config {
            path: path.to_path_buf(),
            msg: format!("no scheduler/{CONFIG_FILE} or {CONFIG_FILE} here"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<SchedulerConfig> {
        SchedulerConfig::from_json(&v, Path::new("scheduler_config.json"))
    }

    #[test]
    fn wan_unipc_config_parses() {
        let cfg = parse(json!({
            "_class_name": "UniPCMultistepScheduler", "beta_end": 0.02, "disable_corrector": [],
            "flow_shift": 3.0, "prediction_type": "flow_prediction", "use_flow_sigmas": true,
            "solver_p": null, "trained_betas": null, "solver_type": "bh2"
        }))
        .unwrap();
        assert_eq!(cfg, SchedulerConfig::UniPc(UniPcConfig::wan(3.0)));
    }

    #[test]
    fn unknown_class_is_named() {
        let e = parse(json!({"_class_name": "DDIMScheduler"})).unwrap_err();
        assert!(e.to_string().contains("DDIMScheduler"), "{e}");
        let e = parse(json!({"shift": 3.0})).unwrap_err();
        assert!(e.to_string().contains("_class_name"), "{e}");
    }

    #[test]
    fn unsupported_options_name_the_key() {
        let e = parse(json!({"_class_name": "UniPCMultistepScheduler"})).unwrap_err();
        assert!(e.to_string().contains("prediction_type"), "{e}");
        let e = parse(json!({
            "_class_name": "UniPCMultistepScheduler", "prediction_type": "flow_prediction",
            "use_flow_sigmas": true, "use_karras_sigmas": true
        }))
        .unwrap_err();
        assert!(e.to_string().contains("use_karras_sigmas"), "{e}");
        let e = parse(json!({
            "_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true
        }))
        .unwrap_err();
        assert!(e.to_string().contains("use_dynamic_shifting"), "{e}");
    }

    #[test]
    fn heun_solver_type_means_bh2_and_shift_is_overridable() {
        let mut cfg = parse(json!({
            "_class_name": "UniPCMultistepScheduler", "prediction_type": "flow_prediction",
            "use_flow_sigmas": true, "solver_type": "heun"
        }))
        .unwrap();
        cfg.set_shift(5.0).unwrap();
        assert!(cfg.clone().set_shift(0.0).is_err());
        let SchedulerConfig::UniPc(c) = &cfg else {
            panic!("not UniPC")
        };
        assert_eq!(c.solver_type, "bh2");
        assert_eq!(cfg.shift(), 5.0);
    }
}
