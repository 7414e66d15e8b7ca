//! Tiny generated media shared by the tests (made once per target dir) and probe helpers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use conjure_media::{Ffmpeg, MediaInfo};

pub fn ff() -> &'static Ffmpeg {
    static FF: OnceLock<Ffmpeg> = OnceLock::new();
    FF.get_or_init(|| Ffmpeg::locate().expect("ffmpeg must be installed for these tests"))
}

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conjure-media-fixtures-v1");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn make(name: &str, args: &[&str]) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = dir().join(name);
    if !path.exists() {
        let tmp = dir().join(format!("tmp-{name}"));
        let status = Command::new(ff().ffmpeg_path())
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(status.success(), "making fixture {name}");
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

const R2: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-profile:v",
    "high",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-ar",
    "44100",
    "-ac",
    "2",
    "-f",
    "mp4",
];

fn with_r2(mut head: Vec<&'static str>) -> Vec<&'static str> {
    head.extend_from_slice(R2);
    head
}

/// 160x90, 30 fps, 2 s, tone, R2 profile.
pub fn clip_a() -> PathBuf {
    let a = with_r2(vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=30:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:r=44100",
        "-shortest",
    ]);
    make("a.mp4", &a)
}

/// Like `clip_a` and `clip_b` but with 48 kHz sound, as video generators and cameras record it.
pub fn clip_48k(which: char) -> PathBuf {
    let (pattern, tone) = if which == 'a' { ("testsrc2", 440) } else { ("testsrc", 660) };
    let picture = format!("{pattern}=s=160x90:r=30:d=2");
    let sound = format!("sine=f={tone}:d=2:r=48000");
    let mut a: Vec<&str> = vec!["-f", "lavfi", "-i", &picture, "-f", "lavfi", "-i", &sound];
    a.push("-shortest");
    a.extend(R2.iter().map(|x| if *x == "44100" { "48000" } else { x }));
    make(&format!("{which}48k.mp4"), &a)
}

/// Per stream: (start_time, duration) in seconds, from the container (what players use); NaN
/// where the container states none (Matroska keeps no per-stream duration).
pub fn stream_times(p: &Path) -> ((f64, f64), (f64, f64)) {
    let out = Command::new(ff().ffprobe_path())
        .args(["-v", "error", "-show_entries", "stream=codec_type,start_time,duration"])
        .args(["-of", "csv=p=0"])
        .arg(p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |kind: &str| {
        text.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.first() == Some(&kind)).then(|| {
                    let num = |s: &str| s.parse().unwrap_or(f64::NAN);
                    (num(f[1]), num(f[2]))
                })
            })
            .unwrap_or_else(|| panic!("no {kind} stream in {text}"))
    };
    (get("video"), get("audio"))
}

/// Asserts the sound starts with the picture and is as long, to the millisecond.
pub fn assert_sound_in_sync(p: &Path) {
    let ((vs, vd), (a_start, a_len)) = stream_times(p);
    assert!(vs.abs() < 1e-3 && a_start.abs() < 1e-3, "starts: video {vs}, sound {a_start}");
    assert!((a_len - vd).abs() < 1e-3, "lengths: video {vd}s, sound {a_len}s");
}

/// Same shape as `clip_a`, different picture and tone.
pub fn clip_b() -> PathBuf {
    let a = with_r2(vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=160x90:r=30:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=660:d=2:r=44100",
        "-shortest",
    ]);
    make("b.mp4", &a)
}

/// Like `clip_a` (whose ultrafast encode is Constrained Baseline, CAVLC) but x264 `medium` in
/// High profile (CABAC, B-frames): same size, rate, pixel format and audio, different SPS/PPS,
/// so a stream copy after `clip_a` would describe it with the wrong parameters.
pub fn clip_high() -> PathBuf {
    make(
        "high.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=160x90:r=30:d=2",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=2:r=44100",
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ar",
            "44100",
            "-ac",
            "2",
            "-f",
            "mp4",
        ],
    )
}

/// 160x90, 30 fps, 2 s, a keyframe every 10 frames (for splitting by copy).
pub fn clip_gop() -> PathBuf {
    let a = with_r2(vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=30:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:r=44100",
        "-shortest",
        "-g",
        "10",
    ]);
    make("gop.mp4", &a)
}

/// 160x90, 30 fps, 1 s, no audio.
pub fn clip_silent() -> PathBuf {
    make(
        "silent.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "smptebars=s=160x90:r=30:d=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "mp4",
        ],
    )
}

/// Odd size and another frame rate: 161x91 at 25 fps, 1 s, with audio.
pub fn clip_odd() -> PathBuf {
    make(
        "odd.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=161x91:r=25:d=1",
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:d=1:r=48000",
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv444p",
            "-c:a",
            "libopus",
            "-f",
            "matroska",
        ],
    )
}

/// 320x240 PNG.
pub fn image_png() -> PathBuf {
    make(
        "still.png",
        &["-f", "lavfi", "-i", "testsrc2=s=320x240:r=1:d=1", "-frames:v", "1", "-f", "image2"],
    )
}

/// 240x320 JPEG (portrait).
pub fn image_jpg() -> PathBuf {
    make(
        "still.jpg",
        &["-f", "lavfi", "-i", "mandelbrot=s=240x320:r=1", "-frames:v", "1", "-f", "image2"],
    )
}

/// 1 s of music (a tone) as M4A.
pub fn music() -> PathBuf {
    make("music.m4a", &["-f", "lavfi", "-i", "sine=f=330:d=1:r=44100", "-c:a", "aac", "-f", "ipod"])
}

/// A two-cue SRT.
pub fn srt() -> PathBuf {
    let p = dir().join("subs.srt");
    if !p.exists() {
        std::fs::write(&p, "1\n00:00:00,000 --> 00:00:00,800\nHello: \"world\" 100%\n\n2\n00:00:01,000 --> 00:00:01,900\nÜber ünïcödé 日本語\n").unwrap();
    }
    p
}

/// A text file pretending to be media.
pub fn not_media() -> PathBuf {
    let p = dir().join("notes.mp4");
    if !p.exists() {
        std::fs::write(&p, "this is not a video").unwrap();
    }
    p
}

pub fn probe(p: &Path) -> MediaInfo {
    ff().probe(p).unwrap_or_else(|e| panic!("probe {}: {e}", p.display()))
}

pub fn frames(p: &Path) -> u64 {
    ff().count_frames(p).unwrap()
}

/// Audio stream duration in seconds, from decoded packets.
pub fn audio_seconds(p: &Path) -> f64 {
    let out = Command::new(ff().ffprobe_path())
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let pts: f64 = it.next()?.parse().ok()?;
            let d: f64 = it.next()?.parse().ok()?;
            Some(pts + d)
        })
        .fold(0.0, f64::max)
}

/// Mean luma of the frame at `t` (0..255), via signalstats.
pub fn luma_at(p: &Path, t: f64) -> f64 {
    stat_at(p, t, "YAVG")
}

/// A signalstats value of the frame at `t`.
pub fn stat_at(p: &Path, t: f64, key: &str) -> f64 {
    stat_in(p, t, "null", key)
}

/// Mean luma of a region (`crop=w:h:x:y`) of the frame at `t`.
pub fn luma_in(p: &Path, t: f64, crop: &str) -> f64 {
    stat_in(p, t, crop, "YAVG")
}

fn stat_in(p: &Path, t: f64, pre: &str, key: &str) -> f64 {
    let out = Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-v", "error", "-ss", &t.to_string(), "-i"])
        .arg(p)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("{pre},signalstats,metadata=print:file=-"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let needle = format!("lavfi.signalstats.{key}=");
    text.lines()
        .find_map(|l| l.split_once(&needle).and_then(|(_, v)| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

/// Mean volume in dB of the audio, via volumedetect.
pub fn mean_volume(p: &Path) -> f64 {
    volume_between(p, 0.0, 1e6)
}

/// Mean volume in dB of the audio from `from` to `to` seconds.
pub fn volume_between(p: &Path, from: f64, to: f64) -> f64 {
    let out = Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-ss", &from.to_string(), "-t", &(to - from).to_string(), "-i"])
        .arg(p)
        .args(["-vn", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find_map(|l| {
            l.split_once("mean_volume:")
                .and_then(|(_, v)| v.trim().trim_end_matches("dB").trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no mean_volume in {text}"))
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Asserts the R2 delivery profile.
pub fn assert_r2(info: &MediaInfo) {
    let v = info.video.as_ref().expect("video stream");
    assert_eq!(v.codec, "h264");
    assert_eq!(v.profile.as_deref(), Some("High"));
    assert_eq!(v.pix_fmt.as_deref(), Some("yuv420p"));
    if let Some(a) = &info.audio {
        // The sources' common rate (these fixtures' 44.1 kHz, or 48 kHz ones), else 48 kHz.
        assert_eq!((a.codec.as_str(), a.channels), ("aac", 2));
        assert!([44_100, 48_000].contains(&a.sample_rate), "{}", a.sample_rate);
    }
}

/// Asserts the moov atom comes before mdat (faststart).
pub fn assert_faststart(p: &Path) {
    let bytes = std::fs::read(p).unwrap();
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(find(b"moov") < find(b"mdat"), "moov must precede mdat");
}

/// 30 fps, 2 s, tone, x264 `veryfast` (CABAC, B-frames, and in High the 8x8 transform) with a
/// closed GOP every 15 frames: what a smart render can copy from. `pattern` picks the picture
/// (`testsrc`, `testsrc2`, `smptebars` ...), `profile` the x264 profile, `size` the size.
pub fn clip_gops(pattern: &str, profile: &str, size: &str) -> PathBuf {
    let input = format!("{pattern}=s={size}:r=30:d=2");
    let args = [
        "-f",
        "lavfi",
        "-i",
        &input,
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:r=44100",
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        profile,
        "-g",
        "15",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ar",
        "44100",
        "-ac",
        "2",
        "-f",
        "mp4",
    ];
    make(&format!("gops-{pattern}-{profile}-{size}.mp4"), &args)
}

/// Per-frame MD5s of the decoded picture (`-f framemd5`), without the header.
pub fn frame_hashes(args: &[&str]) -> Vec<String> {
    let out = Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-loglevel", "error"])
        .args(args)
        .args(["-map", "0:v:0", "-pix_fmt", "yuv420p", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// Every decoded frame's presentation time, as ffprobe prints it.
pub fn frame_times(p: &Path) -> Vec<String> {
    let out = Command::new(ff().ffprobe_path())
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(p)
        .output()
        .unwrap();
    // x264's SEI side data adds an empty row; keep the frames' times.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split(',').next().filter(|t| !t.is_empty()).map(str::to_string))
        .collect()
}

/// What `ffmpeg -v error -i P -f null -` prints: nothing for a clean file.
pub fn decode_errors(p: &Path) -> String {
    let out = Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(p)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    String::from_utf8(out.stderr).unwrap()
}
