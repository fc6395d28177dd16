//! `--config FILE` (or `REFVID_CONFIG`): a TOML file of settings, one key per flag.
//!
//! Each key is a flag's long name with `_` or `-` (`model_dir = "/models/wan"`, `engine = "wan"`,
//! `database_url = "postgres://…"`) and becomes that flag's environment variable
//! (`REFVID_MODEL_DIR`, …) unless the environment already sets it, so the order of precedence is
//! command-line flag, then environment, then file. Unknown keys are an error naming the known
//! ones, so a typo does not silently fall back to a default. A list of strings (for repeatable
//! flags: `lora = ["a.safetensors:0.8", "b.safetensors"]`) becomes one `;`-separated value.

use anyhow::{Context, bail};
use std::path::Path;

/// The environment variable a key sets: `model-dir` → `REFVID_MODEL_DIR`.
pub fn env_name(key: &str) -> String {
    let upper = key.trim().to_ascii_uppercase().replace('-', "_");
    if upper.starts_with("REFVID_") {
        upper
    } else {
        format!("REFVID_{upper}")
    }
}

/// The `(variable, value)` pairs a config file's text gives; `known` are the variables the
/// command line reads.
pub fn settings_of(
    text: &str,
    origin: &Path,
    known: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table =
        toml::from_str(text).with_context(|| format!("{} is not valid TOML", origin.display()))?;
    let mut out = Vec::with_capacity(table.len());
    for (key, value) in table {
        let var = env_name(&key);
        if !known.contains(&var) {
            let mut names: Vec<String> = known
                .iter()
                .filter_map(|k| k.strip_prefix("REFVID_"))
                .map(|k| k.to_ascii_lowercase())
                .collect();
            names.sort();
            bail!(
                "{}: unknown setting `{key}` (known: {})",
                origin.display(),
                names.join(", ")
            );
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                list_value(&items).with_context(|| format!("{}: `{key}`", origin.display()))?
            }
            other => bail!(
                "{}: `{key}` must be a string, number, boolean or list of strings, got {}",
                origin.display(),
                other.type_str()
            ),
        };
        out.push((var, text));
    }
    Ok(out)
}

/// A list of strings as one `;`-separated value (what repeatable flags read from their
/// environment variable).
fn list_value(items: &[toml::Value]) -> anyhow::Result<String> {
    let parts = items
        .iter()
        .map(|v| match v {
            toml::Value::String(s) if !s.contains(';') => Ok(s.clone()),
            toml::Value::String(s) => bail!("list entry {s:?} must not contain `;`"),
            other => bail!("list entries must be strings, got {}", other.type_str()),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(parts.join(";"))
}

/// The config file named by `--config FILE`/`--config=FILE` in `args` or by `REFVID_CONFIG`.
pub fn path_from(args: &[String], env: Option<String>) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().cloned();
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(path.to_string());
        }
    }
    env.filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        [
            "REFVID_ENGINE",
            "REFVID_MODEL_DIR",
            "REFVID_STEPS",
            "REFVID_ALLOW_PRIVATE_NETWORKS",
            "REFVID_LORA",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn keys_become_the_flags_variables() {
        let text =
            "engine = \"wan\"\nmodel-dir = \"/m\"\nsteps = 30\nallow_private_networks = true\n";
        let got = settings_of(text, Path::new("c.toml"), &known()).unwrap();
        assert_eq!(
            got,
            vec![
                ("REFVID_ALLOW_PRIVATE_NETWORKS".into(), "true".into()),
                ("REFVID_ENGINE".into(), "wan".into()),
                ("REFVID_MODEL_DIR".into(), "/m".into()),
                ("REFVID_STEPS".into(), "30".into()),
            ]
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = settings_of("modle_dir = \"/m\"", Path::new("c.toml"), &known()).unwrap_err();
        assert!(
            err.to_string().contains("unknown setting `modle_dir`"),
            "{err}"
        );
        assert!(err.to_string().contains("model_dir"), "{err}");
        let err = settings_of("steps = [1]", Path::new("c.toml"), &known()).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("`steps`") && err.contains("must be strings"),
            "{err}"
        );
        let err = settings_of("steps = {a = 1}", Path::new("c.toml"), &known()).unwrap_err();
        assert!(err.to_string().contains("`steps` must be"), "{err}");
        let err = settings_of("lora = [\"a;b\"]", Path::new("c.toml"), &known()).unwrap_err();
        assert!(
            format!("{err:#}").contains("must not contain `;`"),
            "{err:#}"
        );
        assert!(settings_of("engine = ", Path::new("c.toml"), &known()).is_err());
    }

    #[test]
    fn lists_become_one_separated_value() {
        let text = "lora = [\"/l/a.safetensors:0.8\", \"/l/b.safetensors\"]\n";
        let got = settings_of(text, Path::new("c.toml"), &known()).unwrap();
        assert_eq!(
            got,
            vec![(
                "REFVID_LORA".into(),
                "/l/a.safetensors:0.8;/l/b.safetensors".into()
            )]
        );
    }

    #[test]
    fn the_file_comes_from_the_flag_or_the_environment() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            path_from(&args(&["refvid", "serve", "--config", "a.toml"]), None).as_deref(),
            Some("a.toml")
        );
        assert_eq!(
            path_from(&args(&["refvid", "--config=b.toml", "serve"]), None).as_deref(),
            Some("b.toml")
        );
        assert_eq!(
            path_from(&args(&["refvid", "serve"]), Some("c.toml".into())).as_deref(),
            Some("c.toml")
        );
        assert_eq!(path_from(&args(&["refvid", "serve"]), None), None);
    }
}
