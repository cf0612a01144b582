//! The deadline table, the clock and overflow-free deadlines.
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Ping,
    Sub(u32),
}

#[test]
fn keys_fire_in_time_order_once() {
    let t0 = Instant::now();
    let mut t = Timers::new();
    t.set(Key::Sub(2), t0 + Duration::from_secs(3));
    t.set(Key::Ping, t0 + Duration::from_secs(1));
    t.set(Key::Sub(1), t0 + Duration::from_secs(2));
    t.set(Key::Sub(2), t0 + Duration::from_secs(5)); // re-armed later
    t.set_earliest(Key::Ping, t0 + Duration::from_secs(4)); // kept earlier
    assert_eq!(t.len(), 3);
    assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
    let now = t0 + Duration::from_secs(3);
    let mut fired = Vec::new();
    while let Some(k) = t.pop_due(now) {
        fired.push(k);
    }
    assert_eq!(fired, [Key::Ping, Key::Sub(1)]);
    assert!(t.next().is_none_or(|d| d > now), "nothing due left");
    t.cancel(Key::Sub(2));
    assert!(t.is_empty());
    assert_eq!(t.next(), None);
}

#[test]
fn set_opt_arms_and_disarms() {
    let t0 = Instant::now();
    let mut t = Timers::new();
    t.set_opt(Key::Ping, Some(t0));
    assert_eq!(t.get(Key::Ping), Some(t0));
    t.set_opt(Key::Ping, None);
    assert!(!t.is_armed(Key::Ping));
    assert_eq!(t.next(), None);
}

#[test]
fn the_clock_never_goes_backwards() {
    let t0 = Instant::now();
    let mut c = Clock::new(t0 + Duration::from_secs(5));
    assert_eq!(c.advance(t0), t0 + Duration::from_secs(5));
    assert_eq!(
        c.advance(t0 + Duration::from_secs(6)),
        t0 + Duration::from_secs(6)
    );
    assert_eq!(c.now(), t0 + Duration::from_secs(6));
}

#[test]
fn huge_durations_do_not_overflow() {
    let t0 = Instant::now();
    let far = deadline_after(t0, Duration::MAX);
    assert!(far > t0 + Duration::from_secs(365 * 24 * 3600));
    assert_eq!(
        deadline_after(t0, Duration::from_secs(1)),
        t0 + Duration::from_secs(1)
    );
}
