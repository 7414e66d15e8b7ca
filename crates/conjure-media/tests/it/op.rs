//! [`Op::run`] end to end: the routing every front end shares, on real ffmpeg.

use conjure_media::{LazyFfmpeg, Op, OpOutcome};
use serde_json::json;

use crate::*;

fn op(v: serde_json::Value) -> Op {
    serde_json::from_value(v).unwrap()
}

fn run(o: &Op) -> OpOutcome {
    o.run(&LazyFfmpeg::new()).unwrap_or_else(|e| panic!("{}: {e}", o.name()))
}

#[test]
fn videos_run_through_ffmpeg_and_images_do_not() {
    let d = tmp();
    let square = d.path().join("square.mp4");
    let crop = op(json!({
        "op": "crop", "input": clip_a(), "output": square, "aspect": "1:1",
        "encoding": {"preset": "ultrafast"}
    }));
    let OpOutcome::Ffmpeg(r) = run(&crop) else { panic!("a video crop ran in-process") };
    assert_eq!(r.outputs, std::slice::from_ref(&square));
    let v = probe(&square).video.unwrap();
    assert_eq!((v.width, v.height), (90, 90));

    let still = d.path().join("still.jpg");
    let crop = op(json!({"op": "crop", "input": image_png(), "output": still, "aspect": "1:1"}));
    let OpOutcome::Image(r) = run(&crop) else { panic!("an image crop ran ffmpeg") };
    assert_eq!((r.width, r.height), (240, 240));

    // One video makes a sheet of its frames; images are tiled in-process.
    let sheet = op(json!({"op": "sheet", "inputs": [clip_a()], "output": d.path().join("v.png")}));
    assert!(matches!(run(&sheet), OpOutcome::Ffmpeg(_)));
    let tiles = json!({"op": "sheet", "inputs": [image_png(), image_jpg()], "output": d.path().join("i.png")});
    assert!(matches!(run(&op(tiles)), OpOutcome::Image(_)));
}

#[test]
fn a_join_with_a_transition_is_a_crossfade() {
    let d = tmp();
    let out = d.path().join("x.mp4");
    let join = op(json!({
        "op": "join", "inputs": [clip_a(), clip_b()], "output": out,
        "transition": "fade", "transition_duration": 0.5, "encoding": {"preset": "ultrafast"}
    }));
    assert_eq!(join.name(), "crossfade");
    let r = run(&join);
    assert!(!r.stream_copy());
    // 2 s + 2 s overlapping by 0.5 s at 30 fps.
    assert_eq!(frames(&out), 105);
}

#[test]
fn frames_by_range_then_a_pattern_back_into_a_video() {
    let d = tmp();
    let dir = d.path().join("frames");
    let frames_op = op(json!({"op": "frames", "input": clip_a(), "output": dir, "range": "0-9"}));
    assert_eq!(run(&frames_op).outputs().len(), 10);

    let out = d.path().join("seq.mp4");
    let seq = op(json!({
        "op": "slideshow", "images": [dir.join("frame_%05d.png")], "output": out, "fps": 10,
        "encoding": {"preset": "ultrafast"}
    }));
    assert_eq!(seq.name(), "images to video");
    run(&seq);
    assert_eq!(frames(&out), 10);
}
