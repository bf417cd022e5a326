//! The arithmetic of the senders' rate limits, apart from where their state lives (the
//! in-process queue keeps it in memory, Redis in keys under the queue's prefix, with the
//! same rules in Lua), so it is tested with an injected clock.
//!
//! - [`Rate`] and [`Gcra`]: a provider's sends per minute as GCRA (the generic cell rate
//!   algorithm: a token bucket kept as one timestamp). A sender reserves a whole batch and
//!   waits until the reservation comes due, so nothing is dropped and nothing spins.
//! - [`Window`] and [`SendLog`]: at most so many sends per key (a phone number) in any
//!   window of a given length, kept as the key's recent send times; a send over a limit is
//!   not recorded and is answered with the time it may go.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use chrono::{DateTime, Utc};

/// Sends per minute to one provider; up to a second's worth may go at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    per_minute: u32,
}

impl Rate {
    /// `per_minute` sends a minute; none (no limit) for 0.
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then_some(Self { per_minute })
    }

    /// The time between two sends at the sustained rate.
    pub fn interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute
    }

    /// Sends that may go at once after a quiet spell: a second's worth, at least one.
    pub fn burst(self) -> u32 {
        (self.per_minute / 60).max(1)
    }

    /// How far ahead of the sustained schedule a burst may run.
    pub fn tolerance(self) -> Duration {
        self.interval() * self.burst()
    }
}

/// The GCRA state of one rate: its theoretical arrival time, the moment by which every
/// send reserved so far is paid for at the sustained rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gcra {
    tat: Duration,
}

impl Gcra {
    /// Reserves `n` sends at `now` (time since any fixed origin, the same for every call);
    /// returns how long to wait before making them.
    pub fn reserve(&mut self, rate: Rate, now: Duration, n: u32) -> Duration {
        self.tat = self.tat.max(now) + rate.interval() * n;
        self.tat
            .saturating_sub(rate.tolerance())
            .saturating_sub(now)
    }
}

/// At most `limit` sends in any span of `length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Sends allowed in the window.
    pub limit: u32,
    /// The window's length.
    pub length: Duration,
}

impl Window {
    /// `limit` sends per `length`; none (no limit) for 0.
    pub fn new(limit: u32, length: Duration) -> Option<Self> {
        (limit > 0).then_some(Self { limit, length })
    }

    /// The length in milliseconds (the unit send times are kept in).
    pub fn length_ms(self) -> i64 {
        i64::try_from(self.length.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The longest of `windows`, in milliseconds: how long a send is remembered.
pub fn longest_ms(windows: &[Window]) -> i64 {
    windows.iter().map(|w| w.length_ms()).max().unwrap_or(0)
}

/// The recent send times under one key, oldest first, in milliseconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendLog(VecDeque<i64>);

impl SendLog {
    /// Records a send at `now` if every one of `windows` has room for it; otherwise records
    /// nothing and returns when the send that has to age out of the fullest window will
    /// have done so.
    pub fn admit(&mut self, windows: &[Window], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now = now.timestamp_millis();
        let forgotten = now.saturating_sub(longest_ms(windows));
        while self.0.front().is_some_and(|&at| at <= forgotten) {
            self.0.pop_front();
        }
        let mut free_at: Option<i64> = None;
        for window in windows {
            let length = window.length_ms();
            let first_inside = self
                .0
                .partition_point(|&at| at <= now.saturating_sub(length));
            let inside = self.0.len() - first_inside;
            let limit = window.limit as usize;
            if inside >= limit {
                // The window has room again once all but `limit - 1` of its sends left it.
                let leaves = self.0[first_inside + inside - limit] + length;
                free_at = Some(free_at.map_or(leaves, |at| at.max(leaves)));
            }
        }
        match free_at {
            None => {
                // A clock set back (tests) must not unsort the log.
                let at = self.0.partition_point(|&at| at <= now);
                self.0.insert(at, now);
                None
            }
            Some(at) => DateTime::from_timestamp_millis(at),
        }
    }

    /// True when no send is recent enough for `windows` to count it at `now`.
    pub fn is_stale(&self, windows: &[Window], now: DateTime<Utc>) -> bool {
        let forgotten = now.timestamp_millis().saturating_sub(longest_ms(windows));
        self.0.back().is_none_or(|&at| at <= forgotten)
    }
}

/// Every rate and send log of one process: the in-process queue's limits.
#[derive(Debug, Default)]
pub struct Limits {
    rates: HashMap<String, Gcra>,
    logs: HashMap<String, SendLog>,
    /// Stale logs are dropped when the map reaches this size, which then doubles: the
    /// sweep costs O(1) per call, amortized.
    sweep_at: usize,
}

impl Limits {
    /// [`Gcra::reserve`] on the rate kept under `key`.
    pub fn reserve(&mut self, key: &str, rate: Rate, now: Duration, n: u32) -> Duration {
        match self.rates.get_mut(key) {
            Some(gcra) => gcra.reserve(rate, now, n),
            None => self
                .rates
                .entry(key.to_owned())
                .or_default()
                .reserve(rate, now, n),
        }
    }

    /// [`SendLog::admit`] for each of `keys` in turn.
    pub fn admit(
        &mut self,
        keys: &[String],
        windows: &[Window],
        now: DateTime<Utc>,
    ) -> Vec<Option<DateTime<Utc>>> {
        let verdicts = keys
            .iter()
            .map(|key| {
                self.logs
                    .entry(key.clone())
                    .or_default()
                    .admit(windows, now)
            })
            .collect();
        if self.logs.len() >= self.sweep_at {
            self.logs.retain(|_, log| !log.is_stale(windows, now));
            self.sweep_at = (self.logs.len() * 2).max(1_024);
        }
        verdicts
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        assert_eq!(Rate::per_minute(0), None);
        assert_eq!(Window::new(0, Duration::from_secs(60)), None);
    }

    #[test]
    fn a_burst_is_a_seconds_worth_and_at_least_one() {
        let fcm = Rate::per_minute(600_000).expect("rate");
        assert_eq!(fcm.burst(), 10_000);
        assert_eq!(fcm.interval(), Duration::from_micros(100));
        let slow = Rate::per_minute(30).expect("rate");
        assert_eq!(slow.burst(), 1);
        assert_eq!(slow.interval(), Duration::from_secs(2));
    }

    #[test]
    fn a_burst_goes_at_once_and_the_rest_at_the_sustained_rate() {
        // 10 a second: 100 ms apart, bursts of 10.
        let rate = Rate::per_minute(600).expect("rate");
        let mut gcra = Gcra::default();
        let t0 = Duration::from_secs(1_000);
        assert_eq!(gcra.reserve(rate, t0, 10), Duration::ZERO, "a full bucket");
        assert_eq!(
            gcra.reserve(rate, t0, 1),
            100 * MS,
            "then one interval each"
        );
        assert_eq!(gcra.reserve(rate, t0, 9), Duration::from_secs(1));
        // Half a second later the schedule is still ahead: the next send waits its turn.
        assert_eq!(
            gcra.reserve(rate, t0 + 500 * MS, 1),
            Duration::from_millis(600)
        );
    }

    #[test]
    fn an_idle_rate_refills_up_to_one_burst_and_no_more() {
        let rate = Rate::per_minute(600).expect("rate");
        let mut gcra = Gcra::default();
        let t0 = Duration::from_secs(50);
        gcra.reserve(rate, t0, 10);
        // An hour idle buys one burst, not an hour's worth.
        let later = t0 + Duration::from_secs(3_600);
        assert_eq!(gcra.reserve(rate, later, 10), Duration::ZERO);
        assert_eq!(gcra.reserve(rate, later, 1), 100 * MS);
    }

    #[test]
    fn callers_that_wait_as_told_never_beat_the_rate() {
        // Lanes of 3 sends each, each lane sleeping its wait on a simulated clock: over any
        // span, sends stay within one burst plus the span's worth.
        let rate = Rate::per_minute(6_000).expect("rate"); // 100/s, burst 100
        let mut gcra = Gcra::default();
        let mut sends: Vec<Duration> = Vec::new();
        let mut now = Duration::from_secs(10);
        for _ in 0..400 {
            let wait = gcra.reserve(rate, now, 3);
            sends.extend(std::iter::repeat_n(now + wait, 3));
            // The next lane asks a little later.
            now += 2 * MS;
        }
        sends.sort();
        let (first, last) = (sends[0], sends[sends.len() - 1]);
        // 1,200 sends at 100/s after a burst of 100: 11 s.
        assert_eq!(last - first, Duration::from_secs(11));
        for (i, start) in sends.iter().enumerate() {
            let within = sends[i..]
                .iter()
                .take_while(|&&at| at < *start + Duration::from_secs(1))
                .count();
            assert!(within <= 200, "{within} sends within a second of {start:?}");
        }
    }

    fn at(minutes: i64, seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::minutes(minutes)
            + chrono::Duration::seconds(seconds)
    }

    fn carrier_windows() -> Vec<Window> {
        [(1, 60), (5, 3_600), (10, 86_400)]
            .into_iter()
            .filter_map(|(limit, secs)| Window::new(limit, Duration::from_secs(secs)))
            .collect()
    }

    #[test]
    fn one_sms_a_minute_per_number() {
        let windows = carrier_windows();
        let mut log = SendLog::default();
        assert_eq!(log.admit(&windows, at(0, 0)), None);
        assert_eq!(log.admit(&windows, at(0, 30)), Some(at(1, 0)));
        // The refused send was not recorded: the window still frees at 1:00.
        assert_eq!(log.admit(&windows, at(0, 59)), Some(at(1, 0)));
        assert_eq!(log.admit(&windows, at(1, 0)), None);
    }

    #[test]
    fn five_an_hour_then_the_oldest_must_age_out() {
        let windows = carrier_windows();
        let mut log = SendLog::default();
        for minute in [0, 10, 20, 30, 40] {
            assert_eq!(log.admit(&windows, at(minute, 0)), None, "minute {minute}");
        }
        assert_eq!(log.admit(&windows, at(50, 0)), Some(at(60, 0)));
        assert_eq!(log.admit(&windows, at(60, 0)), None);
        // Now 10, 20, 30, 40 and 60 are inside the hour: the next frees when 10 leaves.
        assert_eq!(log.admit(&windows, at(61, 0)), Some(at(70, 0)));
    }

    #[test]
    fn ten_a_day_answers_with_the_latest_window_to_free() {
        let windows = carrier_windows();
        let mut log = SendLog::default();
        // Ten sends an hour apart (twice five an hour would be refused).
        for hour in 0..10 {
            assert_eq!(log.admit(&windows, at(hour * 60, 0)), None, "hour {hour}");
        }
        // The hour and minute windows have room at 10:00; the day's frees 24 h after 0:00.
        assert_eq!(log.admit(&windows, at(600, 0)), Some(at(24 * 60, 0)));
        assert_eq!(log.admit(&windows, at(24 * 60, 0)), None);
        // Sends older than a day were forgotten.
        assert_eq!(log.0.len(), 10);
    }

    #[test]
    fn no_windows_admits_everything() {
        let mut log = SendLog::default();
        for _ in 0..100 {
            assert_eq!(log.admit(&[], at(0, 0)), None);
        }
        assert!(log.is_stale(&[], at(0, 0)));
    }

    #[test]
    fn the_same_key_twice_in_one_call_sees_the_first_send() {
        let windows = carrier_windows();
        let mut limits = Limits::default();
        let keys = ["a".to_owned(), "b".to_owned(), "a".to_owned()];
        assert_eq!(
            limits.admit(&keys, &windows, at(0, 0)),
            [None, None, Some(at(1, 0))]
        );
    }

    #[test]
    fn stale_logs_are_swept() {
        let windows = carrier_windows();
        let mut limits = Limits::default();
        let keys: Vec<String> = (0..2_000).map(|i| format!("a{i}")).collect();
        limits.admit(&keys, &windows, at(0, 0));
        assert_eq!(limits.logs.len(), 2_000, "all still count");
        // The map doubling sweeps it: a day later only the new numbers are left.
        let keys: Vec<String> = (0..2_000).map(|i| format!("b{i}")).collect();
        limits.admit(&keys, &windows, at(24 * 60, 1));
        assert_eq!(limits.logs.len(), 2_000);
        assert!(limits.logs.keys().all(|key| key.starts_with('b')));
    }

    #[test]
    fn rates_are_kept_per_key() {
        let rate = Rate::per_minute(60).expect("rate");
        let mut limits = Limits::default();
        let now = Duration::from_secs(5);
        assert_eq!(limits.reserve("sms", rate, now, 1), Duration::ZERO);
        assert_eq!(limits.reserve("fcm", rate, now, 1), Duration::ZERO);
        assert_eq!(limits.reserve("sms", rate, now, 1), Duration::from_secs(1));
    }
}
