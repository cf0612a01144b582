//! Subject validation and wildcard matching (docs/protocol.md A.6).
//!
//! A subject is one or more non-empty tokens separated by `.`. Tokens may not
//! contain space, tab, CR, LF or FF. In a subscription, a token that is exactly
//! `*` matches one token, and a last token that is exactly `>` matches one or
//! more tokens; `foo*` or `f>o` are ordinary literal tokens.
//!
//! ```
//! use stan_core::nats::subject::{matches, validate_subscribe, SubjectError};
//!
//! assert!(matches(b"foo.*.baz", b"foo.bar.baz"));
//! assert!(matches(b"foo.>", b"foo.bar.baz"));
//! assert!(!matches(b"foo.>", b"foo"));
//! assert_eq!(validate_subscribe(b"foo.>.bar"), Err(SubjectError::FullWildcardNotLast));
//! ```

/// Why a subject is invalid.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectError {
    /// The subject is empty.
    #[error("subject is empty")]
    Empty,
    /// A token is empty (leading, trailing or double `.`).
    #[error("subject has an empty token")]
    EmptyToken,
    /// A token contains whitespace (space, tab, CR, LF, FF).
    #[error("subject contains whitespace")]
    Whitespace,
    /// `>` is used as a token that is not the last one.
    #[error("full wildcard '>' must be the last token")]
    FullWildcardNotLast,
    /// A wildcard token appears where only literal subjects are allowed.
    #[error("wildcards are not allowed here")]
    Wildcard,
}

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

/// Checks a subscription subject: tokens non-empty and free of whitespace,
/// `>` only as the last token. `*` and `>` tokens are allowed.
pub fn validate_subscribe(subject: &[u8]) -> Result<(), SubjectError> {
    if subject.is_empty() {
        return Err(SubjectError::Empty);
    }
    let mut tokens = subject.split(|&b| b == b'.').peekable();
    while let Some(tok) = tokens.next() {
        if tok.is_empty() {
            return Err(SubjectError::EmptyToken);
        }
        if tok.iter().any(|&b| is_space(b)) {
            return Err(SubjectError::Whitespace);
        }
        if tok == b">" && tokens.peek().is_some() {
            return Err(SubjectError::FullWildcardNotLast);
        }
    }
    Ok(())
}

/// Checks a subject for publishing: valid as in [`validate_subscribe`] and
/// with no wildcard token.
pub fn validate_publish(subject: &[u8]) -> Result<(), SubjectError> {
    validate_subscribe(subject)?;
    if !is_literal(subject) {
        return Err(SubjectError::Wildcard);
    }
    Ok(())
}

/// True when no token is exactly `*` or `>` (the subject is not checked for
/// validity otherwise).
pub fn is_literal(subject: &[u8]) -> bool {
    subject
        .split(|&b| b == b'.')
        .all(|tok| tok != b"*" && tok != b">")
}

/// True when `subject` (a literal subject) is matched by `pattern` (a
/// subscription subject that may contain `*` and `>` tokens). Both are
/// assumed valid; invalid input simply does not match.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut pat = pattern.split(|&b| b == b'.');
    let mut sub = subject.split(|&b| b == b'.');
    loop {
        match (pat.next(), sub.next()) {
            (None, None) => return true,
            (Some(b">"), Some(_)) => return pat.next().is_none(),
            (Some(b"*"), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_validation_table() {
        let ok: &[&[u8]] = &[
            b"foo",
            b"foo.bar",
            b"*",
            b">",
            b"foo.*",
            b"foo.>",
            b"*.*.>",
            b"foo*.bar",
            b"f>o.bar",
            b"foo.>bar",
            b"\xc3\xa9t\xc3\xa9.caf\xc3\xa9",
            b"_INBOX.abc.*",
        ];
        for s in ok {
            assert_eq!(
                validate_subscribe(s),
                Ok(()),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
        let bad: &[(&[u8], SubjectError)] = &[
            (b"", SubjectError::Empty),
            (b".", SubjectError::EmptyToken),
            (b".foo", SubjectError::EmptyToken),
            (b"foo.", SubjectError::EmptyToken),
            (b"foo..bar", SubjectError::EmptyToken),
            (b"foo bar", SubjectError::Whitespace),
            (b"foo\tbar", SubjectError::Whitespace),
            (b"foo\rbar", SubjectError::Whitespace),
            (b"foo\nbar", SubjectError::Whitespace),
            (b"foo\x0cbar", SubjectError::Whitespace),
            (b">.foo", SubjectError::FullWildcardNotLast),
            (b"foo.>.bar", SubjectError::FullWildcardNotLast),
        ];
        for (s, e) in bad {
            assert_eq!(
                validate_subscribe(s),
                Err(*e),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn publish_validation_rejects_wildcard_tokens_only() {
        assert_eq!(validate_publish(b"foo.bar"), Ok(()));
        assert_eq!(validate_publish(b"foo*.b>r"), Ok(()));
        assert_eq!(validate_publish(b"foo.*"), Err(SubjectError::Wildcard));
        assert_eq!(validate_publish(b">"), Err(SubjectError::Wildcard));
        assert_eq!(validate_publish(b"foo..bar"), Err(SubjectError::EmptyToken));
    }

    #[test]
    fn matching_table() {
        let table: &[(&[u8], &[u8], bool)] = &[
            (b"foo", b"foo", true),
            (b"foo", b"bar", false),
            (b"foo", b"foo.bar", false),
            (b"foo.bar", b"foo", false),
            (b"*", b"foo", true),
            (b"*", b"foo.bar", false),
            (b"foo.*", b"foo.bar", true),
            (b"foo.*", b"foo", false),
            (b"foo.*", b"foo.bar.baz", false),
            (b"*.bar", b"foo.bar", true),
            (b"*.*", b"a.b", true),
            (b"foo.*.baz", b"foo.bar.baz", true),
            (b"foo.*.baz", b"foo.bar.bax", false),
            (b">", b"foo", true),
            (b">", b"foo.bar.baz", true),
            (b"foo.>", b"foo", false),
            (b"foo.>", b"foo.bar", true),
            (b"foo.>", b"foo.bar.baz", true),
            (b"foo.>", b"fob.bar", false),
            (b"*.>", b"foo.bar", true),
            (b"*.>", b"foo", false),
            (b"foo.*.>", b"foo.a.b.c", true),
            (b"foo*", b"foo", false),
            (b"foo*", b"foo*", true),
            (b"f>o", b"f>o", true),
            (b"f>o", b"fxo", false),
            (b"foo.bar", b"foo.*", false),
        ];
        for (p, s, want) in table {
            assert_eq!(
                matches(p, s),
                *want,
                "{} vs {}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
        }
    }
}
