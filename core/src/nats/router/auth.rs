//! Single-user and token authentication (docs/protocol.md A.11).

use super::connect::ConnectOptions;

/// What a client must present in `CONNECT`.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No authentication.
    #[default]
    None,
    /// `user` and `pass` must match. `pass` may be a bcrypt hash.
    UserPass {
        /// The user name.
        user: String,
        /// The password, or its bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`).
        pass: String,
    },
    /// `auth_token` must match. The token may be a bcrypt hash.
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPass { user, .. } => write!(f, "UserPass {{ user: {user:?}, pass: *** }}"),
            Auth::Token(_) => f.write_str("Token(***)"),
        }
    }
}

impl Auth {
    /// True when clients must authenticate.
    pub fn is_required(&self) -> bool {
        !matches!(self, Auth::None)
    }
}

/// True when `s` looks like a bcrypt hash, as nats-server decides it:
/// `$2a$`, `$2b$`, `$2x$` or `$2y$`, two digits, `$`.
pub fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 7
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// What the credentials of a `CONNECT` come to without the slow hash.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// They match (plain secret, or a bcrypt secret verified before).
    Accepted,
    /// They do not match.
    Rejected,
    /// `secret` must be checked against the bcrypt `hash`: deliberately
    /// slow work that the router hands to its driver
    /// ([`RouterEvent::VerifyCredentials`](super::RouterEvent::VerifyCredentials)).
    NeedsHash {
        /// What the client presented.
        secret: String,
        /// The configured hash.
        hash: String,
    },
}

/// Checks credentials. Successful bcrypt verifications are remembered (up to
/// a few distinct secrets) so that only the first connection with a given
/// secret pays for the deliberately slow hash; failures are never cached.
/// The hash itself is never computed here: [`Verdict::NeedsHash`] says it
/// is needed, and the router asks its driver to run it off the routing path.
#[derive(Debug, Default)]
pub(crate) struct Authenticator {
    auth: Auth,
    verified: Vec<String>,
}

const VERIFIED_CACHE: usize = 4;

impl Authenticator {
    pub(crate) fn new(auth: Auth) -> Self {
        Authenticator {
            auth,
            verified: Vec::new(),
        }
    }

    pub(crate) fn is_required(&self) -> bool {
        self.auth.is_required()
    }

    /// Whether `opts` carries the configured credentials, as far as that
    /// can be told without computing a bcrypt hash.
    pub(crate) fn check(&self, opts: &ConnectOptions) -> Verdict {
        let (configured, presented) = match &self.auth {
            Auth::None => return Verdict::Accepted,
            Auth::UserPass { user, pass } => {
                if opts.user.as_deref() != Some(user.as_str()) {
                    return Verdict::Rejected;
                }
                (pass, opts.pass.as_deref().unwrap_or_default())
            }
            Auth::Token(token) => (token, opts.auth_token.as_deref().unwrap_or_default()),
        };
        let matches = if !is_bcrypt(configured) {
            constant_time_eq(configured.as_bytes(), presented.as_bytes())
        } else if self
            .verified
            .iter()
            .any(|v| constant_time_eq(v.as_bytes(), presented.as_bytes()))
        {
            true
        } else {
            return Verdict::NeedsHash {
                secret: presented.to_owned(),
                hash: configured.clone(),
            };
        };
        if matches {
            Verdict::Accepted
        } else {
            Verdict::Rejected
        }
    }

    /// `secret` matched the configured hash: later connections presenting
    /// it skip the hash.
    pub(crate) fn remember(&mut self, secret: &str) {
        if self
            .verified
            .iter()
            .any(|v| constant_time_eq(v.as_bytes(), secret.as_bytes()))
        {
            return;
        }
        if self.verified.len() >= VERIFIED_CACHE {
            self.verified.remove(0);
        }
        self.verified.push(secret.to_owned());
    }
}

/// Whether `secret` matches the bcrypt `hash`: the deliberately slow part of
/// authentication (tens of milliseconds at nats-server's usual cost of 10
/// or 11).
pub(crate) fn bcrypt_matches(secret: &str, hash: &str) -> bool {
    // The bcrypt crate reads `$2a$`, `$2b$`, `$2x$` and `$2y$` alike; Go's
    // bcrypt does the same for the variants nats-server accepts.
    bcrypt::verify(secret, hash).unwrap_or(false)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(user: Option<&str>, pass: Option<&str>, token: Option<&str>) -> ConnectOptions {
        ConnectOptions {
            user: user.map(Into::into),
            pass: pass.map(Into::into),
            auth_token: token.map(Into::into),
            ..ConnectOptions::default()
        }
    }

    #[test]
    fn bcrypt_detection() {
        assert!(is_bcrypt("$2a$10$abcdefghijklmnopqrstuv"));
        assert!(is_bcrypt("$2y$04$x"));
        assert!(!is_bcrypt("$2c$10$x"));
        assert!(!is_bcrypt("$2a$1x$x"));
        assert!(!is_bcrypt("plain"));
    }

    /// The check, with the hash run inline (as the driver would).
    fn run(a: &mut Authenticator, o: &ConnectOptions) -> bool {
        match a.check(o) {
            Verdict::Accepted => true,
            Verdict::Rejected => false,
            Verdict::NeedsHash { secret, hash } => {
                let ok = bcrypt_matches(&secret, &hash);
                if ok {
                    a.remember(&secret);
                }
                ok
            }
        }
    }

    #[test]
    fn user_pass_and_token() {
        let mut a = Authenticator::new(Auth::UserPass {
            user: "alice".into(),
            pass: "s3cret".into(),
        });
        assert!(run(&mut a, &opts(Some("alice"), Some("s3cret"), None)));
        assert!(!run(&mut a, &opts(Some("alice"), Some("wrong"), None)));
        assert!(!run(&mut a, &opts(Some("bob"), Some("s3cret"), None)));
        assert!(!run(&mut a, &opts(None, None, None)));
        let mut t = Authenticator::new(Auth::Token("t0ken".into()));
        assert!(run(&mut t, &opts(None, None, Some("t0ken"))));
        assert!(!run(&mut t, &opts(Some("t0ken"), Some("t0ken"), None)));
        assert!(run(
            &mut Authenticator::new(Auth::None),
            &opts(None, None, None)
        ));
    }

    #[test]
    fn bcrypt_hashes_are_accepted_in_every_variant() {
        // Cost 4 keeps the test fast. Hash of "s3cret".
        let hash = bcrypt::hash_with_result("s3cret", 4).unwrap();
        for variant in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoX,
            bcrypt::Version::TwoY,
        ] {
            let h = hash.format_for_version(variant);
            let mut a = Authenticator::new(Auth::Token(h.clone()));
            assert!(!run(&mut a, &opts(None, None, Some("nope"))), "{h}");
            assert!(
                matches!(
                    a.check(&opts(None, None, Some("s3cret"))),
                    Verdict::NeedsHash { .. }
                ),
                "not verified yet: {h}"
            );
            assert!(run(&mut a, &opts(None, None, Some("s3cret"))), "{h}");
            assert!(
                a.check(&opts(None, None, Some("s3cret"))) == Verdict::Accepted,
                "cached: {h}"
            );
            assert!(!run(&mut a, &opts(None, None, Some("s3cre"))));
            assert!(
                matches!(
                    a.check(&opts(None, None, Some("nope"))),
                    Verdict::NeedsHash { .. }
                ),
                "failures are not cached: {h}"
            );
        }
    }
}
