//! `conjure edit` and `conjure media` through the real binary, on a tiny generated clip.

use std::process::Command;

use crate::ctx;

fn make_clip(dir: &std::path::Path) -> std::path::PathBuf {
    make_clip_named(dir, "src.mp4", 2, "")
}

/// A 160x90 clip with sound, `secs` long, named `name`; `x264` adds x264 options (e.g.
/// `keyint=1000` for a single keyframe).
fn make_clip_named(dir: &std::path::Path, name: &str, secs: u32, x264: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=s=160x90:r=30:d={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=f=440:d={secs}"))
        .args(["-shortest", "-c:v", "libx264", "-preset", "ultrafast"]);
    if !x264.is_empty() {
        cmd.args(["-x264-params", x264]);
    }
    let status = cmd
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mp4"])
        .arg(format!("file:{}", path.display()))
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
    // What ffmpeg can do (a transition and a caption need it) is kept for the next command.
    let cached: Vec<String> = std::fs::read_dir(t.path("data").join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        cached.len() == 1 && cached[0].starts_with("ffmpeg-capabilities-"),
        "the data directory's cache holds {cached:?}"
    );
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
    let small = t.out_dir().join("small.jpg");
    assert_eq!(
        run.stdout,
        format!(
            "{{\"op\":\"resize\",\"result\":{{\"height\":24,\"output\":\"{}\",\"width\":32}},\"status\":\"ok\"}}\n",
            small.display()
        )
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

fn frames_of(path: &std::path::Path) -> u64 {
    conjure_media::Ffmpeg::locate().unwrap().count_frames(path).unwrap()
}

fn duration_of(path: &std::path::Path) -> f64 {
    conjure_media::Ffmpeg::locate().unwrap().probe(path).unwrap().duration
}

/// Files in `dir` whose name contains `.partial`.
fn partials(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        if e.file_name().to_string_lossy().contains(".partial") {
            found.push(e.path());
        }
    }
    found
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work() {
    let t = ctx();
    let src = make_clip(&t.out_dir());
    let before = std::fs::read(&src).unwrap();
    let trim =
        |out: &str| t.run(&["media", "trim", "src.mp4", "--start", "1", "--end", "2", "-o", out]);
    let run = trim("src.mp4");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("it is the input"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    // --force never lets a source be written over, whatever the spelling.
    let run = t.run(&["media", "trim", "src.mp4", "--end", "1", "-o", "./src.mp4", "--force"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&src, t.out_dir().join("soft.mp4")).unwrap();
        std::fs::hard_link(&src, t.out_dir().join("hard.mp4")).unwrap();
        for link in ["soft.mp4", "hard.mp4"] {
            let run = t.run(&["media", "reverse", "src.mp4", "-o", link, "--force"]);
            assert_eq!(run.code, 2, "{link}: {}", run.stderr);
        }
    }
    assert_eq!(std::fs::read(&src).unwrap(), before, "the source is unchanged");
    assert!(partials(&t.out_dir()).is_empty());

    // `edit` refuses a source as its output the same way.
    std::fs::write(
        t.out_dir().join("e.json"),
        r#"{"output":{"path":"x.mp4","overwrite":true},"clips":[{"src":"src.mp4"}]}"#,
    )
    .unwrap();
    let run = t.run(&["edit", "e.json", "-o", "src.mp4", "--force"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(std::fs::read(&src).unwrap(), before);
}

#[test]
fn an_existing_output_needs_force() {
    let t = ctx();
    make_clip(&t.out_dir());
    let out = t.out_dir().join("cut.mp4");
    std::fs::write(&out, "precious").unwrap();
    let args = ["media", "trim", "src.mp4", "--end", "1", "-o", "cut.mp4", "--preset", "ultrafast"];
    let run = t.run(&args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("already exists") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    let run = t.run(&[&args[..], &["--force", "--json"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(frames_of(&out), 30);
    // JSON paths are absolute.
    assert_eq!(run.json()["result"]["outputs"][0], out.display().to_string());

    // The same for an image step and for `edit`.
    let png = t.out_dir().join("still.png");
    image_png(&png, 64, 48);
    std::fs::write(t.out_dir().join("small.png"), "x").unwrap();
    let run = t.run(&["media", "resize", "still.png", "-o", "small.png", "--width", "32"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    std::fs::write(t.out_dir().join("e.json"), r#"{"clips":[{"src":"src.mp4","to":1}]}"#).unwrap();
    let run = t.run(&["edit", "e.json", "-o", "cut.mp4"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = t.run(&["edit", "e.json", "-o", "cut.mp4", "--force", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["edit"]["output"], out.display().to_string());
    assert!(partials(&t.out_dir()).is_empty());
}

#[test]
fn a_failed_run_leaves_no_partial_file() {
    let t = ctx();
    make_clip(&t.out_dir());
    // libx264 refuses an unknown preset: ffmpeg itself fails.
    let run = t.run(&["media", "reverse", "src.mp4", "-o", "r.mp4", "--preset", "nosuch"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(!t.out_dir().join("r.mp4").exists());
    assert_eq!(partials(&t.out_dir()), Vec::<std::path::PathBuf>::new());
}

/// The ids of the live (not zombie) processes whose parent is `parent`, from /proc.
#[cfg(target_os = "linux")]
pub(crate) fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last `)`.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[1] == parent.to_string() && fields[0] != "Z" {
            found.push(pid);
        }
    }
    found
}

#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.split_whitespace().next() != Some("Z")))
        .unwrap_or(false)
}

#[cfg(target_os = "linux")]
#[test]
fn sigterm_stops_ffmpeg_and_leaves_nothing_behind() {
    stop_signal_leaves_nothing_behind("-TERM", 143, "terminated");
}

#[cfg(target_os = "linux")]
#[test]
fn sigint_stops_ffmpeg_and_leaves_nothing_behind() {
    stop_signal_leaves_nothing_behind("-INT", 130, "interrupted");
}

#[cfg(target_os = "linux")]
fn stop_signal_leaves_nothing_behind(signal: &str, code: i32, word: &str) {
    let t = ctx();
    // Long enough that the render is surely still running when the signal arrives.
    long_video(&t);
    let mut cmd = t.command(&[
        "media", "resize", "long.mp4", "-o", "big.mp4", "--width", "1920", "--preset", "veryslow",
    ]);
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    // Wait (not a timing assertion: a bounded poll) for ffmpeg to be running and writing.
    let mut ffmpegs = Vec::new();
    for _ in 0..600 {
        ffmpegs = children_of(pid);
        if !ffmpegs.is_empty() && !partials(&t.out_dir()).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!ffmpegs.is_empty(), "ffmpeg never started");
    let kill = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(word), "{stderr}");
    assert!(!t.out_dir().join("big.mp4").exists());
    assert_eq!(partials(&t.out_dir()), Vec::<std::path::PathBuf>::new());
    // Killed ffmpegs are reaped by init; wait for that (bounded), then none may be alive.
    for _ in 0..200 {
        if !ffmpegs.iter().any(|p| alive(*p)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let left: Vec<_> = ffmpegs.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "ffmpeg still running: {left:?}");
}

#[test]
fn trim_is_frame_exact_by_default_even_with_one_keyframe() {
    let t = ctx();
    make_clip_named(&t.out_dir(), "one.mp4", 5, "keyint=1000:scenecut=0");
    let run = t.run(&[
        "media",
        "trim",
        "one.mp4",
        "--start",
        "2",
        "--end",
        "3",
        "-o",
        "cut.mp4",
        "--preset",
        "ultrafast",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["result"]["stream_copy"], false);
    let cut = t.out_dir().join("cut.mp4");
    assert_eq!(frames_of(&cut), 30, "one second at 30 fps, to the frame");
    // It starts at 2 s: the first frame is not the source's first frame.
    assert!((duration_of(&cut) - 1.0).abs() < 0.05);

    // --fast copies and says what it kept.
    let run =
        t.run(&["media", "trim", "one.mp4", "--start", "2", "--end", "3", "-o", "f.mp4", "--fast"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("fast trim kept 0"), "{}", run.stderr);

    // On keyframes a stream copy is exact, and said so.
    make_clip_named(&t.out_dir(), "gop.mp4", 2, "keyint=15:min-keyint=15:scenecut=0");
    let run = t.run(&["media", "trim", "gop.mp4", "--start", "0.5", "--end", "1.5", "-o", "k.mp4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("keyframes: stream copy"), "{}", run.stderr);
    assert_eq!(frames_of(&t.out_dir().join("k.mp4")), 30);

    // --exact is a deprecated no-op.
    let run = t.run(&[
        "media",
        "trim",
        "one.mp4",
        "--end",
        "1",
        "-o",
        "e.mp4",
        "--exact",
        "--preset",
        "ultrafast",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("`--exact` is deprecated"), "{}", run.stderr);
}

#[test]
fn special_characters_in_file_names_work() {
    let t = ctx();
    let name = "it's a:b, [c]; 50% d.mp4";
    make_clip_named(&t.out_dir(), name, 2, "");
    let png = t.out_dir().join("logo: 'x' [1].png");
    image_png(&png, 32, 32);
    let ok = |args: &[&str]| {
        let run = t.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        run
    };
    ok(&[
        "media",
        "trim",
        name,
        "--end",
        "1",
        "-o",
        "cut: 'a', [b]; 5%.mp4",
        "--preset",
        "ultrafast",
    ]);
    assert_eq!(frames_of(&t.out_dir().join("cut: 'a', [b]; 5%.mp4")), 30);
    ok(&["media", "reverse", name, "-o", "rev, 'x'.mp4", "--preset", "ultrafast"]);
    ok(&[
        "media",
        "overlay",
        name,
        "--top",
        "logo: 'x' [1].png",
        "-o",
        "o;1.mp4",
        "--preset",
        "ultrafast",
    ]);
    ok(&["media", "join", name, "cut: 'a', [b]; 5%.mp4", "-o", "j:1%.mp4"]);
    ok(&["media", "thumbnail", name, "-o", "t: 1%.png"]);
    ok(&["media", "audio", "extract", name, "-o", "a, b: c.m4a"]);
    let run = ok(&["media", "split", name, "-o", "p: 100% {n}.mp4", "--seconds", "1", "--json"]);
    let parts = run.json()["result"]["outputs"].as_array().unwrap().len();
    assert!(parts >= 1 && t.out_dir().join("p: 100% 001.mp4").is_file(), "{}", run.stdout);
    ok(&["media", "frames", name, "-o", "f [1]: {n}%.png", "--every", "1"]);
    assert!(t.out_dir().join("f [1]: 00001%.png").is_file());
    std::fs::write(
        t.out_dir().join("tl.json"),
        serde_json::json!({"output": {"path": "tl: 'x', [y]; 9%.mp4", "preset": "ultrafast"},
                           "clips": [{"src": name, "to": 1}, {"src": "logo: 'x' [1].png", "duration": 0.5}],
                           "texts": [{"text": "a: b", "end": 1}]})
        .to_string(),
    )
    .unwrap();
    ok(&["edit", "tl.json"]);
    assert_eq!(frames_of(&t.out_dir().join("tl: 'x', [y]; 9%.mp4")), 45);
}

#[test]
fn geometry_steps_work_on_images() {
    let t = ctx();
    image_png(&t.out_dir().join("still.png"), 64, 48);
    let run = t.run(&["media", "crop", "still.png", "--rect", "20x10+4+6", "-o", "c.png"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(image_size(&t.out_dir().join("c.png")), (20, 10));
    let run = t.run(&["media", "pad", "still.png", "--aspect", "1:1", "-o", "p.png"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(image_size(&t.out_dir().join("p.png")), (64, 64));
    let run = t.run(&["media", "blur", "still.png", "--region", "8x8+0+0", "-o", "b.jpg"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(image_size(&t.out_dir().join("b.jpg")), (64, 48));
}

fn image_size(p: &std::path::Path) -> (u32, u32) {
    let v = conjure_media::Ffmpeg::locate().unwrap().probe(p).unwrap().video.unwrap();
    (v.width, v.height)
}

#[test]
fn sizes_of_zero_are_refused_and_odd_ones_rounded() {
    let t = ctx();
    make_clip(&t.out_dir());
    let run = t.run(&["media", "resize", "src.mp4", "--width", "0", "-o", "z.mp4"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`width`"), "{}", run.stderr);
    let run = t.run(&[
        "media",
        "resize",
        "src.mp4",
        "--width",
        "81",
        "-o",
        "o.mp4",
        "--preset",
        "ultrafast",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("width 81 rounded to 80"), "{}", run.stderr);
    assert_eq!(image_size(&t.out_dir().join("o.mp4")).0, 80);
    let run = t.run(&[
        "media",
        "crop",
        "src.mp4",
        "--rect",
        "21x11+0+0",
        "-o",
        "c.mp4",
        "--preset",
        "ultrafast",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("region 21x11 rounded to 20x10"), "{}", run.stderr);
    assert_eq!(image_size(&t.out_dir().join("c.mp4")), (20, 10));
    // A still keeps the exact odd region.
    let run = t.run(&["media", "crop", "src.mp4", "--rect", "21x11+0+0", "-o", "c.png"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(image_size(&t.out_dir().join("c.png")), (21, 11));
    for args in [
        &["media", "reframe", "src.mp4", "--aspect", "1:1", "--height", "0", "-o", "r.mp4"][..],
        &["media", "sheet", "src.mp4", "--tile-width", "0", "-o", "s.png"],
        &["media", "convert", "src.mp4", "--gif-width", "0", "-o", "g.gif"],
        &["media", "slideshow", "a.png", "--width", "101", "-o", "s.mp4"],
    ] {
        let run = t.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("is not allowed"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn split_and_frames_name_outputs_by_pattern_or_folder() {
    let t = ctx();
    // One keyframe: a 2 s clip cannot be split into 1 s parts by stream copy.
    make_clip_named(&t.out_dir(), "one.mp4", 2, "keyint=1000:scenecut=0");
    let run =
        t.run(&["media", "split", "one.mp4", "-o", "part_{n}.mp4", "--seconds", "1", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["result"]["outputs"][0], t.out_dir().join("part_001.mp4").display().to_string());
    let notes = v["result"]["notes"].to_string();
    assert!(notes.contains("allow 1 parts where 2 were asked"), "{notes}");
    // Existing parts need --force.
    let run = t.run(&["media", "split", "one.mp4", "-o", "part_{n}.mp4", "--seconds", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    // -o that is neither a pattern nor a folder is refused; --out-dir creates one.
    let run = t.run(&["media", "split", "one.mp4", "-o", "nowhere", "--seconds", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let help = t.run(&["media", "split", "--help"]);
    assert!(help.stdout.contains("e.g. part_{n}.mp4"), "{}", help.stdout);
    let run = t.run(&["media", "frames", "one.mp4", "--out-dir", "stills", "--every", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(t.out_dir().join("stills/frame_00001.png").is_file());
    assert!(partials(&t.out_dir()).is_empty() && partials(&t.out_dir().join("stills")).is_empty());
}

#[test]
fn fade_takes_fade_in_and_out_and_the_old_spellings_warn() {
    let t = ctx();
    make_clip(&t.out_dir());
    let run = t.run(&[
        "media",
        "fade",
        "src.mp4",
        "--fade-in",
        "0.5",
        "--fade-out",
        "0.5",
        "-o",
        "f.mp4",
        "--preset",
        "ultrafast",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("deprecated"), "{}", run.stderr);
    let run =
        t.run(&["media", "audio", "fade", "src.mp4", "--in", "0.5", "--out", "0.5", "-o", "a.mp4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("`--in` is deprecated") && run.stderr.contains("--fade-out"),
        "{}",
        run.stderr
    );
    let help = t.run(&["media", "fade", "--help"]);
    assert!(help.stdout.contains("--fade-in") && !help.stdout.contains("--in "), "{}", help.stdout);
}

#[test]
fn edit_takes_the_output_from_o_and_ships_its_schema_and_example() {
    let t = ctx();
    make_clip(&t.out_dir());
    std::fs::write(t.out_dir().join("e.yaml"), "clips:\n  - {src: src.mp4, to: 1}\n").unwrap();
    let run = t.run(&["edit", "e.yaml", "-o", "out.mp4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(frames_of(&t.out_dir().join("out.mp4")), 30);
    let run = t.run(&["edit", "e.yaml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("-o FILE"), "{}", run.stderr);

    let schema = t.run(&["edit", "--schema"]);
    assert_eq!(schema.code, 0, "{}", schema.stderr);
    let v: serde_json::Value = serde_json::from_str(&schema.stdout).unwrap();
    assert!(v["$defs"]["output"]["properties"]["overwrite"].is_object());

    // The example renders against generated sources.
    let example = t.run(&["edit", "--example"]);
    assert_eq!(example.code, 0, "{}", example.stderr);
    std::fs::write(t.out_dir().join("example.yaml"), &example.stdout).unwrap();
    make_clip_named(&t.out_dir(), "clip.mp4", 3, "");
    image_png(&t.out_dir().join("intro.png"), 320, 180);
    image_png(&t.out_dir().join("logo.png"), 64, 64);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=d=2"])
        .arg(t.out_dir().join("music.m4a"))
        .status()
        .unwrap();
    assert!(status.success());
    let run = t.run(&["edit", "example.yaml", "--check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = t.run(&["edit", "example.yaml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(t.out_dir().join("promo.mp4").is_file());
    let help = t.run(&["edit", "--help"]);
    assert!(
        help.stdout.contains("--schema") && help.stdout.contains("--example"),
        "{}",
        help.stdout
    );
    assert!(!help.stdout.contains("docs/timeline.md"), "{}", help.stdout);
}

#[test]
fn media_steps_show_a_bar_on_a_terminal_only() {
    let t = ctx();
    make_clip(&t.out_dir());
    let run = t.run_cmd(t.tty_command(&[
        "media",
        "reverse",
        "src.mp4",
        "-o",
        "r.mp4",
        "--preset",
        "ultrafast",
    ]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("% ") && run.stdout.contains(" s"), "{:?}", run.stdout);
    let run = t.run_cmd(t.tty_command(&[
        "media",
        "reverse",
        "src.mp4",
        "-o",
        "j.mp4",
        "--preset",
        "ultrafast",
        "--json",
    ]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(!run.stdout.contains('%'), "{:?}", run.stdout);
    // Not a terminal: no bar either.
    let run = t.run(&["media", "reverse", "src.mp4", "-o", "n.mp4", "--preset", "ultrafast"]);
    assert!(!run.stderr.contains('%'), "{:?}", run.stderr);
}

/// `long.mp4` in the test's output folder: a minute of 640x360 video, long enough that a render
/// of it is surely still running when a test stops it.
pub(crate) fn long_video(t: &conjure_test::TestContext) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=s=640x360:r=30:d=60")
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(t.out_dir().join("long.mp4"))
        .status()
        .unwrap();
    assert!(status.success());
}
