//! `stan-pub`'s and `stan-sub`'s command lines (the flags of the Go
//! examples `stan-pub.go` and `stan-sub.go`) parsed into typed options, and
//! the lines they print.
//!
//! As Go's `flag` package does, flags come first and the first argument that
//! is not a flag (or everything after `--`) starts the positional arguments:
//! `stan-pub -a foo -1` publishes `-1` on `foo`.
//!
//! ```
//! use stan_cli::tool_opts::{parse_sub, args};
//! use stan_tokio::StartAt;
//!
//! let o = parse_sub(args(&["--seq", "5", "--durable", "d", "orders"])).unwrap();
//! assert_eq!(o.subject, "orders");
//! assert_eq!(o.start, StartAt::Sequence(5));
//! assert_eq!(o.durable.as_deref(), Some("d"));
//! ```

use std::time::Duration;

use stan_tokio::{StartAt, SubscriptionOptions};

use crate::flags::{self, FlagError, Kind, Spec, Values};

/// The default NATS URL of both tools.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// The default cluster ID of both tools.
pub const DEFAULT_CLUSTER: &str = "test-cluster";

const SERVER: Spec = Spec {
    names: &["s", "server"],
    kind: Kind::Str,
    value: "url",
    help: "NATS Streaming server URL(s), comma-separated (default: nats://127.0.0.1:4222)",
};
const CLUSTER: Spec = Spec {
    names: &["c", "cluster"],
    kind: Kind::Str,
    value: "cluster name",
    help: "NATS Streaming cluster name (default: test-cluster)",
};

/// Every flag `stan-pub` accepts.
pub const PUB_SPECS: &[Spec] = &[
    SERVER,
    CLUSTER,
    Spec {
        names: &["id", "clientid"],
        kind: Kind::Str,
        value: "client ID",
        help: "NATS Streaming client ID (default: stan-pub)",
    },
    Spec {
        names: &["a", "async"],
        kind: Kind::Bool,
        value: "",
        help: "Asynchronous publish mode (the ack is still awaited before exiting)",
    },
];

/// Every flag `stan-sub` accepts.
pub const SUB_SPECS: &[Spec] = &[
    SERVER,
    CLUSTER,
    Spec {
        names: &["id", "clientid"],
        kind: Kind::Str,
        value: "client ID",
        help: "NATS Streaming client ID (default: stan-sub)",
    },
    Spec {
        names: &["qgroup"],
        kind: Kind::Str,
        value: "name",
        help: "Queue group",
    },
    Spec {
        names: &["seq"],
        kind: Kind::Int,
        value: "seq",
        help: "Start at seqno",
    },
    Spec {
        names: &["all"],
        kind: Kind::Bool,
        value: "",
        help: "Deliver all available messages",
    },
    Spec {
        names: &["new_only"],
        kind: Kind::Bool,
        value: "",
        help: "Deliver only new messages (the default)",
    },
    Spec {
        names: &["last"],
        kind: Kind::Bool,
        value: "",
        help: "Deliver starting with last published message",
    },
    Spec {
        names: &["since"],
        kind: Kind::Duration,
        value: "duration",
        help: "Deliver messages in last interval (e.g. 1s, 90m, 1h30m)",
    },
    Spec {
        names: &["durable"],
        kind: Kind::Str,
        value: "name",
        help: "Durable subscriber name",
    },
    Spec {
        names: &["unsubscribe"],
        kind: Kind::Bool,
        value: "",
        help: "Unsubscribe the durable on exit (instead of closing it)",
    },
    Spec {
        names: &["t", "timestamp"],
        kind: Kind::Bool,
        value: "",
        help: "Prefix received messages with the time (UTC)",
    },
    Spec {
        names: &["count"],
        kind: Kind::Int,
        value: "n",
        help: "Exit after n messages (0: never) [extension, not in the Go tool]",
    },
];

/// Why a command line was refused (callers print it with the usage and
/// exit with code 2; [`FlagError::Help`] asks for the usage on stdout).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    /// A flag-level error (unknown flag, bad value, `-h`).
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// Arguments that parse but are missing, extra or contradictory.
    #[error("{0}")]
    Invalid(String),
}

impl ToolError {
    /// True when `-h`/`--help` was given.
    pub fn is_help(&self) -> bool {
        matches!(self, ToolError::Flag(FlagError::Help))
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnOptions {
    /// NATS URL(s), comma-separated.
    pub url: String,
    /// Cluster ID of the streaming server.
    pub cluster_id: String,
    /// This client's ID.
    pub client_id: String,
}

/// A `stan-pub` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubOptions {
    /// Connection settings.
    pub conn: ConnOptions,
    /// Publish with `publish_async` and await the ack future.
    pub asynchronous: bool,
    /// Channel to publish on.
    pub subject: String,
    /// Payload.
    pub message: String,
}

/// A `stan-sub` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOptions {
    /// Connection settings.
    pub conn: ConnOptions,
    /// Channel to subscribe to.
    pub subject: String,
    /// Queue group (`--qgroup`).
    pub queue: Option<String>,
    /// Durable name (`--durable`).
    pub durable: Option<String>,
    /// Start position (`--seq`, `--all`, `--last`, `--since`; new only
    /// otherwise).
    pub start: StartAt,
    /// On exit, unsubscribe a durable instead of closing it.
    pub unsubscribe: bool,
    /// Prefix message lines with the time.
    pub show_time: bool,
    /// Exit after this many messages (`--count`, our extension).
    pub count: Option<u64>,
}

impl SubOptions {
    /// On exit, close (keep) the subscription rather than remove it: only
    /// for a durable without `--unsubscribe`.
    pub fn keep_on_exit(&self) -> bool {
        self.durable.is_some() && !self.unsubscribe
    }

    /// The client's subscription options: manual acks (each message is
    /// acked once printed, so a durable resumes after the last printed
    /// one) and, with `--count n`, at most `n` messages in flight.
    pub fn subscription(&self) -> SubscriptionOptions {
        let defaults = SubscriptionOptions::default();
        let max_in_flight = match self.count {
            Some(n) => u32::try_from(n)
                .unwrap_or(u32::MAX)
                .min(defaults.max_in_flight),
            None => defaults.max_in_flight,
        };
        SubscriptionOptions {
            queue: self.queue.clone(),
            durable: self.durable.clone(),
            start: self.start,
            max_in_flight,
            manual_ack: true,
            ..defaults
        }
    }
}

/// Owned strings from string slices (for tests and examples).
pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Splits `args` into flag arguments and positional arguments the way Go's
/// `flag` package does: flags (with the value that follows a non-boolean
/// flag written without `=`) up to the first non-flag argument or `--`;
/// that argument and everything after it are positional. A lone `-` is
/// positional. Unknown flags stay with the flags, for
/// [`flags::parse`] to report.
pub fn split_positionals(
    specs: &[Spec],
    args: impl IntoIterator<Item = String>,
) -> (Vec<String>, Vec<String>) {
    let mut flag_args = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            return (flag_args, args.collect());
        }
        let body = match arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
            Some(b) if !b.is_empty() => b,
            _ => {
                let mut positionals = vec![arg];
                positionals.extend(args);
                return (flag_args, positionals);
            }
        };
        let takes_value = !body.contains('=')
            && specs
                .iter()
                .any(|s| s.names.contains(&body) && s.kind != Kind::Bool);
        flag_args.push(arg);
        if takes_value {
            if let Some(value) = args.next() {
                flag_args.push(value);
            }
        }
    }
    (flag_args, Vec::new())
}

fn conn_options(v: &Values, default_id: &str) -> Result<ConnOptions, ToolError> {
    let client_id = v.get("id").unwrap_or(default_id).to_string();
    if client_id.is_empty() {
        return Err(ToolError::Invalid(
            "a unique client ID must be specified".into(),
        ));
    }
    let url = v.get("s").unwrap_or(DEFAULT_URL).to_string();
    if url.is_empty() {
        return Err(ToolError::Invalid("the server URL is empty".into()));
    }
    Ok(ConnOptions {
        url,
        cluster_id: v.get("c").unwrap_or(DEFAULT_CLUSTER).to_string(),
        client_id,
    })
}

fn subject(positionals: &[String]) -> Result<String, ToolError> {
    match positionals.first() {
        Some(s) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(ToolError::Invalid("the subject is empty".into())),
        None => Err(ToolError::Invalid("a subject must be specified".into())),
    }
}

/// Parses `stan-pub`'s arguments (without the program name):
/// `[options] <subject> <message>`.
pub fn parse_pub(args: impl IntoIterator<Item = String>) -> Result<PubOptions, ToolError> {
    let (flag_args, positionals) = split_positionals(PUB_SPECS, args);
    let v = flags::parse(PUB_SPECS, flag_args)?;
    let conn = conn_options(&v, "stan-pub")?;
    let message = match positionals.len() {
        0 | 1 => {
            return Err(ToolError::Invalid(
                "a subject and a message must be specified".into(),
            ))
        }
        2 => positionals[1].clone(),
        _ => {
            return Err(ToolError::Invalid(format!(
                "too many arguments: {:?} (quote a message that has spaces)",
                &positionals[2..]
            )))
        }
    };
    let subject = subject(&positionals)?;
    Ok(PubOptions {
        conn,
        asynchronous: v.flag("a"),
        subject,
        message,
    })
}

/// Parses `stan-sub`'s arguments (without the program name):
/// `[options] <subject>`. At most one start position may be given.
pub fn parse_sub(args: impl IntoIterator<Item = String>) -> Result<SubOptions, ToolError> {
    let (flag_args, positionals) = split_positionals(SUB_SPECS, args);
    let v = flags::parse(SUB_SPECS, flag_args)?;
    let conn = conn_options(&v, "stan-sub")?;
    let subject = subject(&positionals)?;
    if positionals.len() > 1 {
        return Err(ToolError::Invalid(format!(
            "too many arguments: {:?} (stan-sub takes one subject)",
            &positionals[1..]
        )));
    }
    let mut starts: Vec<(&str, StartAt)> = Vec::new();
    if let Some(seq) = v.int("seq") {
        if seq < 1 {
            return Err(ToolError::Invalid(format!(
                "--seq {seq}: sequences start at 1"
            )));
        }
        starts.push(("--seq", StartAt::Sequence(seq as u64)));
    }
    if v.flag("all") {
        starts.push(("--all", StartAt::First));
    }
    if v.flag("last") {
        starts.push(("--last", StartAt::LastReceived));
    }
    if let Some(d) = v.duration("since") {
        starts.push(("--since", StartAt::TimeDelta(d)));
    }
    if v.flag("new_only") {
        starts.push(("--new_only", StartAt::NewOnly));
    }
    let start = match starts.as_slice() {
        [] => StartAt::NewOnly,
        [(_, s)] => *s,
        [(a, _), (b, _), ..] => {
            return Err(ToolError::Invalid(format!(
                "{a} and {b} cannot be combined: give at most one start position"
            )))
        }
    };
    let count = match v.int("count") {
        None | Some(0) => None,
        Some(n) if n < 0 => {
            return Err(ToolError::Invalid(format!(
                "--count {n} cannot be negative"
            )))
        }
        Some(n) => Some(n as u64),
    };
    let non_empty = |name: &str| -> Result<Option<String>, ToolError> {
        match v.get(name) {
            None => Ok(None),
            Some("") => Err(ToolError::Invalid(format!("--{name} is empty"))),
            Some(s) => Ok(Some(s.to_string())),
        }
    };
    Ok(SubOptions {
        conn,
        subject,
        queue: non_empty("qgroup")?,
        durable: non_empty("durable")?,
        start,
        unsubscribe: v.flag("unsubscribe"),
        show_time: v.flag("t"),
        count,
    })
}

/// `stan-pub`'s usage text.
pub fn pub_usage() -> String {
    flags::usage("stan-pub", PUB_SPECS).replacen("[options]", "[options] <subject> <message>", 1)
}

/// `stan-sub`'s usage text.
pub fn sub_usage() -> String {
    flags::usage("stan-sub", SUB_SPECS).replacen("[options]", "[options] <subject>", 1)
}

/// `stan-sub`'s line for the `n`th received message, as Go prints a
/// `stan.Msg` (protobuf text format, zero fields left out):
/// `[#1] Received: sequence:1 subject:"foo" data:"hi" timestamp:1700000000000000000`.
pub fn received_line(
    n: u64,
    sequence: u64,
    subject: &str,
    data: &[u8],
    timestamp: i64,
    redelivered: bool,
    redelivery_count: u32,
) -> String {
    let mut s = format!("[#{n}] Received:");
    if sequence != 0 {
        s.push_str(&format!(" sequence:{sequence}"));
    }
    if !subject.is_empty() {
        s.push_str(&format!(" subject:{}", quote(subject.as_bytes())));
    }
    if !data.is_empty() {
        s.push_str(&format!(" data:{}", quote(data)));
    }
    if timestamp != 0 {
        s.push_str(&format!(" timestamp:{timestamp}"));
    }
    if redelivered {
        s.push_str(" redelivered:true");
    }
    if redelivery_count != 0 {
        s.push_str(&format!(" redeliveryCount:{redelivery_count}"));
    }
    s
}

/// Quotes bytes as the protobuf text format does: `\n`, `\r`, `\t`, `\"`,
/// `\\`, printable ASCII as is, any other byte as a 3-digit octal escape.
pub fn quote(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\{b:03o}")),
        }
    }
    s.push('"');
    s
}

/// `YYYY/MM/DD hh:mm:ss` (UTC) of a duration since the Unix epoch, the
/// prefix `-t` puts before message lines (Go's `log.LstdFlags` format).
pub fn time_prefix(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}/{month:02}/{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(a: &[&str]) -> SubOptions {
        parse_sub(args(a)).unwrap()
    }

    fn sub_err(a: &[&str]) -> ToolError {
        parse_sub(args(a)).unwrap_err()
    }

    #[test]
    fn split_like_go_flag() {
        let specs = SUB_SPECS;
        assert_eq!(
            split_positionals(specs, args(&["-s", "nats://x:1", "--all", "foo", "-x"])),
            (args(&["-s", "nats://x:1", "--all"]), args(&["foo", "-x"]))
        );
        assert_eq!(
            split_positionals(specs, args(&["--seq=3", "--", "-foo"])),
            (args(&["--seq=3"]), args(&["-foo"]))
        );
        assert_eq!(
            split_positionals(specs, args(&["-", "x"])),
            (args(&[]), args(&["-", "x"]))
        );
        // A flag needing a value at the end keeps nothing more.
        assert_eq!(
            split_positionals(specs, args(&["--durable"])),
            (args(&["--durable"]), args(&[]))
        );
        // Unknown flags stay with the flags, reported by flags::parse.
        assert_eq!(
            split_positionals(specs, args(&["--bogus", "foo"])),
            (args(&["--bogus"]), args(&["foo"]))
        );
    }

    #[test]
    fn pub_defaults_and_flags() {
        let o = parse_pub(args(&["foo", "hello"])).unwrap();
        assert_eq!(
            o,
            PubOptions {
                conn: ConnOptions {
                    url: DEFAULT_URL.into(),
                    cluster_id: DEFAULT_CLUSTER.into(),
                    client_id: "stan-pub".into(),
                },
                asynchronous: false,
                subject: "foo".into(),
                message: "hello".into(),
            }
        );
        let o = parse_pub(args(&[
            "-s",
            "nats://h:1",
            "--cluster=c1",
            "-id",
            "me",
            "-a",
            "foo",
            "-1",
        ]))
        .unwrap();
        assert_eq!(o.conn.url, "nats://h:1");
        assert_eq!(o.conn.cluster_id, "c1");
        assert_eq!(o.conn.client_id, "me");
        assert!(o.asynchronous);
        assert_eq!(o.message, "-1");
        let o = parse_pub(args(&["--async", "--clientid=x", "foo", ""])).unwrap();
        assert!(o.asynchronous);
        assert_eq!((o.conn.client_id.as_str(), o.message.as_str()), ("x", ""));
    }

    #[test]
    fn pub_errors() {
        let e = |a: &[&str]| parse_pub(args(a)).unwrap_err();
        assert!(matches!(e(&[]), ToolError::Invalid(_)));
        assert!(matches!(e(&["foo"]), ToolError::Invalid(_)));
        assert!(matches!(e(&["foo", "a", "b"]), ToolError::Invalid(_)));
        assert!(matches!(e(&["", "a"]), ToolError::Invalid(_)));
        assert!(matches!(e(&["-id", "", "foo", "a"]), ToolError::Invalid(_)));
        assert_eq!(
            e(&["--bogus", "foo", "a"]),
            ToolError::Flag(FlagError::Unknown("-bogus".into()))
        );
        assert_eq!(
            e(&["-s"]),
            ToolError::Flag(FlagError::MissingValue("-s".into()))
        );
        assert!(e(&["-h"]).is_help());
        assert!(e(&["--help", "foo", "bar"]).is_help());
    }

    #[test]
    fn sub_defaults() {
        let o = sub(&["foo"]);
        assert_eq!(
            o,
            SubOptions {
                conn: ConnOptions {
                    url: DEFAULT_URL.into(),
                    cluster_id: DEFAULT_CLUSTER.into(),
                    client_id: "stan-sub".into(),
                },
                subject: "foo".into(),
                queue: None,
                durable: None,
                start: StartAt::NewOnly,
                unsubscribe: false,
                show_time: false,
                count: None,
            }
        );
        assert!(!o.keep_on_exit());
        let s = o.subscription();
        assert!(s.manual_ack);
        assert_eq!(s.max_in_flight, 1024);
        assert_eq!(s.start, StartAt::NewOnly);
    }

    #[test]
    fn sub_start_positions() {
        assert_eq!(sub(&["--seq", "2", "foo"]).start, StartAt::Sequence(2));
        assert_eq!(sub(&["-seq=7", "foo"]).start, StartAt::Sequence(7));
        assert_eq!(sub(&["--all", "foo"]).start, StartAt::First);
        assert_eq!(sub(&["-last", "foo"]).start, StartAt::LastReceived);
        assert_eq!(sub(&["--new_only", "foo"]).start, StartAt::NewOnly);
        assert_eq!(
            sub(&["--since", "1h", "foo"]).start,
            StartAt::TimeDelta(Duration::from_secs(3600))
        );
        assert_eq!(
            sub(&["-since=1m30s", "foo"]).start,
            StartAt::TimeDelta(Duration::from_secs(90))
        );
        assert_eq!(sub(&["--all=false", "foo"]).start, StartAt::NewOnly);
    }

    #[test]
    fn sub_other_flags() {
        let o = sub(&[
            "-s",
            "nats://h:2",
            "-c",
            "cl",
            "--clientid",
            "me",
            "--qgroup",
            "g",
            "--durable=d",
            "--unsubscribe",
            "-t",
            "--count",
            "3",
            "foo.bar",
        ]);
        assert_eq!(o.conn.url, "nats://h:2");
        assert_eq!(o.conn.cluster_id, "cl");
        assert_eq!(o.conn.client_id, "me");
        assert_eq!(o.queue.as_deref(), Some("g"));
        assert_eq!(o.durable.as_deref(), Some("d"));
        assert!(o.unsubscribe && o.show_time);
        assert!(!o.keep_on_exit());
        assert_eq!(o.count, Some(3));
        assert_eq!(o.subject, "foo.bar");
        let s = o.subscription();
        assert_eq!(s.queue.as_deref(), Some("g"));
        assert_eq!(s.durable.as_deref(), Some("d"));
        assert_eq!(s.max_in_flight, 3);
        assert!(s.manual_ack);
        let o = sub(&["--durable", "d", "foo"]);
        assert!(o.keep_on_exit());
        assert_eq!(sub(&["--count", "0", "foo"]).count, None);
        assert_eq!(
            sub(&["--count", "5000", "foo"])
                .subscription()
                .max_in_flight,
            1024
        );
    }

    #[test]
    fn sub_errors() {
        let invalid = |a: &[&str]| match sub_err(a) {
            ToolError::Invalid(m) => m,
            other => panic!("{a:?}: {other:?}"),
        };
        assert!(invalid(&["--seq", "2", "--all", "foo"]).contains("--seq and --all"));
        assert!(invalid(&["--last", "--since", "1s", "foo"]).contains("cannot be combined"));
        assert!(invalid(&["--all", "--new_only", "foo"]).contains("cannot be combined"));
        assert!(invalid(&["--seq", "0", "foo"]).contains("start at 1"));
        assert!(invalid(&["--seq", "-3", "foo"]).contains("start at 1"));
        assert!(invalid(&["--count", "-1", "foo"]).contains("negative"));
        assert!(invalid(&[]).contains("subject must be specified"));
        assert!(invalid(&["--all"]).contains("subject must be specified"));
        assert!(invalid(&["foo", "bar"]).contains("too many"));
        assert!(invalid(&["--durable", "", "foo"]).contains("--durable is empty"));
        assert!(invalid(&["--qgroup=", "foo"]).contains("--qgroup is empty"));
        assert!(invalid(&["-id=", "foo"]).contains("client ID"));
        assert!(matches!(
            sub_err(&["--since", "1hr", "foo"]),
            ToolError::Flag(FlagError::BadValue { .. })
        ));
        assert!(matches!(
            sub_err(&["--since", "5", "foo"]),
            ToolError::Flag(FlagError::BadValue { .. })
        ));
        assert!(matches!(
            sub_err(&["--seq", "x", "foo"]),
            ToolError::Flag(FlagError::BadValue { .. })
        ));
        assert_eq!(
            sub_err(&["-bogus", "foo"]),
            ToolError::Flag(FlagError::Unknown("-bogus".into()))
        );
        assert!(sub_err(&["-h"]).is_help());
    }

    #[test]
    fn usages() {
        let u = pub_usage();
        assert!(u.starts_with("Usage: stan-pub [options] <subject> <message>\n"));
        assert!(u.contains("--async"));
        let u = sub_usage();
        assert!(u.starts_with("Usage: stan-sub [options] <subject>\n"));
        for f in [
            "--qgroup",
            "--seq",
            "--all",
            "--last",
            "--since",
            "--durable",
        ] {
            assert!(u.contains(f), "{f}");
        }
        assert!(u.contains("--count <n>") && u.contains("extension"));
    }

    #[test]
    fn received_lines() {
        assert_eq!(
            received_line(1, 1, "foo", b"hello", 1_700_000_000_123_456_789, false, 0),
            "[#1] Received: sequence:1 subject:\"foo\" data:\"hello\" timestamp:1700000000123456789"
        );
        assert_eq!(
            received_line(12, 3, "a.b", b"", 5, true, 2),
            "[#12] Received: sequence:3 subject:\"a.b\" timestamp:5 redelivered:true redeliveryCount:2"
        );
        assert_eq!(
            quote(b"a\"b\\c\n\r\t\x00\xc3\xa9~"),
            "\"a\\\"b\\\\c\\n\\r\\t\\000\\303\\251~\""
        );
    }

    #[test]
    fn time_prefixes() {
        assert_eq!(time_prefix(Duration::ZERO), "1970/01/01 00:00:00");
        assert_eq!(
            time_prefix(Duration::from_secs(1_700_000_000)),
            "2023/11/14 22:13:20"
        );
        assert_eq!(
            time_prefix(Duration::from_secs(951_827_696)),
            "2000/02/29 12:34:56"
        );
    }
}
