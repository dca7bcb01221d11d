//! Periodic work on one grid: every timer of a console ticks on whole wall-clock seconds.
//!
//! An idle console has a dozen periodic jobs (depths, listings, the store, the relay, the
//! screen's clock). Each on its own phase woke the process a dozen times a second, and waking
//! and parking threads was the largest part of an idle console's CPU at Ubuntu's size
//! (docs/PERFORMANCE.md). On one grid they are due together and run in one wake-up; on whole
//! seconds, the header's clock turns when the wall clock does, and consoles on hosts whose
//! clocks agree draw the relay's news in the same frame as their clock.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tokio::time::{Instant, Interval, MissedTickBehavior};

/// The grid's origin: a whole wall-clock second, taken once per process.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        let into = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(Duration::ZERO, |d| {
                Duration::from_nanos(u64::from(d.subsec_nanos()))
            });
        Instant::now() + (Duration::from_secs(1) - into)
    })
}

/// The first grid point at or after `now` for `period` (plus `phase` into it), on either side of
/// the origin (a test's paused clock may start before a process-wide origin, or after it).
fn next_on_grid(origin: Instant, now: Instant, period: Duration, phase: Duration) -> Instant {
    let first = origin + phase;
    let step = period.as_nanos().max(1);
    let wait = if now >= first {
        let behind = (now - first).as_nanos();
        (step - behind % step) % step
    } else {
        (first - now).as_nanos() % step
    };
    // `wait` < `step`: it fits whatever the period.
    now + Duration::from_nanos(u64::try_from(wait).unwrap_or(0))
}

/// Ticks once at once, then every `period` on the grid (a late tick is skipped, not bunched).
pub struct Beat {
    now: bool,
    interval: Interval,
    phase: Duration,
}

impl Beat {
    /// Every `period`, `phase` after the grid's points.
    pub fn every_after(period: Duration, phase: Duration) -> Self {
        let start = next_on_grid(origin(), Instant::now(), period, phase);
        let mut interval = tokio::time::interval_at(start, period.max(Duration::from_millis(1)));
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Self {
            now: true,
            interval,
            phase,
        }
    }

    pub fn every(period: Duration) -> Self {
        Self::every_after(period, Duration::ZERO)
    }

    /// The first call returns at once; later ones at the next point of the grid. Cancel-safe.
    pub async fn tick(&mut self) {
        if std::mem::take(&mut self.now) {
            return;
        }
        self.interval.tick().await;
    }

    /// When the next tick is due (about: tokio's timers fire on whole milliseconds).
    pub fn next_due(&self) -> Instant {
        let now = Instant::now();
        if self.now {
            return now;
        }
        // Strictly after now: the tick just taken is not the next one.
        next_on_grid(
            origin(),
            now + Duration::from_nanos(1),
            self.interval.period(),
            self.phase,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_points_are_whole_periods_after_the_origin() {
        let o = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(next_on_grid(o, o, s, Duration::ZERO), o);
        assert_eq!(
            next_on_grid(o, o + Duration::from_millis(1), s, Duration::ZERO),
            o + s
        );
        assert_eq!(next_on_grid(o, o + s, s, Duration::ZERO), o + s);
        assert_eq!(
            next_on_grid(
                o,
                o + Duration::from_millis(4500),
                Duration::from_secs(2),
                Duration::ZERO
            ),
            o + Duration::from_secs(6)
        );
        let p = Duration::from_millis(50);
        assert_eq!(next_on_grid(o, o + Duration::from_millis(10), s, p), o + p);
        assert_eq!(
            next_on_grid(o, o + Duration::from_millis(60), s, p),
            o + s + p
        );
        // Before the origin: the grid reaches back as far.
        let later = o + Duration::from_millis(3300);
        assert_eq!(
            next_on_grid(later, o, s, Duration::ZERO),
            o + Duration::from_millis(300)
        );
        assert_eq!(next_on_grid(later, later - s, s, Duration::ZERO), later - s);
        // A period of nothing is taken as a nanosecond, not a division by zero.
        assert_eq!(
            next_on_grid(o, o + s, Duration::ZERO, Duration::ZERO),
            o + s
        );
    }

    /// Timers of different periods made at different times are due at the same instants
    /// (tokio's timers fire on whole milliseconds: within one of the grid's point).
    #[tokio::test(start_paused = true)]
    async fn beats_made_apart_tick_together() {
        let off_grid = |at: Instant| {
            let into = (at - origin()).as_nanos() % Duration::from_secs(1).as_nanos();
            into.min(1_000_000_000 - into)
        };
        let mut a = Beat::every(Duration::from_secs(1));
        a.tick().await;
        a.tick().await;
        assert!(
            off_grid(Instant::now()) < 1_000_000,
            "the first wait ends on the grid"
        );
        tokio::time::sleep(Duration::from_millis(370)).await;
        let mut b = Beat::every(Duration::from_secs(2));
        b.tick().await;
        a.tick().await;
        let at_a = Instant::now();
        b.tick().await;
        let at_b = Instant::now();
        assert!(off_grid(at_a) < 1_000_000, "a on the grid");
        assert!(off_grid(at_b) < 1_000_000, "b on the grid");
    }
}
