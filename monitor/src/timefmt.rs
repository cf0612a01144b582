//! Time and duration formats of the Go servers' monitoring JSON:
//!
//! * [`rfc3339`]: a `time.Time` as Go's JSON encodes it (RFC 3339 with
//!   nanoseconds, trailing zeros trimmed, here always UTC `Z`);
//! * [`uptime`]: nats-server's and the streaming server's `myUptime`
//!   (`3s`, `1m2s`, `1h2m3s`, `1d2h3m4s`, `1y2d3h4m5s`);
//! * [`go_duration`]: Go's `time.Duration.String` (`218µs`, `9.034601ms`,
//!   `1m30.5s`), and [`rtt`], nats-server's rounding of a round trip;
//! * [`wall_at`]: a monotonic [`Instant`] placed on the wall clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Nanoseconds since the Unix epoch (negative before it).
pub(crate) fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// `t`, an instant on the clock `now` is on, on the wall clock, given that
/// `now` is `wall`.
pub(crate) fn wall_at(t: Instant, now: Instant, wall: SystemTime) -> SystemTime {
    if t <= now {
        wall.checked_sub(now - t).unwrap_or(UNIX_EPOCH)
    } else {
        wall.checked_add(t - now).unwrap_or(wall)
    }
}

/// Go's JSON encoding of a UTC `time.Time` (`time.RFC3339Nano`), from
/// nanoseconds since the Unix epoch.
pub(crate) fn rfc3339_unix_nanos(ns: i128) -> String {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let nanos = ns.rem_euclid(NANOS_PER_SEC) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    push_fraction(&mut out, u128::from(nanos), 9);
    out.push('Z');
    out
}

/// Go's JSON encoding of `t` in UTC.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    rfc3339_unix_nanos(unix_nanos(t))
}

/// Year, month, day of the proleptic Gregorian calendar from days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// Appends `.digits` of `frac` (out of `10^prec`), trailing zeros trimmed,
/// nothing when it is zero (Go's `fmtFrac` and RFC3339Nano's `.999999999`).
fn push_fraction(out: &mut String, frac: u128, prec: usize) {
    if frac == 0 {
        return;
    }
    let digits = format!("{frac:0prec$}");
    out.push('.');
    out.push_str(digits.trim_end_matches('0'));
}

/// nats-server's `myUptime`: whole seconds, with minutes, hours, days and
/// years (of 365 days) only from the largest non-zero unit down.
pub(crate) fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hrs) = (secs / 60, secs / 3600);
    let (days, years) = (hrs / 24, hrs / 24 / 365);
    let (s, m, h, dd) = (secs % 60, mins % 60, hrs % 24, days % 365);
    if years > 0 {
        format!("{years}y{dd}d{h}h{m}m{s}s")
    } else if days > 0 {
        format!("{days}d{h}h{m}m{s}s")
    } else if hrs > 0 {
        format!("{hrs}h{m}m{s}s")
    } else if mins > 0 {
        format!("{mins}m{s}s")
    } else {
        format!("{secs}s")
    }
}

/// Go's `time.Duration.String`.
pub(crate) fn go_duration(d: Duration) -> String {
    let u = d.as_nanos();
    if u == 0 {
        return "0s".to_owned();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            return format!("{u}ns");
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let scale = 10u128.pow(prec as u32);
        let mut out = (u / scale).to_string();
        push_fraction(&mut out, u % scale, prec);
        out.push_str(unit);
        return out;
    }
    let total = u / 1_000_000_000;
    let (s, m, h) = (total % 60, total / 60 % 60, total / 3600);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s.to_string());
    push_fraction(&mut out, u % 1_000_000_000, 9);
    out.push('s');
    out
}

/// A connection's round trip as nats-server's `/connz` shows it: truncated
/// to the microsecond between 1 µs and 1 ms, `0s` when not measured yet.
pub(crate) fn rtt(rtt: Option<Duration>) -> String {
    let d = rtt.unwrap_or(Duration::ZERO);
    let shown = if d > Duration::from_micros(1) && d < Duration::from_millis(1) {
        Duration::from_micros(d.as_micros() as u64)
    } else {
        d
    };
    go_duration(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_trims_nanoseconds() {
        let t = |s: i128, n: i128| rfc3339_unix_nanos(s * NANOS_PER_SEC + n);
        assert_eq!(t(0, 0), "1970-01-01T00:00:00Z");
        // 2026-11-29T14:27:44.64700049Z, from the fixture.
        assert_eq!(
            t(1_795_962_464, 647_000_490),
            "2026-11-29T14:27:44.64700049Z"
        );
        assert_eq!(t(1_795_962_464, 500_000_000), "2026-11-29T14:27:44.5Z");
        assert_eq!(t(1_795_962_464, 1), "2026-11-29T14:27:44.000000001Z");
        assert_eq!(t(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(t(-1, 0), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn uptime_units() {
        let s = Duration::from_secs;
        assert_eq!(uptime(Duration::ZERO), "0s");
        assert_eq!(uptime(Duration::from_millis(2_999)), "2s");
        assert_eq!(uptime(s(62)), "1m2s");
        assert_eq!(uptime(s(3600)), "1h0m0s");
        assert_eq!(uptime(s(3723)), "1h2m3s");
        assert_eq!(uptime(s(93_784)), "1d2h3m4s");
        assert_eq!(uptime(s(365 * 86_400 + 2 * 86_400 + 5)), "1y2d0h0m5s");
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(go_duration(Duration::from_micros(218)), "218µs");
        assert_eq!(go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_nanos(9_034_601)), "9.034601ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(90_500)), "1m30.5s");
        assert_eq!(go_duration(Duration::from_secs(7200)), "2h0m0s");
    }

    #[test]
    fn rtt_rounding() {
        assert_eq!(rtt(None), "0s");
        assert_eq!(rtt(Some(Duration::from_nanos(218_456))), "218µs");
        assert_eq!(rtt(Some(Duration::from_nanos(9_034_601))), "9.034601ms");
        assert_eq!(rtt(Some(Duration::from_nanos(800))), "800ns");
    }

    #[test]
    fn instants_on_the_wall_clock() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(100);
        let before = now.checked_sub(Duration::from_secs(3)).unwrap_or(now);
        let expected = if before == now { 100 } else { 97 };
        assert_eq!(
            wall_at(before, now, wall),
            UNIX_EPOCH + Duration::from_secs(expected)
        );
        assert_eq!(
            wall_at(now + Duration::from_secs(2), now, wall),
            UNIX_EPOCH + Duration::from_secs(102)
        );
    }
}
