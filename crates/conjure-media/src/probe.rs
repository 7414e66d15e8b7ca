//! What ffprobe says about a file, reduced to the facts the compiler needs.
//!
//! [`parse_probe`] is a pure function over ffprobe's JSON so it can be tested without ffprobe;
//! [`crate::Ffmpeg::probe`] runs ffprobe and calls it. Stills (PNG, JPEG, WebP) are recognised by
//! their image demuxer so the timeline can loop them instead of playing one frame.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::MediaError;

/// The parts of a media file conjure cares about.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// The probed file.
    pub path: PathBuf,
    /// Container names as ffprobe reports them, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub format_name: String,
    /// Container duration in seconds (0 for stills).
    pub duration: f64,
    /// The first video stream, if any (cover art is ignored).
    pub video: Option<VideoInfo>,
    /// The first audio stream, if any.
    pub audio: Option<AudioInfo>,
    /// Number of subtitle streams.
    pub subtitle_streams: usize,
    /// Container tags (title, artist, comment ...).
    pub tags: Vec<(String, String)>,
}

/// The first video stream of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Codec name, e.g. `h264`.
    pub codec: String,
    /// Codec profile, e.g. `High`.
    pub profile: Option<String>,
    /// Pixel format, e.g. `yuv420p`.
    pub pix_fmt: Option<String>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate as a fraction (`r_frame_rate`).
    pub fps_num: u32,
    /// Denominator of the frame rate.
    pub fps_den: u32,
    /// Stream duration in seconds, where the container says.
    pub duration: Option<f64>,
    /// Frame count, where the container says (`nb_frames`).
    pub frames: Option<u64>,
    /// True for a single still image (PNG, JPEG, WebP ...).
    pub still: bool,
    /// The codec configuration (ffmpeg's extradata: H.264 `avcC` with its SPS/PPS), where the
    /// container stores one. A stream-copy join keeps only the first clip's in the output's
    /// header, so it asks for identical ones.
    pub config: Option<Vec<u8>>,
}

impl VideoInfo {
    /// The frame rate as a float.
    pub fn fps(&self) -> f64 {
        if self.fps_den == 0 { 0.0 } else { f64::from(self.fps_num) / f64::from(self.fps_den) }
    }
}

/// The first audio stream of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// Codec name, e.g. `aac`.
    pub codec: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u32,
    /// Stream duration in seconds, where known.
    pub duration: Option<f64>,
    /// The codec configuration (ffmpeg's extradata: AAC `AudioSpecificConfig`), if any.
    pub config: Option<Vec<u8>>,
}

impl MediaInfo {
    /// Video duration if known, else the container's.
    pub fn video_duration(&self) -> f64 {
        self.video.as_ref().and_then(|v| v.duration).unwrap_or(self.duration)
    }

    /// True when the file is a single still image.
    pub fn is_still(&self) -> bool {
        self.video.as_ref().is_some_and(|v| v.still)
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Bytes of ffprobe's `-show_data` hex dump (`00000000: 0164 000b ...  .d..`).
fn hexdump(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (_, rest) = line.split_once(": ")?;
        let hex = rest.split("  ").next().unwrap_or_default();
        let digits: Vec<u8> = hex.bytes().filter(|b| *b != b' ').collect();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        for pair in digits.chunks(2) {
            let s = std::str::from_utf8(pair).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn ratio(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Builds a [`MediaInfo`] from `ffprobe -print_format json -show_format -show_streams
/// -show_data` output (`-show_data` adds each stream's extradata as a hex dump).
pub fn parse_probe(path: &Path, json: &str) -> Result<MediaInfo, MediaError> {
    let bad = |detail: String| MediaError::NotMedia { path: path.to_path_buf(), detail };
    let root: Value =
        serde_json::from_str(json).map_err(|e| bad(format!("ffprobe output unreadable: {e}")))?;
    let format = root.get("format").ok_or_else(|| bad("ffprobe found no container".into()))?;
    let format_name =
        format.get("format_name").and_then(Value::as_str).unwrap_or_default().to_string();
    let still_format = format_name.ends_with("_pipe") || format_name == "image2";
    let duration = format.get("duration").and_then(num).unwrap_or(0.0);
    let tags = format
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut info = MediaInfo {
        path: path.to_path_buf(),
        format_name,
        duration,
        video: None,
        audio: None,
        subtitle_streams: 0,
        tags,
    };
    let streams = root.get("streams").and_then(Value::as_array).cloned().unwrap_or_default();
    for s in &streams {
        let kind = s.get("codec_type").and_then(Value::as_str).unwrap_or_default();
        let codec = s.get("codec_name").and_then(Value::as_str).unwrap_or_default().to_string();
        let stream_duration = s.get("duration").and_then(num);
        let config = s.get("extradata").and_then(Value::as_str).and_then(hexdump);
        match kind {
            "video" if info.video.is_none() => {
                let attached = s
                    .get("disposition")
                    .and_then(|d| d.get("attached_pic"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    == 1;
                if attached {
                    continue;
                }
                let (fps_num, fps_den) = s
                    .get("r_frame_rate")
                    .and_then(Value::as_str)
                    .and_then(ratio)
                    .filter(|&(n, d)| n > 0 && d > 0)
                    .or_else(|| s.get("avg_frame_rate").and_then(Value::as_str).and_then(ratio))
                    .unwrap_or((0, 1));
                info.video = Some(VideoInfo {
                    codec,
                    profile: s.get("profile").and_then(Value::as_str).map(str::to_string),
                    pix_fmt: s.get("pix_fmt").and_then(Value::as_str).map(str::to_string),
                    width: s.get("width").and_then(Value::as_u64).unwrap_or(0) as u32,
                    height: s.get("height").and_then(Value::as_u64).unwrap_or(0) as u32,
                    fps_num,
                    fps_den,
                    duration: stream_duration,
                    frames: s.get("nb_frames").and_then(num).map(|f| f as u64),
                    still: still_format,
                    config,
                });
            }
            "audio" if info.audio.is_none() => {
                info.audio = Some(AudioInfo {
                    codec,
                    sample_rate: s.get("sample_rate").and_then(num).unwrap_or(0.0) as u32,
                    channels: s.get("channels").and_then(Value::as_u64).unwrap_or(0) as u32,
                    duration: stream_duration,
                    config,
                });
            }
            "subtitle" => info.subtitle_streams += 1,
            _ => {}
        }
    }
    if info.video.is_none() && info.audio.is_none() {
        return Err(bad("it has no audio or video stream".into()));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_video_with_audio() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"h264","profile":"High","pix_fmt":"yuv420p","width":160,"height":90,"r_frame_rate":"30/1","duration":"2.000000","nb_frames":"60"},{"codec_type":"audio","codec_name":"aac","sample_rate":"44100","channels":2,"duration":"2.01"}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"2.010000","tags":{"title":"x"}}}"#;
        let info = parse_probe(Path::new("a.mp4"), json).unwrap();
        let v = info.video.as_ref().unwrap();
        assert_eq!((v.width, v.height, v.frames), (160, 90, Some(60)));
        assert!((v.fps() - 30.0).abs() < 1e-9);
        assert!(!info.is_still());
        assert_eq!(info.audio.as_ref().unwrap().sample_rate, 44100);
        assert_eq!(info.tags, vec![("title".to_string(), "x".to_string())]);
        assert_eq!(v.config, None);
    }

    #[test]
    fn reads_extradata_hex_dumps() {
        let dump = "\n00000000: 0164 000b ffe1 0018 6764 000b acb4 146f  .d......gd.....o\n00000010: 0100 0468 ce  ...h.\n";
        let bytes = hexdump(dump).unwrap();
        assert_eq!(bytes.len(), 21);
        assert_eq!(&bytes[..4], &[0x01, 0x64, 0x00, 0x0b]);
        assert_eq!(&bytes[16..], &[0x01, 0x00, 0x04, 0x68, 0xce]);
        assert_eq!(hexdump(""), None);
    }

    #[test]
    fn recognises_stills_and_rejects_streamless() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"png","width":4,"height":4,"r_frame_rate":"25/1"}],"format":{"format_name":"png_pipe"}}"#;
        assert!(parse_probe(Path::new("a.png"), json).unwrap().is_still());
        let err =
            parse_probe(Path::new("a.txt"), r#"{"streams":[],"format":{"format_name":"tty"}}"#);
        assert!(matches!(err, Err(MediaError::NotMedia { .. })));
    }
}
