//! Smart renders: the GOPs an edit leaves alone are copied, the rest re-encoded; the result
//! has the frames and times of a full render, decodes cleanly, and its copied packets are the
//! sources' packets bit for bit.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use conjure_media::{RenderOptions, Timeline, render};
use serde_json::json;

use crate::*;

fn tl(v: &serde_json::Value) -> Timeline {
    Timeline::parse(&v.to_string(), false).unwrap()
}

/// `(frame, sha256)` of every video packet, the frame from its presentation time at 30 fps.
fn packets(p: &Path) -> HashMap<i64, String> {
    let out = Command::new(ff().ffprobe_path())
        .args(["-v", "error", "-select_streams", "v:0", "-show_data_hash", "sha256"])
        .args(["-show_entries", "packet=pts_time,data_hash", "-of", "csv=p=0"])
        .arg(p)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(t, h)| ((t.parse::<f64>().unwrap() * 30.0).round() as i64, h.to_string()))
        .collect()
}

fn full() -> RenderOptions<'static> {
    RenderOptions { full_render: true, ..RenderOptions::default() }
}

#[test]
fn transitions_between_matching_clips_copy_the_untouched_gops() {
    let (a, b, c) = (
        clip_gops("testsrc2", "high", "160x90"),
        clip_gops("testsrc", "high", "160x90"),
        clip_gops("smptebars", "high", "160x90"),
    );
    let d = tmp();
    let spec = |out: &Path| {
        tl(&json!({
            "output": {"path": out, "preset": "veryfast"},
            "clips": [
                {"src": a, "transition": {"type": "fade", "duration": 0.5}},
                {"src": b, "transition": {"type": "wipeleft", "duration": 0.5}},
                {"src": c}
            ]
        }))
    };
    let smart_out = d.path().join("smart.mp4");
    let full_out = d.path().join("full.mp4");
    let r = render(ff(), &spec(&smart_out), &RenderOptions::default()).unwrap();
    let f = render(ff(), &spec(&full_out), &full()).unwrap();
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_eq!(f.smart, None);
    // 3 x 60 frames less 2 x 15 of overlap. Each transition is re-encoded from the keyframe
    // before it (clip frame 45) to the keyframe after it (the next clip's frame 15).
    assert_eq!((r.frames, f.frames), (150, 150));
    let stats = r.smart.expect("a smart render");
    assert_eq!((stats.copied_frames, stats.encoded_frames), (120, 30));
    assert_eq!((stats.copied_runs, stats.encoded_runs), (3, 2));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["smart"]["copied_frames"], 120);

    for out in [&smart_out, &full_out] {
        assert_eq!(decode_errors(out), "", "{}", out.display());
        let info = probe(out);
        assert_r2(&info);
        assert_faststart(out);
        assert!((audio_seconds(out) - 5.0).abs() < 0.05);
    }
    assert_eq!(frame_times(&smart_out), frame_times(&full_out));
    assert_eq!(frame_times(&smart_out).len(), 150);
    assert_eq!(frame_times(&smart_out)[149], "4.966667");

    // The copied frames are the sources' packets, bit for bit: output [0,45) is a[0,45),
    // [60,90) is b[15,45), [105,150) is c[15,60).
    let out = packets(&smart_out);
    for (src, out_range, src_start) in [(&a, 0..45, 0), (&b, 60..90, 15), (&c, 105..150, 15)] {
        let source = packets(src);
        for o in out_range.clone() {
            assert_eq!(out[&o], source[&(o - out_range.start + src_start)], "output frame {o}");
        }
    }
    // The re-encoded frames are not.
    assert_ne!(out[&50], packets(&a)[&50]);
}

#[test]
fn captions_and_fades_reencode_only_around_what_they_touch() {
    let (a, b) = (clip_gops("testsrc2", "high", "160x90"), clip_gops("testsrc", "high", "160x90"));
    let d = tmp();
    let out = d.path().join("c.mp4");
    let t = tl(&json!({
        "output": {"path": out, "preset": "veryfast"},
        "clips": [{"src": a, "from": 0.5}, {"src": b, "fade_out": 0.2}],
        "texts": [{"text": "hello", "start": 0.6, "end": 0.9}]
    }));
    let r = render(ff(), &t, &RenderOptions::default()).unwrap();
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    // a[15,60) then b[0,60). The caption changes output frames 17..28 (a frame wider each side
    // of 0.6..0.9 s), re-encoded from where a B-frame group of a's GOP [30,45) closes before
    // them to the keyframe after them (a[45], output 30); the fade changes b's last 7 frames,
    // re-encoded from the group closing before them.
    let stats = r.smart.unwrap();
    assert_eq!(r.frames, 105);
    assert_eq!(stats.copied_frames + stats.encoded_frames, 105);
    assert!((11 + 7..=15 + 15).contains(&stats.encoded_frames), "{stats:?}");
    assert_eq!((stats.copied_runs, stats.encoded_runs), (3, 2));
    assert_eq!(decode_errors(&out), "");
    let times = frame_times(&out);
    assert_eq!(times.len(), 105);
    for (i, t) in times.iter().enumerate() {
        assert!((t.parse::<f64>().unwrap() - i as f64 / 30.0).abs() < 1e-5, "frame {i} at {t}");
    }
    // Output [0,15) is a[15,30), whole; b's first GOPs follow the re-encoded run at 30.
    let (got, from_a, from_b) = (packets(&out), packets(&a), packets(&b));
    for o in 0..15 {
        assert_eq!(got[&o], from_a[&(o + 15)], "output frame {o}");
    }
    for o in 45..90 {
        assert_eq!(got[&o], from_b[&(o - 45)], "output frame {o}");
    }
}

#[test]
fn mismatched_sources_fall_back_to_a_full_render_with_a_note() {
    let a = clip_gops("testsrc2", "high", "160x90");
    let d = tmp();
    for (other, why) in [
        (clip_gops("testsrc", "main", "160x90"), "not High"),
        (clip_gops("testsrc", "high", "320x180"), "is 320x180 where the output is 160x90"),
        (clip_a(), "not High"),
        // High too, but x264 `medium`: another SPS with the same id 0.
        (clip_high(), "share the id 0"),
    ] {
        let out = d.path().join("f.mp4");
        let t = tl(&json!({
            "output": {"path": out, "preset": "ultrafast", "overwrite": true, "width": 160, "height": 90},
            "clips": [{"src": a, "transition": {"type": "fade", "duration": 0.5}}, {"src": other}]
        }));
        let r = render(ff(), &t, &RenderOptions::default()).unwrap();
        assert_eq!(r.smart, None);
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        assert!(
            r.notes[0].contains("no smart render") && r.notes[0].contains(why),
            "{:?}",
            r.notes
        );
        assert_eq!(decode_errors(&out), "");
        assert_eq!(frames(&out), r.frames);
    }
    // `full_render` asks for no smart render, so there is nothing to note.
    let out = d.path().join("n.mp4");
    let t = tl(&json!({
        "output": {"path": out, "preset": "ultrafast"},
        "clips": [{"src": a, "transition": {"type": "fade", "duration": 0.5}}, {"src": clip_a()}]
    }));
    let r = render(ff(), &t, &full()).unwrap();
    assert!(r.notes.is_empty() && r.smart.is_none(), "{:?}", r.notes);
}
