//! Timeline renders: exact frame counts, transitions, audio, captions, stream copy, errors.

use conjure_media::{MediaError, RenderOptions, Timeline, render};
use serde_json::json;

use crate::*;

fn tl(v: &serde_json::Value) -> Timeline {
    Timeline::parse(&v.to_string(), false).unwrap()
}

fn opts() -> RenderOptions<'static> {
    RenderOptions::default()
}

#[test]
fn crossfade_edit_is_frame_exact_with_audio() {
    let d = tmp();
    let out = d.path().join("x.mp4");
    let t = tl(&json!({
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
    // One segment per clip, each carrying its transition into the next, but the last clip's:
    // the run of the transition into it carries it whole.
    assert_eq!(r.segments, 2);
    assert_eq!(frames(&out), 96);
    let info = probe(&out);
    assert_r2(&info);
    assert_faststart(&out);
    let v = info.video.as_ref().unwrap();
    assert_eq!((v.width, v.height, v.fps_num, v.fps_den), (160, 90, 30, 1));
    let a = audio_seconds(&out);
    assert!((a - 3.2).abs() < 0.05, "audio {a}s vs video 3.2s");
    // Each clip's own sound where it plays alone: the tone, the silent clip's silence, the tone.
    assert!(volume_between(&out, 0.2, 1.3) > -30.0);
    assert!(volume_between(&out, 2.03, 2.17) < -80.0);
    assert!(volume_between(&out, 2.6, 3.1) > -30.0);
}

#[test]
fn hard_cut_join_of_matching_clips_is_stream_copy() {
    let d = tmp();
    let out = d.path().join("j.mp4");
    let t = tl(
        &json!({"output": {"path": out}, "clips": [{"src": clip_a()}, {"src": clip_b()}, {"src": clip_a()}]}),
    );
    let r = render(ff(), &t, &opts()).unwrap();
    assert!(r.stream_copy);
    assert_eq!(r.segments, 0);
    assert!(
        r.commands.iter().all(|c| !c.args.iter().any(|a| a == "libx264")),
        "no encoder may run"
    );
    assert_eq!(frames(&out), 180);
    assert!((audio_seconds(&out) - 6.0).abs() < 0.1);
    assert_faststart(&out);
}

#[test]
fn copy_join_of_mp4_clips_needs_no_ffprobe() {
    // An ffprobe that does not exist: the join must decide from the MP4 headers alone.
    let no_probe = conjure_media::Ffmpeg::with_paths(
        ff().ffmpeg_path().to_path_buf(),
        std::path::PathBuf::from("/nonexistent/ffprobe"),
    );
    let d = tmp();
    let out = d.path().join("j.mp4");
    let t = tl(&json!({"output": {"path": out}, "clips": [{"src": clip_a()}, {"src": clip_b()}]}));
    let r = render(&no_probe, &t, &opts()).unwrap();
    assert!(r.stream_copy);
    assert_eq!((r.frames, r.width, r.height), (120, 160, 90));
    assert_eq!(frames(&out), 120);
    // What the headers cannot answer (a Matroska source) still goes to ffprobe.
    let mkv = mkv_copy_of_clip_a(d.path());
    let t = tl(&json!({
        "output": {"path": out, "overwrite": true},
        "clips": [{"src": clip_a()}, {"src": mkv}]
    }));
    assert!(render(&no_probe, &t, &opts()).is_err());
    let r = render(ff(), &t, &opts()).unwrap();
    assert!(r.stream_copy);
    // The report counts what was written, not the Matroska container's rounded duration.
    assert_eq!(r.frames, frames(&out), "planned {}", r.frames);
    assert!((r.duration - r.frames as f64 / 30.0).abs() < 1e-9);
}

#[test]
fn copy_join_needs_identical_codec_configuration() {
    // Same size, rate, pixel format and audio, but the parameter sets differ: a copy would
    // keep only the first clip's in the file header, so it is normalised.
    let d = tmp();
    let out = d.path().join("j.mp4");
    let t = tl(&json!({
        "output": {"path": out, "preset": "ultrafast"},
        "clips": [{"src": clip_a()}, {"src": clip_high()}]
    }));
    let r = render(ff(), &t, &opts()).unwrap();
    assert!(!r.stream_copy, "different parameter sets must not be joined by copy");
    assert_eq!(frames(&out), 120);
    assert!((audio_seconds(&out) - 4.0).abs() < 0.1);
}

#[test]
fn stills_colours_motion_music_and_effects() {
    let d = tmp();
    let out = d.path().join("s.mp4");
    let t = tl(&json!({
        "output": {"path": out, "width": 160, "height": 90, "fps": 25, "preset": "ultrafast"},
        "clips": [
            {"color": "#ff0000", "duration": 0.4, "transition": {"type": "fadeblack", "duration": 0.2}},
            {"src": image_png(), "duration": 1.0, "motion": "zoom-in", "fit": "cover"},
            {"src": image_jpg(), "duration": 0.6, "fit": "blur", "motion": "pan-left"},
            {"src": clip_a(), "from": 0.2, "to": 1.4, "speed": 2.0, "reverse": true, "greyscale": true, "fade_in": 0.2, "volume": 0.5},
            {"src": clip_b(), "duration": 0.8, "eq": {"brightness": 0.2}, "blur": {"sigma": 4, "region": {"x": 0, "y": 0, "width": 40, "height": 40}}, "crop": {"x": 0, "y": 0, "width": 80, "height": 90}, "keep_audio": false, "fade_out": 0.3}
        ],
        "audio": [{"src": music(), "start": 0.5, "volume": 0.4, "fade_in": 0.2, "fade_out": 0.5, "loop": true}]
    }));
    let r = render(ff(), &t, &opts()).unwrap();
    // 10 + 25 + 15 + 15 + 20 frames minus 5 of transition.
    assert_eq!(r.frames, 80);
    assert_eq!(frames(&out), 80);
    let info = probe(&out);
    let v = info.video.as_ref().unwrap();
    assert_eq!((v.width, v.height, v.fps_num, v.fps_den), (160, 90, 25, 1));
    assert!((audio_seconds(&out) - 3.2).abs() < 0.05);
    // The colour clip is red: high V (Cr) at the start.
    assert!(stat_at(&out, 0.0, "VAVG") > 200.0);
    // The greyscale clip has no saturation.
    assert!(stat_at(&out, 1.9, "SATAVG") < 3.0);
    assert!(mean_volume(&out) > -60.0, "music is mixed in");
}

#[test]
fn overlays_and_subtitles_in_a_timeline() {
    let d = tmp();
    let out = d.path().join("o.mkv");
    let t = tl(&json!({
        "output": {"path": out, "preset": "ultrafast"},
        "clips": [{"src": clip_silent()}, {"src": clip_silent(), "fit": "stretch"}],
        "overlays": [{"src": image_png(), "position": "top-left", "width": 0.5, "margin": 0, "end": 1.5}],
        "subtitles": {"path": srt(), "burn": false}
    }));
    let r = render(ff(), &t, &opts()).unwrap();
    assert!(!r.stream_copy);
    assert_eq!(frames(&out), 60);
    let info = probe(&out);
    assert_eq!(info.subtitle_streams, 1);
    assert!(info.audio.is_none(), "no clip has sound and there is no music");
    let region = "crop=40:20:0:0";
    assert!(
        (luma_in(&out, 0.5, region) - luma_in(&out, 1.8, region)).abs() > 5.0,
        "logo gone after its end"
    );
}

#[test]
fn yaml_file_with_relative_paths_and_progress() {
    let d = tmp();
    std::fs::copy(clip_a(), d.path().join("a.mp4")).unwrap();
    let spec = d.path().join("edit.yaml");
    std::fs::write(&spec, "output:\n  path: out/edit.mp4\n  preset: ultrafast\nclips:\n  - src: a.mp4\n    to: 1\n    transition: {type: circleopen, duration: 0.5}\n  - src: a.mp4\n    from: 1\ntexts:\n  - text: \"Title: 'one'\"\n    position: top\n    end: 1\n    scroll: left\n").unwrap();
    let t = Timeline::from_path(&spec).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let cb = |p: conjure_media::Progress| seen.lock().unwrap().push(p);
    let r = render(ff(), &t, &RenderOptions { progress: Some(&cb), ..RenderOptions::default() })
        .unwrap();
    assert_eq!(r.output, d.path().join("out/edit.mp4"));
    assert_eq!(frames(&r.output), 45);
    let seen = seen.into_inner().unwrap();
    let last = seen.last().expect("progress reported");
    assert_eq!((last.frames_done, last.frames_total), (45, 45));
    assert_eq!(last.steps_done, last.steps_total);
    assert!((last.fraction() - 1.0).abs() < 1e-9);
}

fn render_err(v: &serde_json::Value) -> MediaError {
    let t = tl(v);
    render(ff(), &t, &opts()).unwrap_err()
}

fn path_of(e: &MediaError) -> String {
    match e {
        MediaError::Timeline(t) => t.path.clone(),
        other => panic!("expected a timeline error, got {other}"),
    }
}

#[test]
fn bad_timelines_point_at_the_json_path() {
    let d = tmp();
    let out = d.path().join("x.mp4");
    let e = render_err(
        &json!({"output": {"path": out}, "clips": [{"src": clip_a()}, {"src": d.path().join("missing.mp4")}]}),
    );
    assert_eq!(path_of(&e), "clips[1].src");
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = render_err(&json!({"output": {"path": out}, "clips": [{"src": not_media()}]}));
    assert_eq!(path_of(&e), "clips[0].src");
    let e = render_err(&json!({"output": {"path": out}, "clips": [{"src": clip_a(), "to": 9}]}));
    assert_eq!(path_of(&e), "clips[0].to");
    assert!(e.to_string().contains("beyond the end"), "{e}");
    let e = render_err(
        &json!({"output": {"path": out}, "clips": [{"src": clip_a(), "transition": {"type": "fade", "duration": 1.5}}, {"src": clip_silent()}]}),
    );
    assert_eq!(path_of(&e), "clips[0].transition.duration");
    let e = render_err(
        &json!({"output": {"path": out}, "clips": [{"src": clip_a(), "transition": {"type": "teleport"}}, {"src": clip_b()}]}),
    );
    assert_eq!(path_of(&e), "clips[0].transition.type");
    assert!(e.to_string().contains("fade"), "says what is allowed: {e}");
    let e = render_err(
        &json!({"output": {"path": out, "width": 161, "height": 91}, "clips": [{"src": clip_a()}]}),
    );
    assert_eq!(path_of(&e), "output.width");
    let e = render_err(&json!({"output": {"path": out}, "clips": [{"src": music()}]}));
    assert_eq!(path_of(&e), "clips[0].src");
    let e = render_err(
        &json!({"output": {"path": out}, "clips": [{"src": clip_a()}], "audio": [{"src": clip_silent()}]}),
    );
    assert_eq!(path_of(&e), "audio[0].src");
    let e = Timeline::parse(
        &json!({"output": {"path": out}, "clips": [{"src": "a.mp4", "speed": "fast"}]}).to_string(),
        false,
    )
    .unwrap_err();
    assert_eq!(path_of(&e), "clips[0].speed");
    let e = Timeline::parse(
        &json!({"output": {"path": out}, "clips": [{"src": "a.mp4", "colour": "red"}]}).to_string(),
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
}

#[test]
fn odd_sized_sources_become_even() {
    let d = tmp();
    let out = d.path().join("odd.mp4");
    let t = tl(
        &json!({"output": {"path": out, "preset": "ultrafast"}, "clips": [{"src": clip_odd()}]}),
    );
    let r = render(ff(), &t, &opts()).unwrap();
    assert_eq!((r.width, r.height), (160, 90));
    assert_eq!(frames(&out), 25);
    assert_r2(&probe(&out));
    assert!((audio_seconds(&out) - 1.0).abs() < 0.05);
}

#[test]
fn json_schema_knows_every_field() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../../docs/timeline.schema.json")).unwrap();
    let defs = &schema["$defs"];
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    };
    // A clip, text, track and overlay with every optional field set, serialised by serde.
    let full = tl(&json!({
        "output": {"path": "o.mp4", "overwrite": true, "width": 2, "height": 2, "fps": 1, "codec": "h264", "preset": "fast", "crf": 1, "audio_bitrate": "1k", "hardware": "nvenc"},
        "clips": [{"src": "a", "from": 0, "to": 1, "duration": null, "fit": "cover", "speed": 1, "volume": 1, "keep_audio": true, "motion": "zoom-in",
                   "transition": {"type": "fade", "duration": 1}, "fade_in": 1, "fade_out": 1, "reverse": true, "greyscale": true,
                   "eq": {"brightness": 0}, "blur": {"sigma": 1}, "crop": {"x": 0, "y": 0, "width": 2, "height": 2}, "color": "#000000"}],
        "texts": [{"text": "t", "end": 1, "size": 9, "color": "red", "box": true, "font": "f", "scroll": "up"}],
        "audio": [{"src": "m"}],
        "overlays": [{"src": "l", "end": 1}],
        "subtitles": {"path": "s"}
    }));
    let v = serde_json::to_value(&full).unwrap();
    let check = |value: &serde_json::Value, def: &str| {
        let allowed = keys(&defs[def]["properties"]);
        for k in keys(value) {
            assert!(
                allowed.contains(&k),
                "`{k}` of `{def}` is missing from docs/timeline.schema.json"
            );
        }
    };
    check(&v["output"], "output");
    check(&v["clips"][0], "clip");
    check(&v["texts"][0], "text");
    check(&v["audio"][0], "audio");
    check(&v["overlays"][0], "overlay");
    check(&v["subtitles"], "subtitles");
    for k in keys(&v) {
        assert!(
            keys(&schema["properties"]).contains(&k),
            "top-level `{k}` missing from the schema"
        );
    }
}

#[cfg(unix)]
#[test]
fn each_distinct_source_is_probed_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tmp();
    // A Matroska source: its headers are not read in-process, so every probe is an ffprobe run.
    let mkv = mkv_copy_of_clip_a(d.path());
    let count = d.path().join("count");
    let script = d.path().join("ffprobe");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> '{}'\nexec '{}' \"$@\"\n",
            count.display(),
            ff().ffprobe_path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let counting = conjure_media::Ffmpeg::with_paths(ff().ffmpeg_path().into(), script);
    let clips: Vec<_> = (0..200).map(|_| json!({"src": mkv, "to": 0.1})).collect();
    let t = tl(&json!({"output": {"path": d.path().join("o.mp4")}, "clips": clips}));
    let seen = std::sync::Mutex::new(Vec::new());
    let probing = |done: usize, total: usize| seen.lock().unwrap().push((done, total));
    conjure_media::plan_summary(&counting, &t, Some(&probing)).unwrap();
    assert_eq!(seen.into_inner().unwrap(), [(1, 1)]);
    let runs = std::fs::read_to_string(&count).unwrap().lines().count();
    assert_eq!(runs, 1, "one source, probed {runs} times");
}

/// `clip_a` rewrapped as Matroska in `dir`: headers conjure does not read in-process, so every
/// probe of it is an ffprobe run.
fn mkv_copy_of_clip_a(dir: &std::path::Path) -> std::path::PathBuf {
    let mkv = dir.join("a.mkv");
    let status = std::process::Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(clip_a())
        .args(["-c", "copy"])
        .arg(&mkv)
        .status()
        .unwrap();
    assert!(status.success());
    mkv
}

#[test]
fn a_full_render_starts_clips_on_their_keyframes_and_shows_every_frame_once() {
    let d = tmp();
    let out = d.path().join("k.mp4");
    let src = clip_gop();
    // Lossless, so every frame shown unchanged decodes to the source's pixels. The second
    // clip's keyframes are at its frames 0, 10, 20...: the transition (6 frames) ends at its
    // frame 6, so its own segment starts at frame 10 and the transition's segment carries
    // frames 6..10 after the transition.
    let t = tl(&json!({
        "output": {"path": out, "crf": 0, "preset": "ultrafast"},
        "clips": [
            {"src": src, "from": 0.2, "transition": {"type": "fade", "duration": 0.2}},
            {"src": src, "transition": {"type": "fade", "duration": 0.2}},
            {"src": src}
        ]
    }));
    let r = render(ff(), &t, &RenderOptions { full_render: true, ..opts() }).unwrap();
    assert_eq!(r.frames, 54 + 60 + 60 - 6 - 6);
    assert_eq!(frames(&out), 162);
    // Two runs: clip 2, which no transition leads out of, is carried whole by the run of the
    // transition into it, which decodes it anyway.
    let second = r.commands.iter().find(|c| c.step.starts_with("segment 2/2")).unwrap();
    assert!(second.args.windows(2).any(|w| w == ["-ss", "0.333333"]), "{:?}", second.args);
    let source = frame_hashes(&["-i", src.to_str().unwrap()]);
    let got = frame_hashes(&["-i", out.to_str().unwrap()]);
    assert_eq!(got.len(), 162);
    // Clip 0's frames 6..54 before the transition, clip 1's frames 6..54 after it, across the
    // split at its frame 10, and clip 2's frames 6..60.
    assert_eq!(got[..48], source[6..54]);
    assert_eq!(got[54..102], source[6..54]);
    assert_eq!(got[108..], source[6..60]);
    assert_sound_in_sync(&out);
}

#[test]
fn inputs_read_one_frame_past_their_span_and_none_comes_up_short() {
    let d = tmp();
    let out = d.path().join("s.mp4");
    let src = clip_gop();
    // Every input ends inside its source, so each one's last frames come from the slack it
    // reads: clip 0 is source frames 3..39; clip 1 (source 6..45) fades in over 6 frames and
    // its own segment starts on the source's keyframe 20; clip 2 (source 9..30), after a cut,
    // is carried whole by clip 1's segment. Lossless, so a frame `tpad` had to repeat for an
    // input that came up short would show as a repeated picture.
    let t = tl(&json!({
        "output": {"path": out, "crf": 0, "preset": "ultrafast"},
        "clips": [
            {"src": src, "from": 0.1, "to": 1.3, "transition": {"type": "fade", "duration": 0.2}},
            {"src": src, "from": 0.2, "to": 1.5, "transition": {"type": "fade", "duration": 0.1}},
            {"src": src, "from": 0.3, "to": 1.0}
        ]
    }));
    let r = render(ff(), &t, &RenderOptions { full_render: true, ..opts() }).unwrap();
    assert_eq!((r.frames, frames(&out)), (69 + 21 - 3, 87));
    // One frame of slack each: 36 + 1, 14 + 1, 25 + 1 and 21 + 1 frames at 30 fps.
    let reads: Vec<&str> = r
        .commands
        .iter()
        .filter(|c| c.step.starts_with("segment "))
        .flat_map(|c| c.args.windows(2).filter(|w| w[0] == "-t").map(|w| w[1].as_str()))
        .collect();
    assert_eq!(reads, ["1.233333", "0.5", "0.866667", "0.733333"]);
    let source = frame_hashes(&["-i", src.to_str().unwrap()]);
    let got = frame_hashes(&["-i", out.to_str().unwrap()]);
    assert_eq!(got[..30], source[3..33]);
    assert_eq!(got[36..66], source[12..42]);
    assert_eq!(got[69..], source[12..30]);
    assert_sound_in_sync(&out);
}

#[test]
fn a_full_render_encodes_each_segment_in_its_run_and_splices_them() {
    let d = tmp();
    let spec = |out: &std::path::Path, codec: &str| {
        tl(&json!({
            "output": {"path": out, "preset": "ultrafast", "codec": codec},
            "clips": [
                {"src": clip_a(), "transition": {"type": "fade", "duration": 0.5}},
                {"src": clip_silent(), "transition": {"type": "wipeleft", "duration": 0.3}},
                {"src": clip_b(), "from": 0.5, "to": 1.5}
            ],
            "texts": [{"text": "across the joins", "start": 1.5, "end": 2.5, "box": true}],
            "audio": [{"src": music(), "volume": 0.3}]
        }))
    };
    let out = d.path().join("x.mp4");
    let keep = RenderOptions { full_render: true, keep_temp: true, ..opts() };
    let r = render(ff(), &spec(&out, "h264"), &keep).unwrap();
    assert!(r.notes.iter().all(|n| !n.contains("stream copy")), "{:?}", r.notes);
    // The splicer writes the MP4 with the soundtrack itself: no mux run, and the sound's
    // packets are the soundtrack run's, bit for bit.
    assert!(!r.commands.iter().any(|c| c.step.starts_with("muxing")), "{:?}", r.commands);
    let work = r.temp_dir.clone().unwrap();
    assert_eq!(sound_packets(&out), sound_packets(&work.join("audio.m4a")));
    std::fs::remove_dir_all(work).unwrap();
    // Each segment's run encodes its own frames with x264 into a file of its own, with
    // headers that let the files join; no run encodes raw frames from a pipe.
    let segs: Vec<_> = r.commands.iter().filter(|c| c.step.starts_with("segment ")).collect();
    // Two: the last clip is carried by the run of the transition into it.
    assert_eq!((segs.len(), r.segments), (2, 2));
    for c in &segs {
        assert!(c.args.windows(2).any(|w| w == ["-c:v", "libx264"]), "{:?}", c.args);
        assert!(c.args.iter().any(|a| a.contains("stitchable=1")), "{:?}", c.args);
        assert!(!c.args.iter().any(|a| a == "pipe:1" || a == "rawvideo"), "{:?}", c.args);
    }
    assert!(!r.commands.iter().any(|c| c.step == "encoding the video"), "{:?}", r.commands);
    // Frame exact: 96 frames at n/30, every one decodes cleanly, the sound in step.
    assert_eq!((r.frames, frames(&out)), (96, 96));
    let times = frame_times(&out);
    assert_eq!(times.len(), 96);
    for (i, t) in times.iter().enumerate() {
        let want = i as f64 / 30.0;
        assert!((t.parse::<f64>().unwrap() - want).abs() < 1e-5, "frame {i} at {t}");
    }
    assert_eq!(decode_errors(&out), "");
    let info = probe(&out);
    assert_r2(&info);
    assert_faststart(&out);
    assert_sound_in_sync(&out);

    // Another codec has no splicer: its segments feed one encoder, with the same frames.
    let out = d.path().join("x.mkv");
    let r =
        render(ff(), &spec(&out, "h265"), &RenderOptions { full_render: true, ..opts() }).unwrap();
    assert!(r.commands.iter().any(|c| c.step == "encoding the video"), "{:?}", r.commands);
    assert!(
        r.commands
            .iter()
            .filter(|c| c.step.starts_with("segment "))
            .all(|c| c.args.iter().any(|a| a == "pipe:1"))
    );
    assert_eq!(frames(&out), 96);
    assert_eq!(decode_errors(&out), "");
    // Matroska is not the splicer's: one run muxes it.
    assert!(r.commands.iter().any(|c| c.step.starts_with("muxing")), "{:?}", r.commands);
}

/// `(pts, sha256)` of every sound packet of a file.
fn sound_packets(p: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new(ff().ffprobe_path())
        .args(["-v", "error", "-select_streams", "a:0", "-show_data_hash", "sha256"])
        .args(["-show_entries", "packet=pts,duration,data_hash", "-of", "csv=p=0"])
        .arg(p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<String> =
        String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    assert!(lines.len() > 10, "{lines:?}");
    lines
}
