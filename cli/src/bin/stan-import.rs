//! `stan-import`: takes over a Go `nats-streaming-server` file store
//! directory (0.25.x format). Reads `--from` without modifying it, refuses
//! anything it cannot read exactly (naming the file and offset), writes a
//! new store directory `--dir` all or nothing, opens it as the server
//! would, and prints what it carried over per channel. Then run
//! `stan-server -st FILE --dir <dir>` on it.
//!
//! ```text
//! stan-import --from /var/lib/nats-streaming --dir /var/lib/stan -cid prod-cluster
//! ```

use std::process::ExitCode;

use stan_cli::flags::{self, FlagError, Kind, Spec};
use stan_cli::server_opts::parse_size;
use stan_core::stan::filestore::{Crc32, FileStoreOptions};
use stan_core::stan::store::ChannelLimits;

const SPECS: &[Spec] = &[
    Spec {
        names: &["from"],
        kind: Kind::Str,
        value: "dir",
        help: "The Go server's store directory (its --dir), read only",
    },
    Spec {
        names: &["dir"],
        kind: Kind::Str,
        value: "dir",
        help: "The store directory to create (must not exist)",
    },
    Spec {
        names: &["cid", "cluster_id"],
        kind: Kind::Str,
        value: "string",
        help: "Cluster ID the Go store must have (default: whatever it has)",
    },
    Spec {
        names: &["file_crc"],
        kind: Kind::Bool,
        value: "",
        help: "Check the records' CRCs (default: true)",
    },
    Spec {
        names: &["file_crc_poly"],
        kind: Kind::Int,
        value: "int",
        help: "Polynomial the Go store was written with (default: 3988292384)",
    },
    Spec {
        names: &["encrypt"],
        kind: Kind::Bool,
        value: "",
        help: "The Go store was written with encryption at rest: check its payloads decrypt",
    },
    Spec {
        names: &["encryption_cipher"],
        kind: Kind::Str,
        value: "string",
        help: "Cipher of new writes (AES or CHACHA; what a message was written with is in it)",
    },
    Spec {
        names: &["encryption_key"],
        kind: Kind::Str,
        value: "string",
        help: "The Go store's encryption key (the NATS_STREAMING_ENCRYPTION_KEY environment variable takes precedence)",
    },
    Spec {
        names: &["mm", "max_msgs"],
        kind: Kind::Int,
        value: "int",
        help: "Max number of messages per channel, as the Go server had it (default: 1000000)",
    },
    Spec {
        names: &["mb", "max_bytes"],
        kind: Kind::Str,
        value: "size",
        help: "Max messages total size per channel, as the Go server had it (default: 1GB)",
    },
    Spec {
        names: &["ma", "max_age"],
        kind: Kind::Duration,
        value: "duration",
        help: "Max duration a message can be stored, as the Go server had it (default: unlimited)",
    },
];

fn main() -> ExitCode {
    let v = match flags::parse(SPECS, std::env::args().skip(1)) {
        Ok(v) => v,
        Err(FlagError::Help) => {
            print!("{}", flags::usage("stan-import", SPECS));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-import: {e}");
            eprint!("{}", flags::usage("stan-import", SPECS));
            return ExitCode::from(2);
        }
    };
    let (Some(from), Some(to)) = (v.get("from"), v.get("dir")) else {
        eprintln!("stan-import: --from and --dir are required");
        return ExitCode::from(2);
    };
    let d = ChannelLimits::default();
    let max_bytes = match v.get("mb").map(parse_size) {
        None => d.max_bytes,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("stan-import: invalid value for -mb: {e}");
            return ExitCode::from(2);
        }
    };
    let limits = ChannelLimits {
        max_msgs: v
            .int("mm")
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(d.max_msgs),
        max_bytes,
        max_age: v.duration("ma").unwrap_or(d.max_age),
        ..d
    };
    let mut store = FileStoreOptions::default();
    if let Some(poly) = v.int("file_crc_poly") {
        match Crc32::from_option(poly) {
            Ok(crc) => store.crc = crc,
            Err(e) => {
                eprintln!("stan-import: invalid value for --file_crc_poly: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match stan_cli::server_opts::encryption(
        &v,
        stan_cli::server_opts::env_key(),
        stan_async::entropy_seed,
    ) {
        Ok(enc) => store.encryption = enc,
        Err(e) => {
            eprintln!("stan-import: {e}");
            return ExitCode::from(2);
        }
    }
    let options = stan_store::ImportOptions {
        from: from.into(),
        to: to.into(),
        cluster_id: v.get("cid").map(str::to_owned),
        crc_check: v.get("file_crc").is_none_or(|s| s == "true"),
        store,
        limits: Box::new(move |_| limits),
        now: stan_cli::unix_now_ns(),
    };
    let started = std::time::Instant::now();
    match stan_store::import(options) {
        Ok(report) => {
            print!("{report}");
            println!(
                "imported {from:?} into {to:?} in {:?}; start the server with: stan-server -st FILE --dir {to}",
                started.elapsed()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stan-import: {e}");
            ExitCode::FAILURE
        }
    }
}
