//! Command-line flags in the style of Go's `flag` package, as
//! `nats-streaming-server` parses them: `-name value`, `-name=value`,
//! `--name value`, booleans as `-name` or `-name=false`, several names per
//! flag (`-p`, `-port`, `--port`).

use std::collections::HashMap;
use std::time::Duration;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A boolean switch.
    Bool,
    /// A string value.
    Str,
    /// An integer value.
    Int,
    /// A duration (`10s`, `1m30s`, `500ms`, `2h`), at most
    /// [`MAX_DURATION`].
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

    /// Sets flag `name` (its canonical name) to `value` unless the command
    /// line gave it: a configuration file's value, under the flags.
    pub fn set_default(&mut self, name: &'static str, value: String) {
        self.values.entry(name).or_insert(value);
    }

    /// A duration flag (already validated: at most [`MAX_DURATION`]).
    pub fn duration(&self, name: &str) -> Option<Duration> {
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

/// The longest duration a flag takes: Go's largest `time.Duration`,
/// 2^63 - 1 ns (`2562047h47m16.854775807s`, about 292 years). Every
/// duration nats-streaming-server accepts is accepted, a longer one is
/// refused as Go refuses it, and the core saturates deadlines this far out
/// instead of overflowing an `Instant`.
pub const MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

/// Parses a Go duration: a sequence of `<number><unit>` (the number may
/// have a fraction, kept to the nanosecond) with units `ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`; `0` alone is allowed. Negative durations and
/// durations over [`MAX_DURATION`] are refused.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    if v == "0" {
        return Ok(Duration::ZERO);
    }
    if v.is_empty() || v.starts_with('-') {
        return Err("expected a positive duration such as 30s or 1m".into());
    }
    let max = MAX_DURATION.as_nanos();
    let too_large = || {
        format!("duration {v:?} is too large (at most 2562047h47m16.854775807s, about 292 years)")
    };
    // Nanoseconds, exact: a component is at most `max` times an hour in
    // nanoseconds, far below u128's range.
    let mut total: u128 = 0;
    let mut rest = v;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {v:?}"))?;
        let (int, frac) = rest[..num_len]
            .split_once('.')
            .unwrap_or((&rest[..num_len], ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(format!("invalid duration {v:?}"));
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            u => return Err(format!("unknown unit {u:?} in duration {v:?}")),
        };
        rest = &rest[unit_len..];
        let mut whole: u128 = 0;
        for d in int.bytes() {
            whole = whole * 10 + u128::from(d - b'0');
            if whole > max {
                return Err(too_large());
            }
        }
        // Fraction digits past the 18th cannot add a nanosecond to any unit
        // here (at most an hour): ignored, as Go truncates.
        let (mut num, mut den) = (0u128, 1u128);
        for d in frac.bytes().take(18) {
            num = num * 10 + u128::from(d - b'0');
            den *= 10;
        }
        total += whole * unit + num * unit / den;
        if total > max {
            return Err(too_large());
        }
    }
    // `total <= max`, which fits a u64.
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| too_large())
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

    #[test]
    fn durations_are_exact_to_the_nanosecond() {
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("0.1s").unwrap(), Duration::from_millis(100));
        assert_eq!(
            parse_duration("1µs1ns").unwrap(),
            Duration::from_nanos(1001)
        );
        assert_eq!(
            parse_duration("1.0000000000000000009s").unwrap(),
            Duration::from_secs(1)
        );
        for bad in [".s", "1..5s", "1.2.3s", "+1s", "1e3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_past_gos_maximum_are_refused() {
        // Go's largest duration, written both ways, is accepted.
        assert_eq!(
            parse_duration("2562047h47m16.854775807s").unwrap(),
            MAX_DURATION
        );
        assert_eq!(
            parse_duration("9223372036854775807ns").unwrap(),
            MAX_DURATION
        );
        assert_eq!(
            parse_duration("100000h").unwrap(),
            Duration::from_secs(360_000_000)
        );
        for bad in [
            "2562047h47m16.854775808s",
            "9223372036854775808ns",
            "2562048h",
            "99999999999999999999h",
            "999999999999999999999999999999999999999999s",
            "2562047h2562047h",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("too large"), "{bad}: {e}");
        }
    }

    #[test]
    fn out_of_range_durations_name_the_flag_and_value() {
        let e = parse(SPECS, args(&["-hbi", "99999999999999999999h"])).unwrap_err();
        assert!(matches!(
            &e,
            FlagError::BadValue { flag, value, .. }
                if flag == "-hbi" && value == "99999999999999999999h"
        ));
        assert!(e
            .to_string()
            .starts_with("invalid value \"99999999999999999999h\" for flag -hbi: "));
        let e = parse(SPECS, args(&["--hb_interval=-5s"])).unwrap_err();
        assert!(matches!(e, FlagError::BadValue { ref flag, .. } if flag == "-hb_interval"));
        assert!(matches!(
            parse(SPECS, args(&["-p", "99999999999999999999"])).unwrap_err(),
            FlagError::BadValue { .. }
        ));
    }
}
