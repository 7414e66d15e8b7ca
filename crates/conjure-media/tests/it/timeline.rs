//! Timeline renders: exact frame counts, transitions, audio, captions, stream copy, errors.

use conjure_media::{MediaError, RenderOptions, Timeline, render};
use serde_json::json;

use crate::*;

fn tl(v: serde_json::Value) -> Timeline {
    Timeline::parse(&v.to_string(), false).unwrap()
}

fn opts() -> RenderOptions<'static> {
    RenderOptions { jobs: 2, ..RenderOptions::default() }
}

#[test]
fn crossfade_edit_is_frame_exact_with_audio() {
    let d = tmp();
    let out = d.path().join("x.mp4");
    let t = tl(json!({
        "output": {"path": out, "preset": "ultrafast"},
        "clips": [
            {"src": clip_a(), "transition": {"type": "fade", "duration": 0.5}},
            {"src": clip_silent(), "transition": {"type": "wipeleft", "duration": 0.3}},
            {"src": clip_b(), "from": 0.5, "to": 1.5}
        ],
        "texts": [{"text": "it's 100% \"quoted\": a\\b, [x]; émoji 🎬 日本語 مرحبا", "start": 0.2, "end": 2.5, "box": true}]
    }));
    let r = render(ff(), &t, &opts()).unwrap();
    // 60 + 30 + 30 frames minus 15 and 9 of overlap.
    assert_eq!(r.frames, 96);
    assert!(!r.stream_copy);
    assert!(r.segments >= 5);
    assert_eq!(frames(&out), 96);
    let info = probe(&out);
    assert_r2(&info);
    assert_faststart(&out);
    let v = info.video.as_ref().unwrap();
    assert_eq!((v.width, v.height, v.fps_num, v.fps_den), (160, 90, 30, 1));
    let a = audio_seconds(&out);
    assert!((a - 3.2).abs() < 0.05, "audio {a}s vs video 3.2s");
}
