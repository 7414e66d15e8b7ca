//! Placeholder pictures: a gradient derived from the prompt with a readable label on it.
//!
//! Every picture says "CONJURE SANDBOX — PLACEHOLDER", the model id and the (wrapped, truncated)
//! prompt, drawn with the 8x8 bitmap font of `font8x8` scaled up, so no font file is needed.
//! A striped border marks the frame as fake at a glance. Rendering is a pure function of its
//! inputs and the encoders are deterministic, so the same item gives byte-identical files.
//! Characters outside ASCII are drawn as `?`.

use std::io::Cursor;

use conjure_core::spec::ImageFormat;
use font8x8::legacy::BASIC_LEGACY;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use sha2::{Digest, Sha256};

use crate::error::SandboxError;

/// The first line of every label.
pub(crate) const TITLE: &str = "CONJURE SANDBOX \u{2014} PLACEHOLDER";

const MARGIN: u32 = 16;
const BORDER: u32 = 6;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const SHADOW: Rgb<u8> = Rgb([0, 0, 0]);
/// A horizontal bar: the glyph used for the em dash, which the ASCII font lacks.
const DASH: [u8; 8] = [0, 0, 0, 0xFF, 0xFF, 0, 0, 0];

/// What a placeholder shows.
#[derive(Clone, Debug)]
pub(crate) struct Placeholder<'a> {
    pub model: &'a str,
    pub prompt: &'a str,
    /// An extra line such as `video 5 s`, under the model id.
    pub note: Option<&'a str>,
    pub width: u32,
    pub height: u32,
}

/// Output size for an aspect `w:h` with the long side `long`, both sides even (video needs it).
pub(crate) fn size_for(aspect: (u32, u32), long: u32) -> (u32, u32) {
    let (w, h) = (u64::from(aspect.0.max(1)), u64::from(aspect.1.max(1)));
    let long64 = u64::from(long);
    let short = |a: u64, b: u64| {
        let s = (long64 * a + b / 2) / b;
        (s.max(2) & !1) as u32
    };
    if w >= h { (long, short(h, w)) } else { (short(w, h), long) }
}

/// Renders the full placeholder picture.
pub(crate) fn render(p: &Placeholder<'_>) -> RgbImage {
    let digest = Sha256::digest(p.prompt.as_bytes());
    // Darkened colours keep white text readable on any prompt's gradient.
    let tone = |i: usize| u32::from(digest[i]) * 55 / 100 + 20;
    let from = [tone(0), tone(1), tone(2)];
    let to = [tone(3), tone(4), tone(5)];
    let (w, h) = (p.width.max(1), p.height.max(1));
    let span = w + h;
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let t = x + y;
        let mix = |c: usize| ((from[c] * (span - t) + to[c] * t) / span) as u8;
        Rgb([mix(0), mix(1), mix(2)])
    });
    draw_border(&mut img);
    let scale = text_scale(w);
    let lines = label_lines(p, w, h, scale);
    let line_h = 10 * scale;
    let block_h = line_h * lines.len() as u32;
    let top = h.saturating_sub(block_h) / 2;
    darken(
        &mut img,
        BORDER + 4,
        top.saturating_sub(scale * 4),
        w.saturating_sub(2 * (BORDER + 4)),
        block_h + scale * 8,
    );
    for (i, line) in lines.iter().enumerate() {
        draw_text(&mut img, MARGIN, top + i as u32 * line_h, scale, line);
    }
    img
}

/// A compact opaque label (no background picture), for overlaying on generated video.
pub(crate) fn render_label(p: &Placeholder<'_>) -> RgbImage {
    let scale = text_scale(p.width);
    let lines = label_lines(p, p.width, p.height, scale);
    let line_h = 10 * scale;
    let h = (line_h * lines.len() as u32 + 2 * scale * 4).min(p.height.max(1));
    let mut img = RgbImage::from_pixel(p.width.max(1), h.max(1), Rgb([16, 16, 16]));
    for (i, line) in lines.iter().enumerate() {
        draw_text(&mut img, MARGIN, scale * 4 + i as u32 * line_h, scale, line);
    }
    img
}

/// Encodes a picture; the same pixels always give the same bytes.
/// The labelled strip above a placeholder video (half its height) as PNG, rendered off the
/// async threads.
pub(crate) async fn video_label_png(
    model: String,
    prompt: String,
    note: String,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, String> {
    tokio::task::spawn_blocking(move || {
        let p = Placeholder {
            model: &model,
            prompt: &prompt,
            note: Some(&note),
            width,
            height: height / 2,
        };
        encode(&render_label(&p), ImageFormat::Png).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("The placeholder renderer stopped: {e}"))?
}

pub(crate) fn encode(img: &RgbImage, format: ImageFormat) -> Result<Vec<u8>, SandboxError> {
    let mut out = Cursor::new(Vec::new());
    let (w, h) = img.dimensions();
    let raw = img.as_raw();
    let result = match format {
        ImageFormat::Png => {
            PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Sub)
                .write_image(raw, w, h, ExtendedColorType::Rgb8)
        }
        ImageFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, 85).write_image(
            raw,
            w,
            h,
            ExtendedColorType::Rgb8,
        ),
        ImageFormat::Webp => {
            WebPEncoder::new_lossless(&mut out).write_image(raw, w, h, ExtendedColorType::Rgb8)
        }
    };
    result.map_err(SandboxError::Image)?;
    Ok(out.into_inner())
}

pub(crate) fn mime(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Webp => "image/webp",
    }
}

pub(crate) fn extension(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Webp => "webp",
    }
}

/// At least 24 glyphs per line, at most 4x.
fn text_scale(width: u32) -> u32 {
    (width.saturating_sub(2 * MARGIN) / (8 * 24)).clamp(1, 4)
}

fn label_lines(p: &Placeholder<'_>, width: u32, height: u32, scale: u32) -> Vec<String> {
    let columns = (width.saturating_sub(2 * MARGIN) / (8 * scale)).max(8) as usize;
    let max_lines = (height.saturating_sub(2 * MARGIN) / (10 * scale)).max(3) as usize;
    let mut lines = wrap(TITLE, columns);
    lines.push(String::new());
    lines.extend(wrap(&format!("model: {}", p.model), columns));
    if let Some(note) = p.note {
        lines.extend(wrap(note, columns));
    }
    lines.push(String::new());
    let room = max_lines.saturating_sub(lines.len()).max(1);
    let mut prompt = wrap(&format!("prompt: {}", p.prompt), columns);
    if prompt.len() > room {
        prompt.truncate(room);
        if let Some(last) = prompt.last_mut() {
            let keep: String = last.chars().take(columns.saturating_sub(3)).collect();
            *last = format!("{keep}...");
        }
    }
    lines.extend(prompt);
    lines
}

/// Greedy word wrap; words longer than a line are split.
fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > columns {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..columns).collect());
        }
        let word: String = word.into_iter().collect();
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if needed > columns && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn glyph(c: char) -> [u8; 8] {
    match c {
        '\u{2014}' | '\u{2013}' => DASH,
        c if c.is_ascii() && !c.is_ascii_control() => BASIC_LEGACY[c as usize],
        _ => BASIC_LEGACY['?' as usize],
    }
}

fn draw_text(img: &mut RgbImage, x0: u32, y0: u32, scale: u32, text: &str) {
    for (i, c) in text.chars().enumerate() {
        let gx = x0 + i as u32 * 8 * scale;
        let rows = glyph(c);
        for (ry, bits) in rows.iter().enumerate() {
            for rx in 0..8_u32 {
                // font8x8 stores the leftmost pixel in the lowest bit.
                if bits & (1 << rx) == 0 {
                    continue;
                }
                let px = gx + rx * scale;
                let py = y0 + ry as u32 * scale;
                fill(img, px + 1, py + 1, scale, scale, SHADOW);
                fill(img, px, py, scale, scale, WHITE);
            }
        }
    }
}

fn fill(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, color: Rgb<u8>) {
    let (iw, ih) = img.dimensions();
    for yy in y..(y + h).min(ih) {
        for xx in x..(x + w).min(iw) {
            img.put_pixel(xx, yy, color);
        }
    }
}

/// Halves the brightness of a rectangle, so the text panel reads on light gradients.
fn darken(img: &mut RgbImage, left: u32, top: u32, width: u32, height: u32) {
    let (iw, ih) = img.dimensions();
    for yy in top..(top + height).min(ih) {
        for xx in left..(left + width).min(iw) {
            let p = img.get_pixel_mut(xx, yy);
            p.0 = p.0.map(|c| c / 2);
        }
    }
}

/// Yellow and black diagonal stripes around the edge.
fn draw_border(img: &mut RgbImage) {
    let (w, h) = img.dimensions();
    for y in 0..h {
        let edge_row = y < BORDER || y + BORDER >= h;
        // Inner rows only touch the left and right bands.
        let columns: Box<dyn Iterator<Item = u32>> = if edge_row {
            Box::new(0..w)
        } else {
            Box::new((0..BORDER.min(w)).chain(w.saturating_sub(BORDER).max(BORDER)..w))
        };
        for x in columns {
            let stripe = ((x + y) / 12) % 2 == 0;
            let color = if stripe { Rgb([250, 204, 21]) } else { Rgb([20, 20, 20]) };
            img.put_pixel(x, y, color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(width: u32, height: u32) -> Placeholder<'static> {
        Placeholder {
            model: "gpt-image-2",
            prompt: "a red fox in the snow",
            note: None,
            width,
            height,
        }
    }

    #[test]
    fn sizes_follow_the_aspect() {
        assert_eq!(size_for((16, 9), 768), (768, 432));
        assert_eq!(size_for((9, 16), 768), (432, 768));
        assert_eq!(size_for((1, 1), 768), (768, 768));
        assert_eq!(size_for((21, 9), 640), (640, 274));
        assert_eq!(size_for((16, 9), 640), (640, 360));
    }

    #[test]
    fn rendering_is_deterministic_and_labelled() {
        let a = encode(&render(&sample(384, 216)), ImageFormat::Png).unwrap();
        let b = encode(&render(&sample(384, 216)), ImageFormat::Png).unwrap();
        assert_eq!(a, b);
        let img = render(&sample(384, 216));
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white > 500, "the label should be drawn, saw {white} white pixels");
        let other =
            encode(&render(&Placeholder { prompt: "x", ..sample(384, 216) }), ImageFormat::Png)
                .unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn every_format_decodes() {
        let img = render(&sample(200, 100));
        for (format, expected) in [
            (ImageFormat::Png, image::ImageFormat::Png),
            (ImageFormat::Jpeg, image::ImageFormat::Jpeg),
            (ImageFormat::Webp, image::ImageFormat::WebP),
        ] {
            let bytes = encode(&img, format).unwrap();
            assert_eq!(image::guess_format(&bytes).unwrap(), expected);
            let decoded = image::load_from_memory(&bytes).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (200, 100));
        }
    }

    #[test]
    fn uhd_sized_render_is_reasonably_fast() {
        // Not a timing assertion: a smoke run of the largest size the sandbox serves.
        let started = std::time::Instant::now();
        let bytes = encode(&render(&sample(1536, 864)), ImageFormat::Png).unwrap();
        eprintln!("1536x864 png: {} bytes in {:?}", bytes.len(), started.elapsed());
    }

    #[test]
    fn long_prompts_are_wrapped_and_truncated() {
        let prompt = "word ".repeat(500);
        let p = Placeholder { prompt: &prompt, ..sample(300, 300) };
        let lines = label_lines(&p, 300, 300, text_scale(300));
        assert!(lines.len() <= 30);
        assert!(lines.last().unwrap().ends_with("..."));
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("ab cd ef", 5), vec!["ab cd", "ef"]);
    }
}
