//! The sound of a render: each segment's sound (its clip's, crossfaded into the next clip's
//! over a transition), and one run (the *mixer*) that mixes in the music and encodes.
//!
//! Why beside the video: sound is cheap to hold, so it is made while the video encodes,
//! positioned on the output's frame grid in samples so the pieces add up exactly. In a full
//! render each segment's producer writes its sound too, from the inputs it already decodes for
//! the picture (a separate run per segment cost ~1 s CPU of start-ups and second decodes on the
//! reference edit); the smart render, whose producers make only the changed frames, makes each
//! segment's sound in a small run of its own. The mixer is handed each segment's sound as a
//! file once it is complete; or, when a full render's segments encode themselves one after
//! another, there is no mixer: the last segment's run reads the earlier segments' sound from one
//! file and makes the soundtrack itself ([`SegmentSound::Soundtrack`]), one ffmpeg run fewer.

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

/// Adds clip `ci`'s sound for its frames `[a, a+n)` as an input of its own, when the clip
/// sounds; returns the input's index. The separate sound runs (smart render) use it; a full
/// render's producers read the sound from the input that already decodes the clip's picture.
pub(super) fn clip_audio_input(
    plan: &Plan,
    ci: usize,
    (a, n): (u64, u64),
    inv: &mut Invocation,
) -> Option<usize> {
    let pc = &plan.clips[ci];
    let (true, Source::Video { path, .. }) = (pc.audio, &pc.source) else {
        return None;
    };
    let c = &pc.clip;
    let first = if c.reverse { pc.frames - a - n } else { a };
    let start = pc.from + plan.rate.seconds(first) * c.speed;
    let span = plan.rate.seconds(n) * c.speed;
    let k = inv.next_input();
    inv.args(["-vn", "-ss", &secs(start), "-t", &secs(span), "-i"])
        .arg(crate::tools::file_arg(path));
    Some(k)
}

/// A chain producing exactly `samples` stereo samples of clip `ci`'s sound from its frame `a`
/// on, as `[{label}]`, from input `input` (seeked to the clip's frame `a`, as
/// `clip_chain` and [`clip_audio_input`] do), or silence when `input` is `None`.
pub(super) fn clip_audio(
    plan: &Plan,
    ci: usize,
    a: u64,
    samples: u64,
    hz: u32,
    input: Option<usize>,
    label: &str,
) -> String {
    let pc = &plan.clips[ci];
    let c = &pc.clip;
    let rate = plan.rate;
    let Some(k) = input else {
        return format!("anullsrc=r={hz}:cl=stereo,atrim=end_sample={samples}[{label}]");
    };
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

/// Whether a segment has any sound of its own (its clip's, or the next clip's over the
/// transition); a silent one hands the soundtrack zeros and runs nothing.
pub(super) fn segment_sounds(plan: &Plan, seg: &Segment) -> bool {
    plan.clips[seg.clip].audio || (seg.transition > 0 && plan.clips[seg.clip + 1].audio)
}

/// Samples before a segment's start, the end of its body, the end of its transition and its
/// end: exactly its share of the output frame grid.
fn segment_samples(plan: &Plan, hz: u32, seg: &Segment) -> (u64, u64, u64, u64) {
    let at = |f| sample_at(plan, hz, seg.out_start + f);
    (at(0), at(seg.body), at(seg.body + seg.transition), at(seg.frames()))
}

/// What the soundtrack gets from a segment: its sound file (raw stereo `f32`), or zeros for a
/// silent segment.
pub(super) fn segment_piece(plan: &Plan, hz: u32, seg: &Segment, file: &Path) -> Piece {
    let (s0, _, _, s3) = segment_samples(plan, hz, seg);
    if segment_sounds(plan, seg) {
        Piece::File(file.to_path_buf(), (s3 - s0) * 8)
    } else {
        Piece::Zeros((s3 - s0) * 8)
    }
}

/// The filter graph (ending in `[sa]`, packed `f32` stereo) of one segment's sound: its clip's
/// sound, crossfaded into the next clip's over the transition, read from `inputs` (the clip's
/// and the next clip's input, `None` for silence). Sample positions come from the output frame
/// grid, so the segments add up to the total exactly. Labels start with `s`, so the graph can
/// sit beside a producer's picture graph.
pub(super) fn segment_sound_graph(
    plan: &Plan,
    hz: u32,
    seg: &Segment,
    inputs: (Option<usize>, Option<usize>),
) -> String {
    let (s0, s1, s2, s3) = segment_samples(plan, hz, seg);
    let ci = seg.clip;
    let mut g = clip_audio(plan, ci, seg.start, s2 - s0, hz, inputs.0, "sk");
    if seg.transition > 0 {
        let (nb, nt, na) = (s1 - s0, s2 - s1, s3 - s2);
        let tail = if nb > 0 {
            let _ = write!(
                g,
                ";[sk]asplit=2[skb][skt];[skb]atrim=end_sample={nb}[sbody];[skt]atrim=start_sample={nb},asetpts=PTS-STARTPTS[stail]"
            );
            "stail"
        } else {
            "sk"
        };
        g.push(';');
        g.push_str(&clip_audio(plan, ci + 1, 0, nt + na, hz, inputs.1, "sh"));
        let head = if seg.after > 0 {
            let _ = write!(
                g,
                ";[sh]asplit=2[shx][sha];[shx]atrim=end_sample={nt}[shh];[sha]atrim=start_sample={nt},asetpts=PTS-STARTPTS[safter]"
            );
            "shh"
        } else {
            "sh"
        };
        // A linear crossfade as two fades summed, not `acrossfade`: that one holds back its
        // output until its first input has ended and it has the whole overlap of the second,
        // so in a producer the pictures decoded meanwhile queue up (~35 MB per transition at
        // 720p, measured); these stream, the same curve to a sample. Summed by `amerge` and
        // `pan`, not `amix`, which drops what its first input still holds when that input ends.
        let _ = write!(
            g,
            ";[{tail}]afade=t=out:ss=0:ns={nt}:curve=tri[sxa];[{head}]afade=t=in:ss=0:ns={nt}:curve=tri[sxb];[sxa][sxb]amerge=inputs=2,pan=stereo|c0=c0+c2|c1=c1+c3[sx]"
        );
        let parts: Vec<&str> = [(nb > 0, "[sbody]"), (true, "[sx]"), (seg.after > 0, "[safter]")]
            .into_iter()
            .filter_map(|(on, l)| on.then_some(l))
            .collect();
        if parts.len() > 1 {
            let _ = write!(g, ";{}concat=n={}:v=0:a=1[sc]", parts.concat(), parts.len());
        } else {
            g.push_str(";[sx]anull[sc]");
        }
    } else {
        g.push_str(";[sk]anull[sc]");
    }
    g.push_str(";[sc]aformat=sample_fmts=flt:channel_layouts=stereo[sa]");
    g
}

/// The output arguments writing a segment's sound graph (`[sa]`) to `file` as raw `f32`.
pub(super) fn sound_output(inv: &mut Invocation, file: &Path) {
    inv.args(["-map", "[sa]", "-c:a", "pcm_f32le", "-f", "f32le"]);
    inv.arg(file.as_os_str());
}

/// The run writing one segment's sound to `file` on its own (the smart render's, whose
/// producers make only the changed frames), and what the soundtrack gets from it; no run when
/// the segment is silent.
pub(super) fn audio_segment(
    plan: &Plan,
    hz: u32,
    (idx, count): (usize, usize),
    seg: &Segment,
    file: &Path,
) -> (Option<Invocation>, Piece) {
    let piece = segment_piece(plan, hz, seg, file);
    if !segment_sounds(plan, seg) {
        return (None, piece);
    }
    let ci = seg.clip;
    let mut inv = Invocation::new(format!("sound {}/{count}: clip {ci}", idx + 1));
    let k = clip_audio_input(plan, ci, (seg.start, seg.own()), &mut inv);
    let h = if seg.transition > 0 {
        clip_audio_input(plan, ci + 1, (0, seg.transition + seg.after), &mut inv)
    } else {
        None
    };
    let g = segment_sound_graph(plan, hz, seg, (k, h));
    inv.args(["-filter_complex", &g]);
    sound_output(&mut inv, file);
    (Some(inv), piece)
}

/// Whether the output has sound at all: a clip's own or music.
pub(super) fn has_soundtrack(tl: &Timeline, plan: &Plan) -> bool {
    plan.clips.iter().any(|c| c.audio) || !tl.audio.is_empty()
}

/// The soundtrack's graph from the clip sound `[{base}]` (exactly the output's samples, stereo
/// at `hz`): the music mixed in, ending in `[aout]`, exactly the output's samples. Adds the
/// music inputs to `inv`.
///
/// The mix is `amerge` + `pan` over inputs each padded to the output's length, as the
/// crossfades are: a plain sum that keeps every sample of every input. Not `amix`, which drops
/// what its first input still holds when that input ends (with the clip sound from `concat`,
/// everything after the earlier segments' sound came out silent).
pub(super) fn soundtrack_graph(
    tl: &Timeline,
    plan: &Plan,
    hz: u32,
    base: &str,
    inv: &mut Invocation,
) -> String {
    let fmt = format!("aresample={hz},aformat=sample_fmts=fltp:channel_layouts=stereo");
    let total_samples = sample_at(plan, hz, plan.total_frames);
    let total = plan.rate.seconds(plan.total_frames);
    let whole = format!("apad=whole_len={total_samples},atrim=end_sample={total_samples}");
    let mut g = String::new();
    let mut music = String::new();
    let mut inputs = 1;
    for (i, a) in tl.audio.iter().enumerate() {
        if a.start >= total {
            continue;
        }
        let k = inv.next_input();
        if a.looped {
            inv.args(["-stream_loop", "-1"]);
        }
        inv.arg("-i").arg(crate::tools::file_arg(&a.src));
        let len = total - a.start;
        let mut chain = format!("[{k}:a]{fmt},atrim=duration={},asetpts=PTS-STARTPTS", secs(len));
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
        let _ = write!(g, "{chain},{whole}[mu{i}];");
        let _ = write!(music, "[mu{i}]");
        inputs += 1;
    }
    if inputs == 1 {
        let _ = write!(g, "[{base}]{whole}[aout]");
    } else {
        // Input k's channels are `c{2k}` (left) and `c{2k+1}` (right) of the merge.
        let sum = |c: usize| (0..inputs).map(|k| format!("c{}", 2 * k + c)).collect::<Vec<_>>();
        let _ = write!(
            g,
            "[{base}]{whole}[mub];[mub]{music}amerge=inputs={inputs},pan=stereo|c0={}|c1={}[mixed];[mixed]{whole}[aout]",
            sum(0).join("+"),
            sum(1).join("+")
        );
    }
    g
}

/// The output arguments encoding the soundtrack graph's `[aout]` to `out` (MP4 for AAC, whose
/// edit list carries the encoder's priming; Matroska for Opus, which carries its pre-skip).
pub(super) fn soundtrack_output(inv: &mut Invocation, plan: &Plan, hz: u32, out: &Path) {
    inv.args(["-map", "[aout]", "-vn"]);
    inv.args(plan.encoding.audio_args(plan.container, hz));
    let muxer = if plan.encoding.opus(plan.container) { "matroska" } else { "mp4" };
    inv.args(["-f", muxer]).arg(out.as_os_str());
}

/// The soundtrack run (the *mixer*): the segments' sound from `pipe:0` (see
/// `Ffmpeg::run_fed`), music mixed in, encoded to `out`; `None` when the output has no sound
/// at all. A full render whose segments run one after another needs none: its last segment's
/// run makes the soundtrack (see [`SegmentSound::Soundtrack`]).
pub(super) fn audio_sink(tl: &Timeline, plan: &Plan, hz: u32, out: &Path) -> Option<Invocation> {
    if !has_soundtrack(tl, plan) {
        return None;
    }
    let mut inv = Invocation::new("soundtrack (clip sound, crossfades, music)");
    inv.args(["-f", "f32le", "-ar", &hz.to_string(), "-ac", "2", "-i", "pipe:0"]);
    let g = soundtrack_graph(tl, plan, hz, "0:a", &mut inv);
    inv.args(["-filter_complex", &g]);
    soundtrack_output(&mut inv, plan, hz, out);
    Some(inv)
}

/// What a segment's run does with the segment's sound.
#[derive(Debug, Clone, Copy)]
pub(super) enum SegmentSound<'a> {
    /// Writes it to this file as raw `f32`, for the mixer (nothing when the segment is silent).
    Raw(&'a Path),
    /// Makes the whole soundtrack: the earlier segments' sound read from `earlier` (raw `f32`,
    /// `None` for the first segment), then its own, the music mixed in, encoded to `out`. The
    /// last segment of a full render whose segments run one after another does this, which
    /// saves the mixer's run (an ffmpeg start-up and the sound through a pipe).
    Soundtrack { earlier: Option<&'a Path>, out: &'a Path },
}

/// Adds a segment's sound to its run `inv` (whose graph so far is `g`): the segment's sound
/// graph from `inputs` (see [`segment_sound_graph`]), and for [`SegmentSound::Soundtrack`] the
/// earlier sound and the music mixed in; returns the graph to append and leaves the output
/// arguments to [`segment_sound_output`].
pub(super) fn segment_sound(
    tl: &Timeline,
    plan: &Plan,
    hz: u32,
    seg: &Segment,
    inputs: (Option<usize>, Option<usize>),
    sound: SegmentSound<'_>,
    inv: &mut Invocation,
) -> String {
    let mut g = segment_sound_graph(plan, hz, seg, inputs);
    if let SegmentSound::Soundtrack { earlier, .. } = sound {
        let base = if let Some(file) = earlier {
            let k = inv.next_input();
            inv.args(["-f", "f32le", "-ar", &hz.to_string(), "-ac", "2", "-i"])
                .arg(crate::tools::file_arg(file));
            let _ = write!(g, ";[{k}:a][sa]concat=n=2:v=0:a=1[sall]");
            "sall"
        } else {
            "sa"
        };
        g.push(';');
        g.push_str(&soundtrack_graph(tl, plan, hz, base, inv));
    }
    g
}

/// The output arguments of a segment's sound (see [`SegmentSound`]).
pub(super) fn segment_sound_output(
    inv: &mut Invocation,
    plan: &Plan,
    hz: u32,
    sound: SegmentSound<'_>,
) {
    match sound {
        SegmentSound::Raw(file) => sound_output(inv, file),
        SegmentSound::Soundtrack { out, .. } => soundtrack_output(inv, plan, hz, out),
    }
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
