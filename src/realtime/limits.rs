//! Limits: Supabase Realtime's tenant limits (`max_concurrent_users`, `max_events_per_second`,
//! `max_joins_per_second`, `max_channels_per_client`, `max_presence_events_per_second`,
//! `max_payload_size_in_kb`) and its `RateCounter`: counts in 5-second buckets, the last 12
//! averaged per second, the limit reached when the average is at or above it and lifted once it
//! falls below. Rates are counted per connection, so a client over its budget loses its own
//! channels or socket and nobody else's; the REST broadcast endpoint has one budget of its own.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::RealtimeConfig;

/// Supabase's `RateCounter` tick: counts are bucketed per 5 seconds.
const TICK: Duration = Duration::from_secs(5);

/// Supabase's `max_bucket_len`: the average covers the last 12 ticks (one minute).
const BUCKETS: usize = 12;

/// What Supabase pads `max_payload_size_in_kb` with before comparing a payload's size.
const PAYLOAD_PADDING: usize = 500;

/// Presence calls one channel may make per window (Supabase's `client_presence_rate_limit`).
pub const CLIENT_PRESENCE_CALLS: u32 = 5;

/// The window of `CLIENT_PRESENCE_CALLS`.
pub const CLIENT_PRESENCE_WINDOW: Duration = Duration::from_secs(30);

/// The limits in force and the server-wide counts they are checked against.
pub(crate) struct Limits {
    pub config: RealtimeConfig,
    /// Connections with at least one joined channel (Supabase's `UsersCounter`).
    users: AtomicUsize,
    /// Messages sent through `POST /realtime/v1/api/broadcast`.
    pub rest_events: Mutex<RateCounter>,
}

impl Limits {
    pub fn new(config: RealtimeConfig) -> Self {
        Self {
            rest_events: Mutex::new(RateCounter::new(config.max_events_per_second)),
            config,
            users: AtomicUsize::new(0),
        }
    }

    /// Whether `max_concurrent_users` connections are counted already.
    pub fn users_full(&self) -> bool {
        self.users.load(Ordering::Acquire) >= self.config.max_concurrent_users
    }

    /// Counts a connection as a user when it joins its first channel; `false` when
    /// `max_concurrent_users` are already connected.
    pub fn add_user(&self) -> bool {
        let max = self.config.max_concurrent_users;
        self.users
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |users| {
                (users < max).then_some(users + 1)
            })
            .is_ok()
    }

    /// A counted connection left its last channel or closed.
    pub fn remove_user(&self) {
        let _ = self
            .users
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |users| {
                users.checked_sub(1)
            });
    }

    /// Whether a payload of `size` bytes (its JSON text) exceeds `max_payload_size_in_kb`.
    pub fn payload_too_large(&self, size: usize) -> bool {
        size > self.config.max_payload_size_in_kb * 1000 + PAYLOAD_PADDING
    }
}

/// One connection's budgets.
pub(crate) struct ClientBudgets {
    pub events: RateCounter,
    pub joins: RateCounter,
    pub presence: RateCounter,
}

impl ClientBudgets {
    pub fn new(config: &RealtimeConfig) -> Self {
        Self {
            events: RateCounter::new(config.max_events_per_second),
            joins: RateCounter::new(config.max_joins_per_second),
            presence: RateCounter::new(config.max_presence_events_per_second),
        }
    }
}

/// Supabase's `RateCounter` with `measurement: :avg`, advanced lazily by the clock.
#[derive(Debug)]
pub(crate) struct RateCounter {
    limit: u64,
    tick_started: Instant,
    current: u64,
    /// Completed ticks, newest first, at most `BUCKETS`.
    buckets: VecDeque<u64>,
    triggered: bool,
}

impl RateCounter {
    pub fn new(limit: u64) -> Self {
        Self::starting(limit, Instant::now())
    }

    fn starting(limit: u64, now: Instant) -> Self {
        Self {
            limit,
            tick_started: now,
            current: 0,
            buckets: VecDeque::with_capacity(BUCKETS),
            triggered: false,
        }
    }

    /// Counts `count` events now.
    pub fn add(&mut self, count: u64) {
        self.add_at(count, Instant::now());
    }

    /// Whether the limit is reached: at the last tick, as Supabase decides it, or already by
    /// the tick under way — its own count over the limit, or the average it would make were
    /// the tick over now — so a burst is stopped before its tick ends, even after a quiet spell.
    pub fn limited(&mut self) -> bool {
        self.limited_at(Instant::now())
    }

    /// The events per second the last ticks average, the one under way counted in.
    pub fn average(&mut self) -> f64 {
        self.average_at(Instant::now())
    }

    fn add_at(&mut self, count: u64, now: Instant) {
        self.advance(now);
        self.current += count;
    }

    fn limited_at(&mut self, now: Instant) -> bool {
        self.advance(now);
        self.triggered || !self.fits(0) || self.average_at(now) >= self.limit as f64
    }

    /// Whether `count` more events fit in the tick under way.
    pub fn fits(&self, count: u64) -> bool {
        (self.current + count) < self.limit * TICK.as_secs()
    }

    fn average_at(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let sum: u64 = self.buckets.iter().take(BUCKETS - 1).sum::<u64>() + self.current;
        let ticks = self.buckets.len().min(BUCKETS - 1) + 1;
        sum as f64 / ticks as f64 / TICK.as_secs_f64()
    }

    /// Closes every tick that has ended by `now`, as Supabase's `:tick` does.
    fn advance(&mut self, now: Instant) {
        let mut ticks = 0;
        while now.duration_since(self.tick_started) >= TICK {
            self.tick_started += TICK;
            ticks += 1;
            if ticks > BUCKETS {
                // Idle for longer than the window: every bucket is zero from here on.
                self.current = 0;
                self.buckets.clear();
                self.buckets.resize(BUCKETS, 0);
                self.triggered = false;
                self.tick_started = now;
                break;
            }
            self.buckets.push_front(std::mem::take(&mut self.current));
            self.buckets.truncate(BUCKETS);
            let average = self.buckets.iter().sum::<u64>() as f64
                / self.buckets.len() as f64
                / TICK.as_secs_f64();
            self.triggered = average >= self.limit as f64;
        }
    }
}

/// The length of a value's JSON text, counted without writing it out.
pub(crate) fn json_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_reaches_the_limit_before_its_first_tick_ends() {
        let start = Instant::now();
        let mut counter = RateCounter::starting(100, start);
        counter.add_at(499, start);
        assert!(!counter.limited_at(start));
        counter.add_at(1, start + Duration::from_secs(1));
        assert!(counter.limited_at(start + Duration::from_secs(1)));
    }

    #[test]
    fn the_limit_holds_while_the_minute_average_is_over_it_and_lifts_after() {
        let start = Instant::now();
        let mut counter = RateCounter::starting(100, start);
        counter.add_at(3000, start);
        // 3000 in the first tick: 600/s, then 300/s, 200/s, … over the ticks that follow.
        assert!(counter.limited_at(start + TICK * 5));
        // Six ticks in: 3000 / 6 / 5 = 100/s, still at the limit.
        assert!(counter.limited_at(start + TICK * 6));
        // Seven: 3000 / 7 / 5 ≈ 86/s, below it.
        assert!(!counter.limited_at(start + TICK * 7));
    }

    #[test]
    fn a_steady_rate_under_the_limit_never_reaches_it() {
        let start = Instant::now();
        let mut counter = RateCounter::starting(100, start);
        for second in 0..120 {
            let now = start + Duration::from_secs(second);
            counter.add_at(99, now);
            assert!(!counter.limited_at(now), "second {second}");
        }
    }

    #[test]
    fn a_long_idle_spell_resets_the_counter() {
        let start = Instant::now();
        let mut counter = RateCounter::starting(100, start);
        counter.add_at(10_000, start);
        assert!(counter.limited_at(start));
        // A quiet minute leaves twelve empty ticks; a burst is still stopped at 500.
        let later = start + Duration::from_secs(120);
        counter.add_at(499, later);
        assert!(!counter.limited_at(later));
        counter.add_at(1, later);
        assert!(counter.limited_at(later));
        let later = start + Duration::from_secs(3600);
        assert!(!counter.limited_at(later));
        assert_eq!(counter.average_at(later), 0.0);
    }

    #[test]
    fn users_are_capped_and_released() {
        let limits = Limits::new(RealtimeConfig {
            max_concurrent_users: 2,
            ..RealtimeConfig::default()
        });
        assert!(limits.add_user());
        assert!(limits.add_user());
        assert!(!limits.add_user());
        limits.remove_user();
        assert!(limits.add_user());
    }

    #[test]
    fn payload_size_has_supabases_padding() {
        let limits = Limits::new(RealtimeConfig {
            max_payload_size_in_kb: 1,
            ..RealtimeConfig::default()
        });
        assert!(!limits.payload_too_large(1500));
        assert!(limits.payload_too_large(1501));
    }
}
