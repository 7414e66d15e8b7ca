//! Every single-step op, checked by its effect on the output (ffprobe, signalstats, volumedetect).

use std::path::PathBuf;

use conjure_media::MediaError;
use conjure_media::filter::Fit;
use conjure_media::ops::{self, Aspect, AudioPick};
use conjure_media::outputs::Numbered;
use conjure_media::timeline::{ColorAdjust, Position, Rect, Scroll, Text};
use conjure_media::{Codec, Encoding};

use crate::*;

fn fast() -> Encoding {
    Encoding { preset: Some("ultrafast".into()), ..Encoding::default() }
}

fn size(p: &std::path::Path) -> (u32, u32) {
    let v = probe(p).video.unwrap();
    (v.width, v.height)
}

#[test]
fn trim_copy_and_exact() {
    let d = tmp();
    let out = d.path().join("t.mp4");
    let r = ops::trim(
        ff(),
        &ops::TrimOptions {
            input: clip_a(),
            output: out.clone(),
            start: 0.5,
            end: Some(1.5),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!r.stream_copy);
    assert_eq!(frames(&out), 30);
    assert!((audio_seconds(&out) - 1.0).abs() < 0.05);
    assert_r2(&probe(&out));
    let copy = d.path().join("c.mp4");
    let r = ops::trim(
        ff(),
        &ops::TrimOptions {
            input: clip_a(),
            output: copy.clone(),
            start: 0.0,
            duration: Some(1.0),
            fast: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.stream_copy);
    let info = probe(&copy);
    assert!(info.duration < 1.9 && info.audio.is_some());
    let beyond = ops::trim(
        ff(),
        &ops::TrimOptions {
            input: clip_a(),
            output: copy,
            start: 0.0,
            end: Some(5.0),
            ..Default::default()
        },
    );
    assert!(
        matches!(beyond, Err(MediaError::InvalidOption { ref option, .. }) if option == "end"),
        "{beyond:?}"
    );
}

#[test]
fn join_matching_is_stream_copy_and_mixed_is_normalised() {
    let d = tmp();
    let out = d.path().join("j.mp4");
    let r = ops::join(
        ff(),
        &ops::JoinOptions {
            inputs: vec![clip_a(), clip_b()],
            output: out.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.stream_copy, "matching inputs must not be re-encoded");
    assert_eq!(frames(&out), 120);
    assert_faststart(&out);
    let mixed = d.path().join("m.mp4");
    let r = ops::join(
        ff(),
        &ops::JoinOptions {
            inputs: vec![clip_a(), clip_odd(), clip_silent()],
            output: mixed.clone(),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!r.stream_copy);
    // 2 s + 1 s (25 fps source resampled to 30) + 1 s.
    assert_eq!(frames(&mixed), 120);
    assert_eq!(size(&mixed), (160, 90));
    assert!((audio_seconds(&mixed) - 4.0).abs() < 0.05, "silence fills the silent clip");
    assert_r2(&probe(&mixed));
}

#[test]
fn crossfade_shortens_by_the_overlap() {
    let d = tmp();
    let out = d.path().join("x.mp4");
    ops::crossfade(
        ff(),
        &ops::JoinOptions {
            inputs: vec![clip_a(), clip_b()],
            output: out.clone(),
            transition: Some("dissolve".into()),
            transition_duration: 1.0,
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(frames(&out), 90);
    assert!((audio_seconds(&out) - 3.0).abs() < 0.05);
}

#[test]
fn split_into_parts() {
    let d = tmp();
    let r = ops::split(
        ff(),
        &ops::SplitOptions {
            input: clip_gop(),
            output: Numbered::parse(&d.path().join("parts"), "part_{n}.mp4", 3).unwrap(),
            segment_seconds: 0.5,
        },
    )
    .unwrap();
    assert!(r.outputs.len() >= 2, "{:?}", r.outputs);
    let total: u64 = r.outputs.iter().map(|p| frames(p)).sum();
    assert_eq!(total, 60);
}

#[test]
fn crop_resize_pad_reframe_change_the_size() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    ops::crop(
        ff(),
        &ops::CropOptions {
            input: clip_a(),
            output: p("sq.mp4"),
            aspect: Some(Aspect::parse("1:1").unwrap()),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(size(&p("sq.mp4")), (90, 90));
    ops::crop(
        ff(),
        &ops::CropOptions {
            input: clip_a(),
            output: p("r.mp4"),
            rect: Some(Rect { x: 10, y: 10, width: 51, height: 41 }),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(size(&p("r.mp4")), (50, 40), "odd sizes round down to even");
    ops::resize(
        ff(),
        &ops::ResizeOptions {
            input: clip_a(),
            output: p("half.mp4"),
            scale: Some(0.5),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(size(&p("half.mp4")), (80, 44));
    ops::resize(
        ff(),
        &ops::ResizeOptions {
            input: clip_a(),
            output: p("box.mp4"),
            width: Some(100),
            height: Some(100),
            fit: Fit::Contain,
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(size(&p("box.mp4")), (100, 100));
    ops::pad(
        ff(),
        &ops::PadOptions {
            input: clip_a(),
            output: p("43.mp4"),
            aspect: Some(Aspect::parse("4:3").unwrap()),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    let (w, h) = size(&p("43.mp4"));
    assert_eq!(w, 160, "a wide clip grows taller, never narrower");
    assert!(h >= 120 && h % 2 == 0);
    ops::reframe(
        ff(),
        &ops::ReframeOptions {
            input: clip_a(),
            output: p("v.mp4"),
            aspect: Some(Aspect::parse("9:16").unwrap()),
            fit: Fit::Blur,
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(size(&p("v.mp4")), (50, 90));
    let info = probe(&p("v.mp4"));
    assert!(info.audio.is_some(), "R1: audio kept");
    assert!(Aspect::parse("wide").is_err());
}

#[test]
fn fades_speed_reverse() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    ops::fade(
        ff(),
        &ops::FadeOptions {
            input: clip_a(),
            output: p("f.mp4"),
            fade_in: 0.5,
            fade_out: 0.5,
            encoding: fast(),
        },
    )
    .unwrap();
    assert!(luma_at(&p("f.mp4"), 0.0) < 20.0, "starts black");
    assert!(luma_at(&p("f.mp4"), 1.0) > 40.0);
    ops::speed(
        ff(),
        &ops::SpeedOptions { input: clip_a(), output: p("s.mp4"), factor: 2.0, encoding: fast() },
    )
    .unwrap();
    assert_eq!(frames(&p("s.mp4")), 30);
    assert!((audio_seconds(&p("s.mp4")) - 1.0).abs() < 0.06);
    ops::reverse(
        ff(),
        &ops::SimpleOptions { input: clip_a(), output: p("r.mp4"), encoding: fast() },
    )
    .unwrap();
    assert_eq!(frames(&p("r.mp4")), 60);
    // testsrc2's picture differs over time; reversed start matches the original end.
    let a = luma_at(&clip_a(), 1.95);
    let b = luma_at(&p("r.mp4"), 0.0);
    assert!((a - b).abs() < 3.0, "{a} vs {b}");
}

#[test]
fn colour_and_blur() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    ops::color(
        ff(),
        &ops::ColorOptions {
            input: clip_a(),
            output: p("g.mp4"),
            greyscale: true,
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(stat_at(&p("g.mp4"), 0.5, "SATAVG") < 2.0);
    ops::color(
        ff(),
        &ops::ColorOptions {
            input: clip_a(),
            output: p("b.mp4"),
            eq: Some(ColorAdjust {
                brightness: 0.3,
                ..ColorAdjust { brightness: 0.0, contrast: 1.0, saturation: 1.0, gamma: 1.0 }
            }),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(luma_at(&p("b.mp4"), 0.5) > luma_at(&clip_a(), 0.5) + 20.0);
    ops::blur(
        ff(),
        &ops::BlurOptions {
            input: clip_a(),
            output: p("bl.mp4"),
            sigma: 8.0,
            region: None,
            encoding: fast(),
        },
    )
    .unwrap();
    assert!(stat_at(&p("bl.mp4"), 0.5, "YDIF") < stat_at(&clip_a(), 0.5, "YDIF") + 100.0);
    ops::blur(
        ff(),
        &ops::BlurOptions {
            input: clip_a(),
            output: p("br.mp4"),
            sigma: 8.0,
            region: Some(Rect { x: 0, y: 0, width: 80, height: 44 }),
            encoding: fast(),
        },
    )
    .unwrap();
    assert_eq!(size(&p("br.mp4")), (160, 90));
    let bad = ops::blur(
        ff(),
        &ops::BlurOptions {
            input: clip_a(),
            output: p("x.mp4"),
            sigma: 8.0,
            region: Some(Rect { x: 100, y: 0, width: 80, height: 44 }),
            encoding: fast(),
        },
    );
    assert!(matches!(bad, Err(MediaError::InvalidOption { .. })));
}

#[test]
fn text_static_timed_scrolling_with_every_special_character() {
    let d = tmp();
    let nasty = "quote ' double \" colon : semi ; comma , percent % %{pts} back \\ brackets [a] {b} = & | $HOME `tick` emoji 🎬🔥 日本語 Ελληνικά עברית\nsecond line";
    for (i, (end, scroll)) in
        [(None, None), (Some(1.0), None), (Some(2.0), Some(Scroll::Left))].into_iter().enumerate()
    {
        let out = d.path().join(format!("t{i}.mp4"));
        let text = Text {
            text: nasty.into(),
            start: 0.0,
            end,
            position: Position::Named("center".into()),
            size: Some(12),
            color: Some("#ffff00".into()),
            r#box: true,
            font: None,
            scroll,
        };
        ops::text(
            ff(),
            &ops::TextOptions { input: clip_silent(), output: out.clone(), text, encoding: fast() },
        )
        .unwrap();
        assert_eq!(frames(&out), 30);
    }
    // The box darkens the centre where the timed caption is, and is gone after `end`.
    let plain = luma_at(&clip_silent(), 0.5);
    assert!((luma_at(&d.path().join("t0.mp4"), 0.5) - plain).abs() > 3.0);
    let bad = ops::text(
        ff(),
        &ops::TextOptions {
            input: clip_a(),
            output: d.path().join("b.mp4"),
            text: Text {
                text: "x".into(),
                start: 0.0,
                end: None,
                position: Position::Named("middle-ish".into()),
                size: None,
                color: None,
                r#box: false,
                font: None,
                scroll: None,
            },
            encoding: fast(),
        },
    );
    assert!(
        matches!(bad, Err(MediaError::InvalidOption { ref option, .. }) if option == "position"),
        "{bad:?}"
    );
}

#[test]
fn overlay_logo_pip_and_side_by_side() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    ops::overlay(
        ff(),
        &ops::OverlayOptions {
            input: clip_silent(),
            overlay: image_png(),
            output: p("logo.mp4"),
            position: "top-left".into(),
            width: 0.5,
            margin: 0,
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(frames(&p("logo.mp4")), 30);
    assert!((luma_at(&p("logo.mp4"), 0.5) - luma_at(&clip_silent(), 0.5)).abs() > 1.0);
    ops::overlay(
        ff(),
        &ops::OverlayOptions {
            input: clip_a(),
            overlay: clip_b(),
            output: p("pip.mp4"),
            audio: AudioPick::Mix,
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(probe(&p("pip.mp4")).audio.is_some());
    ops::side_by_side(
        ff(),
        &ops::SideBySideOptions {
            left: clip_a(),
            right: clip_silent(),
            output: p("sbs.mp4"),
            audio: AudioPick::First,
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(size(&p("sbs.mp4")), (320, 90));
    assert!(probe(&p("sbs.mp4")).audio.is_some());
    let no_second = ops::side_by_side(
        ff(),
        &ops::SideBySideOptions {
            left: clip_a(),
            right: clip_silent(),
            output: p("x.mp4"),
            audio: AudioPick::Second,
            encoding: fast(),
            ..Default::default()
        },
    );
    assert!(matches!(no_second, Err(MediaError::InvalidOption { .. })));
}

#[test]
fn subtitles_burn_and_soft() {
    let d = tmp();
    let soft = d.path().join("soft.mp4");
    let r = ops::subtitles(
        ff(),
        &ops::SubtitleOptions {
            input: clip_a(),
            subtitles: srt(),
            output: soft.clone(),
            burn: false,
            encoding: fast(),
        },
    )
    .unwrap();
    assert!(r.stream_copy);
    assert_eq!(probe(&soft).subtitle_streams, 1);
    let burn = d.path().join("burn.mp4");
    ops::subtitles(
        ff(),
        &ops::SubtitleOptions {
            input: clip_silent(),
            subtitles: srt(),
            output: burn.clone(),
            burn: true,
            encoding: fast(),
        },
    )
    .unwrap();
    assert_eq!(probe(&burn).subtitle_streams, 0);
    let region = "crop=60:10:50:80";
    // The SRT's default font (Arial) is whatever sans-serif fontconfig substitutes: DejaVu Sans,
    // or the thinner Noto Sans once the caption fonts (`scripts/lib-deps.sh`) are installed.
    assert!(luma_in(&burn, 0.4, region) > luma_in(&clip_silent(), 0.4, region) + 2.0, "text drawn");
}

#[test]
fn audio_steps() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    ops::audio_replace(
        ff(),
        &ops::AudioReplaceOptions {
            input: clip_silent(),
            audio: music(),
            output: p("rep.mp4"),
            looped: true,
        },
    )
    .unwrap();
    assert!((audio_seconds(&p("rep.mp4")) - 1.0).abs() < 0.06);
    let r = ops::audio_extract(ff(), &ops::AudioIoOptions { input: clip_a(), output: p("a.m4a") })
        .unwrap();
    assert!(r.stream_copy);
    assert!(probe(&p("a.m4a")).video.is_none());
    ops::audio_extract(ff(), &ops::AudioIoOptions { input: clip_a(), output: p("a.mp3") }).unwrap();
    assert_eq!(probe(&p("a.mp3")).audio.unwrap().codec, "mp3");
    ops::audio_remove(ff(), &ops::AudioIoOptions { input: clip_a(), output: p("mute.mp4") })
        .unwrap();
    assert!(probe(&p("mute.mp4")).audio.is_none());
    assert_eq!(frames(&p("mute.mp4")), 60);
    let base = mean_volume(&clip_a());
    ops::volume(ff(), &ops::VolumeOptions { input: clip_a(), output: p("quiet.mp4"), factor: 0.5 })
        .unwrap();
    assert!((mean_volume(&p("quiet.mp4")) - (base - 6.0)).abs() < 1.0);
    ops::loudnorm(
        ff(),
        &ops::LoudnormOptions { input: clip_a(), output: p("ln.mp4"), ..Default::default() },
    )
    .unwrap();
    assert!((mean_volume(&p("ln.mp4")) - base).abs() > 1.0);
    ops::audio_mix(
        ff(),
        &ops::AudioMixOptions {
            input: clip_silent(),
            music: music(),
            output: p("mix.mp4"),
            music_volume: 0.5,
            looped: false,
        },
    )
    .unwrap();
    assert!((audio_seconds(&p("mix.mp4")) - 1.0).abs() < 0.06);
    assert!(mean_volume(&p("mix.mp4")) > -40.0);
    ops::audio_fade(
        ff(),
        &ops::AudioFadeOptions {
            input: clip_a(),
            output: p("af.mp4"),
            fade_in: 1.0,
            fade_out: 1.0,
        },
    )
    .unwrap();
    assert!(mean_volume(&p("af.mp4")) < base - 2.0);
    ops::audio_delay(
        ff(),
        &ops::AudioDelayOptions { input: clip_a(), output: p("del.mp4"), millis: 500 },
    )
    .unwrap();
    assert!((audio_seconds(&p("del.mp4")) - 2.0).abs() < 0.06);
    assert!(mean_volume(&p("del.mp4")) < base - 0.5);
    let none = ops::volume(
        ff(),
        &ops::VolumeOptions { input: clip_silent(), output: p("x.mp4"), factor: 2.0 },
    );
    assert!(matches!(none, Err(MediaError::BadInput { .. })));
}

#[test]
fn conversions() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    let r = ops::convert(
        ff(),
        &ops::ConvertOptions { input: clip_a(), output: p("a.mov"), ..Default::default() },
    )
    .unwrap();
    assert!(r.stream_copy, "an R2 MP4 goes into MOV by copy");
    ops::convert(
        ff(),
        &ops::ConvertOptions {
            input: clip_odd(),
            output: p("o.mkv"),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    let v = probe(&p("o.mkv")).video.unwrap();
    assert_eq!((v.width, v.height, v.pix_fmt.as_deref()), (160, 90, Some("yuv420p")));
    ops::convert(
        ff(),
        &ops::ConvertOptions {
            input: clip_silent(),
            output: p("w.webm"),
            encoding: Encoding { preset: Some("ultrafast".into()), ..Encoding::default() },
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(probe(&p("w.webm")).video.unwrap().codec, "vp9");
    ops::convert(
        ff(),
        &ops::ConvertOptions {
            input: clip_silent(),
            output: p("av1.mkv"),
            codec: Some(Codec::Av1),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(probe(&p("av1.mkv")).video.unwrap().codec, "av1");
    let bad = ops::convert(
        ff(),
        &ops::ConvertOptions {
            input: clip_silent(),
            output: p("av1.mp4"),
            codec: Some(Codec::Av1),
            ..Default::default()
        },
    );
    assert!(
        matches!(bad, Err(MediaError::InvalidOption { ref option, .. }) if option == "codec"),
        "AV1 in MP4 is refused"
    );
    let r = ops::convert(
        ff(),
        &ops::ConvertOptions {
            input: clip_a(),
            output: p("a.gif"),
            gif_fps: Some(10.0),
            gif_width: Some(80),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.notes.iter().any(|n| n.contains("no sound")));
    let g = probe(&p("a.gif")).video.unwrap();
    assert_eq!((g.codec.as_str(), g.width), ("gif", 80));
    ops::metadata(
        ff(),
        &ops::MetadataOptions {
            input: clip_a(),
            output: p("m.mp4"),
            title: Some("Tïtle: \"x\"".into()),
            artist: Some("me".into()),
            comment: None,
        },
    )
    .unwrap();
    let tags = probe(&p("m.mp4")).tags;
    assert!(tags.contains(&("title".into(), "Tïtle: \"x\"".into())), "{tags:?}");
}

#[test]
fn frames_out_and_in() {
    let d = tmp();
    let p = |n: &str| d.path().join(n);
    ops::thumbnail(ff(), &ops::ThumbnailOptions { input: clip_a(), output: p("t.jpg"), at: 1.0 })
        .unwrap();
    assert_eq!(image::image_dimensions(p("t.jpg")).unwrap(), (160, 90));
    let r = ops::frames(
        ff(),
        &ops::FramesOptions {
            input: clip_a(),
            output: Numbered::parse(&p("every"), "frame_{n}.png", 5).unwrap(),
            every: Some(0.5),
            range: None,
        },
    )
    .unwrap();
    assert_eq!(r.outputs.len(), 4);
    let r = ops::frames(
        ff(),
        &ops::FramesOptions {
            input: clip_a(),
            output: Numbered::parse(&p("range"), "frame_{n}.png", 5).unwrap(),
            range: Some((10, 14)),
            every: None,
        },
    )
    .unwrap();
    assert_eq!(r.outputs.len(), 5);
    ops::contact_sheet(
        ff(),
        &ops::ContactSheetOptions {
            input: clip_a(),
            output: p("sheet.png"),
            columns: 3,
            rows: 2,
            tile_width: 80,
        },
    )
    .unwrap();
    let (w, h) = image::image_dimensions(p("sheet.png")).unwrap();
    assert_eq!(w, 3 * 80 + 4 * 4);
    assert!(h > 2 * 44);
    let pattern: PathBuf = p("every").join("frame_%05d.png");
    ops::images_to_video(
        ff(),
        &ops::ImagesToVideoOptions {
            pattern,
            output: p("seq.mp4"),
            fps: Some(2.0),
            encoding: fast(),
        },
    )
    .unwrap();
    assert_eq!(frames(&p("seq.mp4")), 4);
    ops::slideshow(
        ff(),
        &ops::SlideshowOptions {
            images: vec![image_png(), image_jpg()],
            output: p("show.mp4"),
            seconds_each: 1.0,
            transition: Some("slideleft".into()),
            transition_duration: 0.5,
            width: Some(160),
            height: Some(90),
            fps: Some(30.0),
            encoding: fast(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(frames(&p("show.mp4")), 45);
    assert_r2(&probe(&p("show.mp4")));
}

#[test]
fn bad_inputs_give_clear_errors() {
    let d = tmp();
    let missing = ops::trim(
        ff(),
        &ops::TrimOptions {
            input: d.path().join("nope.mp4"),
            output: d.path().join("o.mp4"),
            ..Default::default()
        },
    );
    assert!(matches!(missing, Err(MediaError::MissingInput { .. })));
    assert!(missing.unwrap_err().to_string().contains("nope.mp4"));
    let junk = ops::trim(
        ff(),
        &ops::TrimOptions {
            input: not_media(),
            output: d.path().join("o.mp4"),
            ..Default::default()
        },
    );
    assert!(matches!(junk, Err(MediaError::NotMedia { .. })), "{junk:?}");
    let audio_only = ops::reverse(
        ff(),
        &ops::SimpleOptions { input: music(), output: d.path().join("o.mp4"), encoding: fast() },
    );
    assert!(matches!(audio_only, Err(MediaError::BadInput { .. })));
    let wrong_ext = ops::reverse(
        ff(),
        &ops::SimpleOptions { input: clip_a(), output: d.path().join("o.avi"), encoding: fast() },
    );
    assert!(matches!(wrong_ext, Err(MediaError::InvalidOption { .. })));
}
