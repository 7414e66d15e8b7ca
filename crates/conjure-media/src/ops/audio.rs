//! Audio steps: replace, extract, remove, volume, loudness-normalise, mix, fade, delay.
//!
//! The video stream is copied untouched in every step here; only the sound is re-encoded.

use std::path::PathBuf;

use super::{OpReport, audio_only_filter, check_range, probe_video, run_to};
use crate::filter::secs;
use crate::tools::Invocation;
use crate::tools::encoder::{Container, Encoding};
use crate::{Ffmpeg, MediaError};

/// Options for [`audio_replace`].
#[derive(Debug, Clone, Default)]
pub struct AudioReplaceOptions {
    /// Source video.
    pub input: PathBuf,
    /// The new sound (any file with audio).
    pub audio: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Repeat the new sound until the video ends.
    pub looped: bool,
}

/// Swaps the soundtrack (or adds one to a silent clip); the video is copied and the result
/// ends with the video.
pub fn audio_replace(ff: &Ffmpeg, o: &AudioReplaceOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let a = ff.probe(&o.audio)?;
    if a.audio.is_none() {
        return Err(MediaError::BadInput {
            path: o.audio.clone(),
            problem: "has no audio stream".into(),
        });
    }
    let container = Container::from_path(&o.output).unwrap_or(Container::Mp4);
    let len = info.video_duration();
    let mut inv = Invocation::new("audio replace");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    if o.looped {
        inv.args(["-stream_loop", "-1"]);
    }
    inv.arg("-i").arg(crate::tools::file_arg(&o.audio));
    inv.args([
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c:v",
        "copy",
        "-af",
        &format!("atrim=duration={}", secs(len)),
    ]);
    inv.args(super::audio_out(&Encoding::default(), container, &[&a]));
    inv.arg("-shortest");
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    Ok(OpReport::single(&o.output, false, &inv))
}

/// Options for steps with one input and one output ([`audio_extract`], [`audio_remove`]).
#[derive(Debug, Clone, Default)]
pub struct AudioIoOptions {
    /// Source.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
}

/// Saves the soundtrack alone: `.m4a`/`.aac` (copied when already AAC), `.mp3`, `.wav`,
/// `.opus`, `.flac`.
pub fn audio_extract(ff: &Ffmpeg, o: &AudioIoOptions) -> Result<OpReport, MediaError> {
    let info = ff.probe(&o.input)?;
    let Some(a) = info.audio.as_ref() else {
        return Err(MediaError::BadInput {
            path: o.input.clone(),
            problem: "has no audio stream to extract".into(),
        });
    };
    let ext = o
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let (codec, muxer): (&[&str], &str) = match ext.as_str() {
        "m4a" | "aac" if a.codec == "aac" => {
            (&["-c:a", "copy"], if ext == "aac" { "adts" } else { "ipod" })
        }
        "m4a" => (&["-c:a", "aac", "-b:a", "192k"], "ipod"),
        "aac" => (&["-c:a", "aac", "-b:a", "192k"], "adts"),
        "mp3" => (&["-c:a", "libmp3lame", "-q:a", "2"], "mp3"),
        "wav" => (&["-c:a", "pcm_s16le"], "wav"),
        "opus" | "ogg" => (&["-c:a", "libopus", "-b:a", "128k"], "ogg"),
        "flac" => (&["-c:a", "flac"], "flac"),
        _ => {
            return Err(MediaError::option(
                "output",
                "the extension must be .m4a, .aac, .mp3, .wav, .opus or .flac",
            ));
        }
    };
    let copy = codec.contains(&"copy");
    let mut inv = Invocation::new("audio extract");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    inv.args(["-map", "0:a:0", "-vn"]);
    inv.args(codec.iter().copied());
    let inv = run_to(ff, inv, None, muxer, &o.output)?;
    Ok(OpReport::single(&o.output, copy, &inv))
}

/// Writes a silent copy (video stream-copied). Only on explicit request (R1).
pub fn audio_remove(ff: &Ffmpeg, o: &AudioIoOptions) -> Result<OpReport, MediaError> {
    probe_video(ff, &o.input)?;
    let container = Container::from_path(&o.output).unwrap_or(Container::Mp4);
    let mut inv = Invocation::new("audio remove");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    inv.args(["-map", "0:v:0", "-c:v", "copy", "-an"]);
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    Ok(OpReport::single(&o.output, true, &inv))
}

/// Options for [`volume`].
#[derive(Debug, Clone, Default)]
pub struct VolumeOptions {
    /// Source.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// 2.0 doubles, 0.5 halves.
    pub factor: f64,
}

/// Changes loudness by a factor.
pub fn volume(ff: &Ffmpeg, o: &VolumeOptions) -> Result<OpReport, MediaError> {
    check_range("factor", o.factor, 0.0, 20.0)?;
    audio_only_filter(ff, "volume", &o.input, &o.output, &format!("volume={}", secs(o.factor)))
}

/// Options for [`loudnorm`].
#[derive(Debug, Clone)]
pub struct LoudnormOptions {
    /// Source.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Integrated loudness target in LUFS.
    pub integrated: f64,
    /// True peak ceiling in dBTP.
    pub true_peak: f64,
    /// Loudness range target.
    pub range: f64,
}

impl Default for LoudnormOptions {
    fn default() -> Self {
        Self {
            input: PathBuf::new(),
            output: PathBuf::new(),
            integrated: -16.0,
            true_peak: -1.5,
            range: 11.0,
        }
    }
}

/// Normalises loudness (EBU R128, one pass) to `integrated` LUFS.
pub fn loudnorm(ff: &Ffmpeg, o: &LoudnormOptions) -> Result<OpReport, MediaError> {
    check_range("integrated", o.integrated, -70.0, -5.0)?;
    check_range("true_peak", o.true_peak, -9.0, 0.0)?;
    check_range("range", o.range, 1.0, 50.0)?;
    let af = format!(
        // loudnorm works at 192 kHz; the encoder's `-ar` brings it back to the source's rate.
        "loudnorm=I={}:TP={}:LRA={}",
        secs(o.integrated),
        secs(o.true_peak),
        secs(o.range)
    );
    audio_only_filter(ff, "loudness normalise", &o.input, &o.output, &af)
}

/// Options for [`audio_mix`].
#[derive(Debug, Clone, Default)]
pub struct AudioMixOptions {
    /// Source video (its sound stays at full level).
    pub input: PathBuf,
    /// Music or another track laid underneath.
    pub music: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Level of the music (e.g. 0.3).
    pub music_volume: f64,
    /// Repeat the music until the video ends.
    pub looped: bool,
}

/// Lays music under the original sound (silence stands in when the video has none).
pub fn audio_mix(ff: &Ffmpeg, o: &AudioMixOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let m = ff.probe(&o.music)?;
    if m.audio.is_none() {
        return Err(MediaError::BadInput {
            path: o.music.clone(),
            problem: "has no audio stream".into(),
        });
    }
    check_range("music_volume", o.music_volume, 0.0, 10.0)?;
    let container = Container::from_path(&o.output).unwrap_or(Container::Mp4);
    let len = secs(info.video_duration());
    let sources = [&info, &m];
    let hz = Encoding::default().sample_rate(
        container,
        sources.iter().filter_map(|i| i.audio.as_ref().map(|a| a.sample_rate)),
    );
    let fmt = format!("aresample={hz},aformat=sample_fmts=fltp:channel_layouts=stereo");
    let mut inv = Invocation::new("audio mix");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    if o.looped {
        inv.args(["-stream_loop", "-1"]);
    }
    inv.arg("-i").arg(crate::tools::file_arg(&o.music));
    let main = if info.audio.is_some() {
        format!("[0:a]{fmt},apad,atrim=duration={len}[a0]")
    } else {
        format!("anullsrc=r={hz}:cl=stereo,atrim=duration={len}[a0]")
    };
    let g = format!(
        "{main};[1:a]{fmt},volume={},atrim=duration={len}[a1];[a0][a1]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[aout]",
        secs(o.music_volume)
    );
    inv.args(["-filter_complex", &g, "-map", "0:v:0", "-map", "[aout]", "-c:v", "copy"]);
    inv.args(Encoding::default().audio_args(container, hz));
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    Ok(OpReport::single(&o.output, false, &inv))
}

/// Options for [`audio_fade`].
#[derive(Debug, Clone, Default)]
pub struct AudioFadeOptions {
    /// Source.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Seconds of fade-in.
    pub fade_in: f64,
    /// Seconds of fade-out, ending at the end.
    pub fade_out: f64,
}

/// Fades the sound in and out (picture untouched).
pub fn audio_fade(ff: &Ffmpeg, o: &AudioFadeOptions) -> Result<OpReport, MediaError> {
    let info = ff.probe(&o.input)?;
    let len = info.audio.as_ref().and_then(|a| a.duration).unwrap_or(info.duration);
    check_range("fade_in", o.fade_in, 0.0, len)?;
    check_range("fade_out", o.fade_out, 0.0, len)?;
    let mut af = Vec::new();
    if o.fade_in > 0.0 {
        af.push(format!("afade=t=in:st=0:d={}", secs(o.fade_in)));
    }
    if o.fade_out > 0.0 {
        af.push(format!("afade=t=out:st={}:d={}", secs(len - o.fade_out), secs(o.fade_out)));
    }
    if af.is_empty() {
        return Err(MediaError::option("fade_in", "give a fade-in or a fade-out"));
    }
    audio_only_filter(ff, "audio fade", &o.input, &o.output, &af.join(","))
}

/// Options for [`audio_delay`].
#[derive(Debug, Clone, Default)]
pub struct AudioDelayOptions {
    /// Source.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Milliseconds to shift the sound later (e.g. to fix lip-sync).
    pub millis: u32,
}

/// Shifts the sound later; the result keeps the video's length.
pub fn audio_delay(ff: &Ffmpeg, o: &AudioDelayOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let len = secs(info.video_duration());
    audio_only_filter(
        ff,
        "audio delay",
        &o.input,
        &o.output,
        &format!("adelay=delays={}:all=1,atrim=duration={len}", o.millis),
    )
}
