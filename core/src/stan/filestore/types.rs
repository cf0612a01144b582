//! The record types of each file, numbered exactly as nats-streaming-server
//! 0.25.6 numbers them (`stores/filestore.go`), and the protobuf each one
//! holds:
//!
//! | file | framing | type | payload |
//! |---|---|---|---|
//! | `server.dat` | untyped | - | [`ServerInfo`](stan_proto::ServerInfo) (one record) |
//! | `clients.dat` | typed | 1 add client | [`ClientInfo`](stan_proto::ClientInfo) |
//! | | | 2 delete client | [`ClientDelete`](stan_proto::ClientDelete) |
//! | `<channel>/subs.dat` | typed | 1 new subscription | [`SubState`](stan_proto::SubState) |
//! | | | 2 update | [`SubState`](stan_proto::SubState) (the whole state) |
//! | | | 3 delete | [`SubStateDelete`](stan_proto::SubStateDelete) |
//! | | | 4 ack | [`SubStateUpdate`](stan_proto::SubStateUpdate) |
//! | | | 5 msg (sent, pending) | [`SubStateUpdate`](stan_proto::SubStateUpdate) |
//! | `<channel>/msgs.N.dat` | untyped | - | [`MsgProto`](stan_proto::MsgProto) |
//! | `<channel>/msgs.N.idx` | fixed 32-byte records, no header | - | see [`super::index`] |

use super::record::RecordTag;

/// A type byte no record of that file has.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("unexpected record type: {0}")]
pub struct UnknownRecordType(pub u8);

/// Record types of `clients.dat` (Go's `addClient`, `delClient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ClientRecordType {
    /// A client registered: [`ClientInfo`](stan_proto::ClientInfo).
    Add = 1,
    /// A client unregistered: [`ClientDelete`](stan_proto::ClientDelete).
    Delete = 2,
}

/// Record types of `subs.dat` (Go's `subRecNew` ... `subRecMsg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SubRecordType {
    /// A subscription created: [`SubState`](stan_proto::SubState).
    New = 1,
    /// A subscription's state replaced: [`SubState`](stan_proto::SubState).
    Update = 2,
    /// A subscription deleted: [`SubStateDelete`](stan_proto::SubStateDelete).
    Delete = 3,
    /// A message acknowledged: [`SubStateUpdate`](stan_proto::SubStateUpdate).
    Ack = 4,
    /// A message sent, pending its ack:
    /// [`SubStateUpdate`](stan_proto::SubStateUpdate).
    Msg = 5,
}

impl TryFrom<u8> for ClientRecordType {
    type Error = UnknownRecordType;

    fn try_from(t: u8) -> Result<Self, Self::Error> {
        match t {
            1 => Ok(ClientRecordType::Add),
            2 => Ok(ClientRecordType::Delete),
            _ => Err(UnknownRecordType(t)),
        }
    }
}

impl TryFrom<u8> for SubRecordType {
    type Error = UnknownRecordType;

    fn try_from(t: u8) -> Result<Self, Self::Error> {
        match t {
            1 => Ok(SubRecordType::New),
            2 => Ok(SubRecordType::Update),
            3 => Ok(SubRecordType::Delete),
            4 => Ok(SubRecordType::Ack),
            5 => Ok(SubRecordType::Msg),
            _ => Err(UnknownRecordType(t)),
        }
    }
}

impl From<ClientRecordType> for RecordTag {
    fn from(t: ClientRecordType) -> Self {
        RecordTag::Typed(t as u8)
    }
}

impl From<SubRecordType> for RecordTag {
    fn from(t: SubRecordType) -> Self {
        RecordTag::Typed(t as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_is_go_s() {
        assert_eq!(ClientRecordType::Add as u8, 1);
        assert_eq!(ClientRecordType::Delete as u8, 2);
        let subs = [
            SubRecordType::New,
            SubRecordType::Update,
            SubRecordType::Delete,
            SubRecordType::Ack,
            SubRecordType::Msg,
        ];
        for (i, t) in subs.into_iter().enumerate() {
            assert_eq!(t as usize, i + 1);
            assert_eq!(SubRecordType::try_from(t as u8), Ok(t));
            assert_eq!(RecordTag::from(t), RecordTag::Typed(t as u8));
        }
        for bad in [0, 6, 255] {
            assert_eq!(SubRecordType::try_from(bad), Err(UnknownRecordType(bad)));
        }
        for bad in [0, 3] {
            assert_eq!(ClientRecordType::try_from(bad), Err(UnknownRecordType(bad)));
        }
        assert_eq!(
            UnknownRecordType(9).to_string(),
            "unexpected record type: 9"
        );
    }
}
