//! Requests to the server (connect, subscribe, unsubscribe, close) on the
//! session's reply inbox, their responses, timeouts and no-responders.

use std::time::Instant;

use bytes::Bytes;
use stan_proto::{
    CloseResponse, ConnectResponse, Message, SubscriptionResponse, UnsubscribeRequest,
};

use super::{ClientError, ClientEvent, Pending, Phase, Session, Timer, SID_PING};
use crate::nats::{InboundMessage, NatsCommand};
use crate::time::deadline_after;

impl Session {
    pub(super) fn request(
        &mut self,
        now: Instant,
        subject: Bytes,
        payload: Vec<u8>,
        pending: Pending,
    ) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let reply = format!("{}{token}", self.reply_prefix);
        let deadline = deadline_after(now, self.options.connect_wait);
        self.requests.insert(token, pending);
        self.timers.set(Timer::Request(token), deadline);
        self.commands.push_back(NatsCommand::Publish {
            subject,
            reply: Some(Bytes::from(reply)),
            payload: Bytes::from(payload),
        });
        token
    }

    pub(super) fn response(&self) -> Result<&ConnectResponse, ClientError> {
        match (self.phase, &self.connect) {
            (Phase::Connected, Some(c)) => Ok(c),
            (Phase::Connecting, _) => Err(ClientError::NotConnected),
            _ => Err(ClientError::ConnectionClosed),
        }
    }

    pub(super) fn handle_reply(&mut self, now: Instant, msg: InboundMessage) {
        let token = msg
            .subject
            .strip_prefix(self.reply_prefix.as_bytes())
            .and_then(crate::nats::parse_sid);
        let Some(token) = token else { return };
        let Some(pending) = self.requests.remove(&token) else {
            return;
        };
        self.timers.cancel(Timer::Request(token));
        if msg.is_no_responders() {
            return self.request_failed(pending, true);
        }
        match pending {
            Pending::Connect => match ConnectResponse::decode(msg.payload) {
                Ok(r) if r.error.is_empty() => {
                    let pings = r.protocol >= 1 && r.ping_interval != 0;
                    self.connect = Some(r);
                    self.phase = Phase::Connected;
                    if pings {
                        self.arm_ping(now);
                    } else {
                        self.commands
                            .push_back(NatsCommand::Unsubscribe { sid: SID_PING });
                    }
                    self.events.push_back(ClientEvent::Connected);
                }
                Ok(r) => self.finish(ClientEvent::ConnectFailed(ClientError::Server(r.error))),
                Err(e) => self.finish(ClientEvent::ConnectFailed(ClientError::Decode(e))),
            },
            Pending::Subscribe(id) => {
                let result = match SubscriptionResponse::decode(msg.payload) {
                    Ok(r) if r.error.is_empty() => {
                        if let Some(s) = self.subs.get_mut(&id) {
                            s.ack_inbox = Some(Bytes::from(r.ack_inbox));
                            s.active = true;
                        }
                        Ok(())
                    }
                    Ok(r) => Err(ClientError::Server(r.error)),
                    Err(e) => Err(ClientError::Decode(e)),
                };
                if result.is_err() {
                    self.drop_sub(id);
                }
                self.events
                    .push_back(ClientEvent::Subscribed { sub: id, result });
            }
            Pending::Unsubscribe(id, _) => {
                let result = match SubscriptionResponse::decode(msg.payload) {
                    Ok(r) if r.error.is_empty() => Ok(()),
                    Ok(r) => Err(ClientError::Server(r.error)),
                    Err(e) => Err(ClientError::Decode(e)),
                };
                self.subs.remove(&id);
                self.events
                    .push_back(ClientEvent::Unsubscribed { sub: id, result });
            }
            Pending::Close => {
                let result = match CloseResponse::decode(msg.payload) {
                    Ok(r) if r.error.is_empty() => Ok(()),
                    Ok(r) => Err(ClientError::Server(r.error)),
                    Err(e) => Err(ClientError::Decode(e)),
                };
                self.finish(ClientEvent::Closed(result));
            }
        }
    }

    pub(super) fn request_timed_out(&mut self, token: u64) {
        if let Some(pending) = self.requests.remove(&token) {
            self.request_failed(pending, false);
        }
    }

    /// A request got no answer (`no_responders`: nobody was listening).
    pub(super) fn request_failed(&mut self, pending: Pending, no_responders: bool) {
        match pending {
            Pending::Connect => self.finish(ClientEvent::ConnectFailed(
                ClientError::ConnectRequestTimeout,
            )),
            Pending::Subscribe(id) => {
                if let (false, Some(s), Some(c)) =
                    (no_responders, self.subs.get(&id), self.connect.as_ref())
                {
                    // Best-effort clean-up of a subscription the server may
                    // have created after all.
                    let req = UnsubscribeRequest {
                        client_id: self.options.client_id.clone(),
                        subject: s.channel.clone(),
                        inbox: String::from_utf8_lossy(&s.inbox).into_owned(),
                        durable_name: String::new(),
                    };
                    let subject = Bytes::from(c.sub_close_requests.clone());
                    self.commands.push_back(NatsCommand::Publish {
                        subject,
                        reply: None,
                        payload: Bytes::from(req.encode_to_vec()),
                    });
                }
                self.drop_sub(id);
                self.events.push_back(ClientEvent::Subscribed {
                    sub: id,
                    result: Err(ClientError::SubscribeRequestTimeout),
                });
            }
            Pending::Unsubscribe(id, close) => {
                self.subs.remove(&id);
                let error = if close {
                    ClientError::CloseRequestTimeout
                } else {
                    ClientError::UnsubscribeRequestTimeout
                };
                self.events.push_back(ClientEvent::Unsubscribed {
                    sub: id,
                    result: Err(error),
                });
            }
            Pending::Close => {
                self.finish(ClientEvent::Closed(Err(ClientError::CloseRequestTimeout)))
            }
        }
    }
}
