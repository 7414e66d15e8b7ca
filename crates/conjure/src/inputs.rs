//! Turning `--ref`, `--first-frame`, `--audio` values into wire inputs.
//!
//! A value is either an `https://` URL (passed through), a `data:` URL (passed through), or a
//! local file, which is read, size-checked and carried inline as a data URL (Katana rejects
//! local paths and `file://` URLs). `http://` URLs are refused: inputs travel to a paid
//! service and must not be altered on the way. The MIME type is sniffed from the bytes, with
//! the extension as a fallback.

use std::path::Path;

use base64::Engine as _;
use conjure_core::MediaInput;
use sha2::{Digest, Sha256};

use crate::error::CliError;

/// Inline inputs above this are refused: large files belong at an https URL.
pub const MAX_INLINE_BYTES: u64 = 10 * 1024 * 1024;

/// What kind of input a flag expects, for MIME checks and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Image,
    Audio,
    Video,
}

impl InputKind {
    fn noun(self) -> &'static str {
        match self {
            InputKind::Image => "an image",
            InputKind::Audio => "an audio file",
            InputKind::Video => "a video",
        }
    }
}

/// Resolves one flag value.
pub fn resolve(value: &str, kind: InputKind, flag: &str) -> Result<MediaInput, CliError> {
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(MediaInput::Url { url: value.to_owned() });
    }
    if lower.starts_with("http://") {
        return Err(CliError::usage(format!("`{flag} {value}`: plain http:// URLs are refused"))
            .hint("use the https:// form of the URL, or download the file and pass its path"));
    }
    if lower.starts_with("data:") {
        let (head, data) = value.split_once(',').unwrap_or((value, ""));
        let mime = head.trim_start_matches("data:").trim_end_matches(";base64").to_owned();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| CliError::usage(format!("`{flag}`: the data URL is not valid base64")))?;
        return Ok(inline(format!("{flag} data URL"), mime, &bytes));
    }
    if lower.starts_with("file://") || lower.contains("://") {
        return Err(CliError::usage(format!(
            "`{flag} {value}`: only https:// URLs and local paths are accepted"
        ))
        .hint("pass a local path without `file://`, or an https:// URL"));
    }
    read_file(Path::new(value), kind, flag)
}

fn read_file(path: &Path, kind: InputKind, flag: &str) -> Result<MediaInput, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        CliError::usage(format!("`{flag} {}`: cannot read the file: {e}", path.display()))
            .hint("check the path, or pass an https:// URL")
    })?;
    if !meta.is_file() {
        return Err(CliError::usage(format!("`{flag} {}` is not a file", path.display())));
    }
    if meta.len() > MAX_INLINE_BYTES {
        return Err(CliError::usage(format!(
            "`{flag} {}` is {:.1} MB; local inputs are capped at {} MB",
            path.display(),
            meta.len() as f64 / 1_000_000.0,
            MAX_INLINE_BYTES / 1024 / 1024
        ))
        .hint(
            "make it smaller (e.g. `conjure media resize`), or host it and pass its https:// URL",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::usage(format!("`{flag} {}`: cannot read the file: {e}", path.display()))
    })?;
    let mime = sniff(&bytes).or_else(|| by_extension(path)).ok_or_else(|| {
        CliError::usage(format!("`{flag} {}`: not a recognised media file", path.display()))
            .hint(format!("pass {} (png, jpeg, webp, gif, mp3, wav, m4a, mp4, webm)", kind.noun()))
    })?;
    let matches = match kind {
        InputKind::Image => mime.starts_with("image/"),
        InputKind::Audio => mime.starts_with("audio/"),
        InputKind::Video => mime.starts_with("video/"),
    };
    if !matches {
        return Err(CliError::usage(format!(
            "`{flag} {}` is {mime}, but {flag} takes {}",
            path.display(),
            kind.noun()
        )));
    }
    Ok(inline(path.display().to_string(), mime.to_owned(), &bytes))
}

fn inline(source: String, mime: String, bytes: &[u8]) -> MediaInput {
    MediaInput::Data {
        source,
        mime,
        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        sha256: hex::encode(Sha256::digest(bytes)),
    }
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
    } else if starts(b"ID3") || (b.len() > 1 && b[0] == 0xff && b[1] & 0xe0 == 0xe0) {
        Some("audio/mpeg")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        if &b[8..11] == b"M4A" { Some("audio/mp4") } else { Some("video/mp4") }
    } else if starts(b"\x1a\x45\xdf\xa3") {
        Some("video/webm")
    } else {
        None
    }
}

fn by_extension(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn local_files_become_data_urls() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        std::fs::write(&p, b"\x89PNG\r\n\x1a\nrest").unwrap();
        let input = resolve(p.to_str().unwrap(), InputKind::Image, "--ref").unwrap();
        assert!(input.wire_value().starts_with("data:image/png;base64,"));
        let err = resolve(p.to_str().unwrap(), InputKind::Audio, "--audio").unwrap_err();
        assert!(err.message.contains("takes an audio file"), "{}", err.message);
    }

    #[test]
    fn oversized_and_unknown_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.png");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_INLINE_BYTES + 1).unwrap();
        assert!(
            resolve(big.to_str().unwrap(), InputKind::Image, "--ref")
                .unwrap_err()
                .message
                .contains("capped")
        );
        let txt = dir.path().join("notes.txt");
        std::fs::write(&txt, "hello").unwrap();
        assert!(resolve(txt.to_str().unwrap(), InputKind::Image, "--ref").is_err());
        assert!(resolve("/no/such/file.png", InputKind::Image, "--ref").is_err());
    }
}
