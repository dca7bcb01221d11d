//! Times on screen in the operator's zone (`TZ`, else the system's), with the zone named:
//! an operator reading `14:04` must not have to guess whether it is UTC.

use chrono::{DateTime, FixedOffset, Local, Offset, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The process's local time: `TZ` (a zone name such as `Europe/Paris`, or a POSIX rule),
    /// else `/etc/localtime`.
    #[default]
    Local,
    /// A fixed offset (the demo scenario, tests).
    Fixed(FixedOffset),
}

impl Zone {
    pub fn utc() -> Self {
        Self::Fixed(Utc.fix())
    }

    /// `t` on the operator's clock.
    pub fn at(self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Self::Local => t.with_timezone(&Local).fixed_offset(),
            Self::Fixed(o) => t.with_timezone(&o),
        }
    }

    /// `t` formatted (chrono's `strftime` syntax) on the operator's clock.
    pub fn fmt(self, t: DateTime<Utc>, format: &str) -> String {
        self.at(t).format(format).to_string()
    }

    /// The zone at `t`: `UTC`, `UTC+1`, `UTC-3`, `UTC+5:30`.
    pub fn label(self, t: DateTime<Utc>) -> String {
        let secs = self.at(t).offset().local_minus_utc();
        if secs == 0 {
            return "UTC".into();
        }
        let sign = if secs < 0 { '-' } else { '+' };
        let (h, m) = (secs.abs() / 3600, secs.abs() % 3600 / 60);
        if m == 0 {
            format!("UTC{sign}{h}")
        } else {
            format!("UTC{sign}{h}:{m:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn labels_name_the_offset() {
        let t = Utc.with_ymd_and_hms(2026, 3, 12, 14, 30, 0).unwrap();
        let z = |secs| Zone::Fixed(FixedOffset::east_opt(secs).unwrap());
        assert_eq!(Zone::utc().label(t), "UTC");
        assert_eq!(z(3600).label(t), "UTC+1");
        assert_eq!(z(-3 * 3600).label(t), "UTC-3");
        assert_eq!(z(5 * 3600 + 1800).label(t), "UTC+5:30");
        assert_eq!(z(3600).fmt(t, "%H:%M"), "15:30");
    }
}
