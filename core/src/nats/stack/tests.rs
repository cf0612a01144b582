//! Tests of the stack.

use super::*;
use crate::nats::client::{ClientOptions, Status};

#[derive(Default)]
struct App {
    done: bool,
    commands: VecDeque<NatsCommand>,
}

impl NatsApp for App {
    fn handle_message(&mut self, _: Instant, _: InboundMessage) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_command(&mut self) -> Option<NatsCommand> {
        self.commands.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn is_done(&self) -> bool {
        self.done
    }
}

#[test]
fn a_finished_app_closes_its_connection_once() {
    let now = Instant::now();
    let mut stack = Stack::new(
        Connection::new(ClientOptions::default(), now),
        App::default(),
        now,
    );
    assert!(matches!(
        stack.poll_event(),
        Some(Event::WantConnect { .. })
    ));
    stack.handle_app_commands(now);
    assert_ne!(
        stack.conn.status(),
        Status::Closed,
        "a running app keeps it"
    );
    stack.app.done = true;
    stack.handle_app_commands(now);
    assert_eq!(stack.conn.status(), Status::Closed);
    assert!(matches!(stack.poll_event(), Some(Event::Closed { .. })));
    stack.handle_app_commands(now);
    assert!(stack.poll_event().is_none(), "closed once");
}
