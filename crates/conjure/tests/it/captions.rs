//! Captions in any script through the real binary: `conjure media text` and `conjure edit`
//! draw emoji, CJK, Arabic and Hebrew without missing-glyph notes, and a character no installed
//! font has is reported with the package to install (pixel checks are in conjure-media's tests).

use std::process::Command;

use crate::ctx;

fn black_clip(dir: &std::path::Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .args(["color=c=black:s=160x90:r=10:d=1", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(dir.join("black.mp4"))
        .status()
        .unwrap();
    assert!(status.success());
}

/// Bright pixels of the frame at 0.5 s.
fn ink(path: &std::path::Path) -> usize {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-ss", "0.5", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.iter().filter(|v| **v > 128).count()
}

#[test]
fn media_text_draws_every_script_and_names_a_missing_font() {
    let t = ctx();
    black_clip(&t.out_dir());
    let text = "🎬 漢字 한글 سلام שלום e\u{301}";
    let run = t.run(&[
        "media",
        "text",
        "black.mp4",
        "-o",
        "t.mp4",
        "--text",
        text,
        "--size",
        "14",
        "--position",
        "center",
        "--box",
        "--preset",
        "ultrafast",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert!(v["result"].get("notes").is_none(), "{v}");
    assert!(ink(&t.out_dir().join("t.mp4")) > 100);
    // ARABIC LETTER ALEF WITH ATTACHED FATHA (Unicode 14): in none of the installed fonts.
    let run = t.run(&[
        "media",
        "text",
        "black.mp4",
        "-o",
        "m.mp4",
        "--text",
        "x \u{870}",
        "--preset",
        "ultrafast",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("note: the caption: no installed font has"), "{}", run.stderr);
    assert!(run.stderr.contains("U+0870") && run.stderr.contains("fonts-noto-core"));
}

#[test]
fn edit_captions_in_every_script_scroll_and_report_missing_glyphs() {
    let t = ctx();
    black_clip(&t.out_dir());
    std::fs::write(
        t.out_dir().join("edit.yaml"),
        "output: {path: edit.mp4, preset: ultrafast}\nclips:\n  - src: black.mp4\ntexts:\n  - {text: \"🎬 漢字 {\\\\b1} سلام\", position: top, size: 14}\n  - {text: \"שלום \\u0870\", scroll: left, size: 14}\n",
    )
    .unwrap();
    let run = t.run(&["edit", "edit.yaml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    // The Baseline source also earns a note that the render could not be smart; not this test's
    // business.
    let notes: Vec<&str> = v["edit"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| !n.contains("no smart render"))
        .collect();
    assert_eq!(notes.len(), 1, "{v}");
    assert!(notes[0].starts_with("texts[1]: "), "{v}");
    let commands = v["edit"]["commands"].as_array().unwrap();
    assert!(commands.iter().any(|c| c["step"].as_str().unwrap().starts_with("measuring")));
    assert!(ink(&t.out_dir().join("edit.mp4")) > 50);
}
