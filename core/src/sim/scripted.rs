//! The world's in-process peers: scripted STAN clients that speak the
//! protocol as protobufs over local router sessions ([`C`]), and client
//! sessions ([`Session`]) attached to the router in process ([`S`]).

use std::collections::BTreeMap;

use bytes::Bytes;
use stan_proto::{
    Ack, CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, Message, MsgProto, Ping,
    PingResponse, PubAck, PubMsg, SubscriptionRequest, SubscriptionResponse, UnsubscribeRequest,
};

use super::{World, UNIX_START};
use crate::nats::router::pump_local;
use crate::nats::router::{ConnId, LocalOptions};
use crate::stan::client::{ClientEvent, ConnectOptions, Session};

/// A scripted client in the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct C(pub usize);

/// A client session (`stan::client::Session`) in the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct S(pub usize);

/// A subscription as a client knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubHandle {
    /// Channel.
    pub channel: String,
    /// Delivery inbox.
    pub inbox: String,
    /// Ack inbox from the server.
    pub ack_inbox: String,
}

#[derive(Debug)]
pub(super) struct ClientState {
    conn: ConnId,
    name: String,
    client_id: String,
    conn_id: Bytes,
    hb_inbox: String,
    answer_heartbeats: bool,
    heartbeats: u64,
    next_token: u64,
    next_sid: u64,
    responses: BTreeMap<u64, Bytes>,
    pub_acks: Vec<PubAck>,
    msgs: BTreeMap<String, Vec<MsgProto>>,
    connect: Option<ConnectResponse>,
    guid: u64,
    detached: bool,
}

#[derive(Debug)]
pub(super) struct SessionState {
    conn: ConnId,
    pub(super) session: Session,
    events: Vec<ClientEvent>,
    pub(super) paused: bool,
}

impl World {
    /// Moves the in-process sessions' commands and deliveries.
    pub(super) fn pump_sessions(&mut self) -> usize {
        let mut moved = 0;
        for st in &mut self.sessions {
            if !st.paused {
                moved += pump_local(&mut self.router, st.conn, &mut st.session, self.now);
                while let Some(e) = st.session.poll_event() {
                    st.events.push(e);
                }
            }
        }
        moved
    }

    pub(super) fn drain_client(&mut self, i: usize) -> usize {
        let mut moved = 0;
        let conn = self.clients[i].conn;
        while let Some(d) = self.router.poll_delivery(conn) {
            moved += 1;
            let c = &mut self.clients[i];
            let subject = String::from_utf8_lossy(&d.subject).into_owned();
            if subject == c.hb_inbox {
                c.heartbeats += 1;
                if c.answer_heartbeats {
                    if let Some(reply) = d.reply {
                        let _ = self.router.local_publish(
                            self.now,
                            conn,
                            reply,
                            None,
                            None,
                            Bytes::new(),
                        );
                    }
                }
            } else if let Some(token) = subject.strip_prefix(&format!("_INBOX.{}.", c.name)) {
                if let Ok(t) = token.parse() {
                    c.responses.insert(t, d.payload);
                }
            } else if subject == format!("_STAN.acks.{}", c.name) {
                if let Ok(ack) = PubAck::decode(d.payload) {
                    c.pub_acks.push(ack);
                }
            } else if let Ok(m) = MsgProto::decode(d.payload) {
                c.msgs.entry(subject).or_default().push(m);
            }
        }
        moved
    }

    /// A new client session named `name` (also its default client ID).
    pub fn client(&mut self, name: &str) -> C {
        let conn = self.router.attach_local(
            self.now,
            LocalOptions {
                name: name.to_owned(),
                echo: true,
                headers: true,
                no_responders: true,
            },
        );
        let hb_inbox = format!("_HB.{name}");
        let now = self.now;
        let _ = self
            .router
            .local_subscribe(now, conn, hb_inbox.as_bytes(), None, b"hb");
        let _ = self.router.local_subscribe(
            now,
            conn,
            format!("_INBOX.{name}.*").as_bytes(),
            None,
            b"rq",
        );
        let _ = self.router.local_subscribe(
            now,
            conn,
            format!("_STAN.acks.{name}").as_bytes(),
            None,
            b"acks",
        );
        self.clients.push(ClientState {
            conn,
            name: name.to_owned(),
            client_id: name.to_owned(),
            conn_id: Bytes::from(format!("conn-{name}")),
            hb_inbox,
            answer_heartbeats: true,
            heartbeats: 0,
            next_token: 1,
            next_sid: 1,
            responses: BTreeMap::new(),
            pub_acks: Vec::new(),
            msgs: BTreeMap::new(),
            connect: None,
            guid: 0,
            detached: false,
        });
        C(self.clients.len() - 1)
    }

    /// Whether `c` answers heartbeats (a frozen client does not).
    pub fn set_answer_heartbeats(&mut self, c: C, answer: bool) {
        self.clients[c.0].answer_heartbeats = answer;
    }

    /// Heartbeats `c` has received.
    pub fn heartbeats(&self, c: C) -> u64 {
        self.clients[c.0].heartbeats
    }

    /// The client vanishes: its session leaves the router (no goodbye).
    pub fn detach(&mut self, c: C) {
        let conn = self.clients[c.0].conn;
        self.router.handle_transport_closed(self.now, conn);
        self.clients[c.0].detached = true;
        self.pump();
    }

    /// Publishes raw bytes from `c` (no reply).
    pub fn raw_publish(&mut self, c: C, subject: &str, reply: Option<&str>, payload: Bytes) {
        let conn = self.clients[c.0].conn;
        let _ = self.router.local_publish(
            self.now,
            conn,
            Bytes::from(subject.to_owned()),
            reply.map(|r| Bytes::from(r.to_owned())),
            None,
            payload,
        );
    }

    /// A request from `c`; the response payload, if one came while pumping.
    pub fn request(&mut self, c: C, subject: &str, payload: Bytes) -> Option<Bytes> {
        let token = self.clients[c.0].next_token;
        self.clients[c.0].next_token += 1;
        let reply = format!("_INBOX.{}.{token}", self.clients[c.0].name);
        self.raw_publish(c, subject, Some(&reply), payload);
        self.pump();
        self.clients[c.0].responses.remove(&token)
    }

    /// Connects `c` with `client_id`.
    pub fn connect_as(&mut self, c: C, client_id: &str) -> ConnectResponse {
        let st = &self.clients[c.0];
        let req = ConnectRequest {
            client_id: client_id.to_owned(),
            heartbeat_inbox: st.hb_inbox.clone(),
            protocol: 1,
            conn_id: st.conn_id.clone(),
            ping_interval: 5,
            ping_max_out: 88,
        };
        let subject = format!("_STAN.discover.{}", self.engine.config().cluster_id);
        let raw = self.request(c, &subject, req.encode_to_vec().into());
        let resp = raw
            .map(|r| ConnectResponse::decode(r).expect("ConnectResponse decodes"))
            .unwrap_or_else(|| ConnectResponse {
                error: "(no response)".into(),
                ..ConnectResponse::default()
            });
        if resp.error.is_empty() {
            self.clients[c.0].client_id = client_id.to_owned();
            self.clients[c.0].connect = Some(resp.clone());
        }
        resp
    }

    /// A connected client named (and identified) `name`.
    pub fn connected(&mut self, name: &str) -> C {
        let c = self.client(name);
        let resp = self.connect_as(c, name);
        assert!(resp.error.is_empty(), "connect {name}: {}", resp.error);
        c
    }

    fn responses(&self, c: C) -> &ConnectResponse {
        self.clients[c.0]
            .connect
            .as_ref()
            .expect("client is connected")
    }

    /// Publishes asynchronously (the PubAck arrives while pumping).
    pub fn publish(&mut self, c: C, channel: &str, data: &[u8]) -> String {
        let st = &mut self.clients[c.0];
        st.guid += 1;
        let guid = format!("{}-g{}", st.name, st.guid);
        let msg = PubMsg {
            client_id: st.client_id.clone(),
            guid: guid.clone(),
            subject: channel.to_owned(),
            data: Bytes::copy_from_slice(data),
            conn_id: st.conn_id.clone(),
            ..PubMsg::default()
        };
        let reply = format!("_STAN.acks.{}", st.name);
        let subject = format!("{}.{channel}", self.responses(c).pub_prefix);
        self.raw_publish(c, &subject, Some(&reply), msg.encode_to_vec().into());
        guid
    }

    /// Publishes and returns the PubAck's error (empty: stored).
    pub fn publish_sync(&mut self, c: C, channel: &str, data: &[u8]) -> String {
        let guid = self.publish(c, channel, data);
        self.pump();
        let acks = &mut self.clients[c.0].pub_acks;
        let i = acks
            .iter()
            .position(|a| a.guid == guid)
            .expect("PubAck received");
        acks.remove(i).error
    }

    /// PubAcks received by `c` so far (drained).
    pub fn take_pub_acks(&mut self, c: C) -> Vec<PubAck> {
        std::mem::take(&mut self.clients[c.0].pub_acks)
    }

    /// Subscribes `c` with `req` (client ID and inbox filled in when empty).
    pub fn subscribe(&mut self, c: C, mut req: SubscriptionRequest) -> Result<SubHandle, String> {
        let st = &mut self.clients[c.0];
        if req.client_id.is_empty() {
            req.client_id = st.client_id.clone();
        }
        if req.inbox.is_empty() {
            req.inbox = format!("_DLV.{}.{}", st.name, st.next_sid);
            st.next_sid += 1;
            let _ = self.router.local_subscribe(
                self.now,
                st.conn,
                req.inbox.as_bytes(),
                None,
                req.inbox.as_bytes(),
            );
        }
        if req.max_in_flight == 0 {
            req.max_in_flight = 1024;
        }
        if req.ack_wait_in_secs == 0 {
            req.ack_wait_in_secs = 30;
        }
        let subject = self.responses(c).sub_requests.clone();
        let resp = self
            .request(c, &subject, req.encode_to_vec().into())
            .map(|r| SubscriptionResponse::decode(r).expect("SubscriptionResponse decodes"));
        match resp {
            Some(r) if r.error.is_empty() => Ok(SubHandle {
                channel: req.subject,
                inbox: req.inbox,
                ack_inbox: r.ack_inbox,
            }),
            Some(r) => Err(r.error),
            None => Err("(no response)".into()),
        }
    }

    /// Subscription request for `channel` with a start position.
    pub fn sub_req(channel: &str, start: stan_proto::StartPosition) -> SubscriptionRequest {
        SubscriptionRequest {
            subject: channel.to_owned(),
            start_position: start as i32,
            ..SubscriptionRequest::default()
        }
    }

    /// Messages `c` received on `sub`'s inbox so far (drained).
    pub fn take_msgs(&mut self, c: C, sub: &SubHandle) -> Vec<MsgProto> {
        self.clients[c.0]
            .msgs
            .remove(&sub.inbox)
            .unwrap_or_default()
    }

    /// Sequences received on `sub` (drained).
    pub fn take_seqs(&mut self, c: C, sub: &SubHandle) -> Vec<u64> {
        self.take_msgs(c, sub).iter().map(|m| m.sequence).collect()
    }

    /// Acks `seq` on `sub`.
    pub fn ack(&mut self, c: C, sub: &SubHandle, seq: u64) {
        let ack = Ack {
            subject: sub.channel.clone(),
            sequence: seq,
        };
        self.raw_publish(c, &sub.ack_inbox, None, ack.encode_to_vec().into());
        self.pump();
    }

    /// Unsubscribes (`close`: sub-close) `sub`; the response error.
    pub fn unsubscribe(&mut self, c: C, sub: &SubHandle, close: bool) -> String {
        let req = UnsubscribeRequest {
            client_id: self.clients[c.0].client_id.clone(),
            subject: sub.channel.clone(),
            inbox: sub.ack_inbox.clone(),
            durable_name: String::new(),
        };
        let r = self.responses(c);
        let subject = if close {
            r.sub_close_requests.clone()
        } else {
            r.unsub_requests.clone()
        };
        self.request(c, &subject, req.encode_to_vec().into())
            .map(|r| SubscriptionResponse::decode(r).expect("decodes").error)
            .unwrap_or_else(|| "(no response)".into())
    }

    /// Closes `c`'s STAN connection; the response error.
    pub fn close(&mut self, c: C) -> String {
        let req = CloseRequest {
            client_id: self.clients[c.0].client_id.clone(),
        };
        let subject = self.responses(c).close_requests.clone();
        self.request(c, &subject, req.encode_to_vec().into())
            .map(|r| CloseResponse::decode(r).expect("decodes").error)
            .unwrap_or_else(|| "(no response)".into())
    }

    /// Pings the server as `c`; `None` if nothing came back.
    pub fn ping(&mut self, c: C) -> Option<PingResponse> {
        let req = Ping {
            conn_id: self.clients[c.0].conn_id.clone(),
        };
        let subject = self.responses(c).ping_requests.clone();
        self.request(c, &subject, req.encode_to_vec().into())
            .map(|r| PingResponse::decode(r).expect("decodes"))
    }

    /// A client session connecting with `options` (over its own router
    /// session).
    pub fn session(&mut self, mut options: ConnectOptions) -> S {
        // Distinct identifiers per session (real drivers seed from the OS).
        options.seed ^= 0x5eed_0000 + self.sessions.len() as u64;
        let conn = self.router.attach_local(
            self.now,
            LocalOptions {
                name: options.client_id.clone(),
                echo: true,
                headers: true,
                no_responders: true,
            },
        );
        let session = Session::new(options, self.now, UNIX_START).expect("valid options");
        self.sessions.push(SessionState {
            conn,
            session,
            events: Vec::new(),
            paused: false,
        });
        self.pump();
        S(self.sessions.len() - 1)
    }

    /// The session `s`, for commands.
    pub fn sess(&mut self, s: S) -> &mut Session {
        &mut self.sessions[s.0].session
    }

    /// Events of `s` so far (drained).
    pub fn session_events(&mut self, s: S) -> Vec<ClientEvent> {
        std::mem::take(&mut self.sessions[s.0].events)
    }

    /// Freezes (or thaws) a session: a frozen one processes nothing.
    pub fn set_session_paused(&mut self, s: S, paused: bool) {
        self.sessions[s.0].paused = paused;
    }
}
