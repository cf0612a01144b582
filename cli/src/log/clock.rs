//! Wall-clock stamps in the layouts Go's `log` and `log/syslog` packages
//! write, computed without a time-zone database: every stamp is UTC.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl Civil {
    /// `t` in UTC (the epoch for times before it).
    pub fn at(t: SystemTime) -> Civil {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // All narrowing below is of values already bounded by the algorithm.
        Civil {
            year,
            month: month as u32,
            day: day as u32,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            micros: d.subsec_micros(),
        }
    }

    /// Go's `log.LstdFlags | log.Lmicroseconds` stamp and the space after
    /// it: `2006/01/02 15:04:05.000000 `.
    pub fn write_log_stamp(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06} ",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.micros
        );
    }

    /// Go's `time.Stamp` (`Jan _2 15:04:05`), the local syslog stamp.
    pub fn write_syslog_stamp(&self, out: &mut String) {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MONTHS[(self.month as usize).clamp(1, 12) - 1];
        let _ = write!(
            out,
            "{month} {:>2} {:02}:{:02}:{:02}",
            self.day, self.hour, self.minute, self.second
        );
    }

    /// Go's `time.RFC3339` in UTC (`2006-01-02T15:04:05Z`), the remote
    /// syslog stamp.
    pub fn write_rfc3339(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> Civil {
        Civil::at(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into()))
    }

    #[test]
    fn stamps_in_go_layouts() {
        // 2024-03-05 07:08:09.000123 UTC
        let c = at(1_709_622_489, 123);
        let mut s = String::new();
        c.write_log_stamp(&mut s);
        assert_eq!(s, "2024/03/05 07:08:09.000123 ");
        s.clear();
        c.write_syslog_stamp(&mut s);
        assert_eq!(s, "Mar  5 07:08:09");
        s.clear();
        c.write_rfc3339(&mut s);
        assert_eq!(s, "2024-03-05T07:08:09Z");
    }

    #[test]
    fn calendar_edges() {
        assert_eq!((at(0, 0).year, at(0, 0).month, at(0, 0).day), (1970, 1, 1));
        // 2000-02-29 23:59:59 (a leap day of a year divisible by 400).
        let c = at(951_868_799, 999_999);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second),
            (2000, 2, 29, 23, 59, 59)
        );
        let mut s = String::new();
        at(1_735_689_599, 0).write_syslog_stamp(&mut s); // 2024-12-31 23:59:59
        assert_eq!(s, "Dec 31 23:59:59");
        // Before the epoch: the epoch.
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Civil::at(before), at(0, 0));
    }
}
