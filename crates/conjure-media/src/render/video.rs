//! The video of a render: each segment's run (decode, effects, transitions, captions), what
//! becomes of its frames, and how the segments are joined.
//!
//! Two ways, chosen by the render: with x264 (a full render's usual case) each segment's run
//! encodes its own frames into an MP4 file and [`splice_segments`] joins the files by stream
//! copy into one track; otherwise (other codecs, hardware encoders, the smart render's changed
//! runs) each run is a *producer* writing raw frames to one encoder, which keeps one encoder's
//! memory for the whole video. Why not always one encoder: producers and encoder exchange every
//! frame through a pipe between two processes, which cost 1-2 s CPU more on the reference edit
//! than the same work in one process (BENCHMARKS.md); x264 with the same settings and
//! `stitchable` makes segments whose parameter sets are identical, so they splice. Every run writes exactly its
//! segment's frames (checked byte for byte by the pipeline, or by counting the spliced samples).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::audio::SegmentSound;
use super::plan::{Plan, Segment, Source};
use crate::MediaError;
use crate::filter::{escape_path, escape_value, even, fit_graph, secs};
use crate::rate::Rate;
use crate::splice;
use crate::timeline::{Motion, Timeline, overlay_anchor};
use crate::tools::Invocation;
use crate::tools::encoder::VideoEncoder;

/// Adds inputs and a filter chain producing frames `[a, a+n)` of clip `ci` as `[{label}]`,
/// timestamps from 0.
#[expect(
    clippy::many_single_char_names,
    reason = "w/h/x/y/a/n are the names ffmpeg's own filter docs use"
)]
pub(super) fn clip_chain(
    plan: &Plan,
    ci: usize,
    a: u64,
    n: u64,
    inv: &mut Invocation,
    inputs: &mut usize,
    label: &str,
) -> String {
    let pc = &plan.clips[ci];
    let c = &pc.clip;
    let (w, h, rate) = (plan.width, plan.height, plan.rate);
    let fit = c.fit;
    let mut g = String::new();
    let raw = format!("{label}raw");
    match &pc.source {
        Source::Video { path, info } => {
            let first = if c.reverse { pc.frames - a - n } else { a };
            let start = pc.from + rate.seconds(first) * c.speed;
            // Read a little past the span, so rounding in `-t` never cuts its last frame (`tpad`
            // below would repeat a frame in its place). A source on the output's frame grid, at
            // speed 1, needs one frame: its frames fall on the grid, and the decoder's pictures
            // beyond the span are decoded for nothing. Other rates and speeds keep three, for
            // `fps` to choose each output frame's picture from both sides of it.
            let on_grid = (c.speed - 1.0).abs() < 1e-9
                && info.video.as_ref().is_some_and(|v| {
                    u64::from(v.fps_num) * u64::from(rate.den)
                        == u64::from(v.fps_den) * u64::from(rate.num)
                });
            let slack = if on_grid { 1 } else { 3 };
            let read = rate.seconds(n + slack) * c.speed;
            // Two decoding threads: with one, a producer at `veryfast` sometimes leaves the
            // encoder waiting (measured: 3-7 % less wall time with two, the same CPU time, ~10-20
            // MB more summed PSS for the second thread's pictures; see BENCHMARKS.md). More would
            // hold a picture set each for nothing: the encoder is the bottleneck beyond that.
            inv.args(["-threads", "2", "-ss", &secs(start), "-t", &secs(read), "-i"]);
            inv.arg(crate::tools::file_arg(path));
            let k = *inputs;
            *inputs += 1;
            let mut pre = String::new();
            if let Some(r) = c.crop {
                let _ = write!(pre, "crop={}:{}:{}:{},", r.width, r.height, r.x, r.y);
            }
            if (c.speed - 1.0).abs() > 1e-9 {
                let _ = write!(pre, "setpts=(PTS-STARTPTS)/{},", secs(c.speed));
            } else {
                pre.push_str("setpts=PTS-STARTPTS,");
            }
            let _ = write!(g, "[{k}:v]{pre}fps={}[{label}pre];", rate.expr());
            let same_size = c.crop.is_none()
                && info.video.as_ref().is_some_and(|v| (v.width, v.height) == (w, h));
            if same_size {
                // Every fit of a frame already the output's size is the frame itself.
                let _ = write!(g, "[{label}pre]setsar=1[{raw}];");
            } else {
                g.push_str(&fit_graph(&format!("{label}pre"), &raw, fit, w, h, "black", label));
                g.push(';');
            }
        }
        Source::Image { path } => {
            inv.arg("-i").arg(crate::tools::file_arg(path));
            let k = *inputs;
            *inputs += 1;
            let crop = c
                .crop
                .map(|r| format!("crop={}:{}:{}:{},", r.width, r.height, r.x, r.y))
                .unwrap_or_default();
            let _ = write!(g, "[{k}:v]{crop}format=yuv420p[{label}img];");
            if c.motion == Motion::None {
                g.push_str(&fit_graph(
                    &format!("{label}img"),
                    &format!("{label}fit"),
                    fit,
                    w,
                    h,
                    "black",
                    label,
                ));
                // The picture's own time base (1/25 for image2) cannot hold every frame time
                // of other rates; the output's can.
                let _ = write!(
                    g,
                    ";[{label}fit]loop=loop={}:size=1,settb=expr={}/{},setpts=N[{raw}];",
                    n.saturating_sub(1),
                    rate.den,
                    rate.num
                );
            } else {
                // Work at twice the size so zoompan's integer offsets do not jitter.
                g.push_str(&fit_graph(
                    &format!("{label}img"),
                    &format!("{label}fit"),
                    fit,
                    w * 2,
                    h * 2,
                    "black",
                    label,
                ));
                let total = pc.frames.max(1) as f64;
                let prog = format!("((on+{a})/{})", secs(total));
                let (z, x, y) = match c.motion {
                    Motion::ZoomIn => (
                        format!("1+0.2*{prog}"),
                        "iw/2-(iw/zoom/2)".to_string(),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                    Motion::ZoomOut => (
                        format!("1.2-0.2*{prog}"),
                        "iw/2-(iw/zoom/2)".to_string(),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                    Motion::PanLeft => (
                        "1.2".to_string(),
                        format!("(iw-iw/zoom)*(1-{prog})"),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                    Motion::PanRight | Motion::None => (
                        "1.2".to_string(),
                        format!("(iw-iw/zoom)*{prog}"),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                };
                let _ = write!(
                    g,
                    ";[{label}fit]zoompan=z={}:x={}:y={}:d={n}:s={w}x{h}:fps={},setsar=1,setpts=N*{}/{}/TB[{raw}];",
                    escape_value(&z),
                    escape_value(&x),
                    escape_value(&y),
                    rate.expr(),
                    rate.den,
                    rate.num
                );
            }
        }
        Source::Color { color } => {
            let _ = write!(g, "color=c={color}:s={w}x{h}:r={},setsar=1[{raw}];", rate.expr());
        }
    }
    // Effects, exact length, then fades in clip-local time.
    let mut post = String::new();
    if c.greyscale {
        post.push_str("hue=s=0,");
    }
    if let Some(eq) = c.eq {
        let _ = write!(
            post,
            "eq=brightness={}:contrast={}:saturation={}:gamma={},",
            secs(eq.brightness),
            secs(eq.contrast),
            secs(eq.saturation),
            secs(eq.gamma)
        );
    }
    let _ = write!(post, "tpad=stop_mode=clone:stop={n},trim=end_frame={n},");
    if c.reverse && matches!(pc.source, Source::Video { .. }) {
        post.push_str("reverse,");
    }
    let fade_in = c.fade_in.filter(|f| *f > 0.0);
    let fade_out = c.fade_out.filter(|f| *f > 0.0);
    if fade_in.is_some() || fade_out.is_some() {
        let _ = write!(post, "setpts=PTS-STARTPTS+{}/TB,", secs(rate.seconds(a)));
        if let Some(f) = fade_in {
            let _ = write!(post, "fade=t=in:st=0:d={},", secs(f));
        }
        if let Some(f) = fade_out {
            let total = rate.seconds(pc.frames);
            let _ = write!(post, "fade=t=out:st={}:d={},", secs((total - f).max(0.0)), secs(f));
        }
    }
    post.push_str("setpts=PTS-STARTPTS,format=yuv420p");
    match c.blur {
        Some(b) if b.region.is_some() => {
            let r = b.region.unwrap_or(crate::timeline::Rect { x: 0, y: 0, width: 2, height: 2 });
            let _ = write!(
                g,
                "[{raw}]{post},split=2[{label}b0][{label}b1];[{label}b1]crop={}:{}:{}:{},gblur=sigma={}[{label}b2];[{label}b0][{label}b2]overlay={}:{}[{label}]",
                r.width,
                r.height,
                r.x,
                r.y,
                secs(b.sigma),
                r.x,
                r.y
            );
        }
        Some(b) => {
            let _ = write!(g, "[{raw}]{post},gblur=sigma={}[{label}]", secs(b.sigma));
        }
        None => {
            let _ = write!(g, "[{raw}]{post}[{label}]");
        }
    }
    g
}

pub(super) struct SegmentContext<'a> {
    /// The timeline.
    pub(super) tl: &'a Timeline,
    /// Its plan.
    pub(super) plan: &'a Plan,
    /// The `ass` filter drawing every caption (`texts`), when there are any.
    pub(super) captions: Option<&'a str>,
    /// The render's working folder, where a dissolve's masks are written (see
    /// [`transition_graph`]); without one a dissolve is drawn by `xfade`.
    pub(super) work: Option<&'a Path>,
}

/// Filters applied in output time: captions, overlays, burned subtitles.
pub(super) fn output_time_filters(
    cx: &SegmentContext<'_>,
    seg: &Segment,
    input: &str,
    inv: &mut Invocation,
    inputs: &mut usize,
) -> String {
    let plan = cx.plan;
    let rate = plan.rate;
    let s0 = rate.seconds(seg.out_start);
    let s1 = rate.seconds(seg.out_start + seg.frames());
    let total = rate.seconds(plan.total_frames);
    let mut g = String::new();
    let mut cur = input.to_string();
    let mut step = 0;
    let next = |g: &mut String, body: &str, cur: &mut String, step: &mut usize| {
        *step += 1;
        let lbl = format!("o{step}");
        let _ = write!(g, "[{cur}]{body}[{lbl}];");
        *cur = lbl;
    };
    next(&mut g, &format!("setpts=PTS-STARTPTS+{}/TB", secs(s0)), &mut cur, &mut step);
    for (i, ov) in cx.tl.overlays.iter().enumerate() {
        let end = ov.end.unwrap_or(total);
        if ov.start >= s1 || end <= s0 {
            continue;
        }
        let info_still = matches!(
            ov.src.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
            Some("png" | "jpg" | "jpeg" | "webp" | "bmp")
        );
        let k = *inputs;
        *inputs += 1;
        let ow = even(f64::from(plan.width) * ov.width);
        if info_still {
            inv.arg("-i").arg(crate::tools::file_arg(&ov.src));
            let _ = write!(g, "[{k}:v]scale={ow}:-2,format=rgba[ov{i}];");
        } else {
            let skip = (s0 - ov.start).max(0.0);
            inv.args(["-ss", &secs(skip), "-i"]).arg(crate::tools::file_arg(&ov.src));
            let _ = write!(
                g,
                "[{k}:v]fps={},scale={ow}:-2,setpts=PTS-STARTPTS+{}/TB[ov{i}];",
                rate.expr(),
                secs(s0.max(ov.start))
            );
        }
        let (x, y) = overlay_anchor(&ov.position, ov.margin).unwrap_or(("0".into(), "0".into()));
        let enable = escape_value(&format!("between(t,{},{})", secs(ov.start), secs(end)));
        let eof = if info_still { "repeat" } else { "pass" };
        step += 1;
        let lbl = format!("o{step}");
        let _ = write!(
            g,
            "[{cur}][ov{i}]overlay=x={}:y={}:enable={enable}:eof_action={eof}[{lbl}];",
            escape_value(&x),
            escape_value(&y)
        );
        cur = lbl;
    }
    // One libass run draws every caption in output time, given only the frames a caption may
    // show on: libass has no timeline support, and copies and scans every frame it is given.
    if let Some(captions) = cx.captions
        && let Some((a, b)) = caption_span(cx.tl, plan, seg)
    {
        if (a, b) == (0, seg.frames()) {
            next(&mut g, captions, &mut cur, &mut step);
        } else {
            step += 1;
            let lbl = format!("o{step}");
            let _ = write!(g, "{}", caption_pieces(&cur, &lbl, captions, a, b, seg.frames()));
            cur = lbl;
        }
    }
    if let Some(s) = cx.tl.subtitles.as_ref().filter(|s| s.burn) {
        next(&mut g, &format!("subtitles=filename={}", escape_path(&s.path)), &mut cur, &mut step);
    }
    // Frame n at n/fps exactly, so the raw output neither drops nor repeats a frame whatever
    // time base the filters above left (concat, for one, leaves microseconds).
    let _ = write!(g, "[{cur}]settb=expr={}/{},setpts=N,format=yuv420p[v]", rate.den, rate.num);
    g
}

/// The segment's frames `[a, b)` (counted from its first) that a caption may show on, widened
/// by a frame each side against the script's centisecond times; `None` when no caption
/// touches the segment.
fn caption_span(tl: &Timeline, plan: &Plan, seg: &Segment) -> Option<(u64, u64)> {
    let fps = plan.rate.value();
    let total = plan.rate.seconds(plan.total_frames);
    let (first, end) = (seg.out_start, seg.out_start + seg.frames());
    tl.texts
        .iter()
        .map(|t| {
            let from = ((t.start * fps).floor() as u64).saturating_sub(1).max(first);
            let to = ((t.end.unwrap_or(total) * fps).ceil() as u64 + 2).min(end);
            (from, to)
        })
        .filter(|(from, to)| from < to)
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
        .map(|(from, to)| (from - first, to - first))
}

/// `[input]` with `captions` drawn on its frames `[a, b)` only, out of `frames`, as `[output]`:
/// the frames around them pass by reference.
fn caption_pieces(
    input: &str,
    output: &str,
    captions: &str,
    a: u64,
    b: u64,
    frames: u64,
) -> String {
    let mut pieces = Vec::new();
    if a > 0 {
        pieces.push(format!("trim=end_frame={a}"));
    }
    // The first piece keeps its output times, which libass reads; concat restarts each
    // later piece where the one before ended, and the segment's frames are renumbered after.
    let reset = if a > 0 { ",setpts=PTS-STARTPTS" } else { "" };
    pieces.push(format!("trim=start_frame={a}:end_frame={b},{captions}{reset}"));
    if b < frames {
        pieces.push(format!("trim=start_frame={b},setpts=PTS-STARTPTS"));
    }
    let n = pieces.len();
    let mut g = format!("[{input}]split={n}");
    for i in 0..n {
        let _ = write!(g, "[{output}s{i}]");
    }
    g.push(';');
    for (i, piece) in pieces.iter().enumerate() {
        let _ = write!(g, "[{output}s{i}]{piece}[{output}p{i}];");
    }
    for i in 0..n {
        let _ = write!(g, "[{output}p{i}]");
    }
    let _ = write!(g, "concat=n={n}:v=1:a=0[{output}];");
    g
}

/// The input a clip's picture was just added as, when its sound can be read from it too (a
/// reversed clip's sound reads exactly its span from an input of its own, as the picture reads
/// a few frames of slack it trims only after reversing).
fn sound_input(plan: &Plan, ci: usize, input: usize) -> Option<usize> {
    let pc = &plan.clips[ci];
    (pc.audio && !pc.clip.reverse && matches!(pc.source, Source::Video { .. })).then_some(input)
}

/// Where a segment run's frames go.
#[derive(Debug, Clone, Copy)]
pub(super) enum Frames<'a> {
    /// Raw `yuv420p` on standard output, for one encoder reading every segment (a *producer*).
    Raw,
    /// Encoded by the run itself with this encoder into this MP4 file (a full render with x264,
    /// whose segments are then spliced by stream copy, see [`splice_segments`]).
    Encoded(&'a VideoEncoder, &'a Path),
}

/// The run for one segment: its frames, raw `yuv420p` on standard output or encoded into a
/// file (`frames`); and, when `sound` is given (the soundtrack's rate and what to do), the
/// segment's sound from the same inputs, so no clip is opened twice: written to a file as raw
/// `f32` when the segment sounds, or the whole soundtrack made (see [`SegmentSound`]).
pub(super) fn segment_invocation(
    cx: &SegmentContext<'_>,
    (idx, count): (usize, usize),
    seg: &Segment,
    frames: Frames<'_>,
    sound: Option<(u32, SegmentSound<'_>)>,
) -> Result<Invocation, MediaError> {
    let plan = cx.plan;
    let mut inputs = 0;
    let ci = seg.clip;
    let mut inv = Invocation::new("");
    let sound = sound.filter(|(_, what)| {
        matches!(what, SegmentSound::Soundtrack { .. }) || super::audio::segment_sounds(plan, seg)
    });
    let mut sound_inputs = (sound_input(plan, ci, inputs), None);
    // The clip from `start` to its end: the body, then the tail the transition fades out.
    let mut g = clip_chain(plan, ci, seg.start, seg.own(), &mut inv, &mut inputs, "k");
    let what = if seg.transition > 0 {
        let n = seg.transition;
        let kind = &plan.transitions[ci].1;
        let tail = if seg.body > 0 {
            let _ = write!(
                g,
                ";[k]split=2[kb][kt];[kb]trim=end_frame={b}[body];[kt]trim=start_frame={b},setpts=PTS-STARTPTS[tail]",
                b = seg.body
            );
            "tail"
        } else {
            "k"
        };
        g.push(';');
        sound_inputs.1 = sound_input(plan, ci + 1, inputs);
        // The next clip from its start: the head the transition fades in, then (`after`) its
        // frames up to where its own segment starts.
        g.push_str(&clip_chain(plan, ci + 1, 0, n + seg.after, &mut inv, &mut inputs, "h"));
        let head = if seg.after > 0 {
            let _ = write!(
                g,
                ";[h]split=2[hx][ha];[hx]trim=end_frame={n}[hh];[ha]trim=start_frame={n},setpts=PTS-STARTPTS[after]"
            );
            "hh"
        } else {
            "h"
        };
        g.push(';');
        g.push_str(&transition_graph(cx, ci, (tail, head), n, &mut inv, &mut inputs)?);
        let parts: Vec<&str> =
            [(seg.body > 0, "[body]"), (true, "[x]"), (seg.after > 0, "[after]")]
                .into_iter()
                .filter_map(|(on, l)| on.then_some(l))
                .collect();
        if parts.len() > 1 {
            let _ = write!(g, ";{}concat=n={}:v=1:a=0[c]", parts.concat(), parts.len());
        } else {
            g.push_str(";[x]null[c]");
        }
        format!("clip {ci}, transition {ci}->{} ({kind})", ci + 1)
    } else {
        g.push_str(";[k]null[c]");
        format!("clip {ci}")
    };
    inv.step = format!("segment {}/{count}: {what}", idx + 1);
    if let Some((_, SegmentSound::Soundtrack { .. })) = sound {
        inv.step.push_str(", and the soundtrack (clip sound, crossfades, music)");
    }
    g.push(';');
    g.push_str(&output_time_filters(cx, seg, "c", &mut inv, &mut inputs));
    if let Some((hz, sound_use)) = sound {
        // A reversed clip's sound comes from an input of its own (see `sound_input`).
        for (k, c, range) in [
            (&mut sound_inputs.0, ci, (seg.start, seg.own())),
            (&mut sound_inputs.1, ci + 1, (0, seg.transition + seg.after)),
        ] {
            if k.is_none() && (c == ci || seg.transition > 0) && plan.clips[c].clip.reverse {
                *k = super::audio::clip_audio_input(plan, c, range, &mut inv);
            }
        }
        g.push(';');
        g.push_str(&super::audio::segment_sound(
            cx.tl,
            plan,
            hz,
            seg,
            sound_inputs,
            sound_use,
            &mut inv,
        ));
    }
    inv.args(["-filter_complex", &g, "-map", "[v]", "-an", "-frames:v", &seg.frames().to_string()]);
    inv.args(["-r", &plan.rate.expr()]);
    match frames {
        Frames::Raw => {
            inv.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"]);
        }
        Frames::Encoded(video, file) => {
            inv.args(stitchable(&video.args));
            inv.args(["-f", "mp4"]).arg(file.as_os_str());
        }
    }
    if let Some((hz, sound_use)) = sound {
        super::audio::segment_sound_output(&mut inv, plan, hz, sound_use);
    }
    Ok(inv)
}

/// Transitions `xfade` draws from each plane's own size alone (a mix, a wipe's edge, a slide's
/// offset), so drawing them plane by plane on the `yuv420p` planes gives the picture of the
/// `yuv444p` path, the chroma edge at half the luma's position as subsampling puts it anyway.
const PLANE_BY_PLANE: &[&str] = &[
    "fade",
    "wipeleft",
    "wiperight",
    "wipeup",
    "wipedown",
    "slideleft",
    "slideright",
    "slideup",
    "slidedown",
];

/// The most bytes of masks a dissolve writes (see [`transition_graph`]); a longer or larger
/// dissolve is drawn by `xfade` (a 0.5 s dissolve at 720p30 writes 21 MB, at 4K60 360 MB).
const DISSOLVE_MASK_BUDGET: u64 = 256 << 20;

/// The transition of segment `ci`'s clip into the next as `[x]`: `n` frames from the clip's
/// `tail` and the next clip's `head` (both `yuv420p`, `n` frames each).
///
/// Why not `xfade` as it is: ffmpeg 5.1's `xfade` takes no subsampled format, so both inputs
/// were scaled to `yuv444p` and the result back (~6.5 ms a 720p frame for a fade, of which the
/// fade is ~2.5), and its dissolve computes a sine per pixel and frame (~23 ms a frame). So:
/// - the transitions in [`PLANE_BY_PLANE`] run `xfade` on each plane (`extractplanes`, three
///   `gray` crossfades, `mergeplanes`: plane copies, no scaling);
/// - a dissolve is `threshold` picking each pixel from one clip or the other by a mask per
///   frame that the render computes once in-process with `xfade`'s own noise and rule, written
///   to the working folder (`dissolve{ci}.yuv`, raw `yuv420p`), the chroma following the luma's
///   choice at each 2x2 block's top-left pixel;
/// - every other transition runs `xfade` as before, through `yuv444p`.
#[expect(
    clippy::many_single_char_names,
    reason = "w/h/n/d/k are the names ffmpeg's own filter docs use"
)]
fn transition_graph(
    cx: &SegmentContext<'_>,
    ci: usize,
    (tail, head): (&str, &str),
    n: u64,
    inv: &mut Invocation,
    inputs: &mut usize,
) -> Result<String, MediaError> {
    let plan = cx.plan;
    let kind = plan.transitions[ci].1.as_str();
    let d = secs(plan.rate.seconds(n));
    let (w, h) = (plan.width, plan.height);
    if PLANE_BY_PLANE.contains(&kind) {
        let xf =
            |p: &str| format!("[t{p}][h{p}]xfade=transition={kind}:duration={d}:offset=0[x{p}];");
        let planes = format!(
            "extractplanes=y+u+v[hy][hu][hv];{}{}{}[xy][xu][xv]mergeplanes=0x001020:yuv420p",
            xf("y"),
            xf("u"),
            xf("v")
        );
        // A slide's first frame (progress 1) is the outgoing clip's frame as it is; ffmpeg's
        // slideup and slideleft draw its first row or column from past the plane's end
        // (whatever the buffer held before: a stray line that changes from run to run), so
        // that frame is taken from the tail itself.
        if kind.starts_with("slide") {
            return Ok(format!(
                "[{tail}]split=2[tf][tx];[tf]trim=end_frame=1[xf];\
                 [tx]extractplanes=y+u+v[ty][tu][tv];[{head}]{planes},\
                 trim=start_frame=1:end_frame={n},setpts=PTS-STARTPTS[xr];\
                 [xf][xr]concat=n=2:v=1:a=0[x]"
            ));
        }
        return Ok(format!(
            "[{tail}]extractplanes=y+u+v[ty][tu][tv];[{head}]{planes},trim=end_frame={n}[x]"
        ));
    }
    let mask_bytes = n * u64::from(w) * u64::from(h) * 3 / 2;
    if let Some(work) = cx.work.filter(|_| kind == "dissolve" && mask_bytes <= DISSOLVE_MASK_BUDGET)
    {
        let file = work.join(format!("dissolve{ci:05}.yuv"));
        write_dissolve_masks(&file, w, h, n)?;
        inv.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", &format!("{w}x{h}")]);
        inv.args(["-framerate", &plan.rate.expr(), "-i"]).arg(crate::tools::file_arg(&file));
        let k = *inputs;
        *inputs += 1;
        // `threshold`: a mask pixel (0 or 255) under the grey frame's (126 and 128) takes the
        // head's pixel, else the tail's.
        return Ok(format!(
            "[{k}:v]setpts=PTS-STARTPTS[xm];color=c=gray:s={w}x{h}:r={},format=yuv420p[xg];\
             [xm][xg][{head}][{tail}]threshold,trim=end_frame={n}[x]",
            plan.rate.expr()
        ));
    }
    Ok(format!(
        "[{tail}][{head}]xfade=transition={kind}:duration={d}:offset=0,trim=end_frame={n}[x]"
    ))
}

/// `xfade`'s noise for the dissolve at pixel (x, y), as ffmpeg computes it (`frand`).
fn dissolve_noise(x: u32, y: u32) -> f32 {
    #[expect(clippy::cast_precision_loss, reason = "ffmpeg converts the same ints to float")]
    let r = (x as f32 * 12.9898 + y as f32 * 78.233).sin() * 43758.545;
    r - r.floor()
}

/// Writes the `n` masks of a dissolve of `w`x`h` frames to `file` as raw `yuv420p`: 255 where
/// frame `k` still shows the clip going out, 0 where it shows the clip coming in, by
/// `xfade`'s rule (`noise * 2 + progress * 2 - 1.5 >= 0.5`, progress falling from 1 by 1/n a
/// frame); the chroma planes take the choice of each 2x2 block's top-left pixel.
#[expect(clippy::many_single_char_names, reason = "w/h/n, u/v: the picture's own names")]
fn write_dissolve_masks(file: &Path, w: u32, h: u32, n: u64) -> Result<(), MediaError> {
    use std::io::Write as _;
    let err = |e| MediaError::io(format!("writing the dissolve's masks `{}`", file.display()), e);
    let noise: Vec<f32> =
        (0..h).flat_map(|y| (0..w).map(move |x| dissolve_noise(x, y) * 2.0)).collect();
    let (cw, ch) = (w as usize / 2, h as usize / 2);
    let mut frame = vec![0u8; w as usize * h as usize + 2 * cw * ch];
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).map_err(err)?);
    for k in 0..n {
        #[expect(clippy::cast_precision_loss, reason = "frame counts are far below 2^24")]
        let progress = 1.0 - k as f32 / n as f32;
        let p2 = progress * 2.0;
        let (luma, chroma) = frame.split_at_mut(w as usize * h as usize);
        for (m, v) in luma.iter_mut().zip(&noise) {
            *m = if v + p2 - 1.5 >= 0.5 { 255 } else { 0 };
        }
        let (u, v) = chroma.split_at_mut(cw * ch);
        for y in 0..ch {
            for x in 0..cw {
                let m = luma[2 * y * w as usize + 2 * x];
                u[y * cw + x] = m;
                v[y * cw + x] = m;
            }
        }
        out.write_all(&frame).map_err(err)?;
    }
    out.flush().map_err(err)
}

/// x264's options with `stitchable=1`: headers that do not depend on the frames encoded, so
/// every segment encoded with the same settings carries the same parameter sets and the
/// segments splice into one track with one `avcC`.
fn stitchable(args: &[String]) -> Vec<String> {
    let mut args = args.to_vec();
    match args.iter().position(|a| a == "-x264-params") {
        Some(k) if k + 1 < args.len() => args[k + 1].push_str(":stitchable=1"),
        _ => args.extend(["-x264-params".into(), "stitchable=1".into()]),
    }
    args
}

/// Joins segment files, each encoded by its own run, into one video track at `out`, by stream
/// copy: every file whole, from its first frame (x264 opens every run with an IDR picture) to
/// its last; with `sound` copied in beside it when given (the output then needs no mux run).
/// The inner `Err` says why the files cannot be spliced: one does not hold exactly its
/// segment's frames, or their parameter sets differ under one id (the same x264 settings give
/// the same sets, so this is not expected).
pub(super) fn splice_segments(
    files: &[(PathBuf, u64)],
    rate: Rate,
    out: &Path,
    sound: Option<&crate::mp4::SoundTrack>,
) -> Result<Result<(), String>, MediaError> {
    let mut sources = Vec::with_capacity(files.len());
    for (file, frames) in files {
        let s = match splice::analyse(file) {
            Ok(s) => s,
            Err(why) => return Ok(Err(why)),
        };
        if s.frames() != *frames {
            let name = file.display();
            return Ok(Err(format!(
                "`{name}` holds {} frames where the plan has {frames}",
                s.frames()
            )));
        }
        sources.push(s);
    }
    let refs: Vec<&splice::SourceVideo> = sources.iter().collect();
    let takes: Vec<splice::Take> = sources
        .iter()
        .enumerate()
        .map(|(source, s)| splice::Take { source, frames: 0..s.frames() })
        .collect();
    let layout = match splice::layout(&refs, &takes) {
        Ok(l) => l,
        Err(why) => return Ok(Err(why)),
    };
    splice::write(out, &refs, &layout, (rate.num, rate.den), sound)?;
    Ok(Ok(()))
}

/// Bytes of one raw `yuv420p` frame (even sizes: the planner makes them so).
pub(super) fn frame_bytes(plan: &Plan) -> u64 {
    u64::from(plan.width) * u64::from(plan.height) * 3 / 2
}

/// The one encoder: raw frames from standard input to a video-only file.
pub(super) fn encoder_invocation(plan: &Plan, video: &VideoEncoder, out: &Path) -> Invocation {
    let mut inv = Invocation::new("encoding the video");
    let size = format!("{}x{}", plan.width, plan.height);
    inv.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", &size]);
    inv.args(["-framerate", &plan.rate.expr(), "-i", "pipe:0"]);
    if let Some(upload) = video.filter_tail.strip_prefix(',') {
        inv.args(["-vf", upload]);
    }
    inv.args(["-map", "0:v:0", "-an", "-frames:v", &plan.total_frames.to_string()]);
    video.apply(&mut inv);
    inv.args(["-f", "mp4"]).arg(out.as_os_str());
    inv
}

#[cfg(test)]
mod tests {
    use super::super::plan::{PlannedClip, segments};
    use super::*;
    use crate::rate::Rate;
    use crate::timeline::Clip;
    use crate::tools::encoder::{Container, Encoding};

    #[test]
    fn vaapi_uploads_in_the_encoder_and_segments_stay_raw() {
        let clip = PlannedClip {
            clip: Clip::default(),
            source: Source::Color { color: "black".into() },
            from: 0.0,
            frames: 30,
            audio: false,
            keyframes: Vec::new(),
        };
        let encoders: std::collections::BTreeSet<String> =
            ["libx264", "h264_vaapi"].map(String::from).into();
        let support =
            crate::tools::encoder::EncoderSupport { encoders: &encoders, vaapi_device: true };
        let encoding = Encoding { hardware: Some(crate::Hardware::Vaapi), ..Encoding::default() };
        let video = encoding.compile_video(support, 64, 36, 30.0).unwrap();
        let plan = Plan {
            width: 64,
            height: 36,
            rate: Rate { num: 30, den: 1 },
            clips: vec![clip.clone(), clip],
            transitions: vec![(10, "fade".into()), (0, String::new())],
            total_frames: 50,
            container: Container::Mp4,
            encoding,
            sample_rate: 48_000,
        };
        let tl = Timeline {
            output: crate::timeline::Output::default(),
            clips: Vec::new(),
            texts: Vec::new(),
            audio: Vec::new(),
            overlays: Vec::new(),
            subtitles: None,
        };
        let work = tempfile::tempdir().unwrap();
        let cx = SegmentContext { tl: &tl, plan: &plan, captions: None, work: None };
        let segs = segments(&plan);
        assert_eq!(segs.len(), 2);
        for (i, seg) in segs.iter().enumerate() {
            let a = segment_invocation(&cx, (i, 2), seg, Frames::Raw, None).unwrap().display_args();
            let g = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
            assert!(g.ends_with(",format=yuv420p[v]"), "{g}");
            assert!(a.ends_with(&["rawvideo", "-pix_fmt", "yuv420p", "pipe:1"].map(String::from)));
            assert!(!a.iter().any(|x| x.contains("vaapi") || x == "-c:v"), "{a:?}");
        }
        let a = encoder_invocation(&plan, &video, &work.path().join("v.mp4")).display_args();
        assert_eq!(
            &a[..4],
            ["-init_hw_device", "vaapi=va:/dev/dri/renderD128", "-filter_hw_device", "va"]
        );
        assert!(a.windows(2).any(|w| w == ["-i", "pipe:0"]));
        assert!(a.windows(2).any(|w| w == ["-vf", "format=nv12,hwupload"]));
        assert!(a.windows(2).any(|w| w == ["-c:v", "h264_vaapi"]));
        assert!(a.windows(2).any(|w| w == ["-frames:v", "50"]));
    }

    fn transition_plan(kind: &str, n: u64) -> Plan {
        let clip = PlannedClip {
            clip: Clip::default(),
            source: Source::Color { color: "black".into() },
            from: 0.0,
            frames: 30,
            audio: false,
            keyframes: Vec::new(),
        };
        Plan {
            width: 160,
            height: 90,
            rate: Rate { num: 30, den: 1 },
            clips: vec![clip.clone(), clip],
            transitions: vec![(n, kind.into()), (0, String::new())],
            total_frames: 60 - n,
            container: Container::Mp4,
            encoding: Encoding::default(),
            sample_rate: 48_000,
        }
    }

    /// Each frame's MD5 of one plane (`y`, `u` or `v`) of a graph over two test patterns,
    /// `[t]` and `[h]`, ending in `[x]`.
    fn plane_hashes(ff: &crate::Ffmpeg, inv: &Invocation, graph: &str, plane: &str) -> Vec<String> {
        let out = std::process::Command::new(ff.ffmpeg_path())
            .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc2=s=160x90:r=30:d=1,noise=alls=40:allf=t")
            .args(["-f", "lavfi", "-i", "smptehdbars=s=160x90:r=30:d=1"])
            .args(&inv.args)
            .arg("-filter_complex")
            .arg(format!(
                "[0:v]format=yuv420p[t];[1:v]format=yuv420p[h];{graph};[x]format=yuv420p,extractplanes={plane}[o]"
            ))
            .args(["-map", "[o]", "-f", "framemd5", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
            .collect()
    }

    #[test]
    fn transitions_drawn_without_yuv444p_show_xfades_picture() {
        let ff = crate::Ffmpeg::locate().expect("ffmpeg must be installed for these tests");
        let work = tempfile::tempdir().unwrap();
        let tl = Timeline {
            output: crate::timeline::Output::default(),
            clips: Vec::new(),
            texts: Vec::new(),
            audio: Vec::new(),
            overlays: Vec::new(),
            subtitles: None,
        };
        let n = 12;
        for kind in ["fade", "wipeleft", "slideup", "dissolve", "circleopen"] {
            let plan = transition_plan(kind, n);
            let cx =
                SegmentContext { tl: &tl, plan: &plan, captions: None, work: Some(work.path()) };
            let mut inv = Invocation::new("");
            let mut inputs = 2;
            let graph = transition_graph(&cx, 0, ("t", "h"), n, &mut inv, &mut inputs).unwrap();
            let reference = format!(
                "[t][h]xfade=transition={kind}:duration={}:offset=0,trim=end_frame={n},format=yuv420p[x]",
                secs(plan.rate.seconds(n))
            );
            let mine = plane_hashes(&ff, &inv, &graph, "y");
            assert_eq!(mine.len(), 12, "{kind}: {graph}");
            // The luma is xfade's own, pixel for pixel, whichever way it was drawn. (Not the
            // first frame of a slide: ffmpeg 5.1's `xfade` writes that frame's top row from
            // past the plane's end, differently from run to run, in either format; ours is
            // the tail's frame, checked below.)
            let skip = usize::from(kind.starts_with("slide"));
            let theirs = plane_hashes(&ff, &Invocation::new(""), &reference, "y");
            assert_eq!(mine[skip..], theirs[skip..], "{kind}");
            match kind {
                "circleopen" => assert!(graph.contains("xfade=transition=circleopen"), "{graph}"),
                "dissolve" => {
                    assert!(graph.contains("threshold") && !graph.contains("xfade"), "{graph}");
                    assert_eq!(inputs, 3);
                    // One mask per frame, raw yuv420p, read as the third input.
                    let masks = work.path().join("dissolve00000.yuv");
                    assert_eq!(std::fs::metadata(&masks).unwrap().len(), 12 * 160 * 90 * 3 / 2);
                    assert!(inv.display_args().iter().any(|a| a.ends_with("dissolve00000.yuv")));
                }
                _ => {
                    assert!(graph.contains("extractplanes") && graph.contains("mergeplanes"));
                    assert!(!graph.contains("yuv444p"), "{graph}");
                    // The chroma planes are crossfaded as they are, not through yuv444p, so
                    // they differ from the round trip's; the first frame is the tail's own.
                    let u = plane_hashes(&ff, &inv, &graph, "u");
                    assert_eq!(u.len(), 12);
                    let first = "[t]trim=end_frame=1[x];[h]nullsink";
                    assert_eq!(u[0], plane_hashes(&ff, &inv, first, "u")[0], "{kind}");
                    assert_eq!(mine[0], plane_hashes(&ff, &inv, first, "y")[0], "{kind}");
                }
            }
        }
    }

    #[test]
    #[expect(clippy::many_single_char_names, reason = "a picture's w/h/x/y")]
    fn a_dissolves_masks_follow_xfades_rule() {
        let work = tempfile::tempdir().unwrap();
        let file = work.path().join("m.yuv");
        let (w, h, n) = (64u32, 36u32, 8u64);
        write_dissolve_masks(&file, w, h, n).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let size = (w * h * 3 / 2) as usize;
        assert_eq!(bytes.len(), size * n as usize);
        let mut shown = Vec::new();
        for (k, frame) in bytes.chunks(size).enumerate() {
            assert!(frame.iter().all(|&b| b == 0 || b == 255));
            let (luma, chroma) = frame.split_at((w * h) as usize);
            // Each chroma sample takes its 2x2 block's top-left choice.
            let cw = (w / 2) as usize;
            for (i, &c) in chroma[..chroma.len() / 2].iter().enumerate() {
                let (x, y) = (i % cw, i / cw);
                assert_eq!(c, luma[2 * y * w as usize + 2 * x], "frame {k} chroma {i}");
            }
            assert_eq!(chroma[..chroma.len() / 2], chroma[chroma.len() / 2..]);
            shown.push(luma.iter().map(|&b| usize::from(b == 255)).sum::<usize>());
        }
        // The clip going out shows whole at first, then less each frame.
        assert_eq!(shown[0], (w * h) as usize);
        assert!(shown.windows(2).all(|p| p[1] < p[0]), "{shown:?}");
        assert!(shown[n as usize - 1] < (w * h) as usize / 4, "{shown:?}");
    }

    #[test]
    fn segments_encoded_alone_splice_into_one_track_or_say_why_not() {
        let ff = crate::Ffmpeg::locate().expect("ffmpeg must be installed for these tests");
        let dir = tempfile::tempdir().unwrap();
        let encode = |name: &str, pattern: &str, frames: u32, crf: &str, stitch: bool| {
            let out = dir.path().join(name);
            let encoder = Encoding { crf: crf.parse().ok(), ..Encoding::default() };
            let support = crate::tools::encoder::EncoderSupport {
                encoders: &["libx264".to_string()].into(),
                vaapi_device: false,
            };
            let video = encoder.compile_video(support, 160, 90, 30.0).unwrap();
            let args = if stitch { stitchable(&video.args) } else { video.args.clone() };
            let status = std::process::Command::new(ff.ffmpeg_path())
                .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
                .arg(format!("{pattern}=s=160x90:r=30"))
                .args(["-frames:v", &frames.to_string()])
                .args(&args)
                .arg(&out)
                .status()
                .unwrap();
            assert!(status.success());
            out
        };
        let rate = Rate { num: 30, den: 1 };
        let a = encode("a.mp4", "testsrc2", 30, "20", true);
        let b = encode("b.mp4", "smptebars", 17, "20", true);
        let out = dir.path().join("out.mp4");
        splice_segments(&[(a.clone(), 30), (b.clone(), 17)], rate, &out, None).unwrap().unwrap();
        let joined = splice::analyse(&out).unwrap();
        assert_eq!(joined.frames(), 47);
        // One set of parameter sets for both: x264 with the same settings, stitchable.
        assert_eq!(joined.avcc(), splice::analyse(&a).unwrap().avcc());
        assert!(joined.cuts.starts.contains(&30), "{:?}", joined.cuts);
        // A file that does not hold its segment's frames is refused, not spliced short.
        let why = splice_segments(&[(a.clone(), 31)], rate, &out, None).unwrap().unwrap_err();
        assert!(why.contains("holds 30 frames"), "{why}");
        // So are files whose headers differ under one id (another quality, not stitchable).
        let c = encode("c.mp4", "testsrc", 10, "35", false);
        let why = splice_segments(&[(a, 30), (c, 10)], rate, &out, None).unwrap().unwrap_err();
        assert!(why.contains("share the id"), "{why}");
    }
}
