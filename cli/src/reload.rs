//! `SIGHUP`: the configuration file read again and what nats-server
//! reloads without a restart applied: logging (destination, timestamps,
//! debug and trace) and the embedded NATS server's authorization and
//! limits. A change to anything else (ports, the store, the streaming
//! settings, ...) refuses the whole reload, logged, and nothing is applied:
//! a configuration is never half applied.

use std::sync::{Mutex, OnceLock};

use stan_core::nats::router::RouterConfig;

use crate::log;
use crate::server_opts::{self, Command, ServerOptions};

/// Applies a new router configuration to the running embedded NATS
/// server; the changes it made, as log lines.
pub type RouterReload = Box<dyn Fn(RouterConfig) -> Result<Vec<String>, String> + Send + Sync>;

/// What a reload changes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The new logging settings, with the lines saying what changed.
    pub log_changes: Vec<String>,
    /// The new router configuration, when one of its reloadable settings
    /// changed.
    pub router: Option<RouterConfig>,
}

/// The router settings a reload may change (nats-server's reloadable
/// options), cleared so that two configurations compare on the rest.
fn without_reloadable(c: &RouterConfig) -> RouterConfig {
    let d = RouterConfig::default();
    RouterConfig {
        auth: d.auth,
        auth_timeout: d.auth_timeout,
        ping_interval: d.ping_interval,
        max_pings_out: d.max_pings_out,
        max_control_line: d.max_control_line,
        max_payload: d.max_payload,
        max_pending: d.max_pending,
        write_deadline: d.write_deadline,
        max_connections: d.max_connections,
        max_subscriptions: d.max_subscriptions,
        debug: false,
        trace: false,
        // Drawn anew at each parse; not a setting.
        seed: 0,
        ..c.clone()
    }
}

/// What reloading from `old` to `new` does, or the settings that cannot
/// change without a restart (nothing is applied then).
pub fn plan(old: &ServerOptions, new: &ServerOptions) -> Result<Plan, Vec<String>> {
    let mut refused = Vec::new();
    let mut differs = |name: &str, a: String, b: String| {
        if a != b {
            refused.push(format!(
                "config reload not supported for {name}: old={a}, new={b}"
            ));
        }
    };
    differs("host", old.host.clone(), new.host.clone());
    differs("port", old.port.to_string(), new.port.to_string());
    differs(
        "http_port",
        format!("{:?}", old.http_port),
        format!("{:?}", new.http_port),
    );
    differs(
        "http_host",
        format!("{:?}", old.http_host),
        format!("{:?}", new.http_host),
    );
    differs(
        "pid_file",
        format!("{:?}", old.pid_file),
        format!("{:?}", new.pid_file),
    );
    differs(
        "nats_server_url",
        format!("{:?}", old.nats_server),
        format!("{:?}", new.nats_server),
    );
    differs(
        "store",
        format!("{:?}", old.store),
        format!("{:?}", new.store),
    );
    let engine = |o: &ServerOptions| {
        let mut e = o.engine.clone();
        e.seed = 0;
        // Logged through the logging settings, reloaded with them.
        e.trace = false;
        format!("{e:?}")
    };
    differs("streaming options", engine(old), engine(new));
    // Route TLS is read once at startup (its `Debug` shows file names,
    // never key bytes).
    differs(
        "cluster tls",
        format!("{:?}", old.route_tls),
        format!("{:?}", new.route_tls),
    );
    differs(
        "embedded NATS server options",
        format!("{:?}", without_reloadable(&old.router)),
        format!("{:?}", without_reloadable(&new.router)),
    );
    if !refused.is_empty() {
        return Err(refused);
    }
    let router_changed = {
        let (mut a, mut b) = (old.router.clone(), new.router.clone());
        a.seed = 0;
        b.seed = 0;
        format!("{a:?}") != format!("{b:?}")
    };
    Ok(Plan {
        log_changes: old.log.reload_changes(&new.log),
        router: router_changed.then(|| new.router.clone()),
    })
}

/// What `SIGHUP` runs.
pub struct Reloader {
    args: Vec<String>,
    current: Mutex<ServerOptions>,
    router: OnceLock<RouterReload>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for a server started with `args` (without the program
    /// name), which gave `opts`.
    pub fn new(args: Vec<String>, opts: &ServerOptions) -> Reloader {
        Reloader {
            args,
            current: Mutex::new(opts.clone()),
            router: OnceLock::new(),
        }
    }

    /// Sets how the running embedded NATS server takes a new
    /// configuration (none with `-ns`).
    pub fn set_router(&self, apply: RouterReload) {
        let _ = self.router.set(apply);
    }

    /// Reads the configuration again and applies it, logging what changed
    /// or why nothing did.
    pub fn run(&self) {
        log!(Info, "Reloading server configuration");
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if !current.config_files.any() {
            log!(
                Error,
                "Failed to reload server configuration: can only reload config when a file is provided using -c or --config"
            );
            return;
        }
        let new = match server_opts::parse(self.args.clone()) {
            Ok(Command::Serve(new)) => *new,
            Ok(_) => return,
            Err(e) => {
                log!(Error, "Failed to reload server configuration: {e}");
                return;
            }
        };
        let plan = match plan(&current, &new) {
            Ok(plan) => plan,
            Err(refused) => {
                for why in refused {
                    log!(Error, "Failed to reload server configuration: {why}");
                }
                return;
            }
        };
        if let (Some(router), Some(apply)) = (plan.router, self.router.get()) {
            match apply(router) {
                Ok(lines) => lines.iter().for_each(|l| log!(Info, "{l}")),
                Err(e) => {
                    log!(Error, "Failed to reload server configuration: {e}");
                    return;
                }
            }
        }
        if let Err(e) = log::reconfigure(new.log.clone()) {
            log!(Error, "Reloading the logging settings: {e}");
        }
        for line in &plan.log_changes {
            log!(Info, "{line}");
        }
        *current = new;
        log!(Info, "Reloaded server configuration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> ServerOptions {
        match server_opts::parse(args.iter().map(|s| s.to_string())).unwrap() {
            Command::Serve(o) => *o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn logging_and_router_limits_reload() {
        let old = opts(&["-p", "4222"]);
        let new = opts(&["-p", "4222", "-D", "-T=false", "--user", "u", "--pass", "p"]);
        let plan = plan(&old, &new).unwrap();
        assert_eq!(
            plan.log_changes,
            ["Reloaded: debug = true", "Reloaded: logtime = false"]
        );
        let router = plan.router.expect("authorization changed");
        assert!(router.auth.is_required());
        assert!(plan_of(&["-p", "4222"], &["-p", "4222"]).router.is_none());
    }

    fn plan_of(a: &[&str], b: &[&str]) -> Plan {
        plan(&opts(a), &opts(b)).unwrap()
    }

    #[test]
    fn restart_only_changes_refuse_the_whole_reload() {
        let old = opts(&["-p", "4222", "-mm", "10"]);
        let new = opts(&["-p", "4333", "-mm", "20", "-D"]);
        let refused = plan(&old, &new).unwrap_err();
        assert!(
            refused
                .iter()
                .any(|r| r.contains("port: old=4222, new=4333")),
            "{refused:?}"
        );
        assert!(
            refused.iter().any(|r| r.contains("streaming options")),
            "{refused:?}"
        );
    }
}
