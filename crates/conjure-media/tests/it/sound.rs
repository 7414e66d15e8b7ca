//! Sound in edits and steps: the output keeps its sources' sample rate, a 48 kHz hard-cut join is
//! a stream copy, the sound starts with the picture and is exactly as long, and CRF 0 is lossless.

use std::path::Path;

use conjure_media::ops::{AudioMixOptions, TrimOptions, audio_mix, trim};
use conjure_media::{RenderOptions, Timeline, render};
use serde_json::json;

use crate::*;

fn tl(v: &serde_json::Value) -> Timeline {
    Timeline::parse(&v.to_string(), false).unwrap()
}

fn rate(p: &Path) -> u32 {
    probe(p).audio.expect("sound").sample_rate
}

#[test]
fn a_hard_cut_join_of_48k_clips_is_a_stream_copy_at_48k() {
    let d = tmp();
    let out = d.path().join("j.mp4");
    let t = tl(&json!({"output": {"path": out}, "clips": [
        {"src": clip_48k('a')}, {"src": clip_48k('b')}, {"src": clip_48k('a')}
    ]}));
    let r = render(ff(), &t, &RenderOptions::default()).unwrap();
    assert!(r.stream_copy, "{:?}", r.notes);
    assert_eq!(frames(&out), 180);
    assert_eq!(rate(&out), 48_000);
}

#[test]
fn a_join_whose_sound_rates_differ_is_re_encoded_and_says_why() {
    let d = tmp();
    let out = d.path().join("j.mp4");
    let t = tl(&json!({"output": {"path": out, "preset": "ultrafast"}, "clips": [
        {"src": clip_48k('a')}, {"src": clip_a()}
    ]}));
    let r = render(ff(), &t, &RenderOptions::default()).unwrap();
    assert!(!r.stream_copy);
    let note = r.notes.first().expect("a note saying why");
    assert!(note.contains("clip 1's sound is 44.1 kHz where clip 0's is 48 kHz"), "{note}");
    // Sources that disagree meet at video's rate.
    assert_eq!(rate(&out), 48_000);
    assert_eq!(frames(&out), 120);
}

#[test]
fn the_output_keeps_the_sources_sample_rate() {
    let d = tmp();
    let edit = |name: &str, a, b| {
        let out = d.path().join(name);
        let t = tl(&json!({"output": {"path": out, "preset": "ultrafast"}, "clips": [
            {"src": a, "transition": {"type": "fade", "duration": 0.5}}, {"src": b}
        ]}));
        render(ff(), &t, &RenderOptions::default()).unwrap();
        out
    };
    assert_eq!(rate(&edit("48.mp4", clip_48k('a'), clip_48k('b'))), 48_000);
    assert_eq!(rate(&edit("44.mp4", clip_a(), clip_b())), 44_100);
    // Music counts as a source: 44.1 kHz clips under 44.1 kHz music stay 44.1 kHz, and the
    // picture-only slideshow under it takes the music's rate.
    let out = d.path().join("slides.mp4");
    let t = tl(&json!({"output": {"path": out, "preset": "ultrafast"},
        "clips": [{"src": image_png(), "duration": 1.0}, {"color": "red", "duration": 1.0}],
        "audio": [{"src": music(), "loop": true}]}));
    render(ff(), &t, &RenderOptions::default()).unwrap();
    assert_eq!(rate(&out), 44_100);
    // WebM's Opus is always 48 kHz.
    let out = d.path().join("w.webm");
    let t = tl(&json!({"output": {"path": out, "codec": "vp9", "preset": "ultrafast"},
        "clips": [{"src": clip_a(), "to": 1.0}]}));
    render(ff(), &t, &RenderOptions::default()).unwrap();
    assert_eq!(rate(&out), 48_000);
}

#[test]
fn sound_starts_with_the_picture_and_is_as_long_in_edits_and_steps() {
    let d = tmp();
    // An edit with transitions, a trim, captions and music.
    let out = d.path().join("e.mp4");
    let t = tl(&json!({"output": {"path": out, "preset": "ultrafast"},
        "clips": [
            {"src": clip_48k('a'), "transition": {"type": "fade", "duration": 0.5}},
            {"src": clip_48k('b'), "from": 0.3}
        ],
        "texts": [{"text": "sync", "start": 0.2, "end": 1.0, "box": true}],
        "audio": [{"src": music(), "volume": 0.3, "loop": true}]}));
    render(ff(), &t, &RenderOptions::default()).unwrap();
    assert_sound_in_sync(&out);
    // The same in Matroska.
    let mkv = d.path().join("e.mkv");
    let t = tl(&json!({"output": {"path": mkv, "preset": "ultrafast"},
        "clips": [{"src": clip_48k('a'), "transition": {"type": "fade", "duration": 0.5}}, {"src": clip_48k('b')}]}));
    render(ff(), &t, &RenderOptions::default()).unwrap();
    let ((_, _), (a_start, _)) = stream_times(&mkv);
    assert!(a_start.abs() < 1e-3, "mkv sound starts at {a_start}");
    // Steps that re-encode sound: an exact trim and a music mix.
    let cut = d.path().join("t.mp4");
    trim(
        ff(),
        &TrimOptions {
            input: clip_48k('a'),
            output: cut.clone(),
            start: 0.37,
            duration: Some(1.0),
            ..TrimOptions::default()
        },
    )
    .unwrap();
    assert_sound_in_sync(&cut);
    assert_eq!(rate(&cut), 48_000);
    let mixed = d.path().join("m.mp4");
    audio_mix(
        ff(),
        &AudioMixOptions {
            input: clip_48k('b'),
            music: music(),
            output: mixed.clone(),
            music_volume: 0.3,
            looped: true,
        },
    )
    .unwrap();
    assert_sound_in_sync(&mixed);
}

#[test]
fn crf_0_renders_losslessly() {
    let d = tmp();
    let out = d.path().join("lossless.mp4");
    // A trim off a keyframe: re-encoded, every frame through the engine.
    let t = tl(&json!({"output": {"path": out, "crf": 0, "preset": "ultrafast"},
        "clips": [{"src": clip_a(), "from": 0.5, "to": 1.5}]}));
    let r = render(ff(), &t, &RenderOptions::default()).unwrap();
    assert!(!r.stream_copy);
    let v = probe(&out).video.unwrap();
    assert_eq!(v.profile.as_deref(), Some("High 4:4:4 Predictive"));
    // Not every player takes that profile: the report says so.
    assert!(r.notes.iter().any(|n| n.contains("lossless")), "{:?}", r.notes);
    let src = clip_a();
    let src = src.to_str().unwrap();
    let want = frame_hashes(&["-ss", "0.5", "-i", src, "-frames:v", "30"]);
    let got = frame_hashes(&["-i", out.to_str().unwrap()]);
    assert_eq!(got.len(), 30);
    assert_eq!(got, want, "every frame decodes to the source's pixels");
}

#[test]
fn every_step_that_re_encodes_sound_keeps_it_in_sync() {
    use conjure_media::{LazyFfmpeg, Op};
    let d = tmp();
    let src = clip_48k('a');
    let enc = json!({"preset": "ultrafast"});
    let steps = [
        json!({"op": "fade", "input": src, "fade_in": 0.5, "fade_out": 0.5, "encoding": enc}),
        json!({"op": "speed", "input": src, "factor": 1.5, "encoding": enc}),
        json!({"op": "reverse", "input": src}),
        json!({"op": "color", "input": src, "saturation": 0.0, "encoding": enc}),
        json!({"op": "crop", "input": src, "aspect": "1:1", "encoding": enc}),
        json!({"op": "audio-replace", "input": src, "audio": music(), "loop": true}),
        json!({"op": "audio-volume", "input": src, "factor": 0.5}),
        json!({"op": "audio-loudnorm", "input": src}),
        json!({"op": "audio-fade", "input": src, "fade_in": 0.5}),
        json!({"op": "join", "inputs": [src, clip_48k('b')], "transition": "fade",
               "transition_duration": 0.5, "encoding": enc}),
    ];
    for (i, mut step) in steps.into_iter().enumerate() {
        let out = d.path().join(format!("{i}.mp4"));
        step["output"] = json!(out);
        let op: Op = serde_json::from_value(step.clone()).unwrap();
        op.run(&LazyFfmpeg::new()).unwrap_or_else(|e| panic!("{step}: {e}"));
        let ((vs, vd), (a_start, a_len)) = stream_times(&out);
        let name = op.name();
        assert!(vs.abs() < 1e-3 && a_start.abs() < 1e-3, "{name}: starts {vs} / {a_start}");
        // Replaced sound is the music's own; every other step keeps the picture's length.
        assert!((a_len - vd).abs() < 1e-3, "{name}: video {vd}s, sound {a_len}s");
        assert_eq!(rate(&out), if name == "audio replace" { 44_100 } else { 48_000 }, "{name}");
    }
}

/// The decoded sound of a file, raw `f32`.
fn decoded_sound(p: &Path) -> Vec<u8> {
    let out = std::process::Command::new(ff().ffmpeg_path())
        .args(["-v", "error", "-i"])
        .arg(p)
        .args(["-vn", "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn the_last_segment_makes_the_whole_soundtrack_and_keeps_every_sample() {
    let d = tmp();
    let spec = |out: &Path, codec: &str, keep: bool, with_music: bool| {
        let audio = if with_music {
            json!([{"src": music(), "loop": true, "volume": 0.5, "start": 0.4}])
        } else {
            json!([])
        };
        tl(&json!({
            "output": {"path": out, "preset": "ultrafast", "codec": codec},
            "clips": [
                {"src": clip_a(), "keep_audio": keep, "transition": {"type": "fade", "duration": 0.5}},
                {"src": clip_b(), "keep_audio": keep, "transition": {"type": "wipeleft", "duration": 0.3}},
                {"src": clip_a(), "keep_audio": keep}
            ],
            "audio": audio
        }))
    };
    let full = RenderOptions { full_render: true, ..RenderOptions::default() };
    // 60 + 60 + 60 - 15 - 9 frames: 5.2 s.
    for (keep, with_music) in [(true, true), (false, true), (true, false)] {
        let out = d.path().join(format!("s-{keep}-{with_music}.mp4"));
        let r = render(ff(), &spec(&out, "h264", keep, with_music), &full).unwrap();
        let case = format!("clip sound {keep}, music {with_music}");
        // One run per segment and no other: the last one made the soundtrack.
        assert_eq!(r.commands.len(), r.segments, "{case}: {:?}", r.commands);
        let last = r.commands.last().unwrap();
        assert!(
            last.step.ends_with("and the soundtrack (clip sound, crossfades, music)"),
            "{case}"
        );
        assert_eq!(frames(&out), 156, "{case}");
        assert_sound_in_sync(&out);
        // Sound everywhere, across every segment to the last frame; silence only before the
        // music starts when the clips are muted.
        for at in [0.5, 1.0, 1.7, 2.4, 3.1, 3.8, 4.5, 4.9] {
            let v = volume_between(&out, at, at + 0.3);
            assert!(v > -40.0, "{case}: {v} dB at {at} s");
        }
        if !keep {
            let v = volume_between(&out, 0.0, 0.35);
            assert!(v < -80.0, "{case}: {v} dB before the music starts");
        }
        // The same samples as the mixer run makes beside one encoder (another codec).
        if keep && with_music {
            let mixed = d.path().join("mixer.mp4");
            let r = render(ff(), &spec(&mixed, "h265", keep, with_music), &full).unwrap();
            assert!(
                r.commands.iter().any(|c| c.step.starts_with("soundtrack")),
                "{:?}",
                r.commands
            );
            assert!(decoded_sound(&out) == decoded_sound(&mixed), "{case}: the sound differs");
        }
    }
}
