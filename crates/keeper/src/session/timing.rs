//! Time for the keeper: retry delays with jitter, the wall clock, and noticing when the machine
//! slept or the clock jumped.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

/// Exponential backoff with full jitter: try `n` waits a random time between a small floor and
/// `min(max, initial × 2ⁿ)`. Random waits keep many clients that failed together from
/// coming back together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// `true`: the wait is drawn from the whole range `[floor, ceiling]` (full jitter).
    /// `false`: from `[ceiling / 2, ceiling]`, for waits that must stay long.
    pub full_jitter: bool,
}

impl BackoffPolicy {
    /// About 1 s, doubling to 60 s: network trouble, 5xx, timeouts, malformed answers.
    pub const SHORT: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        full_jitter: true,
    };
    /// 30 s, doubling to 5 min, never shorter than half: a full tenant, a taken-over session.
    pub const LONG: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(30),
        max: Duration::from_secs(300),
        full_jitter: false,
    };

    /// The longest wait before try `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// The shortest wait full jitter may draw: a hot loop is never possible.
const FLOOR: Duration = Duration::from_millis(100);

/// Draws the waits.
pub(crate) struct Jitter(SmallRng);

impl Jitter {
    pub(crate) fn new(seed: Option<u64>) -> Jitter {
        let seed = seed.unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        });
        Jitter(SmallRng::seed_from_u64(seed))
    }

    /// The wait before try `attempt` (1-based) under `policy`.
    pub(crate) fn delay(&mut self, policy: &BackoffPolicy, attempt: u32) -> Duration {
        let ceiling = policy.ceiling(attempt);
        let low = if policy.full_jitter {
            FLOOR.min(ceiling)
        } else {
            ceiling / 2
        };
        if ceiling <= low {
            return ceiling;
        }
        let span = (ceiling - low).as_secs_f64();
        low + Duration::from_secs_f64(self.0.random::<f64>() * span)
    }
}

/// The wall clock. Tests swap in one they can move.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Notices a suspend/resume or a wall-clock jump: between two looks, the wall clock moved much
/// more (or less) than the monotonic clock, or the monotonic clock itself moved much more than
/// the caller expected (the process was frozen).
pub(crate) struct ClockWatch {
    clock: Arc<dyn Clock>,
    threshold: Duration,
    mono: Instant,
    wall: SystemTime,
}

/// How far the clocks disagreed, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Jump {
    pub(crate) wall: f64,
    pub(crate) mono: f64,
}

impl ClockWatch {
    pub(crate) fn new(clock: Arc<dyn Clock>, threshold: Duration) -> ClockWatch {
        let wall = clock.now();
        ClockWatch {
            clock,
            threshold,
            mono: Instant::now(),
            wall,
        }
    }

    /// Look at the clocks; `expected` is how long the caller meant to be away since the last
    /// look. Returns the jump if there was one.
    pub(crate) fn look(&mut self, expected: Duration) -> Option<Jump> {
        let (mono, wall) = (Instant::now(), self.clock.now());
        let mono_d = mono.duration_since(self.mono).as_secs_f64();
        let wall_d = match wall.duration_since(self.wall) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        self.mono = mono;
        self.wall = wall;
        let t = self.threshold.as_secs_f64();
        let late = mono_d - expected.as_secs_f64();
        ((wall_d - mono_d).abs() > t || late > t).then_some(Jump {
            wall: wall_d,
            mono: mono_d,
        })
    }

    /// Forget the past: the next look measures from now.
    pub(crate) fn reset(&mut self) {
        self.mono = Instant::now();
        self.wall = self.clock.now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn short_backoff_doubles_to_its_cap_with_full_jitter() {
        let p = BackoffPolicy::SHORT;
        let ceilings: Vec<u64> = (1..=9).map(|a| p.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(60));
        let mut j = Jitter::new(Some(7));
        for attempt in 1..=12 {
            let draws: Vec<Duration> = (0..200).map(|_| j.delay(&p, attempt)).collect();
            let (lo, hi) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
            assert!(
                *lo >= FLOOR && *hi <= p.ceiling(attempt),
                "{attempt}: {lo:?}..{hi:?}"
            );
            // Full jitter spreads over the whole range, not a narrow band.
            assert!(
                hi.as_secs_f64() - lo.as_secs_f64() > p.ceiling(attempt).as_secs_f64() * 0.5,
                "{attempt}: {lo:?}..{hi:?}"
            );
        }
    }

    #[test]
    fn long_backoff_never_draws_below_half() {
        let p = BackoffPolicy::LONG;
        let mut j = Jitter::new(Some(1));
        for attempt in 1..=6 {
            for _ in 0..100 {
                let d = j.delay(&p, attempt);
                assert!(d >= p.ceiling(attempt) / 2 && d <= p.ceiling(attempt));
            }
        }
        assert!(j.delay(&p, 1) >= Duration::from_secs(15));
    }

    struct Movable(Mutex<SystemTime>);
    impl Clock for Movable {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }

    #[test]
    fn a_wall_clock_jump_either_way_is_noticed_and_steady_time_is_not() {
        let clock = Arc::new(Movable(Mutex::new(SystemTime::now())));
        let mut w = ClockWatch::new(clock.clone(), Duration::from_secs(10));
        assert_eq!(w.look(Duration::ZERO), None);
        *clock.0.lock().unwrap() += Duration::from_secs(5);
        assert_eq!(w.look(Duration::ZERO), None, "under the threshold");
        *clock.0.lock().unwrap() += Duration::from_secs(3600);
        let j = w.look(Duration::ZERO).expect("an hour forward");
        assert!(j.wall > 3599.0 && j.mono < 1.0, "{j:?}");
        assert_eq!(w.look(Duration::ZERO), None, "measured from the last look");
        *clock.0.lock().unwrap() -= Duration::from_secs(600);
        assert!(w.look(Duration::ZERO).is_some(), "ten minutes back");
    }
}
