//! Validation of STAN client IDs and channel names (docs/protocol.md B.5, C.1).

/// True when `id` is a valid STAN client ID: non-empty, only ASCII letters,
/// digits, `-` and `_`.
pub fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True when `name` is a valid channel name: non-empty; no `/`; no leading
/// or trailing `.`, no `..`; no `*` or `>` anywhere (stricter than NATS
/// subjects). Whitespace and length are not checked, as in the Go server.
pub fn is_valid_channel(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.bytes().any(|b| matches!(b, b'/' | b'*' | b'>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        for ok in ["me", "a-b_C9", "_", "-"] {
            assert!(is_valid_client_id(ok), "{ok}");
        }
        for bad in ["", "a b", "a.b", "é", "a*"] {
            assert!(!is_valid_client_id(bad), "{bad}");
        }
    }

    #[test]
    fn channels() {
        for ok in ["foo", "foo.bar", "a b", "F-1_x"] {
            assert!(is_valid_channel(ok), "{ok}");
        }
        for bad in ["", ".foo", "foo.", "foo..bar", "foo*", "foo.>", "a/b", "*"] {
            assert!(!is_valid_channel(bad), "{bad}");
        }
    }
}
