//! In-process image steps (no ffmpeg).

use conjure_media::MediaError;
use conjure_media::filter::Fit;
use conjure_media::image_ops::{
    self, ImageConvertOptions, ImageCropOptions, ImageResizeOptions, ImageSheetOptions,
};
use conjure_media::ops::Aspect;

use crate::*;

#[test]
fn resize_crop_convert_sheet() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    let r = image_ops::resize(&ImageResizeOptions {
        input: image_png(),
        output: p("r.png"),
        width: Some(100),
        height: Some(100),
        fit: Fit::Cover,
        quality: None,
    })
    .unwrap();
    assert_eq!((r.width, r.height), (100, 100));
    assert_eq!(image::image_dimensions(p("r.png")).unwrap(), (100, 100));
    let r = image_ops::resize(&ImageResizeOptions {
        input: image_png(),
        output: p("c.jpg"),
        width: Some(100),
        height: Some(100),
        fit: Fit::Contain,
        quality: Some(80),
    })
    .unwrap();
    assert_eq!((r.width, r.height), (100, 75));
    let r = image_ops::resize(&ImageResizeOptions {
        input: image_jpg(),
        output: p("h.webp"),
        height: Some(160),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((r.width, r.height), (120, 160));
    let r = image_ops::crop(&ImageCropOptions {
        input: image_png(),
        output: p("916.png"),
        aspect: Aspect::parse("9:16").unwrap(),
        quality: None,
    })
    .unwrap();
    assert_eq!((r.width, r.height), (135, 240));
    image_ops::convert(&ImageConvertOptions {
        input: image_png(),
        output: p("x.webp"),
        quality: None,
    })
    .unwrap();
    assert_eq!(image::ImageFormat::from_path(p("x.webp")).unwrap(), image::ImageFormat::WebP);
    assert_eq!(image::image_dimensions(p("x.webp")).unwrap(), (320, 240));
    let r = image_ops::sheet(&ImageSheetOptions {
        inputs: vec![image_png(), image_jpg(), image_png()],
        output: p("s.png"),
        columns: Some(2),
        tile_width: Some(64),
        gap: Some(4),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((r.width, r.height), (2 * 64 + 3 * 4, 2 * 48 + 3 * 4));
}

#[test]
fn image_errors() {
    let d = tmp();
    let missing = image_ops::convert(&ImageConvertOptions {
        input: d.path().join("no.png"),
        output: d.path().join("o.jpg"),
        quality: None,
    });
    assert!(matches!(missing, Err(MediaError::MissingInput { .. })));
    let junk = image_ops::convert(&ImageConvertOptions {
        input: not_media(),
        output: d.path().join("o.jpg"),
        quality: None,
    });
    assert!(matches!(junk, Err(MediaError::Image { .. })), "{junk:?}");
    let ext = image_ops::convert(&ImageConvertOptions {
        input: image_png(),
        output: d.path().join("o.tiff"),
        quality: None,
    });
    assert!(matches!(ext, Err(MediaError::InvalidOption { .. })));
}
