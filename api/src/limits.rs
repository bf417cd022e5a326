//! In-process rate limits for public endpoints. Limits that must hold across processes
//! (login codes per phone and IP) are counted in the database instead.

use std::{collections::HashMap, hash::Hash, sync::Mutex};

use chrono::{DateTime, Utc};

/// At most `limit` hits per key in each window of `window_secs`.
pub struct FixedWindowLimiter<K> {
    limit: u32,
    window_secs: i64,
    hits: Mutex<HashMap<K, (i64, u32)>>,
}

impl<K: Eq + Hash + Clone> FixedWindowLimiter<K> {
    /// A limiter allowing `limit` hits per `window_secs`.
    pub fn new(limit: u32, window_secs: i64) -> Self {
        Self {
            limit,
            window_secs: window_secs.max(1),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit for `key` at `now`; `Err(seconds)` tells how long until the window resets.
    pub fn hit(&self, key: &K, now: DateTime<Utc>) -> Result<(), u64> {
        let window = now.timestamp().div_euclid(self.window_secs);
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > 100_000 {
            hits.retain(|_, (w, _)| *w == window);
        }
        let entry = hits.entry(key.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.limit {
            let reset = (window + 1) * self.window_secs - now.timestamp();
            return Err(reset.max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_turns() {
        let limiter = FixedWindowLimiter::new(2, 60);
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 10).unwrap();
        assert!(limiter.hit(&1, t).is_ok());
        assert!(limiter.hit(&1, t).is_ok());
        assert_eq!(limiter.hit(&1, t), Err(50));
        assert!(limiter.hit(&2, t).is_ok(), "keys are independent");
        assert!(limiter.hit(&1, t + chrono::Duration::seconds(50)).is_ok());
    }
}
