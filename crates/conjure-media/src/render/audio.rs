//! The sound of a render: each segment's sound (its clip's, crossfaded into the next clip's
//! over a transition) made by a small run, and one run that mixes in the music and encodes.
//!
//! Why beside the video: sound is cheap to hold, so it is made in its own runs while the video
//! encodes, positioned on the output's frame grid in samples so the pieces add up exactly.

use std::fmt::Write as _;
use std::path::Path;

use super::plan::{Plan, Segment, Source};
use crate::filter::{atempo_chain, secs};
use crate::timeline::Timeline;
use crate::tools::{Invocation, Piece};
use crate::{Ffmpeg, MediaError};

/// Samples of the soundtrack before output frame `f` (exact integer rounding, so segment
/// lengths add up to the total).
pub(super) fn sample_at(plan: &Plan, hz: u32, f: u64) -> u64 {
    let num = u128::from(plan.rate.num);
    let exact = u128::from(f) * u128::from(hz) * u128::from(plan.rate.den);
    u64::try_from((exact + num / 2) / num).unwrap_or(u64::MAX)
}

/// Adds an input (or a silent source) and a chain producing exactly `samples` stereo samples of
/// clip `ci`'s sound for its frames `[a, a+n)`, as `[{label}]`.
#[expect(clippy::too_many_arguments, reason = "one chain, described by its range and sink")]
#[expect(clippy::many_single_char_names, reason = "the same names as `clip_chain`")]
pub(super) fn clip_audio(
    plan: &Plan,
    ci: usize,
    a: u64,
    n: u64,
    samples: u64,
    hz: u32,
    inv: &mut Invocation,
    label: &str,
) -> String {
    let pc = &plan.clips[ci];
    let c = &pc.clip;
    let rate = plan.rate;
    let (true, Source::Video { path, .. }) = (pc.audio, &pc.source) else {
        return format!("anullsrc=r={hz}:cl=stereo,atrim=end_sample={samples}[{label}]");
    };
    let first = if c.reverse { pc.frames - a - n } else { a };
    let start = pc.from + rate.seconds(first) * c.speed;
    let span = rate.seconds(n) * c.speed;
    let k = inv.args.iter().filter(|x| *x == "-i").count();
    inv.args(["-vn", "-ss", &secs(start), "-t", &secs(span), "-i"])
        .arg(crate::tools::file_arg(path));
    let mut g = format!(
        "[{k}:a]aresample={hz},aformat=sample_fmts=fltp:channel_layouts=stereo,asetpts=PTS-STARTPTS"
    );
    if c.reverse {
        g.push_str(",areverse");
    }
    if (c.speed - 1.0).abs() > 1e-9 {
        g.push(',');
        g.push_str(&atempo_chain(c.speed));
    }
    if (c.volume - 1.0).abs() > 1e-9 {
        let _ = write!(g, ",volume={}", secs(c.volume));
    }
    let _ = write!(g, ",apad=whole_len={samples},atrim=end_sample={samples}");
    let fade_in = c.fade_in.filter(|f| *f > 0.0);
    let fade_out = c.fade_out.filter(|f| *f > 0.0);
    if fade_in.is_some() || fade_out.is_some() {
        // Fades are in clip time: shift to it, fade, shift back.
        let _ = write!(g, ",asetpts=PTS-STARTPTS+{}/TB", secs(rate.seconds(a)));
        if let Some(f) = fade_in {
            let _ = write!(g, ",afade=t=in:st=0:d={}", secs(f));
        }
        if let Some(f) = fade_out {
            let total = rate.seconds(pc.frames);
            let _ = write!(g, ",afade=t=out:st={}:d={}", secs((total - f).max(0.0)), secs(f));
        }
        g.push_str(",asetpts=PTS-STARTPTS");
    }
    let _ = write!(g, "[{label}]");
    g
}

/// The run writing one segment's sound (its clip's sound, crossfaded into the next clip's over
/// the transition) to `file` as raw stereo `f32` samples, and what the soundtrack gets from it;
/// no run when the segment is silent. Sample positions come from the output frame grid, so the
/// segments add up to the total exactly.
pub(super) fn audio_segment(
    plan: &Plan,
    hz: u32,
    (idx, count): (usize, usize),
    seg: &Segment,
    file: &Path,
) -> (Option<Invocation>, Piece) {
    let s0 = sample_at(plan, hz, seg.out_start);
    let s1 = sample_at(plan, hz, seg.out_start + seg.body);
    let s2 = sample_at(plan, hz, seg.out_start + seg.frames());
    let ci = seg.clip;
    let next_sounds = seg.transition > 0 && plan.clips[ci + 1].audio;
    if !plan.clips[ci].audio && !next_sounds {
        return (None, Piece::Zeros((s2 - s0) * 8));
    }
    let mut inv = Invocation::new(format!("sound {}/{count}: clip {ci}", idx + 1));
    let mut g = clip_audio(plan, ci, seg.start, seg.frames(), s2 - s0, hz, &mut inv, "k");
    if seg.transition > 0 {
        let (nb, nt) = (s1 - s0, s2 - s1);
        let tail = if nb > 0 {
            let _ = write!(
                g,
                ";[k]asplit=2[kb][kt];[kb]atrim=end_sample={nb}[body];[kt]atrim=start_sample={nb},asetpts=PTS-STARTPTS[tail]"
            );
            "tail"
        } else {
            "k"
        };
        g.push(';');
        g.push_str(&clip_audio(plan, ci + 1, 0, seg.transition, nt, hz, &mut inv, "h"));
        let _ = write!(g, ";[{tail}][h]acrossfade=ns={nt}:c1=tri:c2=tri[x]");
        g.push_str(if nb > 0 { ";[body][x]concat=n=2:v=0:a=1[c]" } else { ";[x]anull[c]" });
    } else {
        g.push_str(";[k]anull[c]");
    }
    g.push_str(";[c]aformat=sample_fmts=flt:channel_layouts=stereo[a]");
    inv.args(["-filter_complex", &g, "-map", "[a]", "-c:a", "pcm_f32le", "-f", "f32le"]);
    inv.arg(file.as_os_str());
    (Some(inv), Piece::File(file.to_path_buf(), (s2 - s0) * 8))
}

/// The soundtrack run: the segments' sound from `pipe:0` (see [`Ffmpeg::run_fed`]), music mixed
/// in, encoded to `out`; `None` when the output has no sound at all.
pub(super) fn audio_sink(tl: &Timeline, plan: &Plan, hz: u32, out: &Path) -> Option<Invocation> {
    if !plan.clips.iter().any(|c| c.audio) && tl.audio.is_empty() {
        return None;
    }
    let mut inv = Invocation::new("soundtrack (clip sound, crossfades, music)");
    inv.args(["-f", "f32le", "-ar", &hz.to_string(), "-ac", "2", "-i", "pipe:0"]);
    let fmt = format!("aresample={hz},aformat=sample_fmts=fltp:channel_layouts=stereo");
    let total_samples = sample_at(plan, hz, plan.total_frames);
    let total = plan.rate.seconds(plan.total_frames);
    let mut g = String::new();
    let mut cur = "0:a".to_string();
    let mut mix = vec![cur.clone()];
    let mut k = 1;
    for (i, a) in tl.audio.iter().enumerate() {
        if a.start >= total {
            continue;
        }
        if a.looped {
            inv.args(["-stream_loop", "-1"]);
        }
        inv.arg("-i").arg(crate::tools::file_arg(&a.src));
        let len = total - a.start;
        let mut chain = format!("[{k}:a]{fmt},atrim=duration={},asetpts=PTS-STARTPTS", secs(len));
        k += 1;
        if (a.volume - 1.0).abs() > 1e-9 {
            let _ = write!(chain, ",volume={}", secs(a.volume));
        }
        if a.fade_in > 0.0 {
            let _ = write!(chain, ",afade=t=in:st=0:d={}", secs(a.fade_in));
        }
        if a.fade_out > 0.0 {
            let _ = write!(
                chain,
                ",afade=t=out:st={}:d={}",
                secs((len - a.fade_out).max(0.0)),
                secs(a.fade_out)
            );
        }
        if a.start > 0.0 {
            let _ = write!(chain, ",adelay=delays={}:all=1", (a.start * 1000.0).round() as u64);
        }
        let _ = write!(g, "{chain}[m{i}];");
        mix.push(format!("m{i}"));
    }
    if mix.len() > 1 {
        let labels = mix.iter().fold(String::new(), |mut acc, l| {
            let _ = write!(acc, "[{l}]");
            acc
        });
        let _ = write!(
            g,
            "{labels}amix=inputs={}:duration=first:dropout_transition=0:normalize=0[mixed];",
            mix.len()
        );
        cur = "mixed".into();
    }
    let _ =
        write!(g, "[{cur}]apad=whole_len={total_samples},atrim=end_sample={total_samples}[aout]");
    inv.args(["-filter_complex", &g, "-map", "[aout]", "-vn"]);
    inv.args(plan.encoding.audio_args(plan.container, hz));
    let muxer = if plan.encoding.opus(plan.container) { "matroska" } else { "mp4" };
    inv.args(["-f", muxer]).arg(out.as_os_str());
    Some(inv)
}

/// Runs the per-segment sound runs in order, handing each file to the `mixer` run as it is
/// finished; stops early once the video has failed (the render is lost anyway).
pub(super) fn soundtrack(
    ff: &Ffmpeg,
    mixer: &Invocation,
    sounds: &[(Option<Invocation>, Piece)],
    video_failed: &std::sync::atomic::AtomicBool,
) -> Result<(), MediaError> {
    let (pieces, received) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let mixing = scope.spawn(move || ff.run_fed(mixer, received));
        let mut made = Ok(());
        for (run, piece) in sounds {
            if video_failed.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            if let Some(run) = run
                && let Err(e) = ff.run(run, None)
            {
                made = Err(e);
                break;
            }
            if pieces.send(piece.clone()).is_err() {
                break;
            }
        }
        drop(pieces);
        let encoded = mixing
            .join()
            .unwrap_or_else(|_| Err(MediaError::option("audio", "the soundtrack run panicked")));
        made.and(encoded)
    })
}
