//! Parsing ffmpeg's `-progress pipe:1` output.
//!
//! ffmpeg writes blocks of `key=value` lines, each block closed by `progress=continue` or
//! `progress=end`. [`ProgressParser`] is a pure, line-fed state machine so it can be unit tested
//! without running ffmpeg; the driver feeds it stdout lines and forwards complete snapshots.
//! Rendering a bar is the CLI's job, not this module's.

use std::cell::RefCell;
use std::sync::Arc;

/// Where a single-step operation's progress goes: see [`scoped`].
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

thread_local! {
    static SINK: RefCell<Option<(ProgressSink, f64)>> = const { RefCell::new(None) };
}

/// Runs `f` with `sink` receiving the progress of every ffmpeg run and render it starts on this
/// thread, against `expected_seconds` of output. Why a scope rather than a parameter: the
/// thirty-odd steps share a few run helpers, and threading a callback through each would
/// change every signature for what is only a display.
pub fn scoped<R>(sink: ProgressSink, expected_seconds: f64, f: impl FnOnce() -> R) -> R {
    let previous = SINK.with(|s| s.replace(Some((sink, expected_seconds))));
    let result = f();
    SINK.with(|s| *s.borrow_mut() = previous);
    result
}

/// The sink of the enclosing [`scoped`] call on this thread, with its expected seconds.
pub(crate) fn current() -> Option<(ProgressSink, f64)> {
    SINK.with(|s| s.borrow().clone())
}

/// One complete block of ffmpeg progress.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressSnapshot {
    /// Output frames written so far (`frame=`).
    pub frame: Option<u64>,
    /// Output time written so far, in seconds (`out_time_us=`).
    pub out_seconds: Option<f64>,
    /// Encoding speed relative to real time (`speed=1.5x`).
    pub speed: Option<f64>,
    /// True for the final block (`progress=end`).
    pub end: bool,
}

/// Overall progress of a render or operation, as handed to the caller's callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Output frames done across all running steps.
    pub frames_done: u64,
    /// Output frames expected in total (0 when unknown, e.g. audio-only work).
    pub frames_total: u64,
    /// Seconds of output done, where known.
    pub seconds_done: f64,
    /// Seconds of output expected in total.
    pub seconds_total: f64,
    /// Steps finished so far.
    pub steps_done: usize,
    /// Steps in total.
    pub steps_total: usize,
}

impl Progress {
    /// Fraction complete in `0.0..=1.0`.
    pub fn fraction(&self) -> f64 {
        let f = if self.frames_total > 0 {
            self.frames_done as f64 / self.frames_total as f64
        } else if self.seconds_total > 0.0 {
            self.seconds_done / self.seconds_total
        } else if self.steps_total > 0 {
            self.steps_done as f64 / self.steps_total as f64
        } else {
            0.0
        };
        f.clamp(0.0, 1.0)
    }
}

/// Line-fed parser for `-progress` output.
#[derive(Debug, Default)]
pub struct ProgressParser {
    current: ProgressSnapshot,
}

impl ProgressParser {
    /// Feeds one line; returns a snapshot when the line closes a block.
    pub fn feed(&mut self, line: &str) -> Option<ProgressSnapshot> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        match key.trim() {
            "frame" => self.current.frame = value.parse().ok(),
            // `out_time_ms` is, despite its name, also microseconds; prefer the honest key.
            "out_time_us" | "out_time_ms" => {
                if let Ok(us) = value.parse::<i64>() {
                    self.current.out_seconds = Some(us.max(0) as f64 / 1_000_000.0);
                }
            }
            "speed" => self.current.speed = value.trim_end_matches('x').trim().parse().ok(),
            "progress" => {
                self.current.end = value == "end";
                return Some(std::mem::take(&mut self.current));
            }
            _ => {}
        }
        None
    }
}

/// Parses a whole chunk of `-progress` output into its complete blocks.
pub fn parse_progress(text: &str) -> Vec<ProgressSnapshot> {
    let mut parser = ProgressParser::default();
    text.lines().filter_map(|l| parser.feed(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks() {
        let text = "frame=12\nfps=0.0\nout_time_us=400000\nout_time_ms=400000\nspeed=0.8x\nprogress=continue\nframe=30\nout_time_us=1000000\nspeed=N/A\nprogress=end\n";
        let got = parse_progress(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].frame, Some(12));
        assert_eq!(got[0].out_seconds, Some(0.4));
        assert_eq!(got[0].speed, Some(0.8));
        assert!(!got[0].end);
        assert_eq!(got[1].frame, Some(30));
        assert_eq!(got[1].speed, None);
        assert!(got[1].end);
    }

    #[test]
    fn ignores_noise_and_negative_time() {
        let got = parse_progress("garbage\nout_time_us=-5\nprogress=continue\n");
        assert_eq!(got[0].out_seconds, Some(0.0));
        assert_eq!(got[0].frame, None);
    }

    #[test]
    fn fraction_prefers_frames() {
        let p = Progress {
            frames_done: 5,
            frames_total: 10,
            seconds_done: 0.0,
            seconds_total: 100.0,
            steps_done: 0,
            steps_total: 3,
        };
        assert!((p.fraction() - 0.5).abs() < 1e-9);
    }
}
