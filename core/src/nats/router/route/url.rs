//! Route URLs: nats-server's forms (`nats-route://user:pass@host:port`,
//! `nats://host:port`, `host:port`), parsed without any IO.

use std::fmt;

/// Where a route is dialled. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User for the remote's cluster authorization.
    pub user: Option<String>,
    /// Password for the remote's cluster authorization.
    pub pass: Option<String>,
}

impl RouteUrl {
    /// Parses a route URL; `None` when it has no host or no valid port.
    pub fn parse(text: &str) -> Option<RouteUrl> {
        let text = text.trim();
        let rest = text.split_once("://").map_or(text, |(_, r)| r);
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once(']')?;
            (h, p.strip_prefix(':')?)
        } else {
            hostport.rsplit_once(':')?
        };
        if host.is_empty() || host.contains('/') {
            return None;
        }
        let port = port.parse().ok()?;
        let (user, pass) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
                None => (Some(percent_decode(a)?), None),
            },
            None => (None, None),
        };
        Some(RouteUrl {
            host: host.to_owned(),
            port,
            user,
            pass,
        })
    }

    /// `host:port`, lower-cased (how nats-server compares route addresses).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host.to_lowercase(), self.port)
        } else {
            format!("{}:{}", self.host.to_lowercase(), self.port)
        }
    }
}

/// Decodes the `%XX` escapes of a URL's user information (Go's
/// `url.Parse`); `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl fmt::Debug for RouteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("pass", &self.pass.as_ref().map(|_| "***"))
            .finish()
    }
}

impl fmt::Display for RouteUrl {
    /// The form nats-server gossips: `nats-route://host:port/` (without
    /// credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nats-route://{}/", self.host_port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_server_forms() {
        let u = RouteUrl::parse("nats-route://ruser:T0p$ecret@10.0.0.2:6222/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.2", 6222));
        assert_eq!(u.user.as_deref(), Some("ruser"));
        assert_eq!(u.pass.as_deref(), Some("T0p$ecret"));
        assert_eq!(u.to_string(), "nats-route://10.0.0.2:6222/");
        let u = RouteUrl::parse("nats://Host.Example:4248").unwrap();
        assert_eq!(u.host_port(), "host.example:4248");
        let u = RouteUrl::parse("[::1]:6222").unwrap();
        assert_eq!(u.to_string(), "nats-route://[::1]:6222/");
        let u = RouteUrl::parse("nats://r%40user:p%3Ass%25@h:1").unwrap();
        assert_eq!(u.user.as_deref(), Some("r@user"));
        assert_eq!(u.pass.as_deref(), Some("p:ss%"));
        assert!(
            !format!("{u:?}").contains("p:ss"),
            "Debug hides the password"
        );
        for bad in [
            "",
            "nats://host",
            "host:port",
            "nats://:6222",
            "h:99999",
            "u:%zz@h:1",
        ] {
            assert_eq!(RouteUrl::parse(bad), None, "{bad}");
        }
    }
}
