//! The `INFO` JSON a server sends on accept (docs/protocol.md A.3).

use serde::Serialize;

/// The server version announced in `INFO`: the nats-server protocol level this
/// router implements, so that clients enable the same features (headers,
/// no-responders) as against nats-server 2.9.
pub const ANNOUNCED_VERSION: &str = "2.9.24";

/// Fields of `INFO`, in nats-server's order and spelling.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Info<'a> {
    pub(crate) server_id: &'a str,
    pub(crate) server_name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) proto: u8,
    pub(crate) go: &'a str,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(crate) auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(crate) tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(crate) tls_verify: bool,
    pub(crate) max_payload: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) client_id: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) client_ip: &'a str,
    /// The cluster's client URLs, for clients to fail over to.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(crate) connect_urls: &'a [String],
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Info<'_> {
    /// The JSON object.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings, numbers and booleans cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_and_omissions() {
        let info = Info {
            server_id: "NABC",
            server_name: "n",
            version: ANNOUNCED_VERSION,
            proto: 1,
            go: "rust",
            host: "0.0.0.0",
            port: 4222,
            headers: true,
            auth_required: false,
            tls_required: false,
            tls_verify: false,
            max_payload: 1048576,
            client_id: 7,
            client_ip: "",
            connect_urls: &[],
        };
        assert_eq!(
            String::from_utf8(info.to_json()).unwrap(),
            r#"{"server_id":"NABC","server_name":"n","version":"2.9.24","proto":1,"go":"rust","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"client_id":7}"#
        );
    }

    #[test]
    fn tls_fields_follow_auth_required_as_in_nats_server() {
        let info = Info {
            server_id: "NABC",
            server_name: "n",
            version: ANNOUNCED_VERSION,
            proto: 1,
            go: "rust",
            host: "0.0.0.0",
            port: 4222,
            headers: true,
            auth_required: true,
            tls_required: true,
            tls_verify: true,
            max_payload: 1048576,
            client_id: 0,
            client_ip: "",
            connect_urls: &[],
        };
        assert_eq!(
            String::from_utf8(info.to_json()).unwrap(),
            r#"{"server_id":"NABC","server_name":"n","version":"2.9.24","proto":1,"go":"rust","host":"0.0.0.0","port":4222,"headers":true,"auth_required":true,"tls_required":true,"tls_verify":true,"max_payload":1048576}"#
        );
    }
}
