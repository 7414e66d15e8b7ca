//! Captions drawn with libass (ffmpeg's `ass` filter), so text in any script renders.
//!
//! Why not `drawtext`: in ffmpeg 5.1 it draws from one font file with no fallback and no
//! shaping, so emoji and CJK become missing-glyph boxes, Arabic is neither joined nor laid out
//! right to left, and combining marks do not combine. libass shapes with HarfBuzz, orders
//! bidirectional text with FriBidi and falls back, glyph by glyph, to an installed font that has
//! the glyph (through fontconfig).
//!
//! Key terms:
//! - *script*: one ASS file for a caption set (every `texts[]` of a timeline, or the one caption
//!   of `media text`) in output pixels (`PlayResX/Y` is the frame) and output time. Each caption
//!   gets a style (size, colour, box or outline, font) and one event (start/end) placed with
//!   `\pos`, or moved with `\move` when it scrolls. The text is escaped so it is never read as
//!   override tags or line breaks.
//! - *face*: a caption's first-choice font: DejaVu Sans by name, or the user's file, copied into
//!   a fonts folder the filter loads (`fontsdir`) and named by its full name. ASS sizes are
//!   line heights (the font's Windows ascent plus descent) while ours, like drawtext's, are
//!   pixels per em, so each size is multiplied by the face's height-to-em ratio.
//! - *measure*: a scroll must travel exactly from outside one edge to outside the other, which
//!   needs the caption's drawn size; only the renderer knows it, so one small ffmpeg run draws
//!   the caption alone on a black canvas and its ink is measured.
//! - *coverage*: characters that no installed outline font has (fontconfig's `fc-list`, asked
//!   once and only when a caption has non-ASCII text) are reported in a note naming the package
//!   to install, instead of leaving silent boxes. Without `fc-list` nothing is reported.
//!
//! What it does not do: wrap long lines (as with drawtext, only `\n` breaks a line), or draw
//! colour emoji (libass draws outline fonts only; a monochrome emoji font such as Symbola is
//! what it falls back to).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::filter::{DEFAULT_FONT, escape_path};
use crate::timeline::{Position, Scroll, Text};
use crate::tools::Invocation;
use crate::{Ffmpeg, MediaError};

/// The family asked for when a caption names no font file (its file is [`DEFAULT_FONT`]).
const DEFAULT_FAMILY: &str = "DejaVu Sans";

/// DejaVu Sans's `(usWinAscent + usWinDescent) / unitsPerEm` (2384 / 2048), used when its file
/// cannot be read (fontconfig then substitutes a similar sans-serif).
const DEFAULT_SCALE: f64 = 2384.0 / 2048.0;

/// A caption set ready to draw.
#[derive(Debug)]
pub(crate) struct Captions {
    /// The `ass=...` filter, escaped for a filtergraph.
    pub filter: String,
    /// Things the user should know (characters no installed font has).
    pub notes: Vec<String>,
    /// The measuring runs that ran (scrolling captions), for reports.
    pub commands: Vec<Invocation>,
}

/// A caption's first-choice font.
#[derive(Debug, Clone, PartialEq)]
struct Face {
    /// The name the script asks for (a full name, or a family).
    name: String,
    /// ASS size per pixel of em.
    scale: f64,
}

/// One caption resolved for the script.
#[derive(Debug, Clone)]
struct Caption<'a> {
    text: &'a Text,
    face: Face,
    /// Pixels per em.
    size: u32,
}

/// Ink extents of a drawn caption relative to its `\an7` anchor: left, top, right, bottom
/// (right and bottom exclusive).
type Extents = (f64, f64, f64, f64);

/// Why `font` cannot be a caption's font, if it cannot.
pub(crate) fn font_problem(font: &Path) -> Option<String> {
    if !font.is_file() {
        return Some(format!(
            "the font `{}` does not exist; give a .ttf/.otf file",
            font.display()
        ));
    }
    match std::fs::read(font) {
        Ok(data) if parse_face(&data).is_some() => None,
        Ok(_) => Some(format!("`{}` is not a TrueType/OpenType font file", font.display())),
        Err(e) => Some(format!("the font `{}` cannot be read: {e}", font.display())),
    }
}

/// Writes the script for `texts` on a `frame` (width, height) in output `total` seconds long
/// into `work`, measures scrolling captions, and checks font coverage. `label(i)` names caption
/// `i` in notes (`texts[2]`).
pub(crate) fn prepare(
    ff: &Ffmpeg,
    texts: &[Text],
    frame: (u32, u32),
    total: f64,
    work: &Path,
    label: &dyn Fn(usize) -> String,
) -> Result<Captions, MediaError> {
    let (w, h) = frame;
    let fonts_dir = work.join("fonts");
    let mut copied: BTreeMap<PathBuf, Face> = BTreeMap::new();
    let mut user_fonts = Vec::new();
    let mut captions = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let face = match &t.font {
            None => default_face(),
            Some(font) => {
                if let Some(face) = copied.get(font) {
                    face.clone()
                } else {
                    let face = user_face(font, &fonts_dir, i)?;
                    copied.insert(font.clone(), face.clone());
                    user_fonts.push(font.clone());
                    face
                }
            }
        };
        captions.push(Caption { text: t, face, size: t.size.unwrap_or_else(|| (h / 16).max(8)) });
    }
    let fonts = (!copied.is_empty()).then_some(fonts_dir.as_path());
    let mut extents = Vec::with_capacity(captions.len());
    let mut commands = Vec::new();
    for (i, c) in captions.iter().enumerate() {
        extents.push(match c.text.scroll {
            Some(_) => {
                let (e, inv) = measure(ff, c, work, fonts, i)?;
                commands.push(inv);
                Some(e)
            }
            None => None,
        });
    }
    let path = work.join("captions.ass");
    std::fs::write(&path, script(&captions, &extents, w, h, total))
        .map_err(|e| MediaError::io(format!("writing `{}`", path.display()), e))?;
    Ok(Captions {
        filter: ass_filter(&path, fonts),
        notes: coverage_notes(texts, &user_fonts, label),
        commands,
    })
}

fn ass_filter(script: &Path, fonts: Option<&Path>) -> String {
    let mut f = format!("ass=filename={}", escape_path(script));
    if let Some(dir) = fonts {
        let _ = write!(f, ":fontsdir={}", escape_path(dir));
    }
    f
}

fn default_face() -> Face {
    let scale = std::fs::read(DEFAULT_FONT)
        .ok()
        .and_then(|d| parse_face(&d))
        .map_or(DEFAULT_SCALE, |f| f.scale);
    Face { name: DEFAULT_FAMILY.into(), scale }
}

/// Copies the user's font into the fonts folder (so the filter loads only it, whatever else is
/// beside it, and its path needs no escaping inside the script) and reads its name and metrics.
fn user_face(font: &Path, dir: &Path, i: usize) -> Result<Face, MediaError> {
    let shown = font.display();
    let data = std::fs::read(font).map_err(|e| {
        MediaError::option("font", format!("the font `{shown}` cannot be read: {e}"))
    })?;
    let face = parse_face(&data).ok_or_else(|| {
        MediaError::option("font", format!("`{shown}` is not a TrueType/OpenType font file"))
    })?;
    std::fs::create_dir_all(dir)
        .map_err(|e| MediaError::io(format!("creating `{}`", dir.display()), e))?;
    let ext = font.extension().and_then(|e| e.to_str()).unwrap_or("ttf").to_ascii_lowercase();
    let copy = dir.join(format!("font{i}.{ext}"));
    std::fs::write(&copy, &data)
        .map_err(|e| MediaError::io(format!("writing `{}`", copy.display()), e))?;
    Ok(face)
}

/// Reads the name libass can select a font file's first face by (its Windows full name, else its
/// family) and its height-to-em ratio, from the `name`, `head`, `OS/2` and `hhea` tables.
fn parse_face(data: &[u8]) -> Option<Face> {
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let u32_at =
        |o: usize| data.get(o..o + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let mut base = 0usize;
    if data.get(..4)? == b"ttcf" {
        base = u32_at(12)? as usize;
    }
    let tables = usize::from(u16_at(base + 4)?);
    let find = |tag: &[u8]| {
        (0..tables).find_map(|k| {
            let rec = base + 12 + 16 * k;
            (data.get(rec..rec + 4)? == tag).then(|| {
                let off = u32_at(rec + 8)? as usize;
                let len = u32_at(rec + 12)? as usize;
                data.get(off..off.checked_add(len)?).map(|_| off)
            })?
        })
    };
    let head = find(b"head")?;
    let units = f64::from(u16_at(head + 18)?);
    if units <= 0.0 {
        return None;
    }
    let height = if let Some(os2) = find(b"OS/2") {
        f64::from(u16_at(os2 + 74)?) + f64::from(u16_at(os2 + 76)?)
    } else {
        let hhea = find(b"hhea")?;
        let ascent = f64::from(u16_at(hhea + 4)?.cast_signed());
        let descent = f64::from(u16_at(hhea + 6)?.cast_signed());
        ascent - descent
    };
    let name = find(b"name")?;
    let count = usize::from(u16_at(name + 2)?);
    let strings = name + usize::from(u16_at(name + 4)?);
    // Best first: Windows full name, Windows family, then the Mac/Unicode ones.
    let mut best: Option<(u8, String)> = None;
    for k in 0..count {
        let rec = name + 6 + 12 * k;
        let (platform, id) = (u16_at(rec)?, u16_at(rec + 6)?);
        let (len, off) = (usize::from(u16_at(rec + 8)?), usize::from(u16_at(rec + 10)?));
        let rank = match (platform, id) {
            (3, 4) => 0,
            (3, 1) => 1,
            (0 | 1, 4) => 2,
            (0 | 1, 1) => 3,
            _ => continue,
        };
        if best.as_ref().is_some_and(|(r, _)| *r <= rank) {
            continue;
        }
        let Some(raw) = data.get(strings + off..strings + off + len) else { continue };
        let text = if platform == 1 {
            raw.iter().map(|&b| char::from(b)).collect::<String>()
        } else {
            let units: Vec<u16> =
                raw.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect();
            String::from_utf16_lossy(&units)
        };
        // Characters the ASS style line or an override tag would read as syntax.
        let text: String = text.chars().filter(|c| !matches!(c, ',' | '{' | '}' | '\\')).collect();
        if !text.trim().is_empty() {
            best = Some((rank, text.trim().to_string()));
        }
    }
    let scale = if height > 0.0 { height / units } else { 1.0 };
    Some(Face { name: best?.1, scale })
}

/// The alignment (`\an`, numpad layout) and anchor point of a named placement on a `w`x`h`
/// frame: the caption's matching corner or edge middle sits on that point. `"x,y"` is the
/// top-left corner at x, y. `None` for an unknown name.
pub(crate) fn named_anchor(name: &str, w: f64, h: f64) -> Option<(u8, f64, f64)> {
    // The margin drawtext captions had: a 24th of the height.
    let margin = h / 24.0;
    Some(match name {
        "top" => (8, w / 2.0, margin),
        "center" | "centre" | "middle" => (5, w / 2.0, h / 2.0),
        "bottom" => (2, w / 2.0, h - margin),
        "top-left" => (7, margin, margin),
        "top-right" => (9, w - margin, margin),
        "bottom-left" => (1, margin, h - margin),
        "bottom-right" => (3, w - margin, h - margin),
        other => {
            let (left, top) = other.split_once(',')?;
            (7, left.trim().parse().ok()?, top.trim().parse().ok()?)
        }
    })
}

fn anchor(position: &Position, w: u32, h: u32) -> (u8, f64, f64) {
    let (w, h) = (f64::from(w), f64::from(h));
    match position {
        Position::Named(n) => named_anchor(n, w, h).unwrap_or((2, w / 2.0, h - h / 24.0)),
        Position::Xy([x, y]) => (7, *x, *y),
    }
}

/// A number for the script: at most two decimals.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" { "0".into() } else { s.to_string() }
}

/// `H:MM:SS.CC` from centiseconds.
fn ass_time(cs: u64) -> String {
    format!("{}:{:02}:{:02}.{:02}", cs / 360_000, cs / 6000 % 60, cs / 100 % 60, cs % 100)
}

/// The event's start and end in centiseconds, keeping drawtext's `between(t, start, end)`:
/// every frame from `start` to `end` inclusive. ffmpeg hands libass a frame's time truncated to
/// whole milliseconds (a frame at 0.7 s can arrive as 699 ms) and libass shows an event while
/// `start <= now < end`, so the start is taken a millisecond early and the end a centisecond
/// late; both stay within one frame interval up to 90 fps.
fn event_times(start: f64, end: f64) -> (u64, u64) {
    let s = ((start - 0.001).max(0.0) * 100.0).floor() as u64;
    let e = (end.max(0.0) * 100.0).floor() as u64 + 1;
    (s, e.max(s + 1))
}

/// `&HAABBGGRR` (ASS alpha: 0 is opaque) from our colour syntax; `None` if it is not one.
fn ass_colour(value: &str) -> Option<String> {
    let parsed = crate::filter::color(value)?;
    let (base, opacity) = match parsed.split_once('@') {
        Some((base, alpha)) => (base, alpha.parse::<f64>().ok()?),
        None => (parsed.as_str(), 1.0),
    };
    let rgb = match base.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => named_rgb(base)?,
    };
    let alpha = ((1.0 - opacity) * 255.0).round() as u32;
    let (red, green, blue) = (rgb >> 16 & 0xFF, rgb >> 8 & 0xFF, rgb & 0xFF);
    Some(format!("&H{alpha:02X}{blue:02X}{green:02X}{red:02X}"))
}

/// ffmpeg's values for the colour names [`crate::filter::color`] accepts.
fn named_rgb(name: &str) -> Option<u32> {
    Some(match name {
        "black" => 0x00_0000,
        "white" => 0xFF_FFFF,
        "red" => 0xFF_0000,
        "green" => 0x00_8000,
        "blue" => 0x00_00FF,
        "yellow" => 0xFF_FF00,
        "cyan" => 0x00_FFFF,
        "magenta" => 0xFF_00FF,
        "gray" | "grey" => 0x80_8080,
        "orange" => 0xFF_A500,
        "purple" => 0x80_0080,
        "pink" => 0xFF_C0CB,
        "brown" => 0xA5_2A2A,
        "navy" => 0x00_0080,
        "teal" => 0x00_8080,
        "silver" => 0xC0_C0C0,
        "gold" => 0xFF_D700,
        _ => return None,
    })
}

/// The caption's text as event text: drawn literally, never read as tags or breaks. `{` and `}`
/// are escaped (`\{`, `\}`); a backslash before `N`, `n` or `h` gets an invisible word joiner
/// between them so it is not a break or hard space; a newline becomes `\N`.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("\\N"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '\\' => {
                out.push('\\');
                if matches!(chars.peek(), Some('N' | 'n' | 'h')) {
                    out.push('\u{2060}');
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn header(w: u32, h: u32) -> String {
    let mut s = String::from("[Script Info]\nScriptType: v4.00+\n");
    let _ = writeln!(s, "PlayResX: {w}\nPlayResY: {h}");
    // No automatic wrapping (only `\N` breaks, as drawtext); outlines in script pixels.
    s.push_str("WrapStyle: 2\nScaledBorderAndShadow: yes\nYCbCr Matrix: None\n\n[V4+ Styles]\n");
    s.push_str("Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n");
    s
}

/// The style of caption `i`: a translucent box (`BorderStyle` 3 draws a box in the outline
/// colour, padded by the outline width) as drawtext's `box=1:boxcolor=black@0.5`, else
/// drawtext's thin dark outline.
fn style(i: usize, c: &Caption<'_>) -> String {
    let colour =
        c.text.color.as_deref().and_then(ass_colour).unwrap_or_else(|| "&H00FFFFFF".into());
    let (border, outline, outline_colour) = if c.text.r#box {
        (3, (c.size / 4).max(2), "&H80000000")
    } else {
        (1, (c.size / 16).max(1), "&H66000000")
    };
    format!(
        "Style: c{i},{},{},{colour},{colour},{outline_colour},&H00000000,0,0,0,0,100,100,0,0,{border},{outline},0,7,0,0,0,1\n",
        c.face.name,
        num(f64::from(c.size) * c.face.scale)
    )
}

fn dialogue(i: usize, (start, end): (u64, u64), tags: &str, text: &str) -> String {
    format!(
        "Dialogue: 0,{},{},c{i},,0,0,0,,{{{tags}}}{}\n",
        ass_time(start),
        ass_time(end),
        escape_text(text)
    )
}

/// The whole script: pure, so placement and timing are tested without ffmpeg. `extents[i]` is
/// the measured ink of caption `i` when it scrolls.
fn script(
    captions: &[Caption<'_>],
    extents: &[Option<Extents>],
    w: u32,
    h: u32,
    total: f64,
) -> String {
    let mut out = header(w, h);
    for (i, c) in captions.iter().enumerate() {
        out.push_str(&style(i, c));
    }
    out.push_str("\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n");
    for (i, c) in captions.iter().enumerate() {
        let text = c.text;
        let end = text.end.unwrap_or(total);
        let times = event_times(text.start, end);
        let (an, x, y) = anchor(&text.position, w, h);
        let tags = match (text.scroll, extents.get(i).copied().flatten()) {
            (Some(scroll), Some((left, top, right, bottom))) => {
                // Milliseconds from the event's (slightly early) start to the caption's.
                let t1 = ((text.start - times.0 as f64 / 100.0) * 1000.0).round().max(0.0);
                let t2 = t1 + ((end - text.start).max(0.001) * 1000.0).round();
                let (an, from, to) = match scroll {
                    // From the ink's left edge at the right border to its right edge at the
                    // left border, at the placement's height.
                    Scroll::Left => (an - (an - 1) % 3, (f64::from(w) - left, y), (-right, y)),
                    // From the ink's top at the bottom border to its bottom at the top border.
                    Scroll::Up => (7 + (an - 1) % 3, (x, f64::from(h) - top), (x, -bottom)),
                };
                format!(
                    "\\an{an}\\move({},{},{},{},{},{})",
                    num(from.0),
                    num(from.1),
                    num(to.0),
                    num(to.1),
                    t1 as u64,
                    t2 as u64
                )
            }
            _ => format!("\\an{an}\\pos({},{})", num(x), num(y)),
        };
        out.push_str(&dialogue(i, times, &tags, &text.text));
    }
    out
}

/// Draws caption `i` alone, white, at a known point of a black canvas, and returns its ink
/// extents relative to that point (see [`Extents`]).
fn measure(
    ff: &Ffmpeg,
    c: &Caption<'_>,
    work: &Path,
    fonts: Option<&Path>,
    i: usize,
) -> Result<(Extents, Invocation), MediaError> {
    let size = f64::from(c.size);
    let lines: Vec<&str> = c.text.text.lines().collect();
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1).max(1);
    // Generous guesses (two ems a character, two a line), also used when the ink overflows.
    let guess_w = (longest as f64 * size * 2.0).ceil();
    let guess_h = (lines.len().max(1) as f64 * size * 2.0).ceil();
    let pad = (size * 2.0).ceil() + 8.0;
    let cw = ((guess_w + 2.0 * pad) as u32).clamp(16, 65_536) & !1;
    let ch = ((guess_h + 2.0 * pad) as u32).clamp(16, 16_384) & !1;
    let mut s = header(cw, ch);
    s.push_str(&style(0, c));
    s.push_str("\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n");
    let white = "\\1c&HFFFFFF&\\3c&HFFFFFF&\\1a&H00&\\3a&H00&";
    s.push_str(&dialogue(0, (0, 1000), &format!("\\an7\\pos({pad},{pad}){white}"), &c.text.text));
    let file = work.join(format!("measure{i}.ass"));
    std::fs::write(&file, s)
        .map_err(|e| MediaError::io(format!("writing `{}`", file.display()), e))?;
    let raw = work.join(format!("measure{i}.gray"));
    let mut inv = Invocation::new(format!("measuring scrolling caption {i}"));
    inv.args(["-f", "lavfi", "-i", &format!("color=c=black:s={cw}x{ch}:r=1:d=1")]);
    inv.args(["-vf", &ass_filter(&file, fonts), "-frames:v", "1"]);
    inv.args(["-f", "rawvideo", "-pix_fmt", "gray"]).arg(raw.as_os_str());
    ff.run(&inv, None)?;
    let pixels = std::fs::read(&raw)
        .map_err(|e| MediaError::io(format!("reading `{}`", raw.display()), e))?;
    let ink = ink_box(&pixels, cw as usize, ch as usize);
    let extents = match ink {
        Some((x0, y0, x1, y1)) => {
            let right = if x1 + 1 >= cw as usize { guess_w } else { (x1 + 1) as f64 - pad };
            let bottom = if y1 + 1 >= ch as usize { guess_h } else { (y1 + 1) as f64 - pad };
            (x0 as f64 - pad, y0 as f64 - pad, right, bottom)
        }
        // Nothing drawn (spaces only): the guesses keep the move well defined.
        None => (0.0, 0.0, guess_w, guess_h),
    };
    Ok((extents, inv))
}

/// The bounding box (x0, y0, x1, y1 inclusive) of the pixels brighter than a faint edge.
fn ink_box(gray: &[u8], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for (y, row) in gray.chunks_exact(w).take(h).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            if v > 32 {
                b = Some(match b {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
    }
    b
}

/// Unicode's default-ignorable code points: drawn as nothing, by design, with any font.
fn ignorable(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// The Debian/Ubuntu package with a font for `c`: the ones `scripts/lib-deps.sh` installs.
fn package_for(c: char) -> &'static str {
    match u32::from(c) {
        0x1100..=0x11FF
        | 0x2E80..=0x2FDF
        | 0x3000..=0x9FFF
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7FF
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFFEF
        | 0x20000..=0x3FFFF => "fonts-noto-cjk",
        0x2190..=0x2BFF | 0x1F000..=0x1FAFF => "fonts-symbola",
        _ => "fonts-noto-core",
    }
}

/// Parses a fontconfig charset (`%{charset}`: hex code points and ranges, space separated).
fn parse_charset(line: &str, into: &mut Vec<(u32, u32)>) {
    for item in line.split_whitespace() {
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        if let (Ok(a), Ok(b)) = (u32::from_str_radix(a, 16), u32::from_str_radix(b, 16)) {
            into.push((a, b));
        }
    }
}

/// Code points some installed outline font has (libass skips bitmap-only fonts such as colour
/// emoji, so they are not asked for), plus the user's font files; `None` when fontconfig's tools
/// are not installed.
fn installed_coverage(user_fonts: &[PathBuf]) -> Option<Vec<(u32, u32)>> {
    let path = std::env::var_os("PATH")?;
    let run = |program: &str, args: &[&std::ffi::OsStr]| {
        let exe = crate::tools::search_path(program, &path)?;
        let out = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let format = std::ffi::OsStr::new("--format=%{charset}\n");
    let mut ranges = Vec::new();
    let listed = run("fc-list", &[std::ffi::OsStr::new(":outline=true"), format])?;
    for line in listed.lines() {
        parse_charset(line, &mut ranges);
    }
    for font in user_fonts {
        if let Some(out) = run("fc-scan", &[format, font.as_os_str()]) {
            for line in out.lines() {
                parse_charset(line, &mut ranges);
            }
        }
    }
    Some(merged(ranges))
}

/// Sorted, non-overlapping ranges from fontconfig's overlapping ones.
fn merged(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn covered(ranges: &[(u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    let upto = ranges.partition_point(|r| r.0 <= c);
    upto > 0 && ranges[upto - 1].1 >= c
}

/// A note per caption that has characters no installed font can draw, naming the package.
fn coverage_notes(
    texts: &[Text],
    user_fonts: &[PathBuf],
    label: &dyn Fn(usize) -> String,
) -> Vec<String> {
    let checked = |c: char| !c.is_ascii() && !c.is_whitespace() && !c.is_control() && !ignorable(c);
    if !texts.iter().any(|t| t.text.chars().any(checked)) {
        return Vec::new();
    }
    let Some(ranges) = installed_coverage(user_fonts) else { return Vec::new() };
    missing_notes(texts, &ranges, label)
}

fn missing_notes(
    texts: &[Text],
    ranges: &[(u32, u32)],
    label: &dyn Fn(usize) -> String,
) -> Vec<String> {
    let checked = |c: char| !c.is_ascii() && !c.is_whitespace() && !c.is_control() && !ignorable(c);
    let mut notes = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let mut missing: Vec<char> = Vec::new();
        for c in t.text.chars().filter(|c| checked(*c)) {
            if !missing.contains(&c) && !covered(ranges, c) {
                missing.push(c);
            }
        }
        if missing.is_empty() {
            continue;
        }
        let mut packages: Vec<&str> = missing.iter().map(|c| package_for(*c)).collect();
        packages.sort_unstable();
        packages.dedup();
        let shown: Vec<String> =
            missing.iter().take(8).map(|c| format!("`{c}` U+{:04X}", u32::from(*c))).collect();
        let more = if missing.len() > 8 {
            format!(" and {} more", missing.len() - 8)
        } else {
            String::new()
        };
        notes.push(format!(
            "{}: no installed font has {}{more}; they are drawn as empty boxes. Install `{}` (Debian/Ubuntu), or any font that has them",
            label(i),
            shown.join(", "),
            packages.join("`, `")
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Text {
        Text {
            text: s.into(),
            start: 0.0,
            end: None,
            position: Position::default(),
            size: None,
            color: None,
            r#box: false,
            font: None,
            scroll: None,
        }
    }

    fn face() -> Face {
        Face { name: "DejaVu Sans".into(), scale: 1.5 }
    }

    #[test]
    fn text_is_never_read_as_tags_or_breaks() {
        assert_eq!(escape_text("a{\\b1}c"), "a\\{\\b1\\}c");
        assert_eq!(escape_text("x\\Ny\\n\\h"), "x\\\u{2060}Ny\\\u{2060}n\\\u{2060}h");
        assert_eq!(escape_text("one\r\ntwo\nthree\rfour"), "one\\Ntwo\\Nthree\\Nfour");
        assert_eq!(escape_text("\\{x}\\"), "\\\\{x\\}\\");
        assert_eq!(escape_text("tab\there\u{7}"), "tab here");
        assert_eq!(escape_text("%{pts} 日本 مرحبا 🎬"), "%\\{pts\\} 日本 مرحبا 🎬");
    }

    #[test]
    fn colours_become_ass_colours() {
        assert_eq!(ass_colour("#ff8000").as_deref(), Some("&H000080FF"));
        assert_eq!(ass_colour("white@0.5").as_deref(), Some("&H80FFFFFF"));
        assert_eq!(ass_colour("green").as_deref(), Some("&H00008000"));
        assert_eq!(ass_colour("not a colour"), None);
        for name in
            ["gray", "grey", "orange", "purple", "pink", "brown", "navy", "teal", "silver", "gold"]
        {
            assert!(ass_colour(name).is_some(), "{name}");
        }
    }

    #[test]
    fn times_keep_every_frame_from_start_to_end() {
        assert_eq!(ass_time(0), "0:00:00.00");
        assert_eq!(ass_time(366_123), "1:01:01.23");
        // A frame at 0.7 s may arrive as 699 ms: the event must already be on.
        let (s, e) = event_times(0.7, 2.0);
        assert!(s * 10 <= 699 && s * 10 > 700 - 33, "{s}");
        // The frame at exactly 2 s is on (drawtext's `between` is inclusive), the next is not.
        assert!(e * 10 > 2000 && e * 10 <= 2033, "{e}");
        assert_eq!(event_times(0.0, 0.0), (0, 1));
    }

    #[test]
    fn named_positions_anchor_the_matching_edge() {
        assert_eq!(named_anchor("bottom", 480.0, 240.0), Some((2, 240.0, 230.0)));
        assert_eq!(named_anchor("top-right", 480.0, 240.0), Some((9, 470.0, 10.0)));
        assert_eq!(named_anchor("centre", 480.0, 240.0), Some((5, 240.0, 120.0)));
        assert_eq!(named_anchor("12, 34.5", 480.0, 240.0), Some((7, 12.0, 34.5)));
        assert_eq!(named_anchor("left-ish", 480.0, 240.0), None);
    }

    #[test]
    fn script_places_styles_and_scrolls() {
        let mut a = text("hi, {there}");
        a.size = Some(20);
        a.r#box = true;
        a.color = Some("#ff0000".into());
        a.start = 1.0;
        a.end = Some(3.0);
        let mut b = text("ticker");
        b.scroll = Some(Scroll::Left);
        b.position = Position::Named("top".into());
        b.end = Some(4.0);
        let mut c = text("credits");
        c.scroll = Some(Scroll::Up);
        c.position = Position::Xy([10.0, 20.0]);
        let caps: Vec<Caption<'_>> =
            [&a, &b, &c].iter().map(|t| Caption { text: t, face: face(), size: 20 }).collect();
        let ext = [None, Some((-1.0, -2.0, 100.0, 24.0)), Some((0.0, 0.0, 50.0, 30.0))];
        let s = script(&caps, &ext, 320, 240, 5.0);
        assert!(s.contains("PlayResX: 320\nPlayResY: 240\nWrapStyle: 2\n"), "{s}");
        // Box: BorderStyle 3, padding size/4, black at half opacity; the size in ems.
        assert!(
            s.contains("Style: c0,DejaVu Sans,30,&H000000FF,&H000000FF,&H80000000,&H00000000,0,0,0,0,100,100,0,0,3,5,0,7,0,0,0,1\n"),
            "{s}"
        );
        assert!(s.contains(",0,0,0,0,100,100,0,0,1,1,0,7,0,0,0,1\n"), "{s}");
        assert!(
            s.contains("Dialogue: 0,0:00:00.99,0:00:03.01,c0,,0,0,0,,{\\an2\\pos(160,230)}hi, \\{there\\}\n"),
            "{s}"
        );
        // The ticker runs from the right border to fully out at the left, at the top margin.
        assert!(
            s.contains("Dialogue: 0,0:00:00.00,0:00:04.01,c1,,0,0,0,,{\\an7\\move(321,10,-100,10,0,4000)}ticker\n"),
            "{s}"
        );
        // The credits rise from below the frame to above it, at their x.
        assert!(s.contains("{\\an7\\move(10,240,10,-30,0,5000)}credits\n"), "{s}");
    }

    #[test]
    fn reads_font_names_and_metrics() {
        let Ok(data) = std::fs::read(DEFAULT_FONT) else { return };
        let f = parse_face(&data).unwrap();
        assert_eq!(f.name, "DejaVu Sans");
        assert!((f.scale - DEFAULT_SCALE).abs() < 1e-9, "{}", f.scale);
        assert!(parse_face(b"not a font at all, just some bytes").is_none());
        assert!(parse_face(&data[..200]).is_none());
    }

    #[test]
    fn notes_name_the_missing_characters_and_the_package() {
        let mut ranges = Vec::new();
        parse_charset("20-7e a0-17f 5d0-5ea", &mut ranges);
        parse_charset("1f600 100-110", &mut ranges);
        let ranges = merged(ranges);
        assert_eq!(ranges, [(0x20, 0x7e), (0xa0, 0x17f), (0x5d0, 0x5ea), (0x1f600, 0x1f600)]);
        assert!(covered(&ranges, 'é') && covered(&ranges, 'ש') && covered(&ranges, '😀'));
        assert!(!covered(&ranges, '中') && !covered(&ranges, '🎬'));
        let texts = [text("ok é שלום 😀\u{200d}\u{fe0f}"), text("中文 🎬 中 سلام")];
        let notes = missing_notes(&texts, &ranges, &|i| format!("texts[{i}]"));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let n = &notes[0];
        assert!(
            n.starts_with(
                "texts[1]: no installed font has `中` U+4E2D, `文` U+6587, `🎬` U+1F3AC, `س` U+0633"
            ),
            "{n}"
        );
        assert!(n.contains("`fonts-noto-cjk`, `fonts-noto-core`, `fonts-symbola`"), "{n}");
    }
}
