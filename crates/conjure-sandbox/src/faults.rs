//! Fault injection: the misbehaviours the sandbox can be told to show, and how to set them
//! from command-line style flags.
//!
//! Each fault mirrors something the real service does (or may do) and that conjure must survive
//! without spending money twice or leaking a secret: slow answers, jobs that take several polls,
//! failed items, rate-limited polls, a paid submit whose answer is a 500 or never arrives, jobs
//! stuck in `processing`, a careless server that echoes the caller's credentials in its error
//! messages, a provider that charges more than its quote, and asset URLs that answer 404 although
//! the job completed. Faults are plain data; the server reads the current set on every request
//! (latency, `poll_after_seconds`, echoed credentials, asset 404s), and a job captures the faults
//! that apply to it (failures, staleness, rate limiting, the overcharge) when it is accepted.
//!
//! The text faults (`POST /v1/chat/completions`, see [`crate::text`]) cover what a streaming,
//! reserve-billed endpoint can do to a client:
//! - `stream-cut-after N`: a stream is aborted after N content chunks (0 = before the first
//!   one; more than the answer has = right after the last one). No finish chunk, no usage, no
//!   `[DONE]`: the connection ends mid-body, so the client sees a transport error, not
//!   a clean end. The reserve is kept and nothing is refunded (the documented rule for a stream
//!   that ends without usage).
//! - `stream-malformed`: one extra frame whose data is not valid JSON is sent in the middle of
//!   every stream; every other frame, the answer, usage and `[DONE]` are as usual.
//! - `text-500`: every chat POST answers 500 after taking the reserve (streamed, whole or
//!   async: no job is created); the reserve is kept.
//! - `split-utf8`: the SSE body is written in pieces that each end in the middle of a multi-byte
//!   character where the frame has one (and within the `data:` line otherwise), so a client
//!   that decodes each network read on its own garbles the text.
//! - `catalogue-drift`: the service's catalogue differs from the one bundled with conjure (see
//!   [`crate::catalogue`]): `/v1/models` in both shapes, `llms.txt`, validation and billing
//!   (media and text) all follow the drifted one.
//! - `llms-revision N`: `/llms.txt` changes deterministically with N (0 = the original text), so
//!   a client comparing its digest sees a change.
//!
//! The submit and delivery faults of the fault matrix (README, "Reliability"), on both halves'
//! paid POSTs and asset downloads:
//! - `reset-before-accept`: the connection of every paid POST is cut before the submission is
//!   authenticated, charged or accepted: the client sees a transport error although nothing
//!   was taken.
//! - `submit-delay-ms N`: a paid POST is accepted and charged, then its answer waits N ms: long
//!   enough, and the client's HTTP timeout runs out first (a timeout after acceptance), or a
//!   test kills the client while it waits (a kill during submit).
//! - `malformed-json`: a paid POST is accepted and charged, then answered 200 with a body that
//!   is not JSON.
//! - `submit-429`: every paid POST is answered 429 with `Retry-After` (`retry-after` seconds)
//!   before anything is accepted or charged.
//! - `asset-slow-ms N`: asset bodies are sent in small chunks N ms apart, so a download is
//!   observably under way for a while (a kill during download). Read at download time.
//! - `hold`: polls answer the job as it is (`processing`) without advancing it, while the fault
//!   is set. Unlike `stale` it is read at every poll, so lifting it lets held jobs finish.
//!
//! Flag names match `conjure sandbox serve`: `latency-ms`, `steps`, `fail-rate`, `seed`,
//! `rate-limit-polls`, `retry-after`, `submit-500`, `drop-after-accept`, `stale`, `poll-after`,
//! `echo-credentials`, `overcharge`, `asset-404`, `stream-cut-after`, `stream-malformed`,
//! `text-500`, `split-utf8`, `catalogue-drift`, `llms-revision`, `reset-before-accept`,
//! `submit-delay-ms`, `malformed-json`, `submit-429`, `asset-slow-ms`, `hold`.

use std::fmt;
use std::str::FromStr;

use conjure_core::money::Credits;

use crate::error::SandboxError;

/// The faults to inject. `Faults::default()` is a well-behaved service.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Milliseconds added before answering every request (assets included).
    pub latency_ms: u64,
    /// Polls of a job answered `processing` before it completes. 0 completes on the first poll.
    pub processing_steps: u32,
    /// Fraction (0.0–1.0) of submitted items that fail, decided per item from `seed`.
    pub fail_rate: f64,
    /// Seed of the failure draw; the same seed and submission order fail the same items.
    pub seed: u64,
    /// The first K polls of every job answer `429` with `Retry-After`.
    pub rate_limit_polls: u32,
    /// Seconds announced in `Retry-After` on injected 429s.
    pub retry_after_secs: u32,
    /// Answer `500` to a submit after the job was accepted and charged (the ambiguous outcome).
    pub submit_500: bool,
    /// Close the connection without an answer after the job was accepted and charged.
    pub drop_after_accept: bool,
    /// Accepted jobs never leave `processing` (the provider's stale-status bug).
    pub stale: bool,
    /// `poll_after_seconds` in every envelope; `None` sends `null`.
    pub poll_after_secs: Option<u32>,
    /// Behave like a careless server: every non-2xx answer, and the `error.message` of every
    /// failed item in a poll envelope, repeats the raw `X-API-Key`, `X-API-Secret` and
    /// `Authorization` values the request carried. A client must never show or store them.
    pub echo_credentials: bool,
    /// Credits charged per accepted item above its catalogue price (a provider charging more
    /// than its quote). `metadata.credits_spent` reports the higher figure, the balance drops by
    /// it, and a failed item's refund returns what was charged for it.
    pub overcharge: Credits,
    /// Asset downloads answer `404` with a JSON error while jobs still complete and list their
    /// assets (URLs that expired or were never stored). Read at download time, so turning it
    /// off makes the same URLs work again.
    pub asset_404: bool,
    /// Abort every chat stream after this many content chunks, without finish chunk, usage or
    /// `[DONE]`; the reserve is kept.
    pub stream_cut_after: Option<u32>,
    /// Send one frame of invalid JSON in the middle of every chat stream.
    pub stream_malformed: bool,
    /// Answer every chat POST with 500 after taking its reserve.
    pub text_500: bool,
    /// Write chat streams in pieces that split multi-byte UTF-8 characters.
    pub split_utf8: bool,
    /// Serve, validate and bill by a catalogue that differs from the bundled one.
    pub catalogue_drift: bool,
    /// The revision of `/llms.txt`; 0 is the original text.
    pub llms_revision: u32,
    /// Cut the connection of every paid POST before anything is accepted or charged.
    pub reset_before_accept: bool,
    /// Milliseconds a paid POST's answer waits after the submission was accepted and charged.
    pub submit_delay_ms: u64,
    /// Answer an accepted and charged paid POST with 200 and a body that is not JSON.
    pub malformed_json: bool,
    /// Answer every paid POST with 429 and `Retry-After`, accepting and charging nothing.
    pub submit_429: bool,
    /// Milliseconds between the small chunks of every asset body (0 sends it whole).
    pub asset_slow_ms: u64,
    /// Polls do not advance jobs while set (read at every poll, unlike `stale`).
    pub hold: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            processing_steps: 1,
            fail_rate: 0.0,
            seed: 0,
            rate_limit_polls: 0,
            retry_after_secs: 1,
            submit_500: false,
            drop_after_accept: false,
            stale: false,
            poll_after_secs: Some(1),
            echo_credentials: false,
            overcharge: Credits::ZERO,
            asset_404: false,
            stream_cut_after: None,
            stream_malformed: false,
            text_500: false,
            split_utf8: false,
            catalogue_drift: false,
            llms_revision: 0,
            reset_before_accept: false,
            submit_delay_ms: 0,
            malformed_json: false,
            submit_429: false,
            asset_slow_ms: 0,
            hold: false,
        }
    }
}

/// Every flag [`Faults::parse_flag`] accepts, for help texts and error messages.
pub const FAULT_FLAGS: &[&str] = &[
    "latency-ms",
    "steps",
    "fail-rate",
    "seed",
    "rate-limit-polls",
    "retry-after",
    "submit-500",
    "drop-after-accept",
    "stale",
    "poll-after",
    "echo-credentials",
    "overcharge",
    "asset-404",
    "stream-cut-after",
    "stream-malformed",
    "text-500",
    "split-utf8",
    "catalogue-drift",
    "llms-revision",
    "reset-before-accept",
    "submit-delay-ms",
    "malformed-json",
    "submit-429",
    "asset-slow-ms",
    "hold",
];

impl Faults {
    /// Sets one fault from a flag name (with or without leading `--`, `_` or `-` alike) and its
    /// value. Boolean faults take no value or `true`/`false`; `poll-after` takes a number of
    /// seconds or `null`/`none`; `overcharge` takes credits with at most one decimal (`2.5`);
    /// `stream-cut-after` takes a number of chunks or `null`/`none` (no cut).
    pub fn parse_flag(&mut self, flag: &str, value: Option<&str>) -> Result<(), SandboxError> {
        let name = flag.trim_start_matches('-').replace('_', "-").to_ascii_lowercase();
        let fault = |reason: String| SandboxError::Fault { flag: name.clone(), reason };
        let need = || {
            value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| fault("a value is required".into()))
        };
        let number =
            |v: &str| v.parse::<u64>().map_err(|_| fault(format!("`{v}` is not a whole number")));
        let small =
            |v: &str| v.parse::<u32>().map_err(|_| fault(format!("`{v}` is not a whole number")));
        let flag_value = || match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "true" | "yes" | "1" | "on") => Ok(true),
            Some("false" | "no" | "0" | "off") => Ok(false),
            Some(other) => Err(fault(format!("`{other}` is not true or false"))),
        };
        match name.as_str() {
            "latency-ms" | "latency" => self.latency_ms = number(need()?)?,
            "steps" | "processing-steps" => self.processing_steps = small(need()?)?,
            "fail-rate" => {
                let v = need()?;
                let rate: f64 = v.parse().map_err(|_| fault(format!("`{v}` is not a number")))?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(fault(format!("`{v}` is outside 0.0–1.0")));
                }
                self.fail_rate = rate;
            }
            "seed" => self.seed = number(need()?)?,
            "rate-limit-polls" => self.rate_limit_polls = small(need()?)?,
            "retry-after" => self.retry_after_secs = small(need()?)?,
            "submit-500" => self.submit_500 = flag_value()?,
            "drop-after-accept" => self.drop_after_accept = flag_value()?,
            "stale" => self.stale = flag_value()?,
            "poll-after" => {
                let v = need()?;
                self.poll_after_secs = match v.to_ascii_lowercase().as_str() {
                    "null" | "none" => None,
                    _ => Some(small(v)?),
                };
            }
            "echo-credentials" => self.echo_credentials = flag_value()?,
            "overcharge" => {
                let v = need()?;
                let credits = v.parse::<Credits>().map_err(|e| fault(e.to_string()))?;
                if credits < Credits::ZERO {
                    return Err(fault(format!("`{v}` is negative")));
                }
                self.overcharge = credits;
            }
            "asset-404" => self.asset_404 = flag_value()?,
            "stream-cut-after" => {
                let v = need()?;
                self.stream_cut_after = match v.to_ascii_lowercase().as_str() {
                    "null" | "none" => None,
                    _ => Some(small(v)?),
                };
            }
            "stream-malformed" => self.stream_malformed = flag_value()?,
            "text-500" => self.text_500 = flag_value()?,
            "split-utf8" => self.split_utf8 = flag_value()?,
            "catalogue-drift" | "catalog-drift" => self.catalogue_drift = flag_value()?,
            "llms-revision" => self.llms_revision = small(need()?)?,
            "reset-before-accept" => self.reset_before_accept = flag_value()?,
            "submit-delay-ms" => self.submit_delay_ms = number(need()?)?,
            "malformed-json" => self.malformed_json = flag_value()?,
            "submit-429" => self.submit_429 = flag_value()?,
            "asset-slow-ms" => self.asset_slow_ms = number(need()?)?,
            "hold" => self.hold = flag_value()?,
            _ => {
                return Err(fault(format!("unknown fault; known: {}", FAULT_FLAGS.join(", "))));
            }
        }
        Ok(())
    }

    /// Whether the `ordinal`-th item accepted by this sandbox (0-based) fails.
    ///
    /// A hash of the seed and the ordinal is compared with the rate, so a run is repeatable and
    /// the failed fraction approaches `fail_rate` over many items.
    pub fn item_fails(&self, ordinal: u64) -> bool {
        if self.fail_rate <= 0.0 {
            return false;
        }
        if self.fail_rate >= 1.0 {
            return true;
        }
        let draw = splitmix64(self.seed ^ splitmix64(ordinal));
        // 53 bits give an exact f64 in [0, 1).
        let unit = (draw >> 11) as f64 / (1_u64 << 53) as f64;
        unit < self.fail_rate
    }
}

/// A compact list form, e.g. `steps=3,fail-rate=0.5,stale`: the same flags as
/// [`Faults::parse_flag`], separated by commas, values after `=`.
impl FromStr for Faults {
    type Err = SandboxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut faults = Faults::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (flag, value) = match part.split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (part, None),
            };
            faults.parse_flag(flag, value)?;
        }
        Ok(faults)
    }
}

impl fmt::Display for Faults {
    /// The compact list form of every setting that differs from the default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = Faults::default();
        let mut parts: Vec<String> = Vec::new();
        if self.latency_ms != d.latency_ms {
            parts.push(format!("latency-ms={}", self.latency_ms));
        }
        if self.processing_steps != d.processing_steps {
            parts.push(format!("steps={}", self.processing_steps));
        }
        if self.fail_rate.to_bits() != d.fail_rate.to_bits() {
            parts.push(format!("fail-rate={}", self.fail_rate));
        }
        if self.seed != d.seed {
            parts.push(format!("seed={}", self.seed));
        }
        if self.rate_limit_polls != d.rate_limit_polls {
            parts.push(format!("rate-limit-polls={}", self.rate_limit_polls));
        }
        if self.retry_after_secs != d.retry_after_secs {
            parts.push(format!("retry-after={}", self.retry_after_secs));
        }
        if self.submit_500 {
            parts.push("submit-500".to_owned());
        }
        if self.drop_after_accept {
            parts.push("drop-after-accept".to_owned());
        }
        if self.stale {
            parts.push("stale".to_owned());
        }
        if self.poll_after_secs != d.poll_after_secs {
            match self.poll_after_secs {
                Some(s) => parts.push(format!("poll-after={s}")),
                None => parts.push("poll-after=null".to_owned()),
            }
        }
        if self.echo_credentials {
            parts.push("echo-credentials".to_owned());
        }
        if self.overcharge != d.overcharge {
            parts.push(format!("overcharge={}", self.overcharge));
        }
        if self.asset_404 {
            parts.push("asset-404".to_owned());
        }
        if let Some(n) = self.stream_cut_after {
            parts.push(format!("stream-cut-after={n}"));
        }
        if self.stream_malformed {
            parts.push("stream-malformed".to_owned());
        }
        if self.text_500 {
            parts.push("text-500".to_owned());
        }
        if self.split_utf8 {
            parts.push("split-utf8".to_owned());
        }
        if self.catalogue_drift {
            parts.push("catalogue-drift".to_owned());
        }
        if self.llms_revision != d.llms_revision {
            parts.push(format!("llms-revision={}", self.llms_revision));
        }
        if self.reset_before_accept {
            parts.push("reset-before-accept".to_owned());
        }
        if self.submit_delay_ms != d.submit_delay_ms {
            parts.push(format!("submit-delay-ms={}", self.submit_delay_ms));
        }
        if self.malformed_json {
            parts.push("malformed-json".to_owned());
        }
        if self.submit_429 {
            parts.push("submit-429".to_owned());
        }
        if self.asset_slow_ms != d.asset_slow_ms {
            parts.push(format!("asset-slow-ms={}", self.asset_slow_ms));
        }
        if self.hold {
            parts.push("hold".to_owned());
        }
        if parts.is_empty() { f.write_str("none") } else { f.write_str(&parts.join(",")) }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let mut f = Faults::default();
        f.parse_flag("--latency-ms", Some("250")).unwrap();
        f.parse_flag("steps", Some("3")).unwrap();
        f.parse_flag("fail_rate", Some("0.25")).unwrap();
        f.parse_flag("--submit-500", None).unwrap();
        f.parse_flag("stale", Some("false")).unwrap();
        f.parse_flag("poll-after", Some("null")).unwrap();
        assert_eq!(f.latency_ms, 250);
        assert_eq!(f.processing_steps, 3);
        assert!((f.fail_rate - 0.25).abs() < f64::EPSILON);
        assert!(f.submit_500);
        assert!(!f.stale);
        assert_eq!(f.poll_after_secs, None);
    }

    #[test]
    fn new_fault_flags_parse() {
        let mut f = Faults::default();
        assert!(!f.echo_credentials && !f.asset_404);
        assert_eq!(f.overcharge, Credits::ZERO);
        f.parse_flag("--echo-credentials", None).unwrap();
        f.parse_flag("overcharge", Some("2.5")).unwrap();
        f.parse_flag("asset_404", Some("true")).unwrap();
        assert!(f.echo_credentials);
        assert_eq!(f.overcharge, Credits::from_tenths(25));
        assert!(f.asset_404);
        for name in ["echo-credentials", "overcharge", "asset-404"] {
            assert!(FAULT_FLAGS.contains(&name), "{name}");
        }
    }

    #[test]
    fn text_fault_flags_parse_and_round_trip() {
        let f: Faults =
            "stream-cut-after=3,stream-malformed,text-500,split_utf8,--catalogue-drift,llms-revision=2"
                .parse()
                .unwrap();
        assert_eq!(f.stream_cut_after, Some(3));
        assert!(f.stream_malformed && f.text_500 && f.split_utf8 && f.catalogue_drift);
        assert_eq!(f.llms_revision, 2);
        assert_eq!(
            f.to_string(),
            "stream-cut-after=3,stream-malformed,text-500,split-utf8,catalogue-drift,llms-revision=2"
        );
        assert_eq!(f.to_string().parse::<Faults>().unwrap(), f);
        let mut g = f.clone();
        g.parse_flag("stream-cut-after", Some("none")).unwrap();
        assert_eq!(g.stream_cut_after, None);
        assert!(g.parse_flag("stream-cut-after", None).is_err());
        assert!(g.parse_flag("llms-revision", Some("-1")).is_err());
        for name in ["stream-cut-after", "stream-malformed", "text-500", "split-utf8"] {
            assert!(FAULT_FLAGS.contains(&name), "{name}");
        }
        assert!(FAULT_FLAGS.contains(&"catalogue-drift") && FAULT_FLAGS.contains(&"llms-revision"));
    }

    #[test]
    fn matrix_fault_flags_parse_and_round_trip() {
        let f: Faults =
            "reset-before-accept,submit-delay-ms=5000,malformed_json,--submit-429,asset-slow-ms=20,hold"
                .parse()
                .unwrap();
        assert!(f.reset_before_accept && f.malformed_json && f.submit_429 && f.hold);
        assert_eq!((f.submit_delay_ms, f.asset_slow_ms), (5000, 20));
        assert_eq!(
            f.to_string(),
            "reset-before-accept,submit-delay-ms=5000,malformed-json,submit-429,asset-slow-ms=20,hold"
        );
        assert_eq!(f.to_string().parse::<Faults>().unwrap(), f);
        assert!(Faults::default().parse_flag("submit-delay-ms", None).is_err());
        for name in ["reset-before-accept", "submit-delay-ms", "malformed-json", "submit-429"] {
            assert!(FAULT_FLAGS.contains(&name), "{name}");
        }
        assert!(FAULT_FLAGS.contains(&"asset-slow-ms") && FAULT_FLAGS.contains(&"hold"));
    }

    #[test]
    fn bad_flags_are_errors() {
        let mut f = Faults::default();
        assert!(f.parse_flag("fail-rate", Some("1.5")).is_err());
        assert!(f.parse_flag("steps", None).is_err());
        assert!(f.parse_flag("steps", Some("x")).is_err());
        assert!(f.parse_flag("stale", Some("maybe")).is_err());
        assert!(f.parse_flag("overcharge", None).is_err());
        assert!(f.parse_flag("overcharge", Some("-1")).is_err());
        assert!(f.parse_flag("overcharge", Some("0.25")).is_err());
        assert!(f.parse_flag("asset-404", Some("maybe")).is_err());
        let err = f.parse_flag("bogus", None).unwrap_err().to_string();
        assert!(err.contains("unknown fault"), "{err}");
    }

    #[test]
    fn compact_form_round_trips() {
        let f: Faults = "steps=0, fail-rate=1, rate-limit-polls=2, retry-after=5, drop-after-accept, poll-after=none"
            .parse()
            .unwrap();
        assert_eq!(f.to_string().parse::<Faults>().unwrap(), f);
        let g: Faults = "echo-credentials,overcharge=3.5,asset-404".parse().unwrap();
        assert_eq!(g.to_string(), "echo-credentials,overcharge=3.5,asset-404");
        assert_eq!(g.to_string().parse::<Faults>().unwrap(), g);
        assert_eq!(Faults::default().to_string(), "none");
    }

    #[test]
    fn failure_draw_is_repeatable_and_close_to_the_rate() {
        let f = Faults { fail_rate: 0.3, seed: 7, ..Faults::default() };
        let failed = (0..10_000).filter(|&i| f.item_fails(i)).count();
        assert!((2_700..3_300).contains(&failed), "{failed}");
        assert_eq!(f.item_fails(42), f.item_fails(42));
        assert!(!Faults::default().item_fails(0));
        assert!(Faults { fail_rate: 1.0, ..Faults::default() }.item_fails(3));
    }
}
