//! Command-line flags in the style of Go's `flag` package, as
//! `nats-streaming-server` parses them: `-name value`, `-name=value`,
//! `--name value`, booleans as `-name` or `-name=false`, several names per
//! flag (`-p`, `-port`, `--port`).

use std::collections::HashMap;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A boolean switch.
    Bool,
    /// A string value.
    Str,
    /// An integer value.
    Int,
    /// A duration (`10s`, `1m30s`, `500ms`, `2h`).
    Duration,
}

/// One flag: its names, kind and help text.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Names without dashes; the first is canonical.
    pub names: &'static [&'static str],
    /// Kind of value.
    pub kind: Kind,
    /// Placeholder shown in the usage.
    pub value: &'static str,
    /// Help text.
    pub help: &'static str,
}

/// A command-line error, printed with the usage and exit code 2 by callers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlagError {
    /// The flag is not known.
    #[error("flag provided but not defined: {0}")]
    Unknown(String),
    /// The flag needs a value and none followed.
    #[error("flag needs an argument: {0}")]
    MissingValue(String),
    /// The value does not parse.
    #[error("invalid value {value:?} for flag {flag}: {why}")]
    BadValue {
        /// The flag as written.
        flag: String,
        /// The value.
        value: String,
        /// Why it is invalid.
        why: String,
    },
    /// A positional argument where only flags are accepted.
    #[error("unexpected argument: {0}")]
    Positional(String),
    /// `-h`/`--help` was given.
    #[error("help requested")]
    Help,
}

/// Parsed values, by canonical name.
#[derive(Debug, Default)]
pub struct Values {
    values: HashMap<&'static str, String>,
}

impl Values {
    /// The raw value of a flag, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A boolean flag (false when absent).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    /// An integer flag (already validated).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| parse_int(v).ok())
    }

    /// A duration flag (already validated).
    pub fn duration(&self, name: &str) -> Option<std::time::Duration> {
        self.get(name).and_then(|v| parse_duration(v).ok())
    }
}

/// Parses `args` (without the program name) against `specs`.
pub fn parse(specs: &[Spec], args: impl IntoIterator<Item = String>) -> Result<Values, FlagError> {
    let mut values = Values::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            if let Some(extra) = args.next() {
                return Err(FlagError::Positional(extra));
            }
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(FlagError::Positional(arg));
        };
        if body.is_empty() {
            return Err(FlagError::Positional(arg));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name == "h" || name == "help" {
            return Err(FlagError::Help);
        }
        let spec = specs
            .iter()
            .find(|s| s.names.contains(&name))
            .ok_or_else(|| FlagError::Unknown(format!("-{name}")))?;
        let value = match (spec.kind, inline) {
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Bool, Some(v)) => match v.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => "true".into(),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => "false".into(),
                _ => {
                    return Err(FlagError::BadValue {
                        flag: arg.clone(),
                        value: v,
                        why: "not a boolean".into(),
                    })
                }
            },
            (_, Some(v)) => v,
            (_, None) => args
                .next()
                .ok_or_else(|| FlagError::MissingValue(format!("-{name}")))?,
        };
        let bad = |why: String| FlagError::BadValue {
            flag: format!("-{name}"),
            value: value.clone(),
            why,
        };
        match spec.kind {
            Kind::Int => {
                parse_int(&value).map_err(bad)?;
            }
            Kind::Duration => {
                parse_duration(&value).map_err(bad)?;
            }
            Kind::Bool | Kind::Str => {}
        }
        values.values.insert(spec.names[0], value);
    }
    Ok(values)
}

fn parse_int(v: &str) -> Result<i64, String> {
    v.parse::<i64>().map_err(|e| e.to_string())
}

/// Parses a Go duration: a sequence of `<number><unit>` with units `ns`,
/// `us`, `µs`, `ms`, `s`, `m`, `h`; `0` alone is allowed.
pub fn parse_duration(v: &str) -> Result<std::time::Duration, String> {
    if v == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if v.is_empty() || v.starts_with('-') {
        return Err("expected a positive duration such as 30s or 1m".into());
    }
    let mut total = 0f64;
    let mut rest = v;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {v:?}"))?;
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {v:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("unknown unit {u:?} in duration {v:?}")),
        };
        total += num * scale;
        rest = &rest[unit_len..];
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// The usage text for `specs`.
pub fn usage(program: &str, specs: &[Spec]) -> String {
    let mut s = format!("Usage: {program} [options]\n\nOptions:\n");
    for spec in specs {
        let names: Vec<String> = spec
            .names
            .iter()
            .map(|n| {
                if n.len() == 1 {
                    format!("-{n}")
                } else {
                    format!("--{n}")
                }
            })
            .collect();
        let left = if spec.value.is_empty() {
            names.join(", ")
        } else {
            format!("{} <{}>", names.join(", "), spec.value)
        };
        s.push_str(&format!("    {left:<36} {}\n", spec.help));
    }
    s.push_str(&format!(
        "    {:<36} {}\n",
        "-h, --help", "Show this message"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        Spec {
            names: &["p", "port"],
            kind: Kind::Int,
            value: "int",
            help: "port",
        },
        Spec {
            names: &["SD", "stan_debug"],
            kind: Kind::Bool,
            value: "",
            help: "debug",
        },
        Spec {
            names: &["hbi", "hb_interval"],
            kind: Kind::Duration,
            value: "duration",
            help: "hb",
        },
        Spec {
            names: &["user"],
            kind: Kind::Str,
            value: "string",
            help: "user",
        },
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_style_forms() {
        let v = parse(
            SPECS,
            args(&["-p", "4333", "--SD", "-hbi=1m30s", "--user=a"]),
        )
        .unwrap();
        assert_eq!(v.int("p"), Some(4333));
        assert!(v.flag("SD"));
        assert_eq!(v.duration("hbi"), Some(std::time::Duration::from_secs(90)));
        assert_eq!(v.get("user"), Some("a"));
        let v = parse(SPECS, args(&["--port=1", "-stan_debug=false"])).unwrap();
        assert_eq!(v.int("p"), Some(1));
        assert!(!v.flag("SD"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(SPECS, args(&["-x"])).unwrap_err(),
            FlagError::Unknown("-x".into())
        );
        assert_eq!(
            parse(SPECS, args(&["-p"])).unwrap_err(),
            FlagError::MissingValue("-p".into())
        );
        assert!(matches!(
            parse(SPECS, args(&["-p", "x"])).unwrap_err(),
            FlagError::BadValue { .. }
        ));
        assert!(matches!(
            parse(SPECS, args(&["-hbi", "10"])).unwrap_err(),
            FlagError::BadValue { .. }
        ));
        assert_eq!(
            parse(SPECS, args(&["stray"])).unwrap_err(),
            FlagError::Positional("stray".into())
        );
        assert_eq!(parse(SPECS, args(&["-h"])).unwrap_err(), FlagError::Help);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
