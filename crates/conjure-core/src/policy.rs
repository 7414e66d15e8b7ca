//! The one policy for polling cadence, deadlines and what happens after a failed call.
//!
//! Money rule: a paid POST is never sent again by code. [`after_submit_error`] only decides
//! whether the failed submit certainly cost nothing (`NotCharged`) or may have been charged
//! (`MaybeCharged`, recorded as `unknown`). Polls are free, so [`after_poll_error`] may wait and
//! poll again. Cadence follows the provider's `poll_after_seconds`, else 30 s for the first five
//! minutes and 60 s after; hard stops are 10 min for images and 100 min for video. Every
//! duration is multiplied by `scale`, which tests set far below 1.

use std::time::Duration;

use crate::catalogue::MediaKind;
use crate::provider::ProviderError;

/// Polling cadence and deadlines.
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    /// Multiplies every wait and deadline (1.0 in real use).
    pub scale: f64,
    pub early_interval: Duration,
    pub late_interval: Duration,
    pub early_window: Duration,
    /// Bounds applied to the provider's hint.
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub image_deadline: Duration,
    pub video_deadline: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            scale: 1.0,
            early_interval: Duration::from_secs(30),
            late_interval: Duration::from_secs(60),
            early_window: Duration::from_secs(5 * 60),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5 * 60),
            image_deadline: Duration::from_secs(10 * 60),
            video_deadline: Duration::from_secs(100 * 60),
        }
    }
}

impl PollPolicy {
    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale.max(0.0))
    }

    /// How long to wait before the next poll, `elapsed` (unscaled wall time divided by scale
    /// is not needed: pass real elapsed time) after submission.
    pub fn next_delay(&self, elapsed: Duration, hint_seconds: Option<f64>) -> Duration {
        let base = match hint_seconds {
            Some(h) if h.is_finite() && h > 0.0 => {
                Duration::from_secs_f64(h).clamp(self.min_interval, self.max_interval)
            }
            _ => {
                if elapsed < self.scaled(self.early_window) {
                    self.early_interval
                } else {
                    self.late_interval
                }
            }
        };
        self.scaled(base)
    }

    /// When to stop polling and report "still pending".
    pub fn deadline(&self, kind: MediaKind) -> Duration {
        self.scaled(match kind {
            MediaKind::Video => self.video_deadline,
            MediaKind::Image | MediaKind::Text => self.image_deadline,
        })
    }

    /// How long to honour a `Retry-After` (or a missing one) on a free call.
    pub fn retry_after(&self, retry_after: Option<Duration>) -> Duration {
        self.scaled(retry_after.unwrap_or(self.early_interval).min(self.max_interval))
    }
}

/// What a failed paid submit means for the user's money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitVerdict {
    /// The provider refused it or it never left: record `failed`/`rejected`, nothing charged.
    NotCharged,
    /// The provider may have accepted it: record `unknown`, tell the user, never resend.
    MaybeCharged,
}

/// Classifies a failed submit. Nothing here ever leads to sending the POST again.
pub fn after_submit_error(err: &ProviderError) -> SubmitVerdict {
    match err {
        ProviderError::Auth { .. }
        | ProviderError::RateLimited { .. }
        | ProviderError::Rejected { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Unsupported { .. }
        | ProviderError::Local { .. }
        | ProviderError::Transport { sent: false, .. } => SubmitVerdict::NotCharged,
        ProviderError::Remote { .. }
        | ProviderError::Protocol { .. }
        | ProviderError::Transport { sent: true, .. } => SubmitVerdict::MaybeCharged,
    }
}

/// What to do after a failed poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollVerdict {
    /// Poll again after this long (free).
    RetryAfter(Duration),
    /// Stop: the error is terminal for this job or for the credentials.
    Stop,
}

/// Classifies a failed poll. Polls are free, so transient failures are retried until the
/// job's deadline; auth and not-found are not transient.
pub fn after_poll_error(
    policy: &PollPolicy,
    err: &ProviderError,
    elapsed: Duration,
) -> PollVerdict {
    match err {
        ProviderError::RateLimited { retry_after, .. } => {
            PollVerdict::RetryAfter(policy.retry_after(*retry_after))
        }
        ProviderError::Remote { .. }
        | ProviderError::Protocol { .. }
        | ProviderError::Transport { .. } => {
            PollVerdict::RetryAfter(policy.next_delay(elapsed, None))
        }
        ProviderError::Auth { .. }
        | ProviderError::Rejected { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Unsupported { .. }
        | ProviderError::Local { .. } => PollVerdict::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_cadence_is_30_then_60() {
        let p = PollPolicy::default();
        assert_eq!(p.next_delay(Duration::from_secs(10), None), Duration::from_secs(30));
        assert_eq!(p.next_delay(Duration::from_secs(301), None), Duration::from_secs(60));
    }

    #[test]
    fn hint_is_honoured_and_clamped() {
        let p = PollPolicy::default();
        assert_eq!(p.next_delay(Duration::ZERO, Some(7.0)), Duration::from_secs(7));
        assert_eq!(p.next_delay(Duration::ZERO, Some(0.01)), Duration::from_secs(1));
        assert_eq!(p.next_delay(Duration::ZERO, Some(10_000.0)), Duration::from_secs(300));
        assert_eq!(p.next_delay(Duration::ZERO, Some(0.0)), Duration::from_secs(30));
    }

    #[test]
    fn scale_shrinks_everything() {
        let p = PollPolicy { scale: 0.001, ..PollPolicy::default() };
        assert_eq!(p.next_delay(Duration::ZERO, Some(2.0)), Duration::from_millis(2));
        assert_eq!(p.deadline(MediaKind::Image), Duration::from_millis(600));
        assert_eq!(p.deadline(MediaKind::Video), Duration::from_secs(6));
    }

    #[test]
    fn ambiguous_submit_failures_may_be_charged() {
        let maybe = [
            ProviderError::Remote { status: 500, message: String::new() },
            ProviderError::Protocol { message: String::new() },
            ProviderError::Transport { sent: true, message: String::new() },
        ];
        for e in &maybe {
            assert_eq!(after_submit_error(e), SubmitVerdict::MaybeCharged, "{e}");
        }
        let not = [
            ProviderError::Auth { status: 401, message: String::new() },
            ProviderError::RateLimited { retry_after: None, message: String::new() },
            ProviderError::Rejected { status: 422, message: String::new() },
            ProviderError::Transport { sent: false, message: String::new() },
        ];
        for e in &not {
            assert_eq!(after_submit_error(e), SubmitVerdict::NotCharged, "{e}");
        }
    }

    #[test]
    fn polls_retry_transient_errors_only() {
        let p = PollPolicy::default();
        let rl = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            message: String::new(),
        };
        assert_eq!(
            after_poll_error(&p, &rl, Duration::ZERO),
            PollVerdict::RetryAfter(Duration::from_secs(3))
        );
        let auth = ProviderError::Auth { status: 401, message: String::new() };
        assert_eq!(after_poll_error(&p, &auth, Duration::ZERO), PollVerdict::Stop);
        let disk = ProviderError::Local { message: String::new() };
        assert_eq!(after_poll_error(&p, &disk, Duration::ZERO), PollVerdict::Stop);
        assert_eq!(after_submit_error(&disk), SubmitVerdict::NotCharged);
        let five = ProviderError::Remote { status: 502, message: String::new() };
        assert!(matches!(after_poll_error(&p, &five, Duration::ZERO), PollVerdict::RetryAfter(_)));
    }
}
