//! Still-image steps done in-process with `image` (decode/encode) and `fast_image_resize`
//! (SIMD resampling): resize, crop to an aspect, convert between PNG/JPEG/WebP, and a contact
//! sheet of many images. No ffmpeg is needed here, so these work where ffmpeg is missing.
//!
//! WebP output is lossless (the `image` crate has no lossy WebP encoder); JPEG drops alpha.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};
use serde::Serialize;

use crate::MediaError;
use crate::filter::Fit;
use crate::ops::Aspect;

/// What an image step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageReport {
    /// The written file.
    pub output: PathBuf,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

fn open(path: &Path) -> Result<DynamicImage, MediaError> {
    if !path.exists() {
        return Err(MediaError::MissingInput { path: path.to_path_buf() });
    }
    image::open(path).map_err(|e| MediaError::Image {
        context: format!("reading `{}`", path.display()),
        source: e,
    })
}

fn format_for(path: &Path) -> Result<ImageFormat, MediaError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png") => Ok(ImageFormat::Png),
        Some("jpg" | "jpeg") => Ok(ImageFormat::Jpeg),
        Some("webp") => Ok(ImageFormat::WebP),
        _ => Err(MediaError::option(
            "output",
            format!("`{}` must end in .png, .jpg or .webp", path.display()),
        )),
    }
}

/// Encodes `img` by the output's extension (JPEG at `quality`, default 90).
fn save(img: &DynamicImage, path: &Path, quality: Option<u8>) -> Result<ImageReport, MediaError> {
    let format = format_for(path)?;
    // Written beside and renamed into place, like every ffmpeg result.
    let partial = crate::outputs::Partial::new(path)?;
    let ctx = || format!("writing `{}`", path.display());
    let file = std::fs::File::create(partial.path()).map_err(|e| MediaError::io(ctx(), e))?;
    let mut w = BufWriter::new(file);
    let result = match format {
        ImageFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut w,
                quality.unwrap_or(90).clamp(1, 100),
            );
            DynamicImage::ImageRgb8(img.to_rgb8()).write_with_encoder(enc)
        }
        ImageFormat::WebP => {
            DynamicImage::ImageRgba8(img.to_rgba8()).write_to(&mut w, ImageFormat::WebP)
        }
        _ => img.write_to(&mut w, format),
    };
    result.map_err(|e| MediaError::Image { context: ctx(), source: e })?;
    w.into_inner()
        .map_err(|e| MediaError::io(ctx(), e.into_error()))?
        .sync_all()
        .map_err(|e| MediaError::io(ctx(), e))?;
    partial.finish()?;
    Ok(ImageReport { output: path.to_path_buf(), width: img.width(), height: img.height() })
}

/// Resamples `src` to exactly `w`x`h` (Lanczos3), optionally taking only the centred part
/// with aspect `w:h` first (cover).
fn resample(
    src: &DynamicImage,
    w: u32,
    h: u32,
    cover: bool,
    path: &Path,
) -> Result<DynamicImage, MediaError> {
    let rgba = src.to_rgba8();
    let (sw, sh) = rgba.dimensions();
    let src_img = FirImage::from_vec_u8(sw, sh, rgba.into_raw(), PixelType::U8x4).map_err(|e| {
        MediaError::option("input", format!("unusable pixel buffer in `{}`: {e}", path.display()))
    })?;
    let mut dst = FirImage::new(w.max(1), h.max(1), PixelType::U8x4);
    let mut opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    if cover {
        opts = opts.fit_into_destination(Some((0.5, 0.5)));
    }
    Resizer::new()
        .resize(&src_img, &mut dst, &opts)
        .map_err(|e| MediaError::Resize { path: path.to_path_buf(), source: e })?;
    let out = RgbaImage::from_raw(dst.width(), dst.height(), dst.into_vec())
        .ok_or_else(|| MediaError::option("input", "resized buffer has the wrong size"))?;
    Ok(DynamicImage::ImageRgba8(out))
}

/// Size of `(sw, sh)` fitted inside `(w, h)`, keeping the aspect.
fn contain(sw: u32, sh: u32, w: u32, h: u32) -> (u32, u32) {
    let s = (f64::from(w) / f64::from(sw)).min(f64::from(h) / f64::from(sh));
    (((f64::from(sw) * s).round() as u32).max(1), ((f64::from(sh) * s).round() as u32).max(1))
}

/// Options for [`resize`].
#[derive(Debug, Clone, Default)]
pub struct ImageResizeOptions {
    /// Source image.
    pub input: PathBuf,
    /// Result (`.png`, `.jpg`, `.webp`).
    pub output: PathBuf,
    /// Target width.
    pub width: Option<u32>,
    /// Target height.
    pub height: Option<u32>,
    /// With both sides: contain (fit inside), cover (fill and crop), stretch. Blur acts as contain.
    pub fit: Fit,
    /// JPEG quality 1..100.
    pub quality: Option<u8>,
}

/// Resizes an image.
pub fn resize(o: &ImageResizeOptions) -> Result<ImageReport, MediaError> {
    let img = open(&o.input)?;
    let (sw, sh) = (img.width(), img.height());
    let (w, h, cover) = match (o.width, o.height) {
        (Some(w), Some(h)) => match o.fit {
            Fit::Cover => (w, h, true),
            Fit::Stretch => (w, h, false),
            Fit::Contain | Fit::Blur => {
                let (w, h) = contain(sw, sh, w, h);
                (w, h, false)
            }
        },
        (Some(w), None) => {
            (w, ((f64::from(w) * f64::from(sh) / f64::from(sw)).round() as u32).max(1), false)
        }
        (None, Some(h)) => {
            (((f64::from(h) * f64::from(sw) / f64::from(sh)).round() as u32).max(1), h, false)
        }
        (None, None) => return Err(MediaError::option("width", "give a width, a height or both")),
    };
    if w == 0 || h == 0 || w > 16_384 || h > 16_384 {
        return Err(MediaError::option(
            "width",
            format!("{w}x{h} is not allowed; use 1 to 16384 pixels a side"),
        ));
    }
    let out = resample(&img, w, h, cover, &o.input)?;
    save(&out, &o.output, o.quality)
}

/// Options for [`crop`].
#[derive(Debug, Clone)]
pub struct ImageCropOptions {
    /// Source image.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// The aspect of the largest centred rectangle kept.
    pub aspect: Aspect,
    /// JPEG quality 1..100.
    pub quality: Option<u8>,
}

/// Crops the largest centred rectangle with the given aspect (no resampling).
pub fn crop(o: &ImageCropOptions) -> Result<ImageReport, MediaError> {
    let img = open(&o.input)?;
    let (sw, sh) = (img.width(), img.height());
    let ratio = f64::from(o.aspect.w) / f64::from(o.aspect.h);
    let (w, h) = if f64::from(sw) / f64::from(sh) > ratio {
        (((f64::from(sh) * ratio).round() as u32).clamp(1, sw), sh)
    } else {
        (sw, ((f64::from(sw) / ratio).round() as u32).clamp(1, sh))
    };
    let out = img.crop_imm((sw - w) / 2, (sh - h) / 2, w, h);
    save(&out, &o.output, o.quality)
}

/// Options for [`convert`].
#[derive(Debug, Clone, Default)]
pub struct ImageConvertOptions {
    /// Source image.
    pub input: PathBuf,
    /// Result; the extension picks PNG, JPEG or WebP.
    pub output: PathBuf,
    /// JPEG quality 1..100.
    pub quality: Option<u8>,
}

/// Converts between PNG, JPEG and WebP.
pub fn convert(o: &ImageConvertOptions) -> Result<ImageReport, MediaError> {
    format_for(&o.output)?;
    let img = open(&o.input)?;
    save(&img, &o.output, o.quality)
}

/// Options for [`sheet`].
#[derive(Debug, Clone, Default)]
pub struct ImageSheetOptions {
    /// Images in reading order.
    pub inputs: Vec<PathBuf>,
    /// Result.
    pub output: PathBuf,
    /// Columns (default: about the square root of the count).
    pub columns: Option<u32>,
    /// Width of each cell (default 256); the height follows the first image's aspect.
    pub tile_width: Option<u32>,
    /// Pixels between cells and around the edge (default 8).
    pub gap: Option<u32>,
    /// Background `#rrggbb` (default dark grey).
    pub background: Option<String>,
    /// JPEG quality.
    pub quality: Option<u8>,
    /// A caption per image, drawn in its cell's bottom-left corner (ASCII; e.g. `0:03.2`).
    pub labels: Vec<String>,
}

/// Draws `text` (ASCII, the built-in 8x8 font scaled by `scale`) white on a dark box with its
/// bottom-left corner at (`x`, `bottom`). No font file needed, so labels look the same everywhere.
fn label(canvas: &mut RgbaImage, text: &str, x: u32, bottom: u32, scale: u32) {
    let pad = scale * 2;
    let (w, h) = (text.len() as u32 * 8 * scale + 2 * pad, 8 * scale + 2 * pad);
    let top = bottom.saturating_sub(h);
    for yy in top..bottom.min(canvas.height()) {
        for xx in x..(x + w).min(canvas.width()) {
            let p = canvas.get_pixel_mut(xx, yy);
            p.0 = [p.0[0] / 3, p.0[1] / 3, p.0[2] / 3, 255];
        }
    }
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY.get(ch as usize).copied().unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + pad + (i as u32 * 8 + col) * scale + dx;
                        let py = top + pad + row as u32 * scale + dy;
                        if px < canvas.width() && py < canvas.height() {
                            canvas.put_pixel(px, py, Rgba([255, 255, 255, 255]));
                        }
                    }
                }
            }
        }
    }
}

fn parse_hex(c: &str) -> Option<[u8; 3]> {
    let h = c.strip_prefix('#').unwrap_or(c);
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// Tiles many images into one, each fitted inside its cell and centred.
#[expect(
    clippy::many_single_char_names,
    reason = "w/h/x/y/a/n are the names ffmpeg's own filter docs use"
)]
pub fn sheet(o: &ImageSheetOptions) -> Result<ImageReport, MediaError> {
    if o.inputs.is_empty() {
        return Err(MediaError::option("inputs", "give at least one image"));
    }
    format_for(&o.output)?;
    let n = o.inputs.len() as u32;
    let cols = o.columns.unwrap_or_else(|| f64::from(n).sqrt().ceil() as u32).clamp(1, n);
    let rows = n.div_ceil(cols);
    let tw = o.tile_width.unwrap_or(256).clamp(8, 4096);
    let gap = o.gap.unwrap_or(8).min(256);
    let bg = match &o.background {
        Some(c) => parse_hex(c)
            .ok_or_else(|| MediaError::option("background", format!("`{c}` is not `#rrggbb`")))?,
        None => [24, 24, 24],
    };
    let first = open(&o.inputs[0])?;
    let th = ((f64::from(tw) * f64::from(first.height()) / f64::from(first.width().max(1))).round()
        as u32)
        .max(1);
    let (sw, sh) = (cols * tw + (cols + 1) * gap, rows * th + (rows + 1) * gap);
    let mut canvas = RgbaImage::from_pixel(sw, sh, Rgba([bg[0], bg[1], bg[2], 255]));
    for (i, path) in o.inputs.iter().enumerate() {
        let img = if i == 0 { first.clone() } else { open(path)? };
        let (w, h) = contain(img.width(), img.height(), tw, th);
        let cell = resample(&img, w, h, false, path)?;
        let (c, r) = (i as u32 % cols, i as u32 / cols);
        let x = gap + c * (tw + gap) + (tw - w) / 2;
        let y = gap + r * (th + gap) + (th - h) / 2;
        image::imageops::overlay(&mut canvas, &cell.to_rgba8(), i64::from(x), i64::from(y));
        if let Some(text) = o.labels.get(i).filter(|t| !t.is_empty()) {
            label(&mut canvas, text, x + 2, y + h - 2, (w / 160).clamp(1, 4));
        }
    }
    save(&DynamicImage::ImageRgba8(canvas), &o.output, o.quality)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contain_keeps_aspect() {
        assert_eq!(contain(400, 200, 100, 100), (100, 50));
        assert_eq!(contain(200, 400, 100, 100), (50, 100));
    }

    #[test]
    fn labels_are_drawn_in_white_on_a_dark_box() {
        let mut canvas = RgbaImage::from_pixel(100, 40, Rgba([90, 90, 90, 255]));
        label(&mut canvas, "0:03.2", 2, 38, 1);
        let white = canvas.pixels().filter(|p| p.0 == [255, 255, 255, 255]).count();
        let dark = canvas.pixels().filter(|p| p.0 == [30, 30, 30, 255]).count();
        assert!(white > 20 && dark > 100, "{white} white, {dark} dark");
        // Outside the box nothing changed.
        assert_eq!(canvas.get_pixel(99, 0).0, [90, 90, 90, 255]);
    }

    #[test]
    fn parses_hex_colours() {
        assert_eq!(parse_hex("#ff8000"), Some([255, 128, 0]));
        assert_eq!(parse_hex("fff"), None);
    }
}
