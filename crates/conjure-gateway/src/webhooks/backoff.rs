//! When a failed delivery is tried again: exponential backoff with jitter, as a pure function.
//!
//! The n-th retry waits `base * 2^(n-1)`, capped at `max`, then drawn uniformly from the upper
//! half of that (`delay/2 ..= delay`, "equal jitter"): retries of many deliveries that failed
//! together (a receiver that was down) spread out instead of arriving together, and no retry
//! comes sooner than half its nominal delay. The randomness is an argument so that the function
//! is testable; the worker passes fresh random bits.

use std::time::Duration;

/// The wait before the retry that follows failed attempt number `attempt` (1 for the first
/// attempt), given `random` bits.
pub fn retry_delay(attempt: u32, base: Duration, max: Duration, random: u64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(32);
    let nominal = base.saturating_mul(1_u32 << doublings.min(31)).min(max);
    let nominal_ms = u64::try_from(nominal.as_millis()).unwrap_or(u64::MAX);
    let half = nominal_ms / 2;
    let spread = nominal_ms - half;
    let jitter = if spread == 0 { 0 } else { random % (spread + 1) };
    Duration::from_millis(half + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(5);
    const MAX: Duration = Duration::from_secs(3600);

    #[test]
    fn doubles_within_bounds_and_stops_at_the_cap() {
        for attempt in 1..=40 {
            let nominal = (BASE * 2_u32.pow((attempt - 1).min(20))).min(MAX);
            for random in [0, 1, 7, u64::MAX / 3, u64::MAX] {
                let d = retry_delay(attempt, BASE, MAX, random);
                assert!(d >= nominal / 2 && d <= nominal, "{attempt} {random}: {d:?}");
            }
        }
        assert_eq!(retry_delay(1, BASE, MAX, 0), Duration::from_millis(2500));
        assert_eq!(retry_delay(2, BASE, MAX, 0), Duration::from_secs(5));
        assert_eq!(retry_delay(3, BASE, MAX, 0), Duration::from_secs(10));
        assert_eq!(retry_delay(1000, BASE, MAX, 0), MAX / 2);
    }

    #[test]
    fn jitter_spreads_retries() {
        let delays: std::collections::BTreeSet<_> =
            (0..50_u64).map(|r| retry_delay(4, BASE, MAX, r * 7919)).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn a_zero_base_means_no_wait() {
        assert_eq!(retry_delay(3, Duration::ZERO, MAX, 12345), Duration::ZERO);
    }
}
