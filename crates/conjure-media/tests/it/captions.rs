//! Captions in any script, checked by pixels: every script draws real glyphs (not the
//! missing-glyph box), Arabic is joined, Hebrew runs right to left, combining marks combine,
//! the text is never read as ASS syntax, a user's font file is used, and scrolls move.
//!
//! Frames are read back as raw grey pixels and compared as ink masks (pixels brighter than
//! half), cropped to their bounding box, so the compression's noise and the exact placement
//! do not matter.

use std::path::{Path, PathBuf};
use std::process::Command;

use conjure_media::ops::OpReport;
use conjure_media::timeline::{Position, Scroll, Text};
use conjure_media::{Encoding, RenderOptions, Timeline, ops, render};
use serde_json::json;

use crate::*;

const W: usize = 320;
const H: usize = 96;
/// A code point no font installed by `scripts/lib-deps.sh` has (ARABIC LETTER ALEF WITH
/// ATTACHED FATHA, Unicode 14): drawn as the missing-glyph box.
const MISSING: char = '\u{0870}';

fn black_clip(dir: &Path) -> PathBuf {
    let path = dir.join("black.mp4");
    if !path.exists() {
        let status = Command::new(ff().ffmpeg_path())
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("color=c=black:s={W}x{H}:r=10:d=1"))
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

fn caption(text: &str) -> Text {
    Text {
        text: text.into(),
        start: 0.0,
        end: None,
        position: Position::Xy([8.0, 20.0]),
        size: Some(36),
        color: None,
        r#box: false,
        font: None,
        scroll: None,
    }
}

/// Draws `text` on the black clip with `ops::text`; the report and the grey frame at `t`.
fn draw(dir: &Path, name: &str, text: Text, t: f64) -> (OpReport, Vec<u8>) {
    let out = dir.join(format!("{name}.mp4"));
    let r = ops::text(
        ff(),
        &ops::TextOptions {
            input: black_clip(dir),
            output: out.clone(),
            text,
            encoding: Encoding { preset: Some("ultrafast".into()), ..Encoding::default() },
        },
    )
    .unwrap();
    (r, grey_frame(&out, t))
}

fn grey_frame(video: &Path, t: f64) -> Vec<u8> {
    let out = Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-v", "error", "-ss", &t.to_string(), "-i"])
        .arg(video)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len(), W * H);
    out.stdout
}

/// Ink pixels (brighter than half) in the frame.
fn ink(frame: &[u8]) -> usize {
    frame.iter().filter(|v| **v > 128).count()
}

/// The ink's bounding box: x0, y0, x1, y1 (inclusive).
fn bbox(frame: &[u8]) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for (i, v) in frame.iter().enumerate() {
        if *v > 128 {
            let (x, y) = (i % W, i / W);
            b = Some(
                b.map_or((x, y, x, y), |(a, c, d, e)| (a.min(x), c.min(y), d.max(x), e.max(y))),
            );
        }
    }
    b
}

/// How much two drawings differ once each is cropped to its ink: 1.0 when their boxes differ
/// in size by more than 2 pixels, else the share of mismatching mask pixels.
fn difference(a: &[u8], b: &[u8]) -> f64 {
    let (Some(ba), Some(bb)) = (bbox(a), bbox(b)) else { return 1.0 };
    let (wa, ha) = (ba.2 - ba.0 + 1, ba.3 - ba.1 + 1);
    let (wb, hb) = (bb.2 - bb.0 + 1, bb.3 - bb.1 + 1);
    if wa.abs_diff(wb) > 2 || ha.abs_diff(hb) > 2 {
        return 1.0;
    }
    let (w, h) = (wa.min(wb), ha.min(hb));
    let mut differ = 0;
    let mut inked = 0;
    for y in 0..h {
        for x in 0..w {
            let pa = a[(ba.1 + y) * W + ba.0 + x] > 128;
            let pb = b[(bb.1 + y) * W + bb.0 + x] > 128;
            differ += usize::from(pa != pb);
            inked += usize::from(pa || pb);
        }
    }
    differ as f64 / inked.max(1) as f64
}

fn width(frame: &[u8]) -> usize {
    bbox(frame).map_or(0, |b| b.2 - b.0 + 1)
}

#[test]
fn every_script_draws_glyphs_not_boxes() {
    let d = tmp();
    // The reference: characters no font has, drawn as boxes, and said so in a note.
    let (r, boxes2) = draw(d.path(), "missing2", caption(&MISSING.to_string().repeat(2)), 0.5);
    assert!(ink(&boxes2) > 50, "the missing-glyph boxes are drawn");
    assert!(r.notes.iter().any(|n| n.contains("U+0870")), "{:?}", r.notes);
    let (_, boxes4) = draw(d.path(), "missing4", caption(&MISSING.to_string().repeat(4)), 0.5);
    let samples = [
        ("latin", "e\u{301}a\u{323}\u{302}", &boxes2),
        ("cjk", "漢字かな", &boxes4),
        ("hangul", "한글", &boxes2),
        ("emoji", "🎬🔥", &boxes2),
        ("arabic", "سلام", &boxes4),
        ("hebrew", "שלום", &boxes4),
    ];
    for (name, text, boxes) in samples {
        let (r, frame) = draw(d.path(), name, caption(text), 0.5);
        assert!(ink(&frame) > 50, "{name}: no ink");
        assert!(r.notes.is_empty(), "{name}: {:?}", r.notes);
        let diff = difference(&frame, boxes);
        assert!(diff > 0.3, "{name} looks like missing-glyph boxes (difference {diff})");
    }
    // Combining marks sit on their letter: the same picture as the precomposed letters.
    let (_, combined) = draw(d.path(), "combined", caption("e\u{301}a\u{323}\u{302}"), 0.5);
    let (_, precomposed) = draw(d.path(), "precomposed", caption("\u{e9}\u{1ead}"), 0.5);
    let diff = difference(&combined, &precomposed);
    assert!(diff < 0.1, "combining marks do not combine (difference {diff})");
}

#[test]
fn arabic_joins_and_hebrew_runs_right_to_left() {
    let d = tmp();
    // Joined letters against the same letters kept apart by zero-width non-joiners: shaping
    // changes their forms and narrows the word.
    let (_, joined) = draw(d.path(), "joined", caption("سلام"), 0.5);
    let (_, apart) = draw(d.path(), "apart", caption("س\u{200c}ل\u{200c}ا\u{200c}م"), 0.5);
    let diff = difference(&joined, &apart);
    assert!(diff > 0.3, "Arabic is not shaped (difference {diff})");
    assert!(width(&joined) < width(&apart), "{} vs {}", width(&joined), width(&apart));
    // Hebrew alef-bet drawn right to left is bet-alef forced left to right (LRO ... PDF), and
    // not alef-bet forced left to right.
    let (_, rtl) = draw(d.path(), "rtl", caption("אב"), 0.5);
    let (_, mirrored) = draw(d.path(), "mirrored", caption("\u{202d}בא\u{202c}"), 0.5);
    let (_, ltr) = draw(d.path(), "ltr", caption("\u{202d}אב\u{202c}"), 0.5);
    let same = difference(&rtl, &mirrored);
    let other = difference(&rtl, &ltr);
    assert!(same < 0.1, "right-to-left order (difference {same})");
    assert!(other > 0.3, "left-to-right order must differ (difference {other})");
}

#[test]
fn text_is_drawn_literally_and_a_font_file_is_used() {
    let d = tmp();
    // An override tag and a line break in the text are drawn, not obeyed.
    let (_, tag) = draw(d.path(), "tag", caption("a{\\fs90}b"), 0.5);
    let b = bbox(&tag).unwrap();
    assert!(b.3 - b.1 < 50, "the override tag changed the size: {b:?}");
    assert!(width(&tag) > 100, "the braces and tag are drawn: {b:?}");
    let (_, brk) = draw(d.path(), "break", caption("a\\Nb\\nc"), 0.5);
    let b = bbox(&brk).unwrap();
    assert!(b.3 - b.1 < 50, "`\\N` broke the line: {b:?}");
    // A real newline does break it.
    let (_, two) = draw(d.path(), "two", caption("a\nb"), 0.5);
    let b = bbox(&two).unwrap();
    assert!(b.3 - b.1 > 50, "a newline breaks the line: {b:?}");
    // A user's font file, from a path the filter syntax would otherwise trip on.
    let serif = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf");
    if serif.is_file() {
        let dir = d.path().join("fo:n't, [x]");
        std::fs::create_dir_all(&dir).unwrap();
        let font = dir.join("my font's.ttf");
        std::fs::copy(serif, &font).unwrap();
        let (_, sans) = draw(d.path(), "sans", caption("Hamburgefonts"), 0.5);
        let mut t = caption("Hamburgefonts");
        t.font = Some(font);
        let (_, chosen) = draw(d.path(), "serif", t, 0.5);
        let diff = difference(&sans, &chosen);
        assert!(diff > 0.3, "the font file was not used (difference {diff})");
    }
    let mut t = caption("x");
    t.font = Some(d.path().join("nope.ttf"));
    let out = d.path().join("nope.mp4");
    let input = black_clip(d.path());
    let e = ops::text(
        ff(),
        &ops::TextOptions { input, output: out, text: t, encoding: Encoding::default() },
    )
    .unwrap_err();
    assert!(e.to_string().contains("nope.ttf"), "{e}");
    let fake = d.path().join("fake.ttf");
    std::fs::write(&fake, "not a font").unwrap();
    let mut t = caption("x");
    t.font = Some(fake);
    let input = black_clip(d.path());
    let output = d.path().join("fake.mp4");
    let e = ops::text(
        ff(),
        &ops::TextOptions { input, output, text: t, encoding: Encoding::default() },
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a TrueType/OpenType font"), "{e}");
}

#[test]
fn scrolling_captions_cross_the_whole_frame() {
    let d = tmp();
    let mut t = caption("漢字 and سلام 🎬");
    t.scroll = Some(Scroll::Left);
    t.position = Position::Named("center".into());
    t.end = Some(1.0);
    let out = d.path().join("ticker.mp4");
    let r = ops::text(
        ff(),
        &ops::TextOptions {
            input: black_clip(d.path()),
            output: out.clone(),
            text: t,
            encoding: Encoding { preset: Some("ultrafast".into()), ..Encoding::default() },
        },
    )
    .unwrap();
    assert!(r.commands.iter().any(|c| c.step.starts_with("measuring")), "{:?}", r.commands);
    // It enters from beyond the right edge and moves left.
    assert_eq!(ink(&grey_frame(&out, 0.0)), 0, "the first frame is empty");
    let early = bbox(&grey_frame(&out, 0.2)).unwrap();
    let later = bbox(&grey_frame(&out, 0.6)).unwrap();
    assert!(early.0 > W / 3, "just entered at 0.2 s: {early:?}");
    assert!(later.0 < early.0, "{later:?} vs {early:?}");
}

#[test]
fn timeline_captions_in_every_script_with_a_note_for_missing_glyphs() {
    let d = tmp();
    let out = d.path().join("edit.mp4");
    let t = Timeline::parse(
        &json!({
            "output": {"path": out, "preset": "ultrafast", "width": W, "height": H},
            "clips": [
                {"color": "black", "duration": 0.5, "transition": {"type": "fade", "duration": 0.2}},
                {"color": "black", "duration": 0.5}
            ],
            "texts": [
                {"text": "漢字 🎬", "position": "top-left", "size": 24},
                {"text": "שלום سلام", "position": "bottom-right", "size": 24, "box": true},
                {"text": format!("x {MISSING}"), "position": "center", "size": 24, "start": 0.5}
            ]
        })
        .to_string(),
        false,
    )
    .unwrap();
    let r = render(ff(), &t, &RenderOptions::default()).unwrap();
    assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
    assert!(r.notes[0].starts_with("texts[2]: ") && r.notes[0].contains("U+0870"), "{:?}", r.notes);
    // Both corners have ink in every segment (the captions span the transition).
    for at in [0.1, 0.7] {
        let f = grey_frame(&out, at);
        let corner = |x0: usize, y0: usize| {
            (y0..y0 + H / 2)
                .flat_map(|y| (x0..x0 + W / 2).map(move |x| (x, y)))
                .filter(|(x, y)| f[y * W + x] > 128)
                .count()
        };
        assert!(corner(0, 0) > 50, "top-left caption at {at}s");
        assert!(corner(W / 2, H / 2) > 50, "bottom-right caption at {at}s");
    }
}

#[test]
fn timeline_captions_show_on_exactly_their_frames_across_segments() {
    let d = tmp();
    let out = d.path().join("edit.mp4");
    // Two segments (the fade between the clips); libass is given only the frames a caption
    // may show on, so the frames at the edges of each caption's span are the ones to check.
    let texts = [(0.5, 1.2, "top"), (1.6, 1.7, "bottom"), (0.0, 0.1, "center")];
    let t = Timeline::parse(
        &json!({
            "output": {"path": out, "preset": "ultrafast", "width": W, "height": H, "fps": 30},
            "clips": [
                {"color": "black", "duration": 1, "transition": {"type": "fade", "duration": 0.2}},
                {"color": "black", "duration": 1}
            ],
            "texts": texts.iter().map(|(start, end, position)| json!(
                {"text": "X", "start": start, "end": end, "position": position, "size": 40, "box": true}
            )).collect::<Vec<_>>()
        })
        .to_string(),
        false,
    )
    .unwrap();
    render(ff(), &t, &RenderOptions::default()).unwrap();
    let raw = Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(raw.status.success());
    let frames: Vec<&[u8]> = raw.stdout.chunks(W * H).collect();
    assert_eq!(frames.len(), 54);
    for (k, frame) in frames.iter().enumerate() {
        let at = k as f64 / 30.0;
        let shown = texts.iter().filter(|(s, e, _)| *s <= at + 1e-9 && at <= *e + 1e-9).count();
        let seen = ink(frame);
        if shown > 0 {
            assert!(seen > 50, "frame {k} ({at:.3} s) shows no caption");
        } else {
            assert_eq!(seen, 0, "frame {k} ({at:.3} s) shows a caption");
        }
    }
}
