//! Choosing the encoder: the user's codec, quality and hardware wishes turned into the ffmpeg
//! arguments that follow the spec's R2 profile, given what this machine's ffmpeg offers.
//!
//! Why it lives with the runner: the choice depends on the installed ffmpeg (its encoder list,
//! the VAAPI device), which only the runner knows; filtergraph building blocks ([`crate::filter`])
//! stay pure text and never look at the machine. [`Encoding::compile_video`] is the pure core,
//! [`Encoding::video_encoder`] asks the runner for what the machine offers.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Ffmpeg, Invocation};
use crate::MediaError;

/// Output video codec of a timeline or conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// H.264 High, yuv420p (R2); the default and the only one allowed for delivery.
    #[default]
    H264,
    /// H.265/HEVC (libx265), tagged `hvc1` for Apple players.
    H265,
    /// VP9 (libvpx-vp9) with Opus audio, for WebM.
    Vp9,
    /// AV1 (SVT-AV1 or libaom) with Opus audio, for WebM/MKV.
    Av1,
}

/// Hardware encoder families, used only when asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hardware {
    /// NVIDIA NVENC.
    Nvenc,
    /// Intel Quick Sync.
    Qsv,
    /// VAAPI (`/dev/dri/renderD128`).
    Vaapi,
}

/// Encoder settings for one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// Video codec.
    pub codec: Codec,
    /// Encoder preset (x264/x265 names; mapped for the others).
    pub preset: Option<String>,
    /// Constant quality.
    pub crf: Option<u8>,
    /// Audio bitrate, e.g. `192k`.
    pub audio_bitrate: Option<String>,
    /// Hardware encoder family, if asked for.
    pub hardware: Option<Hardware>,
}

impl Default for Encoding {
    fn default() -> Self {
        Self { codec: Codec::H264, preset: None, crf: None, audio_bitrate: None, hardware: None }
    }
}

/// The containers conjure writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `.mp4`
    Mp4,
    /// `.mov`
    Mov,
    /// `.mkv`
    Mkv,
    /// `.webm`
    Webm,
}

impl Container {
    /// The container for an output path, by extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "mp4" | "m4v" => Some(Self::Mp4),
            "mov" => Some(Self::Mov),
            "mkv" => Some(Self::Mkv),
            "webm" => Some(Self::Webm),
            _ => None,
        }
    }

    /// ffmpeg's muxer name for this container.
    pub fn muxer(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Mov => "mov",
            Self::Mkv => "matroska",
            Self::Webm => "webm",
        }
    }

    /// Whether `codec` may be written into this container.
    pub fn allows(self, codec: Codec) -> bool {
        match self {
            Self::Mp4 | Self::Mov => matches!(codec, Codec::H264 | Codec::H265),
            Self::Mkv => true,
            Self::Webm => matches!(codec, Codec::Vp9 | Codec::Av1),
        }
    }
}

fn h264_level(w: u32, h: u32, fps: f64) -> &'static str {
    let rate = f64::from(w) * f64::from(h) * fps;
    if rate <= 1920.0 * 1080.0 * 30.5 && w * h <= 2_228_224 {
        "4.0"
    } else if rate <= 1920.0 * 1080.0 * 60.5 && w * h <= 2_228_224 {
        "4.2"
    } else {
        "5.1"
    }
}

/// The VAAPI render node conjure uses.
pub const VAAPI_DEVICE: &str = "/dev/dri/renderD128";

/// What this machine offers a hardware encoder: the encoders ffmpeg lists and whether the
/// VAAPI render node exists. Built by [`Ffmpeg::encoder_support`]; tests build it by hand.
#[derive(Debug, Clone, Copy)]
pub struct EncoderSupport<'a> {
    /// Encoder names from `ffmpeg -encoders`.
    pub encoders: &'a BTreeSet<String>,
    /// Whether [`VAAPI_DEVICE`] exists.
    pub vaapi_device: bool,
}

/// A compiled video encoder: where its arguments go in an ffmpeg command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoEncoder {
    /// Global options opening the command (the VAAPI device set-up), before any input.
    pub device_args: Vec<String>,
    /// Filters appended to the end of the video chain, after `format=yuv420p` (VAAPI uploads
    /// frames to the GPU there); empty for software and the other hardware encoders.
    pub filter_tail: String,
    /// Encoder options, placed after the video `-map`.
    pub args: Vec<String>,
    /// What the user should know about the encoder chosen: the hardware encoder asked for is
    /// absent and the software one is used instead, or the output is lossless H.264.
    pub note: Option<String>,
}

impl VideoEncoder {
    /// A video filter chain (`a,b,format=yuv420p`) with [`VideoEncoder::filter_tail`] appended.
    pub fn chain(&self, chain: &str) -> String {
        format!("{chain}{}", self.filter_tail)
    }

    /// Puts the device set-up at the front of `inv` and the encoder options at its end.
    pub(crate) fn apply(&self, inv: &mut Invocation) {
        inv.args.splice(0..0, self.device_args.iter().map(Into::into));
        inv.args(&self.args);
    }
}

/// The hardware encoder name for a family and codec, or why there is none.
fn hardware_name(hw: Hardware, codec: Codec) -> Result<&'static str, MediaError> {
    Ok(match (hw, codec) {
        (Hardware::Nvenc, Codec::H264) => "h264_nvenc",
        (Hardware::Nvenc, Codec::H265) => "hevc_nvenc",
        (Hardware::Qsv, Codec::H264) => "h264_qsv",
        (Hardware::Qsv, Codec::H265) => "hevc_qsv",
        (Hardware::Vaapi, Codec::H264) => "h264_vaapi",
        (Hardware::Vaapi, Codec::H265) => "hevc_vaapi",
        (_, c) => {
            return Err(MediaError::option(
                "hardware",
                format!(
                    "hardware encoding supports `h264` and `h265`, not `{c:?}`; drop `hardware` or pick one of those codecs"
                ),
            ));
        }
    })
}

fn require(support: EncoderSupport<'_>, name: &str, purpose: &str) -> Result<(), MediaError> {
    if support.encoders.contains(name) {
        Ok(())
    } else {
        Err(MediaError::Unsupported { feature: name.to_string(), purpose: purpose.to_string() })
    }
}

impl Encoding {
    /// The video encoder for a `w`x`h` output at `fps` on this machine (probes ffmpeg once).
    pub fn video_encoder(
        &self,
        ff: &Ffmpeg,
        w: u32,
        h: u32,
        fps: f64,
    ) -> Result<VideoEncoder, MediaError> {
        self.compile_video(ff.encoder_support(), w, h, fps)
    }

    /// Compiles the video encoder from what the machine offers: a pure function.
    ///
    /// A hardware encoder is used when asked for and present (listed by ffmpeg, and for VAAPI
    /// the render node exists); when absent the software encoder for the same codec is used and
    /// [`VideoEncoder::note`] says so, so the same timeline renders on any machine.
    pub fn compile_video(
        &self,
        support: EncoderSupport<'_>,
        w: u32,
        h: u32,
        fps: f64,
    ) -> Result<VideoEncoder, MediaError> {
        let mut enc = VideoEncoder::default();
        let crf = self.crf.map(|c| c.to_string());
        if let Some(hw) = self.hardware {
            let name = hardware_name(hw, self.codec)?;
            let listed = support.encoders.contains(name);
            let device_ok = hw != Hardware::Vaapi || support.vaapi_device;
            if listed && device_ok {
                let a = &mut enc.args;
                let mut push = |items: &[&str]| a.extend(items.iter().map(|s| (*s).to_string()));
                push(&["-c:v", name]);
                match hw {
                    Hardware::Nvenc => {
                        let cq = crf.unwrap_or_else(|| {
                            if self.codec == Codec::H264 { "23".into() } else { "28".into() }
                        });
                        push(&["-preset", "p4", "-rc", "vbr", "-cq", &cq, "-pix_fmt", "yuv420p"]);
                    }
                    Hardware::Qsv => {
                        let q = crf.unwrap_or_else(|| "23".into());
                        push(&["-preset", "medium", "-global_quality", &q, "-pix_fmt", "nv12"]);
                    }
                    Hardware::Vaapi => {
                        // `-vf` cannot be combined with `-filter_complex`, so the device is
                        // named globally and the upload ends whichever video chain there is.
                        let q = crf.unwrap_or_else(|| "23".into());
                        push(&["-qp", &q]);
                        enc.device_args = vec![
                            "-init_hw_device".into(),
                            format!("vaapi=va:{VAAPI_DEVICE}"),
                            "-filter_hw_device".into(),
                            "va".into(),
                        ];
                        enc.filter_tail = ",format=nv12,hwupload".into();
                    }
                }
                if self.codec == Codec::H264 {
                    enc.args.extend(["-profile:v", "high"].map(String::from));
                }
                return Ok(enc);
            }
            let why = if listed {
                format!("the VAAPI device `{VAAPI_DEVICE}` does not exist")
            } else {
                format!("this ffmpeg does not list the encoder `{name}`")
            };
            let software = Self { hardware: None, ..self.clone() };
            let mut enc = software.compile_video(support, w, h, fps)?;
            let used = enc.args.get(1).cloned().unwrap_or_default();
            enc.note = Some(format!(
                "hardware encoding ({hw:?}) is not available ({why}); encoded with `{used}` instead"
            ));
            return Ok(enc);
        }
        let a = &mut enc.args;
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| (*s).to_string()));
        match self.codec {
            Codec::H264 => {
                require(support, "libx264", "H.264 output")?;
                let preset = self.preset.clone().unwrap_or_else(|| "medium".into());
                let crf = crf.unwrap_or_else(|| "18".into());
                push(&["-c:v", "libx264", "-preset", &preset, "-crf", &crf]);
                // CRF 0 is lossless, which H.264 allows only in the High 4:4:4 Predictive
                // profile (4:2:0 included); asking x264 for High with it fails.
                let profile = if self.crf == Some(0) { "high444" } else { "high" };
                push(&[
                    "-profile:v",
                    profile,
                    "-level:v",
                    h264_level(w, h, fps),
                    "-pix_fmt",
                    "yuv420p",
                ]);
                // x264 signals the lowest profile its tools need; the 8x8 transform (on in every
                // preset but ultrafast) makes it High, as R2 asks, even at ultrafast.
                push(&["-x264-params", "8x8dct=1"]);
                if self.crf == Some(0) {
                    enc.note = Some(
                        "crf 0 is lossless, which H.264 allows only in the High 4:4:4 Predictive \
                         profile: keep it for masters, since many phones, browsers and messengers \
                         do not play it; any crf from 1 up gives the High profile that plays everywhere"
                            .into(),
                    );
                }
            }
            Codec::H265 => {
                require(support, "libx265", "H.265 output")?;
                let preset = self.preset.clone().unwrap_or_else(|| "medium".into());
                let crf = crf.unwrap_or_else(|| "24".into());
                push(&[
                    "-c:v", "libx265", "-preset", &preset, "-crf", &crf, "-pix_fmt", "yuv420p",
                    "-tag:v", "hvc1",
                ]);
                // x265 is lossless only when told so; CRF 0 alone still quantises.
                let params = if self.crf == Some(0) {
                    "log-level=error:lossless=1"
                } else {
                    "log-level=error"
                };
                push(&["-x265-params", params]);
            }
            Codec::Vp9 => {
                require(support, "libvpx-vp9", "VP9 output")?;
                let crf = crf.unwrap_or_else(|| "32".into());
                let speed = match self.preset.as_deref() {
                    Some("ultrafast" | "superfast" | "veryfast") => "8",
                    Some("faster" | "fast") => "5",
                    Some("slow" | "slower" | "veryslow") => "1",
                    _ => "4",
                };
                push(&[
                    "-c:v",
                    "libvpx-vp9",
                    "-crf",
                    &crf,
                    "-b:v",
                    "0",
                    "-row-mt",
                    "1",
                    "-deadline",
                    "good",
                ]);
                push(&["-cpu-used", speed, "-pix_fmt", "yuv420p"]);
                if self.crf == Some(0) {
                    push(&["-lossless", "1"]);
                }
            }
            Codec::Av1 => {
                let crf = crf.unwrap_or_else(|| "35".into());
                if support.encoders.contains("libsvtav1") {
                    let preset = match self.preset.as_deref() {
                        Some("ultrafast" | "superfast" | "veryfast") => "12",
                        Some("faster" | "fast") => "10",
                        Some("slow" | "slower" | "veryslow") => "4",
                        _ => "8",
                    };
                    push(&[
                        "-c:v",
                        "libsvtav1",
                        "-preset",
                        preset,
                        "-crf",
                        &crf,
                        "-pix_fmt",
                        "yuv420p",
                    ]);
                } else {
                    require(support, "libaom-av1", "AV1 output")?;
                    push(&[
                        "-c:v",
                        "libaom-av1",
                        "-crf",
                        &crf,
                        "-b:v",
                        "0",
                        "-cpu-used",
                        "6",
                        "-row-mt",
                        "1",
                    ]);
                    push(&["-pix_fmt", "yuv420p"]);
                }
            }
        }
        Ok(enc)
    }

    /// Whether the sound is Opus (WebM, or Matroska with VP9/AV1) rather than AAC.
    pub fn opus(&self, container: Container) -> bool {
        container == Container::Webm
            || (container == Container::Mkv && matches!(self.codec, Codec::Vp9 | Codec::Av1))
    }

    /// The sample rate of an output whose sound comes from sources at `rates`: their common rate
    /// when they agree and the encoder takes it, else 48 kHz, the rate of video (generators and
    /// cameras record at it). Opus always runs at 48 kHz.
    ///
    /// Why not one fixed rate: resampling every source costs time and a little quality, and a
    /// join whose output rate differs from its sources' can never be a stream copy.
    pub fn sample_rate(&self, container: Container, rates: impl IntoIterator<Item = u32>) -> u32 {
        if self.opus(container) {
            return 48_000;
        }
        let mut rates = rates.into_iter();
        match rates.next() {
            Some(first) if rates.all(|r| r == first) && AAC_RATES.contains(&first) => first,
            _ => 48_000,
        }
    }

    /// Audio encoder arguments at `hz` (see [`Encoding::sample_rate`]): AAC stereo for the
    /// MP4 family, Opus for WebM.
    pub fn audio_args(&self, container: Container, hz: u32) -> Vec<String> {
        let hz = hz.to_string();
        let (codec, default_rate) =
            if self.opus(container) { ("libopus", "128k") } else { ("aac", "192k") };
        let br = self.audio_bitrate.clone().unwrap_or_else(|| default_rate.into());
        ["-c:a", codec, "-b:a", &br, "-ar", &hz, "-ac", "2"].map(String::from).to_vec()
    }
}

/// Sample rates the AAC encoder accepts.
const AAC_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Container-level flags: faststart for the MP4 family (R2).
pub fn container_args(container: Container) -> Vec<String> {
    match container {
        Container::Mp4 | Container::Mov => vec!["-movflags".into(), "+faststart".into()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn support(names: &[&str], vaapi_device: bool) -> (BTreeSet<String>, bool) {
        (names.iter().map(|s| (*s).to_string()).collect(), vaapi_device)
    }

    fn compile(enc: &Encoding, names: &[&str], device: bool) -> Result<VideoEncoder, MediaError> {
        let (encoders, vaapi_device) = support(names, device);
        enc.compile_video(EncoderSupport { encoders: &encoders, vaapi_device }, 1280, 720, 30.0)
    }

    fn hw(h: Hardware, codec: Codec) -> Encoding {
        Encoding { codec, hardware: Some(h), ..Encoding::default() }
    }

    #[test]
    fn software_encoder_needs_no_device_or_upload() {
        let e = compile(&Encoding::default(), &["libx264"], false).unwrap();
        assert_eq!(&e.args[..2], ["-c:v", "libx264"]);
        assert!(e.device_args.is_empty() && e.filter_tail.is_empty() && e.note.is_none());
        assert_eq!(e.chain("scale=2:2,format=yuv420p"), "scale=2:2,format=yuv420p");
        assert!(matches!(
            compile(&Encoding::default(), &[], false),
            Err(MediaError::Unsupported { .. })
        ));
    }

    #[test]
    fn hardware_encoders_are_used_when_present() {
        let all = ["libx264", "libx265", "h264_nvenc", "hevc_nvenc", "h264_qsv", "h264_vaapi"];
        let nv = compile(&hw(Hardware::Nvenc, Codec::H264), &all, false).unwrap();
        assert_eq!(&nv.args[..2], ["-c:v", "h264_nvenc"]);
        assert!(nv.args.ends_with(&["-profile:v".into(), "high".into()]));
        assert!(nv.device_args.is_empty() && nv.filter_tail.is_empty() && nv.note.is_none());
        let nv5 = compile(&hw(Hardware::Nvenc, Codec::H265), &all, false).unwrap();
        assert_eq!(&nv5.args[..2], ["-c:v", "hevc_nvenc"]);
        assert!(!nv5.args.contains(&"-profile:v".to_string()));
        let qsv = compile(&hw(Hardware::Qsv, Codec::H264), &all, false).unwrap();
        assert_eq!(&qsv.args[..2], ["-c:v", "h264_qsv"]);
        assert!(qsv.args.windows(2).any(|w| w == ["-pix_fmt", "nv12"]));
        let va = compile(&hw(Hardware::Vaapi, Codec::H264), &all, true).unwrap();
        assert_eq!(&va.args[..2], ["-c:v", "h264_vaapi"]);
        assert_eq!(
            va.device_args,
            ["-init_hw_device", "vaapi=va:/dev/dri/renderD128", "-filter_hw_device", "va"]
        );
        assert_eq!(va.chain("fps=30,format=yuv420p"), "fps=30,format=yuv420p,format=nv12,hwupload");
        // The old form cannot sit beside `-filter_complex`.
        assert!(!va.args.iter().any(|a| a == "-vf" || a == "-vaapi_device"));
        assert!(va.note.is_none());
    }

    #[test]
    fn absent_hardware_falls_back_to_software_with_a_note() {
        // Listed encoder but no render node.
        let va =
            compile(&hw(Hardware::Vaapi, Codec::H264), &["libx264", "h264_vaapi"], false).unwrap();
        assert_eq!(&va.args[..2], ["-c:v", "libx264"]);
        assert!(va.device_args.is_empty() && va.filter_tail.is_empty());
        let note = va.note.unwrap();
        assert!(note.contains("/dev/dri/renderD128") && note.contains("libx264"), "{note}");
        // Encoder not in this ffmpeg.
        let nv = compile(&hw(Hardware::Nvenc, Codec::H265), &["libx265"], true).unwrap();
        assert_eq!(&nv.args[..2], ["-c:v", "libx265"]);
        assert!(nv.note.unwrap().contains("hevc_nvenc"));
        // No software encoder either: a clear error, not a silent success.
        assert!(compile(&hw(Hardware::Qsv, Codec::H264), &[], true).is_err());
        // VP9/AV1 have no hardware mapping: an option error saying what to do.
        let err = compile(&hw(Hardware::Nvenc, Codec::Vp9), &["libvpx-vp9"], true).unwrap_err();
        assert!(err.to_string().contains("h264"), "{err}");
    }

    #[test]
    fn the_sound_keeps_the_sources_common_rate_else_48k() {
        let e = Encoding::default();
        assert_eq!(e.sample_rate(Container::Mp4, [44_100, 44_100]), 44_100);
        assert_eq!(e.sample_rate(Container::Mp4, [48_000]), 48_000);
        assert_eq!(e.sample_rate(Container::Mp4, [44_100, 48_000]), 48_000);
        assert_eq!(e.sample_rate(Container::Mp4, []), 48_000);
        // A rate AAC does not take meets video's rate.
        assert_eq!(e.sample_rate(Container::Mp4, [37_800]), 48_000);
        assert_eq!(e.sample_rate(Container::Webm, [44_100]), 48_000);
        assert!(e.audio_args(Container::Mp4, 44_100).windows(2).any(|w| w == ["-ar", "44100"]));
    }

    #[test]
    fn crf_0_is_lossless_in_the_profile_that_allows_it() {
        let enc = Encoding { crf: Some(0), ..Encoding::default() };
        let a = compile(&enc, &["libx264"], false).unwrap().args;
        assert!(a.windows(2).any(|w| w == ["-profile:v", "high444"]), "{a:?}");
        assert!(a.windows(2).any(|w| w == ["-crf", "0"]), "{a:?}");
        let note = compile(&enc, &["libx264"], false).unwrap().note.unwrap();
        assert!(note.contains("High 4:4:4 Predictive"), "{note}");
        let a = compile(&Encoding::default(), &["libx264"], false).unwrap().args;
        assert!(a.windows(2).any(|w| w == ["-profile:v", "high"]), "{a:?}");
        let h265 = Encoding { codec: Codec::H265, crf: Some(0), ..Encoding::default() };
        let a = compile(&h265, &["libx265"], false).unwrap().args;
        assert!(a.iter().any(|x| x.contains("lossless=1")), "{a:?}");
    }
}
