//! `conjure edit` and `conjure media` through the real binary, on a tiny generated clip.

use std::process::Command;

use crate::ctx;

fn make_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("src.mp4");
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=160x90:r=30:d=2",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=2",
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// A `w`x`h` PNG, drawn by ffmpeg.
fn image_png(path: &std::path::Path, w: u32, h: u32) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=s={w}x{h}:r=1:d=1"))
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn edit_renders_a_timeline_and_reports_json() {
    let t = ctx();
    make_clip(&t.out_dir());
    let spec = t.out_dir().join("edit.yaml");
    std::fs::write(
        &spec,
        "output: {path: edit.mp4, preset: ultrafast}\nclips:\n  - src: src.mp4\n    to: 1\n    transition: {type: fade, duration: 0.5}\n  - color: '#202020'\n    duration: 1\ntexts:\n  - {text: \"it's 100%: done\", position: center}\n",
    )
    .unwrap();
    let run = t.run(&["edit", "edit.yaml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["edit"]["frames"], 45);
    assert_eq!(v["edit"]["audio"], true);
    assert!(t.out_dir().join("edit.mp4").is_file());
}

#[test]
fn edit_points_at_the_bad_field_with_exit_2() {
    let t = ctx();
    make_clip(&t.out_dir());
    std::fs::write(
        t.out_dir().join("bad.json"),
        r#"{"output":{"path":"o.mp4"},"clips":[{"src":"src.mp4","to":9}]}"#,
    )
    .unwrap();
    let run = t.run(&["edit", "bad.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("clips[0].to"), "{}", run.stderr);
}

#[test]
fn media_trim_exact_writes_the_range() {
    let t = ctx();
    make_clip(&t.out_dir());
    let run = t.run(&[
        "media",
        "trim",
        "src.mp4",
        "-o",
        "cut.mp4",
        "--start",
        "0.5",
        "--end",
        "1.5",
        "--exact",
        "--preset",
        "ultrafast",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["op"], "trim");
    assert_eq!(v["result"]["stream_copy"], false);
    let missing = t.run(&["media", "reverse", "nope.mp4", "-o", "x.mp4"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("does not exist"), "{}", missing.stderr);
}

#[test]
fn media_image_steps_need_no_ffmpeg_and_options_are_checked_first() {
    let t = ctx();
    let png = t.out_dir().join("still.png");
    image_png(&png, 64, 48);
    let no_ffmpeg = |args: &[&str]| {
        let mut cmd = t.command(args);
        cmd.env("PATH", "/nonexistent");
        t.run_cmd(cmd)
    };
    let run =
        no_ffmpeg(&["media", "resize", "still.png", "-o", "small.jpg", "--width", "32", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "{\"op\":\"resize\",\"result\":{\"height\":24,\"output\":\"small.jpg\",\"width\":32},\"status\":\"ok\"}\n"
    );
    let bad = no_ffmpeg(&["media", "blur", "src.mp4", "-o", "b.mp4", "--region", "10x10"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("write WxH+X+Y"), "{}", bad.stderr);
    let video = no_ffmpeg(&["media", "reverse", "src.mp4", "-o", "r.mp4"]);
    assert_eq!(video.code, 1, "{}", video.stderr);
    assert!(video.stderr.contains("`ffmpeg` was not found"), "{}", video.stderr);
}

#[cfg(unix)]
#[test]
fn media_ignores_ffmpeg_in_a_relative_path_entry() {
    let t = ctx();
    make_clip(&t.out_dir());
    let real = conjure_media::find_tool(conjure_media::Tool::Ffmpeg).unwrap();
    let planted = t.out_dir().join("bin");
    std::fs::create_dir_all(&planted).unwrap();
    std::os::unix::fs::symlink(&real, planted.join("ffmpeg")).unwrap();
    std::os::unix::fs::symlink(real.with_file_name("ffprobe"), planted.join("ffprobe")).unwrap();
    // The binary runs in `out/`, so `bin` names the planted tools; they must not run.
    let mut cmd = t.command(&["media", "reverse", "src.mp4", "-o", "r.mp4"]);
    cmd.env("PATH", "bin");
    let run = t.run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("`ffmpeg` was not found"), "{}", run.stderr);
    assert!(!t.out_dir().join("r.mp4").exists());
}
