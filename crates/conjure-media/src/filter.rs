//! Building blocks for filtergraphs: escaping, exact times, even sizes, colours, fits.
//!
//! Key terms: a *filter value* is one option value inside a filter (`fontfile=...`), escaped
//! for both levels of ffmpeg's filtergraph syntax by [`escape_value`]. Everything here is pure
//! text: nothing runs ffmpeg or looks at the machine (the encoder choice, which does, lives
//! with the runner in `tools::encoder`).

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The font used when none is given (Debian/Ubuntu package `fonts-dejavu-core`).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Escapes a string for use as one filter option value inside a `-filter_complex` graph.
///
/// ffmpeg parses twice: the graph parser (which treats `\ ' [ ] , ;` specially) and then the
/// filter's option parser (which treats `\ ' :` specially). The value is single-quoted for the
/// inner level (a quote becomes `'\''`) and the result is backslash-escaped for the outer level.
pub fn escape_value(value: &str) -> String {
    let mut inner = String::with_capacity(value.len() + 2);
    inner.push('\'');
    for c in value.chars() {
        if c == '\'' {
            inner.push_str("'\\''");
        } else {
            inner.push(c);
        }
    }
    inner.push('\'');
    let mut outer = String::with_capacity(inner.len() + 8);
    for c in inner.chars() {
        if matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';') {
            outer.push('\\');
        }
        outer.push(c);
    }
    outer
}

/// Escapes a path as a filter value.
pub fn escape_path(path: &Path) -> String {
    escape_value(&path.to_string_lossy())
}

/// Formats seconds for ffmpeg with enough digits to stay frame-exact.
pub fn secs(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" { "0".into() } else { s.to_string() }
}

/// Rounds down to an even number, at least 2 (R4: yuv420p needs even sizes).
pub fn even(v: f64) -> u32 {
    let v = v.max(2.0) as u32;
    (v - v % 2).max(2)
}

/// Parses `#rrggbb`, `rrggbb` or an ffmpeg colour name into ffmpeg's `0xRRGGBB` / name form.
pub fn color(value: &str) -> Option<String> {
    let (base, alpha) = match value.split_once('@') {
        Some((b, a)) => (b, Some(a.parse::<f64>().ok().filter(|a| (0.0..=1.0).contains(a))?)),
        None => (value, None),
    };
    let hex = base.strip_prefix('#').or_else(|| base.strip_prefix("0x")).unwrap_or(base);
    let core = if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        format!("0x{}", hex.to_ascii_uppercase())
    } else if !base.starts_with('#')
        && base.chars().all(|c| c.is_ascii_alphabetic())
        && NAMED.contains(&base.to_ascii_lowercase().as_str())
    {
        base.to_ascii_lowercase()
    } else {
        return None;
    };
    Some(match alpha {
        Some(a) => format!("{core}@{}", secs(a)),
        None => core,
    })
}

const NAMED: &[&str] = &[
    "black", "white", "red", "green", "blue", "yellow", "cyan", "magenta", "gray", "grey",
    "orange", "purple", "pink", "brown", "navy", "teal", "silver", "gold",
];

/// How a source is fitted into the output canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// Scale to fit inside, bars on the sides (letterbox/pillarbox).
    #[default]
    Contain,
    /// Scale to fill, cropping the overflow (centred).
    Cover,
    /// Fit inside over a blurred, zoomed copy of itself (the social-media look).
    Blur,
    /// Scale to the exact size, distorting.
    Stretch,
}

/// A filter chain (`a,b,c` without labels) fitting the current stream into `w`x`h`.
///
/// For [`Fit::Blur`] the chain needs a split, so it is returned with `[in]`/`[out]` handled by
/// the caller through [`fit_graph`].
pub fn fit_graph(
    input: &str,
    output: &str,
    fit: Fit,
    w: u32,
    h: u32,
    pad_color: &str,
    tag: &str,
) -> String {
    match fit {
        Fit::Contain => format!(
            "[{input}]scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color={pad_color},setsar=1[{output}]"
        ),
        Fit::Cover => format!(
            "[{input}]scale={w}:{h}:force_original_aspect_ratio=increase:force_divisible_by=2,crop={w}:{h},setsar=1[{output}]"
        ),
        Fit::Stretch => format!("[{input}]scale={w}:{h},setsar=1[{output}]"),
        Fit::Blur => format!(
            "[{input}]split=2[{tag}bg][{tag}fg];[{tag}bg]scale={w}:{h}:force_original_aspect_ratio=increase:force_divisible_by=2,crop={w}:{h},gblur=sigma=20,eq=brightness=-0.08[{tag}bgb];[{tag}fg]scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2[{tag}fgs];[{tag}bgb][{tag}fgs]overlay=(W-w)/2:(H-h)/2,setsar=1[{output}]"
        ),
    }
}

/// An `atempo` chain for any positive speed (each instance accepts 0.5..=2).
pub fn atempo_chain(speed: f64) -> String {
    let mut parts = Vec::new();
    let mut s = speed;
    while s > 2.0 {
        parts.push("atempo=2".to_string());
        s /= 2.0;
    }
    while s < 0.5 {
        parts.push("atempo=0.5".to_string());
        s /= 0.5;
    }
    if (s - 1.0).abs() > 1e-9 || parts.is_empty() {
        let mut t = String::new();
        let _ = write!(t, "atempo={}", secs(s));
        parts.push(t);
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_both_levels() {
        assert_eq!(escape_value("a"), "\\'a\\'");
        assert_eq!(escape_value("a:b"), "\\'a:b\\'");
        assert_eq!(escape_value("it's"), "\\'it\\'\\\\\\'\\'s\\'");
        assert_eq!(escape_value("[x],y;"), "\\'\\[x\\]\\,y\\;\\'");
    }

    #[test]
    fn formats_seconds_and_even_sizes() {
        assert_eq!(secs(1.5), "1.5");
        assert_eq!(secs(2.0), "2");
        assert_eq!(secs(1.0 / 3.0), "0.333333");
        assert_eq!(even(91.0), 90);
        assert_eq!(even(1.0), 2);
    }

    #[test]
    fn parses_colours() {
        assert_eq!(color("#ff0000").as_deref(), Some("0xFF0000"));
        assert_eq!(color("white@0.5").as_deref(), Some("white@0.5"));
        assert_eq!(color("#12345"), None);
        assert_eq!(color("not a colour"), None);
    }

    #[test]
    fn builds_atempo_chains() {
        assert_eq!(atempo_chain(4.0), "atempo=2,atempo=2");
        assert_eq!(atempo_chain(0.25), "atempo=0.5,atempo=0.5");
        assert_eq!(atempo_chain(1.5), "atempo=1.5");
    }
}
