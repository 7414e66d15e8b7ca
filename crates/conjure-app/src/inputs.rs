//! Turning `--ref`, `--first-frame`, `--audio` values (and payload strings) into inputs.
//!
//! A value is an `https://` URL (passed through), a `data:` URL (decoded and checked), or a
//! local file. A local file is checked by content before anything is quoted: its first bytes
//! must be a known media format of the kind the flag takes, and its header must decode (an
//! image's dimensions, a WAV's format chunk, an MP4's `ftyp` box...); an empty file, a text file
//! named `.png`, or a file over the inline cap is refused. It is then kept as a reference
//! (absolute path, MIME type, size, sha256): the bytes are inlined only when the request is sent,
//! and only if they still hash to what was quoted. `http://` URLs are refused: inputs travel to
//! a paid service and must not be altered on the way.

use std::path::Path;

use base64::Engine as _;
use conjure_core::spec::{FileRef, InputKind, MediaInput};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// Inline inputs above this are refused: large files belong at an https URL.
pub const MAX_INLINE_BYTES: u64 = 10 * 1024 * 1024;

/// The formats each kind of input may be, for hints.
fn formats(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Image => "png, jpeg, webp or gif",
        InputKind::Audio => "mp3, wav, m4a, ogg or flac",
        InputKind::Video => "mp4, mov or webm",
    }
}

/// Resolves one value given to `flag`.
pub fn resolve(value: &str, kind: InputKind, flag: &str) -> Result<MediaInput, AppError> {
    let lower = value.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(MediaInput::Url { url: value.trim().to_owned() });
    }
    if lower.starts_with("http://") {
        return Err(AppError::invalid(format!("`{flag} {value}`: plain http:// URLs are refused"))
            .hint("use the https:// form of the URL, or download the file and pass its path"));
    }
    if lower.starts_with("data:") {
        let (head, data) = value.split_once(',').unwrap_or((value, ""));
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|_| {
                AppError::invalid(format!("`{flag}`: the data URL is not valid base64"))
            })?;
        let sniffed = check_content(&bytes, kind)
            .map_err(|why| AppError::invalid(format!("`{flag}` data URL: {why}")))?;
        let declared = head.trim_start_matches("data:").trim_end_matches(";base64");
        let mime = if declared.is_empty() { sniffed.to_owned() } else { declared.to_owned() };
        return Ok(MediaInput::Data {
            source: format!("{flag} data URL"),
            mime,
            base64: data.trim().to_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    if lower.contains("://") {
        return Err(AppError::invalid(format!(
            "`{flag} {value}`: only https:// URLs and local paths are accepted"
        ))
        .hint("pass a local path without `file://`, or an https:// URL"));
    }
    read_file(Path::new(value), kind, flag)
}

fn read_file(path: &Path, kind: InputKind, flag: &str) -> Result<MediaInput, AppError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        AppError::invalid(format!("`{flag} {shown}`: cannot read the file: {e}"))
            .hint("check the path, or pass an https:// URL")
    })?;
    if !meta.is_file() {
        return Err(AppError::invalid(format!("`{flag} {shown}` is not a file")));
    }
    if meta.len() > MAX_INLINE_BYTES {
        return Err(AppError::invalid(format!(
            "`{flag} {shown}` is {:.1} MB; local inputs are capped at {} MB",
            meta.len() as f64 / 1_000_000.0,
            MAX_INLINE_BYTES / 1024 / 1024
        ))
        .hint(
            "make it smaller (e.g. `conjure media resize`), or host it and pass its https:// URL",
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| AppError::invalid(format!("`{flag} {shown}`: cannot read the file: {e}")))?;
    let mime = check_content(&bytes, kind).map_err(|why| {
        AppError::invalid(format!("`{flag} {shown}`: {why}")).hint(format!(
            "pass {} ({})",
            kind.noun(),
            formats(kind)
        ))
    })?;
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(MediaInput::File(FileRef {
        path: absolute.display().to_string(),
        mime: mime.to_owned(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes: bytes.len() as u64,
    }))
}

/// The MIME type of `bytes` if they are a well-formed file of `kind`; why not otherwise.
pub fn check_content(bytes: &[u8], kind: InputKind) -> Result<&'static str, String> {
    if bytes.is_empty() {
        return Err("the file is empty".to_owned());
    }
    let mime = sniff(bytes).ok_or_else(|| "not a recognised media file".to_owned())?;
    let matches = match kind {
        InputKind::Image => mime.starts_with("image/"),
        InputKind::Audio => mime.starts_with("audio/"),
        // An MP4 container may hold only sound; its header cannot tell, so accept it either way.
        InputKind::Video => mime.starts_with("video/"),
    };
    if !matches {
        return Err(format!("it is {mime}, but this takes {}", kind.noun()));
    }
    check_header(bytes, mime).map_err(|why| format!("it looks like {mime} but {why}"))?;
    Ok(mime)
}

/// The MIME type from a file's first bytes.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| b.starts_with(sig);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some("audio/wav")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"OggS") {
        Some("audio/ogg")
    } else if starts(b"fLaC") {
        Some("audio/flac")
    } else if starts(b"ID3") || (b.len() > 1 && b[0] == 0xff && b[1] & 0xe0 == 0xe0) {
        Some("audio/mpeg")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        match &b[8..12] {
            b"M4A " | b"M4B " => Some("audio/mp4"),
            b"qt  " => Some("video/quicktime"),
            _ => Some("video/mp4"),
        }
    } else if starts(b"\x1a\x45\xdf\xa3") {
        Some("video/webm")
    } else {
        None
    }
}

/// Checks that the header of a file of type `mime` decodes.
fn check_header(b: &[u8], mime: &str) -> Result<(), String> {
    match mime {
        "image/png" | "image/jpeg" | "image/webp" => {
            let format = match mime {
                "image/png" => image::ImageFormat::Png,
                "image/jpeg" => image::ImageFormat::Jpeg,
                _ => image::ImageFormat::WebP,
            };
            let reader = image::ImageReader::with_format(std::io::Cursor::new(b), format);
            match reader.into_dimensions() {
                Ok((w, h)) if w > 0 && h > 0 => Ok(()),
                Ok(_) => Err("its size is zero".to_owned()),
                Err(e) => Err(format!("its header does not decode ({e})")),
            }
        }
        "image/gif" => {
            let w = b.get(6..8).map(|s| u16::from_le_bytes([s[0], s[1]]));
            let h = b.get(8..10).map(|s| u16::from_le_bytes([s[0], s[1]]));
            match (w, h) {
                (Some(w), Some(h)) if w > 0 && h > 0 => Ok(()),
                _ => Err("its header is truncated or empty".to_owned()),
            }
        }
        "audio/wav" => wav_header(b),
        "audio/mpeg" => mp3_header(b),
        "audio/mp4" | "video/mp4" | "video/quicktime" => {
            let size = b.get(0..4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            match size {
                Some(n) if n >= 12 && (n as usize) <= b.len() => Ok(()),
                _ => Err("its `ftyp` box is truncated".to_owned()),
            }
        }
        "video/webm" => {
            if b.len() >= 8 {
                Ok(())
            } else {
                Err("its header is truncated".to_owned())
            }
        }
        "audio/ogg" | "audio/flac" => {
            if b.len() >= 26 {
                Ok(())
            } else {
                Err("its header is truncated".to_owned())
            }
        }
        _ => Ok(()),
    }
}

/// A RIFF/WAVE file must have a `fmt ` chunk with channels and a sample rate.
fn wav_header(b: &[u8]) -> Result<(), String> {
    let mut at = 12;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        if id == b"fmt " {
            let body = b.get(at + 8..at + 8 + 16).ok_or("its `fmt ` chunk is truncated")?;
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            return if channels > 0 && rate > 0 {
                Ok(())
            } else {
                Err("its `fmt ` chunk has no channels or sample rate".to_owned())
            };
        }
        at += 8 + len + (len & 1);
    }
    Err("it has no `fmt ` chunk".to_owned())
}

/// An MP3 must start with an ID3 tag or a frame header with valid bitrate and sample rate.
fn mp3_header(b: &[u8]) -> Result<(), String> {
    let frame = if b.starts_with(b"ID3") {
        let size = b.get(6..10).ok_or("its ID3 tag is truncated")?;
        let tag = size.iter().fold(0_usize, |acc, byte| (acc << 7) | usize::from(byte & 0x7f));
        10 + tag
    } else {
        0
    };
    match b.get(frame..frame + 4) {
        Some(h) if h[0] == 0xff && h[1] & 0xe0 == 0xe0 => {
            let bitrate = h[2] >> 4;
            let rate = (h[2] >> 2) & 0x3;
            if bitrate != 0 && bitrate != 0xf && rate != 0x3 {
                Ok(())
            } else {
                Err("its first frame header is invalid".to_owned())
            }
        }
        // An ID3 tag alone (a longer file than we look at) is accepted.
        None if frame > 0 => Ok(()),
        _ => Err("it has no MPEG frame header".to_owned()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real 2x1 PNG.
    pub(crate) fn png() -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(2, 1).write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// A minimal valid WAV: mono, 8 kHz, 16-bit, two samples.
    pub(crate) fn wav() -> Vec<u8> {
        let mut b = b"RIFF\x2c\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\x04\0\0\0\0\0\0\0".to_vec();
        b.truncate(48);
        b
    }

    #[test]
    fn urls_pass_and_http_is_refused() {
        assert!(matches!(
            resolve("https://x/a.png", InputKind::Image, "--ref"),
            Ok(MediaInput::Url { .. })
        ));
        let err = resolve("http://x/a.png", InputKind::Image, "--ref").unwrap_err();
        assert!(err.message.contains("http://"));
        assert!(resolve("file:///tmp/a.png", InputKind::Image, "--ref").is_err());
    }

    #[test]
    fn local_files_become_checked_references() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        std::fs::write(&p, png()).unwrap();
        let MediaInput::File(f) = resolve(p.to_str().unwrap(), InputKind::Image, "--ref").unwrap()
        else {
            panic!("a file reference")
        };
        assert_eq!(f.mime, "image/png");
        assert_eq!(f.bytes, png().len() as u64);
        assert_eq!(f.sha256, hex::encode(Sha256::digest(png())));
        assert!(Path::new(&f.path).is_absolute());
        let err = resolve(p.to_str().unwrap(), InputKind::Audio, "--audio").unwrap_err();
        assert!(err.message.contains("takes an audio file"), "{}", err.message);
        let w = dir.path().join("v.wav");
        std::fs::write(&w, wav()).unwrap();
        assert!(resolve(w.to_str().unwrap(), InputKind::Audio, "--audio").is_ok());
    }

    #[test]
    fn content_not_names_decides() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes, why) in [
            ("notes.png", &b"hello, I am text"[..], "not a recognised media file"),
            ("empty.png", &b""[..], "empty"),
            ("fake.png", &b"\x89PNG\r\n\x1a\nnot-really-a-png"[..], "header does not decode"),
            ("fake.wav", &b"RIFF\0\0\0\0WAVEfmt "[..], "fmt "),
            ("fake.mp3", &b"\xff\xff\xff\xff"[..], "frame header"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let image = Path::new(name).extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
            let kind = if image { InputKind::Image } else { InputKind::Audio };
            let err = resolve(p.to_str().unwrap(), kind, "--ref").unwrap_err();
            assert!(err.message.contains(why), "{name}: {}", err.message);
        }
    }

    #[test]
    fn oversized_and_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.png");
        std::fs::File::create(&big).unwrap().set_len(MAX_INLINE_BYTES + 1).unwrap();
        assert!(
            resolve(big.to_str().unwrap(), InputKind::Image, "--ref")
                .unwrap_err()
                .message
                .contains("capped")
        );
        assert!(resolve("/no/such/file.png", InputKind::Image, "--ref").is_err());
    }

    #[test]
    fn data_urls_are_checked_too() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png());
        assert!(matches!(
            resolve(&format!("data:image/png;base64,{b64}"), InputKind::Image, "--ref"),
            Ok(MediaInput::Data { .. })
        ));
        assert!(resolve("data:image/png;base64,aGVsbG8=", InputKind::Image, "--ref").is_err());
    }
}
