//! The NATS configuration format — the one nats-server and
//! nats-streaming-server read with `-c` and `-sc` — parsed into a tree of
//! positioned values, and that tree mapped to stan-server's settings.
//!
//! The parser is pure: `include`d files are read through a caller-supplied
//! [`Loader`] and `$VARIABLES` fall back to a caller-supplied [`Env`]; the
//! [`fs`] module has the file-system and process-environment versions.
//! It never panics, whatever the input (it is fuzzed), and every error
//! names the file, line and column.
//!
//! ```
//! use stan_config::{from_nats_config, parse_str, GoDuration, NoIncludes, StoreType};
//!
//! let env = |name: &str| (name == "CLUSTER").then(|| "orders-cluster".to_string());
//! let tree = parse_str(
//!     "nats.conf",
//!     r#"
//!     // The embedded NATS server
//!     listen: 0.0.0.0:4222
//!     authorization { user: stan, password: "s3cr3t" }
//!
//!     streaming {
//!       cluster_id: $CLUSTER
//!       store: file
//!       dir: /var/lib/stan
//!       hb_interval: "10s"
//!       store_limits {
//!         max_bytes: 1GB          // a size: 1 << 30
//!         channels { "orders.>": { max_msgs: 0 } }
//!       }
//!     }
//!     "#,
//!     &NoIncludes,
//!     &env,
//! )?;
//! let settings = from_nats_config(&tree)?;
//! assert_eq!(settings.nats.port, Some(4222));
//! assert_eq!(settings.nats.auth.user.as_deref(), Some("stan"));
//! let s = &settings.streaming;
//! assert_eq!(s.cluster_id.as_deref(), Some("orders-cluster"));
//! assert_eq!(s.store_type, Some(StoreType::File));
//! assert_eq!(s.hb_interval, Some(GoDuration(10_000_000_000)));
//! assert_eq!(s.store_limits.global.max_bytes, Some(1 << 30));
//! assert_eq!(s.store_limits.channels[0].name, "orders.>");
//! assert_eq!(s.store_limits.channels[0].limits.max_msgs, Some(0));
//!
//! // Errors name the file, line and column.
//! let tree = parse_str("bad.conf", "streaming {\n  hb_interval: 10\n}\n", &NoIncludes, &env)?;
//! let err = from_nats_config(&tree).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "bad.conf:2:3: parameter \"hb_interval\" value is expected to be string, got int64"
//! );
//! # Ok::<(), stan_config::Error>(())
//! ```
//!
//! # Syntax
//!
//! As nats-server's `conf/lex.go` and `conf/parse.go`:
//!
//! * `key: value`, `key = value` and `key value`; entries end at a new
//!   line, `;` or `,`. Keys may be quoted (`"a.b": 1`, `'a b': 2`).
//! * Comments from `#` or `//` to the end of the line.
//! * Maps `{ … }` (a map value needs no separator: `tls { … }`) and arrays
//!   `[ … ]` with `,` or new lines between values; the whole file may be
//!   wrapped in `{ … }`.
//! * Strings: `"…"` with the escapes `\t \n \r \" \\ \xHH`, `'…'` raw,
//!   unquoted (up to a space, new line, `,`, `;`, `]` or `}`; escapes work
//!   there too), and blocks `( … )` whose closing `)` stands alone on its
//!   line.
//! * Booleans `true/false/yes/no/on/off` (unquoted, any case); integers with
//!   size suffixes (`k m g t p e` ×1000ⁿ, `kb/ki/kib`… ×1024ⁿ); floats;
//!   Zulu date-times `2016-05-04T18:53:41Z`. Unquoted text that starts
//!   with digits but is not a number (`10s`, `1m30s`, `127.0.0.1:4222`) is
//!   a string. Durations are strings at this level; the settings mapping
//!   parses them ([`parse_go_duration`]).
//! * `include file.conf` (or quoted) in key position merges the file's
//!   top-level keys into the current map; the path is relative to the
//!   including file's directory (even if it starts with `/`, as Go's
//!   `filepath.Join`). Include cycles are errors.
//! * `$name` is a reference to a key defined earlier in the current map or
//!   an enclosing one (innermost first), else to the environment variable
//!   `name`, whose value is parsed as a value (`"4222"` is an integer).
//!   An undefined reference is an error. `$2a$…` is a bcrypt hash, kept as
//!   a string.
//! * Keys defined twice: the last definition wins.
//!
//! # Differences from Go
//!
//! Chosen to make errors clear and the parser total; none changes the
//! meaning of a configuration Go accepts, except as noted:
//!
//! * `]` ends a number: Go reads `[1, 2]` as `[1, "2"]`, here `[1, 2]`.
//! * A digit after a size suffix makes the value a string (`1m30s`), as
//!   nats-server#8263 does; Go before it failed to parse such values.
//! * Lone `/` inside a map key is kept (Go drops it). Only ASCII digits
//!   start numbers (Go's `unicode.IsDigit` also takes other scripts' digits,
//!   then fails to parse them).
//! * A NUL byte is an error (Go treats it as the end of the file), an
//!   unknown size suffix (`1kbb`) is an error (Go drops the key), integer
//!   overflow after a suffix is an error (Go wraps), a key without a value
//!   is always an error, a quoted key cut by the end of the file is an
//!   error, `\x` escapes must form valid UTF-8.
//! * Limits Go does not have: nesting depth [`MAX_DEPTH`], include depth
//!   [`MAX_INCLUDE_DEPTH`], [`MAX_NODES`] values per parse; include cycles
//!   are detected (Go overflows its stack).
//! * An `include` cannot appear in an environment variable's value.
//! * A block string may end with `)` followed by `\r\n` (CRLF files).
//! * Positions are 1-based lines and columns in characters; Go reports
//!   lines only (columns in pedantic mode, 0-based bytes). An unterminated
//!   quoted string or block is reported at its opening quote or `(`, not
//!   at the end of the file.
//! * The settings mapping refuses unknown keys (Go ignores them) and
//!   options this build does not implement; it also accepts sizes written
//!   as strings (`max_bytes: "1GB"`). See [`settings`].
//! * A top-level `cluster { }` block is the NATS server's routes
//!   ([`ClusterSettings`]). In a file without a `streaming` block,
//!   nats-streaming-server also reads it as its own (Raft) clustering,
//!   which this build does not have: its keys (`node_id`, `peers`, …) are
//!   refused there, as `streaming { cluster { } }` is.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod fs;
mod lexer;
mod parser;
pub mod settings;
mod units;
mod value;

pub use error::Error;
pub use parser::{
    parse_file, parse_str, Env, Loader, NoEnv, NoIncludes, MAX_DEPTH, MAX_INCLUDE_DEPTH, MAX_NODES,
};
pub use settings::{
    from_nats_config, from_streaming_config, load_nats_config, load_streaming_config, AuthSettings,
    ChannelLimitsEntry, ChannelLimitsSettings, ClusterAuthSettings, ClusterRoute, ClusterSettings,
    ConfigSettings, FileSettings, NatsSettings, NatsTlsSettings, StoreLimitsSettings, StoreType,
    StreamingSettings, StreamingTlsSettings, Warning,
};
pub use units::{parse_go_duration, parse_size, GoDuration};
pub use value::{DateTime, Entry, Map, Pos, Value, ValueKind};
