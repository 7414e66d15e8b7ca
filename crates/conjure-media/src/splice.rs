//! Splicing H.264 video without decoding it: whole GOPs copied byte for byte from sources,
//! joined with freshly encoded runs, written as one MP4 video track by a minimal writer.
//!
//! Why it exists: a smart render re-encodes only the frames an edit changes (transitions,
//! captions, fades) and copies every other GOP. ffmpeg's concat demuxer cannot do that
//! frame-exactly (it cuts on timestamps, keeps one codec configuration and drops or repeats
//! frames at seams), so the sample tables are laid out here. A full render's segments, each
//! encoded by its own run, are joined the same way, and there the writer also copies the
//! soundtrack's AAC track in (`write` with a [`SoundTrack`]), so no ffmpeg run muxes the
//! output; the smart render still muxes its result by stream copy.
//!
//! Key terms:
//! - *frame*: a presented picture, numbered in presentation order from 0; a *sample* is its
//!   coded access unit, numbered in decode order.
//! - *cut point*: a frame `k` where a source may be split: sample `k` is an IDR picture and
//!   the samples before it in decode order present exactly the frames before it (a closed
//!   GOP), so decode index and frame number agree on both sides. The frame count is a cut
//!   point too.
//! - *closed end*: a frame count `e` such that the samples before `e` in decode order present
//!   exactly the frames before `e`. Every cut point is one; so is the end of each B-frame group
//!   inside a GOP. A copy may stop at any closed end: a sample only refers to samples before it
//!   in decode order, so the first samples of a GOP decode alone, and the next piece starts with
//!   an IDR picture anyway.
//! - *GOP*: the frames between two consecutive cut points.
//! - *piece*: what [`plan`] returns, a run of output frames either copied from one source
//!   ([`Piece::Copy`]: from a cut point to a closed end) or re-encoded ([`Piece::Encode`]).
//! - *delay* `D`: the largest B-frame reordering over the pieces; output samples get decode
//!   times `i - D` frames and an edit list starts presentation at frame 0.
//!
//! Parameter sets: copied samples refer to their source's SPS/PPS by id, and re-encoded ones
//! to the encoder's (x264 `sps-id=N`, which numbers both the SPS and the PPS `N`). The output's
//! `avcC` holds every distinct set; two different sets with one id cannot both be there, and
//! [`layout`] refuses that. What this module does not do: decide which frames change or
//! whether the sources are eligible (the render's `smart` room does), or encode anything.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::MediaError;
use crate::mp4::{Sample, SoundTrack, VideoTrack, pps_ids, read_video_track, sps_id};

/// Where one output frame comes from, as the render sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Frame `source_frame` of source `source`, shown unchanged.
    Pristine {
        /// Index into the sources.
        source: usize,
        /// The source's frame number (presentation order).
        source_frame: u64,
    },
    /// Anything else: a transition, a caption, a fade, an image or colour clip.
    Changed,
}

/// A run of output frames and how it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Whole GOPs of one source, copied: source frames `frames`, output frames from
    /// `out_start`.
    Copy {
        /// Index into the sources.
        source: usize,
        /// Source frames (presentation order), from a cut point to a closed end.
        frames: Range<u64>,
        /// First output frame.
        out_start: u64,
    },
    /// Output frames to re-encode.
    Encode {
        /// Output frames.
        output_frames: Range<u64>,
    },
}

impl Piece {
    /// Output frames the piece covers.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::Copy { frames, .. } => frames.end - frames.start,
            Self::Encode { output_frames } => output_frames.end - output_frames.start,
        }
    }
}

/// Where a source may be cut (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cuts {
    /// Cut points (closed-GOP IDR frames) in increasing order: where a copy may start.
    pub starts: Vec<u64>,
    /// Closed ends in increasing order, the frame count last: where a copy may stop.
    pub ends: Vec<u64>,
}

impl Cuts {
    /// Whole GOPs only: copies start at `starts` and stop at the next one or at `frames`.
    #[cfg(test)]
    pub(crate) fn gops(starts: &[u64], frames: u64) -> Self {
        let ends = starts.iter().copied().filter(|&s| s > 0).chain([frames]).collect();
        Self { starts: starts.to_vec(), ends }
    }
}

/// Splits the output into copied runs and re-encoded runs: a pure function.
///
/// `cuts[s]` says where source `s` may be cut. A run of output frames showing source frames
/// `f, f+1, ...` unchanged is copied from `f` when `f` is a cut point, up to the last closed
/// end the run reaches; every other frame is re-encoded, so an encoded run reaches from a closed
/// end (or the start) to the next copied cut point (or the end): at most the frames from the
/// B-frame group before a change to the keyframe after it. Adjacent copies of one source merge
/// into one piece.
pub(crate) fn plan(frames: &[Origin], cuts: &[Cuts]) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let n = frames.len();
    let mut o = 0usize;
    while o < n {
        if let Some((source, run)) = copyable_run(frames, cuts, o) {
            let len = run.end - run.start;
            match out.last_mut() {
                Some(Piece::Copy { source: s, frames: f, .. })
                    if *s == source && f.end == run.start =>
                {
                    f.end = run.end;
                }
                _ => out.push(Piece::Copy { source, frames: run, out_start: o as u64 }),
            }
            o += usize::try_from(len).unwrap_or(usize::MAX);
        } else {
            match out.last_mut() {
                Some(Piece::Encode { output_frames }) if output_frames.end == o as u64 => {
                    output_frames.end += 1;
                }
                _ => out.push(Piece::Encode { output_frames: o as u64..o as u64 + 1 }),
            }
            o += 1;
        }
    }
    out
}

/// The source frames that can be copied from output frame `o` on: from a cut point to the last
/// closed end the output still shows unchanged and in order.
fn copyable_run(frames: &[Origin], cuts: &[Cuts], o: usize) -> Option<(usize, Range<u64>)> {
    let Origin::Pristine { source, source_frame } = frames[o] else { return None };
    let cuts = cuts.get(source)?;
    cuts.starts.binary_search(&source_frame).ok()?;
    let shown = frames[o..]
        .iter()
        .zip(source_frame..)
        .take_while(|(f, want)| **f == Origin::Pristine { source, source_frame: *want })
        .count() as u64;
    let reach = cuts.ends.partition_point(|&e| e <= source_frame + shown);
    let end = *cuts.ends[..reach].last()?;
    (end > source_frame).then_some((source, source_frame..end))
}

/// A source's video track, read and checked for splicing.
#[derive(Debug, Clone)]
pub(crate) struct SourceVideo {
    /// The file.
    pub path: PathBuf,
    track: VideoTrack,
    /// Track units per frame.
    delta: u64,
    /// Frame number (presentation order) of each sample (decode order).
    shown: Vec<u64>,
    /// Where the track may be cut.
    pub cuts: Cuts,
}

impl SourceVideo {
    /// Frames in the track.
    pub(crate) fn frames(&self) -> u64 {
        self.shown.len() as u64
    }

    /// The track's `avcC` record.
    pub(crate) fn avcc(&self) -> &[u8] {
        &self.track.avcc
    }

    /// Whether the track's frame rate is `num/den` exactly.
    pub(crate) fn has_rate(&self, num: u32, den: u32) -> bool {
        u128::from(self.delta) * u128::from(num)
            == u128::from(self.track.timescale) * u128::from(den)
    }
}

/// Reads `path`'s video track and finds its cut points, or says why it cannot be spliced.
pub(crate) fn analyse(path: &Path) -> Result<SourceVideo, String> {
    let name = path.display();
    let track = read_video_track(path).ok_or_else(|| {
        format!("`{name}` is not an MP4/MOV file with one plain H.264 track the splicer reads")
    })?;
    let n = track.samples.len();
    if n == 0 {
        return Err(format!("`{name}` has no video frames"));
    }
    let delta = track.samples.get(1).map_or(1, |s| s.dts);
    if delta == 0 || track.samples.iter().zip(0u64..).any(|(s, i)| s.dts != i * delta) {
        return Err(format!("`{name}` does not have a constant frame rate"));
    }
    let mut shown = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for s in &track.samples {
        let t = s.dts.cast_signed() + s.cts_offset - track.media_start;
        let f = u64::try_from(t).ok().filter(|t| t % delta == 0).map(|t| t / delta);
        match f.and_then(|f| usize::try_from(f).ok()).filter(|&f| f < n && !seen[f]) {
            Some(f) => {
                seen[f] = true;
                shown.push(f as u64);
            }
            None => return Err(format!("`{name}` has presentation times off its frame grid")),
        }
    }
    let length_size = usize::from(track.avcc.get(4).map_or(3, |b| b & 3)) + 1;
    let mut file = File::open(path).map_err(|e| format!("`{name}` cannot be read ({e})"))?;
    let mut cuts = Cuts::default();
    let mut shown_max = None::<u64>;
    for (k, s) in track.samples.iter().enumerate() {
        let closed = shown_max.is_none_or(|m| m + 1 == k as u64);
        if closed && k > 0 {
            cuts.ends.push(k as u64);
        }
        if closed && s.sync && first_slice_is_idr(&mut file, s, length_size).unwrap_or(false) {
            cuts.starts.push(k as u64);
        }
        shown_max = Some(shown_max.map_or(shown[k], |m| m.max(shown[k])));
    }
    cuts.ends.push(n as u64);
    Ok(SourceVideo { path: path.to_path_buf(), track, delta, shown, cuts })
}

/// Whether the first slice NAL unit of a sample is an IDR slice (type 5).
fn first_slice_is_idr(file: &mut File, s: &Sample, length_size: usize) -> std::io::Result<bool> {
    let mut data = vec![0u8; s.size as usize];
    file.seek(SeekFrom::Start(s.offset))?;
    file.read_exact(&mut data)?;
    let mut pos = 0usize;
    while pos + length_size < data.len() {
        let len =
            data[pos..pos + length_size].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        let kind = data[pos + length_size] & 0x1f;
        if (1..=5).contains(&kind) {
            return Ok(kind == 5);
        }
        pos += length_size + len;
    }
    Ok(false)
}

/// Source frames `frames` of source `source` (from a cut point to a closed end), in output
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Take {
    /// Index into the sources given to [`layout`].
    pub source: usize,
    /// Source frames.
    pub frames: Range<u64>,
}

/// One output sample: where its bytes are and how it is timed.
#[derive(Debug, Clone, Copy)]
struct Placed {
    source: usize,
    offset: u64,
    size: u32,
    sync: bool,
    /// Composition offset in frames (presented index - decode index + delay).
    ctts: u64,
}

/// The output track, decided before a byte is written.
#[derive(Debug)]
pub(crate) struct Layout {
    samples: Vec<Placed>,
    /// Where each take's samples start in `samples` (a take is one chunk).
    chunks: Vec<usize>,
    delay: u64,
    entry: Vec<u8>,
    width: u32,
    height: u32,
}

impl Layout {
    /// Frames of the output track.
    pub(crate) fn frames(&self) -> u64 {
        self.samples.len() as u64
    }
}

/// Lays out the takes as one track, or says why they cannot be spliced (a take not from a cut
/// point to a closed end, different picture sizes or NAL length fields, clashing parameter sets).
pub(crate) fn layout(sources: &[&SourceVideo], takes: &[Take]) -> Result<Layout, String> {
    let first = sources.get(takes.first().ok_or("nothing to splice")?.source).ok_or("no source")?;
    let mut used: Vec<usize> = takes.iter().map(|t| t.source).collect();
    used.sort_unstable();
    used.dedup();
    let mut configs = Vec::with_capacity(used.len());
    for &s in &used {
        let src = sources.get(s).ok_or("a take names a missing source")?;
        if (src.track.width, src.track.height) != (first.track.width, first.track.height) {
            return Err(format!(
                "`{}` is {}x{} where `{}` is {}x{}",
                src.path.display(),
                src.track.width,
                src.track.height,
                first.path.display(),
                first.track.width,
                first.track.height
            ));
        }
        configs.push(src.track.avcc.as_slice());
    }
    let avcc = merge_avcc(&configs)?;
    let mut samples = Vec::new();
    let mut chunks = Vec::with_capacity(takes.len());
    let mut delay = 0u64;
    for t in takes {
        let src = sources[t.source];
        if t.frames.is_empty() {
            continue;
        }
        if src.cuts.starts.binary_search(&t.frames.start).is_err()
            || src.cuts.ends.binary_search(&t.frames.end).is_err()
        {
            return Err(format!(
                "frames {}..{} of `{}` do not start at a closed-GOP IDR frame and end where \
                 the frames before are complete",
                t.frames.start,
                t.frames.end,
                src.path.display()
            ));
        }
        chunks.push(samples.len());
        let out_start = samples.len() as u64;
        for k in t.frames.start..t.frames.end {
            let s = src.track.samples[k as usize];
            let shown = src.shown[k as usize];
            delay = delay.max(k.saturating_sub(shown));
            // Stored as the presented output index for now; made an offset below.
            samples.push(Placed {
                source: t.source,
                offset: s.offset,
                size: s.size,
                sync: s.sync,
                ctts: out_start + (shown - t.frames.start),
            });
        }
    }
    for (i, s) in samples.iter_mut().enumerate() {
        s.ctts = s.ctts + delay - i as u64;
    }
    let entry = with_avcc(&first.track.entry, &avcc).ok_or("the sample entry is malformed")?;
    Ok(Layout {
        samples,
        chunks,
        delay,
        entry,
        width: first.track.width,
        height: first.track.height,
    })
}

/// The NAL units of an `avcC`: `(header fields, SPS list, PPS list, trailing bytes)`.
type AvcConfig<'a> = ([u8; 5], Vec<&'a [u8]>, Vec<&'a [u8]>, &'a [u8]);

fn parse_avcc(avcc: &[u8]) -> Option<AvcConfig<'_>> {
    let head: [u8; 5] = avcc.get(..5)?.try_into().ok()?;
    if head[0] != 1 {
        return None;
    }
    let mut pos = 5;
    let take = |count: usize, pos: &mut usize| -> Option<Vec<&[u8]>> {
        (0..count)
            .map(|_| {
                let len =
                    usize::from(u16::from_be_bytes(avcc.get(*pos..*pos + 2)?.try_into().ok()?));
                let nal = avcc.get(*pos + 2..*pos + 2 + len)?;
                *pos += 2 + len;
                Some(nal)
            })
            .collect()
    };
    let sps_count = usize::from(avcc.get(pos)? & 0x1f);
    pos += 1;
    let sps = take(sps_count, &mut pos)?;
    let pps_count = usize::from(*avcc.get(pos)?);
    pos += 1;
    let pps = take(pps_count, &mut pos)?;
    Some((head, sps, pps, avcc.get(pos..)?))
}

/// Every SPS id and PPS id an `avcC` uses.
pub(crate) fn parameter_set_ids(avcc: &[u8]) -> Option<Vec<u32>> {
    let (_, sps, pps, _) = parse_avcc(avcc)?;
    let mut ids: Vec<u32> = sps.iter().map(|n| sps_id(n)).collect::<Option<_>>()?;
    for n in pps {
        ids.push(pps_ids(n)?.0);
    }
    Some(ids)
}

/// One `avcC` holding every distinct SPS and PPS of `configs`, or why there cannot be one
/// (different NAL length fields or profiles, two different sets with one id).
pub(crate) fn merge_avcc(configs: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut head: Option<[u8; 5]> = None;
    let mut trailer: &[u8] = &[];
    let mut sps: Vec<(u32, &[u8])> = Vec::new();
    let mut pps: Vec<(u32, &[u8])> = Vec::new();
    for c in configs {
        let (h, s, p, t) = parse_avcc(c).ok_or("an `avcC` record is malformed")?;
        match &mut head {
            None => {
                head = Some(h);
                trailer = t;
            }
            Some(have) => {
                if have[1] != h[1] || have[4] != h[4] {
                    return Err("the clips differ in H.264 profile or NAL length field".into());
                }
                // The highest level any part needs.
                have[3] = have[3].max(h[3]);
                have[2] &= h[2];
            }
        }
        for nal in s {
            let id = sps_id(nal).ok_or("an SPS is malformed")?;
            add_set(&mut sps, id, nal, "SPS")?;
        }
        for nal in p {
            let (id, _) = pps_ids(nal).ok_or("a PPS is malformed")?;
            add_set(&mut pps, id, nal, "PPS")?;
        }
    }
    let head = head.ok_or("no codec configuration")?;
    if sps.len() > 31 || pps.len() > 255 {
        return Err("too many parameter sets".into());
    }
    let mut out = head.to_vec();
    out.push(0xe0 | sps.len() as u8);
    for (_, nal) in &sps {
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out.push(pps.len() as u8);
    for (_, nal) in &pps {
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out.extend_from_slice(trailer);
    Ok(out)
}

fn add_set<'a>(
    sets: &mut Vec<(u32, &'a [u8])>,
    id: u32,
    nal: &'a [u8],
    what: &str,
) -> Result<(), String> {
    match sets.iter().find(|(i, _)| *i == id) {
        Some((_, have)) if *have == nal => Ok(()),
        Some(_) => {
            Err(format!("two different {what}s share the id {id}, so one file cannot carry both"))
        }
        None => {
            sets.push((id, nal));
            Ok(())
        }
    }
}

/// The `avc1` sample entry with its `avcC` replaced and its `btrt` (bit rates of the old
/// stream) dropped.
fn with_avcc(entry: &[u8], avcc: &[u8]) -> Option<Vec<u8>> {
    const FIELDS: usize = 78;
    let mut out = entry.get(..FIELDS)?.to_vec();
    let mut pos = FIELDS;
    while pos < entry.len() {
        let size = u32::from_be_bytes(entry.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let kind = entry.get(pos + 4..pos + 8)?;
        let whole = entry.get(pos..pos.checked_add(size)?)?;
        if size < 8 {
            return None;
        }
        match kind {
            b"avcC" => out.extend_from_slice(&boxed(*b"avcC", avcc)),
            b"btrt" => {}
            _ => out.extend_from_slice(whole),
        }
        pos += size;
    }
    Some(boxed(*b"avc1", &out))
}

fn boxed(kind: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(&kind);
    out.extend_from_slice(body);
    out
}

/// A full box (version 0, `flags`).
fn full(kind: [u8; 4], flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = flags.to_be_bytes().to_vec();
    b[0] = 0;
    b.extend_from_slice(body);
    boxed(kind, &b)
}

/// An `stsc` box's body (after version and flags) for chunks holding `per_chunk` samples each:
/// one entry per run of chunks of the same count, all with sample description 1.
fn sample_to_chunk(per_chunk: impl IntoIterator<Item = u32>) -> Vec<u8> {
    let mut entries: Vec<(u32, u32)> = Vec::new();
    for (c, per) in per_chunk.into_iter().enumerate() {
        if entries.last().is_none_or(|&(_, p)| p != per) {
            entries.push((c as u32 + 1, per));
        }
    }
    let mut stsc = Vec::new();
    be32(&mut stsc, entries.len() as u32);
    for (first, per) in entries {
        be32(&mut stsc, first);
        be32(&mut stsc, per);
        be32(&mut stsc, 1);
    }
    stsc
}

fn be32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// One run of bytes in the output's `mdat`: a video take (a chunk of `layout.samples`) or the
/// sound samples played with it.
#[derive(Debug, Clone)]
enum Run {
    Video(Range<usize>),
    Sound(Range<usize>),
}

/// Writes the laid-out track to `out` as an MP4 file at `num/den` frames per second, with
/// `sound` (an AAC track read by [`crate::mp4::read_sound_track`]) copied in beside it when
/// given: the muxing the render would otherwise start an ffmpeg run for. The `moov` goes first
/// (what `-movflags +faststart` makes), and the sound is interleaved with the video take by
/// take, each take followed by the sound that plays up to its end.
pub(crate) fn write(
    out: &Path,
    sources: &[&SourceVideo],
    layout: &Layout,
    (num, den): (u32, u32),
    sound: Option<&SoundTrack>,
) -> Result<(), MediaError> {
    let io = |what: &str, e| MediaError::io(format!("{what} `{}`", out.display()), e);
    let too_long =
        || MediaError::option("splice", "the spliced video is too long for one MP4 track");
    // ffmpeg's own choice: the frame rate's denominator scaled to at least 10000 units a second.
    let mut scale = u64::from(num);
    let mut delta = u64::from(den);
    while scale < 10_000 {
        scale *= 2;
        delta *= 2;
    }
    let scale32 = u32::try_from(scale).map_err(|_| too_long())?;
    let delta32 = u32::try_from(delta).map_err(|_| too_long())?;
    let count = layout.samples.len() as u64;
    // The runs in file order: each take, then the sound up to the take's end.
    let mut runs = Vec::with_capacity(layout.chunks.len() * 2);
    let mut heard = 0usize;
    for (c, &start) in layout.chunks.iter().enumerate() {
        let end = layout.chunks.get(c + 1).copied().unwrap_or(layout.samples.len());
        runs.push(Run::Video(start..end));
        if let Some(t) = sound {
            let last = c + 1 == layout.chunks.len();
            // Sound samples starting before the take's end (times in seconds, cross-multiplied).
            let until = i128::from(end as u64 * delta) * i128::from(t.timescale);
            let upto = if last {
                t.samples.len()
            } else {
                heard
                    + t.samples[heard..]
                        .iter()
                        .take_while(|&&(_, _, dts)| {
                            (i128::from(dts) - i128::from(t.media_start)) * i128::from(scale)
                                < until
                        })
                        .count()
            };
            if upto > heard {
                runs.push(Run::Sound(heard..upto));
                heard = upto;
            }
        }
    }
    let size_of = |r: &Run| -> u64 {
        match r {
            Run::Video(v) => layout.samples[v.clone()].iter().map(|s| u64::from(s.size)).sum(),
            Run::Sound(a) => sound.map_or(0, |t| {
                t.samples[a.clone()].iter().map(|&(_, size, _)| u64::from(size)).sum()
            }),
        }
    };
    let data: u64 = runs.iter().map(size_of).sum();
    let ftyp = boxed(*b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    let large = data + 8 > u64::from(u32::MAX);
    let mdat_head = if large { 16 } else { 8 };
    let media_duration = u32::try_from(count * delta).map_err(|_| too_long())?;
    let movie_duration =
        u32::try_from((count * delta * 1000 + scale / 2) / scale).map_err(|_| too_long())?;
    // The `moov` goes before the data it points into, so its size moves every offset; its size
    // depends only on whether the offsets need 64 bits, so two rounds settle it.
    let mut moov_len = 0u64;
    let mut moov_box = Vec::new();
    for _ in 0..3 {
        let base = ftyp.len() as u64 + moov_len + mdat_head;
        let (mut video_offsets, mut sound_offsets) = (Vec::new(), Vec::new());
        let mut at = base;
        for r in &runs {
            match r {
                Run::Video(_) => video_offsets.push(at),
                Run::Sound(a) => sound_offsets.push((at, (a.end - a.start) as u32)),
            }
            at += size_of(r);
        }
        let sound_trak = match sound {
            Some(t) => Some(sound_trak(t, &sound_offsets).ok_or_else(|| {
                MediaError::option("splice", "the soundtrack's MP4 boxes could not be copied")
            })?),
            None => None,
        };
        let durations = (media_duration, movie_duration);
        moov_box = moov(layout, &video_offsets, (scale32, delta32), durations, sound_trak, sound);
        if moov_box.len() as u64 == moov_len {
            break;
        }
        moov_len = moov_box.len() as u64;
    }

    let file = File::create(out).map_err(|e| io("creating", e))?;
    let mut sink = BufWriter::with_capacity(1 << 20, file);
    sink.write_all(&ftyp).map_err(|e| io("writing", e))?;
    sink.write_all(&moov_box).map_err(|e| io("writing", e))?;
    if large {
        sink.write_all(&1u32.to_be_bytes())
            .and_then(|()| sink.write_all(b"mdat"))
            .and_then(|()| sink.write_all(&(data + 16).to_be_bytes()))
    } else {
        sink.write_all(&((data + 8) as u32).to_be_bytes()).and_then(|()| sink.write_all(b"mdat"))
    }
    .map_err(|e| io("writing", e))?;
    let mut files: Vec<Option<File>> = (0..=sources.len()).map(|_| None).collect();
    let mut buf = Vec::new();
    // Every run as (file index, offset, size) pieces; the sound file is index `sources.len()`.
    let pieces = runs.iter().flat_map(|r| -> Box<dyn Iterator<Item = (usize, u64, u32)> + '_> {
        match r {
            Run::Video(v) => {
                Box::new(layout.samples[v.clone()].iter().map(|s| (s.source, s.offset, s.size)))
            }
            Run::Sound(a) => Box::new(
                sound
                    .into_iter()
                    .flat_map(move |t| t.samples[a.clone()].iter())
                    .map(|&(offset, size, _)| (sources.len(), offset, size)),
            ),
        }
    });
    let mut pieces = pieces.peekable();
    while let Some((source, offset, size)) = pieces.next() {
        // Samples next to each other in one file are read in one go.
        let mut end = offset + u64::from(size);
        while let Some(&(s, o, z)) = pieces.peek() {
            if s != source || o != end || end - offset > 8 << 20 {
                break;
            }
            end += u64::from(z);
            pieces.next();
        }
        let path = match sources.get(source) {
            Some(s) => &s.path,
            None => &sound.map_or_else(PathBuf::new, |t| t.path.clone()),
        };
        let src_err = |e| MediaError::io(format!("reading `{}`", path.display()), e);
        let f = match &mut files[source] {
            Some(f) => f,
            slot => slot.insert(File::open(path).map_err(src_err)?),
        };
        buf.resize(usize::try_from(end - offset).unwrap_or(0), 0);
        f.seek(SeekFrom::Start(offset)).and_then(|_| f.read_exact(&mut buf)).map_err(src_err)?;
        sink.write_all(&buf).map_err(|e| io("writing", e))?;
    }
    sink.flush().map_err(|e| io("writing", e))?;
    Ok(())
}

/// The sound's `trak` with its chunks where they are in the new file (`chunks`: offset and
/// samples of each), its track id 2, everything else as the soundtrack's file had it.
fn sound_trak(t: &SoundTrack, chunks: &[(u64, u32)]) -> Option<Vec<u8>> {
    fn rebuild(kind: [u8; 4], body: &[u8], chunks: &[(u64, u32)]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(body.len());
        for (k, b) in crate::mp4::children(body)? {
            match &k {
                b"mdia" | b"minf" | b"stbl" => out.extend(rebuild(k, b, chunks)?),
                b"stsc" | b"stco" | b"co64" => {}
                b"tkhd" => {
                    let mut b = b.to_vec();
                    let at = if b.first() == Some(&1) { 20 } else { 12 };
                    b.get_mut(at..at + 4)?.copy_from_slice(&2u32.to_be_bytes());
                    out.extend(boxed(k, &b));
                }
                _ => out.extend(boxed(k, b)),
            }
        }
        if &kind == b"stbl" {
            out.extend(full(*b"stsc", 0, &sample_to_chunk(chunks.iter().map(|&(_, per)| per))));
            out.extend(chunk_offsets(chunks.iter().map(|&(o, _)| o)));
        }
        Some(boxed(kind, &out))
    }
    rebuild(*b"trak", &t.trak, chunks)
}

/// `stco`, or `co64` when an offset needs 64 bits.
fn chunk_offsets(offsets: impl Iterator<Item = u64> + Clone) -> Vec<u8> {
    let mut b = Vec::new();
    be32(&mut b, offsets.clone().count() as u32);
    if offsets.clone().all(|o| u32::try_from(o).is_ok()) {
        for o in offsets {
            be32(&mut b, o as u32);
        }
        full(*b"stco", 0, &b)
    } else {
        for o in offsets {
            b.extend_from_slice(&o.to_be_bytes());
        }
        full(*b"co64", 0, &b)
    }
}

#[expect(clippy::similar_names, reason = "the bindings are named after the MP4 boxes they fill")]
fn moov(
    layout: &Layout,
    offsets: &[u64],
    (scale, delta): (u32, u32),
    (media_duration, movie_duration): (u32, u32),
    sound_trak: Option<Vec<u8>>,
    sound: Option<&SoundTrack>,
) -> Vec<u8> {
    let n = layout.samples.len() as u32;
    // Creation and modification times are left 0 ("unknown"), as `-fflags +bitexact` does.
    let mut mvhd = vec![0u8; 8];
    be32(&mut mvhd, 1000);
    let longest = sound.map_or(0, |t| t.duration_ms).max(u64::from(movie_duration));
    be32(&mut mvhd, u32::try_from(longest).unwrap_or(u32::MAX));
    be32(&mut mvhd, 0x0001_0000);
    mvhd.extend_from_slice(&[1, 0]);
    mvhd.extend_from_slice(&[0; 10]);
    for &m in &MATRIX {
        be32(&mut mvhd, m);
    }
    mvhd.extend_from_slice(&[0; 24]);
    // The next free track id.
    be32(&mut mvhd, if sound_trak.is_some() { 3 } else { 2 });

    let mut tkhd = vec![0u8; 8];
    be32(&mut tkhd, 1);
    be32(&mut tkhd, 0);
    be32(&mut tkhd, movie_duration);
    tkhd.extend_from_slice(&[0; 8 + 2 + 2 + 2 + 2]);
    for &m in &MATRIX {
        be32(&mut tkhd, m);
    }
    be32(&mut tkhd, layout.width << 16);
    be32(&mut tkhd, layout.height << 16);

    // The B-frame delay is hidden by starting presentation `delay` frames into the media.
    let mut elst = Vec::new();
    be32(&mut elst, 1);
    be32(&mut elst, movie_duration);
    be32(&mut elst, (layout.delay * u64::from(delta)) as u32);
    be32(&mut elst, 0x0001_0000);
    let edts = boxed(*b"edts", &full(*b"elst", 0, &elst));

    let mut mdhd = vec![0u8; 8];
    be32(&mut mdhd, scale);
    be32(&mut mdhd, media_duration);
    mdhd.extend_from_slice(&[0x55, 0xc4, 0, 0]);
    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.extend_from_slice(b"VideoHandler\0");
    let vmhd = full(*b"vmhd", 1, &[0; 8]);
    let dref = full(*b"dref", 0, &[&1u32.to_be_bytes()[..], &full(*b"url ", 1, &[])].concat());
    let dinf = boxed(*b"dinf", &dref);

    let mut stsd = Vec::new();
    be32(&mut stsd, 1);
    stsd.extend_from_slice(&layout.entry);
    let mut stts = Vec::new();
    be32(&mut stts, 1);
    be32(&mut stts, n);
    be32(&mut stts, delta);
    let mut runs: Vec<(u32, u64)> = Vec::new();
    for s in &layout.samples {
        match runs.last_mut() {
            Some((count, off)) if *off == s.ctts => *count += 1,
            _ => runs.push((1, s.ctts)),
        }
    }
    let mut ctts = Vec::new();
    be32(&mut ctts, runs.len() as u32);
    for (count, off) in runs {
        be32(&mut ctts, count);
        be32(&mut ctts, (off * u64::from(delta)) as u32);
    }
    let syncs: Vec<u32> =
        (1..=n).zip(&layout.samples).filter(|(_, s)| s.sync).map(|(i, _)| i).collect();
    let mut stss = Vec::new();
    be32(&mut stss, syncs.len() as u32);
    for &i in &syncs {
        be32(&mut stss, i);
    }
    let mut stsz = vec![0u8; 4];
    be32(&mut stsz, n);
    for s in &layout.samples {
        be32(&mut stsz, s.size);
    }
    let stsc = sample_to_chunk(layout.chunks.iter().enumerate().map(|(c, &start)| {
        let end = layout.chunks.get(c + 1).copied().unwrap_or(layout.samples.len());
        (end - start) as u32
    }));
    let co = chunk_offsets(offsets.iter().copied());
    let mut stbl = full(*b"stsd", 0, &stsd);
    stbl.extend(full(*b"stts", 0, &stts));
    stbl.extend(full(*b"ctts", 0, &ctts));
    if syncs.len() < layout.samples.len() {
        stbl.extend(full(*b"stss", 0, &stss));
    }
    stbl.extend(full(*b"stsz", 0, &stsz));
    stbl.extend(full(*b"stsc", 0, &stsc));
    stbl.extend(co);
    let minf = boxed(*b"minf", &[vmhd, dinf, boxed(*b"stbl", &stbl)].concat());
    let mdia =
        boxed(*b"mdia", &[full(*b"mdhd", 0, &mdhd), full(*b"hdlr", 0, &hdlr), minf].concat());
    let trak = boxed(*b"trak", &[full(*b"tkhd", 3, &tkhd), edts, mdia].concat());
    boxed(*b"moov", &[full(*b"mvhd", 0, &mvhd), trak, sound_trak.unwrap_or_default()].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: usize = 0;
    const B: usize = 1;

    fn pristine(source: usize, frames: Range<u64>) -> Vec<Origin> {
        frames.map(|source_frame| Origin::Pristine { source, source_frame }).collect()
    }

    fn changed(n: usize) -> Vec<Origin> {
        vec![Origin::Changed; n]
    }

    fn copy(source: usize, frames: Range<u64>, out_start: u64) -> Piece {
        Piece::Copy { source, frames, out_start }
    }

    fn encode(output_frames: Range<u64>) -> Piece {
        Piece::Encode { output_frames }
    }

    /// Every output frame is in exactly one piece, in order, and copies are whole GOPs.
    fn check_cover(frames: &[Origin], cuts: &[Cuts], pieces: &[Piece]) {
        let mut pos = 0u64;
        for p in pieces {
            match p {
                Piece::Copy { source, frames: f, out_start } => {
                    assert_eq!(*out_start, pos);
                    let c = &cuts[*source];
                    assert!(c.starts.contains(&f.start) && c.ends.contains(&f.end), "{p:?}");
                    for (o, sf) in (pos..).zip(f.clone()) {
                        let want = Origin::Pristine { source: *source, source_frame: sf };
                        assert_eq!(frames[o as usize], want);
                    }
                }
                Piece::Encode { output_frames } => assert_eq!(output_frames.start, pos),
            }
            pos += p.len();
        }
        assert_eq!(pos, frames.len() as u64);
        assert!(
            pieces.windows(2).all(|w| !matches!(w, [Piece::Encode { .. }, Piece::Encode { .. }]))
        );
    }

    /// Whole GOPs of `g` frames.
    fn gops(n: u64, g: u64) -> Cuts {
        Cuts::gops(&(0..n).step_by(g as usize).collect::<Vec<_>>(), n)
    }

    /// GOPs of `g` frames whose B-frame groups close every `b` frames after the keyframe.
    fn bgops(n: u64, g: u64, b: u64) -> Cuts {
        let starts: Vec<u64> = (0..n).step_by(g as usize).collect();
        let mut ends: Vec<u64> =
            starts.iter().flat_map(|&s| (s + 1..(s + g).min(n)).step_by(b as usize)).collect();
        ends.extend(starts.iter().skip(1).copied().chain([n]));
        ends.sort_unstable();
        ends.dedup();
        Cuts { starts, ends }
    }

    #[test]
    fn a_transition_reencodes_from_the_keyframe_before_to_the_keyframe_after() {
        // Two 60-frame sources with 15-frame GOPs; a 10-frame transition: the last 10 frames
        // of A mix with the first 10 of B.
        let cuts = vec![gops(60, 15), gops(60, 15)];
        let frames = [pristine(A, 0..50), changed(10), pristine(B, 10..60)].concat();
        let pieces = plan(&frames, &cuts);
        check_cover(&frames, &cuts, &pieces);
        assert_eq!(pieces, vec![copy(A, 0..45, 0), encode(45..65), copy(B, 15..60, 65)]);
    }

    #[test]
    fn trims_starting_mid_gop_reencode_up_to_the_next_keyframe() {
        let cuts = vec![gops(60, 15), gops(60, 15)];
        // A from frame 7, then B from frame 20 to 52, hard cuts.
        let frames = [pristine(A, 7..60), pristine(B, 20..52)].concat();
        let pieces = plan(&frames, &cuts);
        check_cover(&frames, &cuts, &pieces);
        assert_eq!(
            pieces,
            vec![
                encode(0..8),
                copy(A, 15..60, 8),
                encode(53..63),
                copy(B, 30..45, 63),
                encode(78..85)
            ]
        );
    }

    #[test]
    fn captions_spanning_gops_reencode_every_gop_they_touch() {
        let cuts = vec![gops(90, 15)];
        let mut frames = pristine(A, 0..90);
        // A caption on frames 20..40 touches the GOPs [15,30) and [30,45).
        for f in &mut frames[20..40] {
            *f = Origin::Changed;
        }
        let pieces = plan(&frames, &cuts);
        check_cover(&frames, &cuts, &pieces);
        assert_eq!(pieces, vec![copy(A, 0..15, 0), encode(15..45), copy(A, 45..90, 45)]);
    }

    #[test]
    fn short_clips_with_no_whole_gop_are_reencoded() {
        let cuts = vec![gops(60, 30), gops(20, 30)];
        // 20 frames of A from the middle of a GOP, then all of the 20-frame B (one GOP, whole).
        let frames = [pristine(A, 5..25), pristine(B, 0..20)].concat();
        let pieces = plan(&frames, &cuts);
        check_cover(&frames, &cuts, &pieces);
        assert_eq!(pieces, vec![encode(0..20), copy(B, 0..20, 20)]);
        // A repeated frame, a source shown twice and a reversed run are never copies.
        let frames = [
            pristine(A, 0..30),
            pristine(A, 0..30),
            pristine(A, 30..60).into_iter().rev().collect(),
        ]
        .concat();
        let pieces = plan(&frames, &cuts);
        check_cover(&frames, &cuts, &pieces);
        assert_eq!(pieces, vec![copy(A, 0..30, 0), copy(A, 0..30, 30), encode(60..90)]);
        // Irregular GOPs (a scene-cut keyframe) are used as they are.
        let cuts = vec![Cuts::gops(&[0, 12, 30, 31], 60)];
        let frames = pristine(A, 0..60);
        assert_eq!(plan(&frames, &cuts), vec![copy(A, 0..60, 0)]);
        assert_eq!(plan(&[], &cuts), vec![]);
        assert_eq!(plan(&changed(3), &cuts), vec![encode(0..3)]);
    }

    #[test]
    fn a_copy_may_stop_where_a_b_frame_group_closes() {
        // B-frame groups close every 4 frames after each keyframe: 1, 5, 9, 13, then 15.
        let cuts = vec![bgops(60, 15, 4), bgops(60, 15, 4)];
        let frames = [pristine(A, 0..50), changed(10), pristine(B, 10..60)].concat();
        let pieces = plan(&frames, &cuts);
        check_cover(&frames, &cuts, &pieces);
        // A's last GOP [45,60) is copied up to 50, where its group closes; B from its keyframe
        // at 15, as before: nothing after a change can be copied before the next keyframe.
        assert_eq!(pieces, vec![copy(A, 0..50, 0), encode(50..65), copy(B, 15..60, 65)]);
        // A run ending between two closed ends stops at the earlier one.
        let frames = [pristine(A, 0..48), changed(5)].concat();
        assert_eq!(plan(&frames, &cuts), vec![copy(A, 0..46, 0), encode(46..53)]);
        // A caption over frames 20..24 of one source: copy to 17, re-encode to the keyframe at 30.
        let mut frames = pristine(A, 0..60);
        frames[20..24].fill(Origin::Changed);
        let pieces = plan(&frames, &cuts);
        check_cover(&frames, &cuts, &pieces);
        assert_eq!(pieces, vec![copy(A, 0..20, 0), encode(20..30), copy(A, 30..60, 30)]);
    }

    #[test]
    fn merged_configurations_keep_every_set_and_refuse_clashing_ids() {
        // SPS id 0 (ue "1") and id 1 (ue "010"), PPS id 0 -> SPS 0 and id 1 -> SPS 1.
        let sps0 = [0x67, 0x64, 0x00, 0x0d, 0b1000_0000];
        let sps1 = [0x67, 0x64, 0x00, 0x0d, 0b0100_0000];
        let pps0 = [0x68, 0b1100_0000];
        let pps1 = [0x68, 0b0100_1000];
        let avcc = |level: u8, sps: &[u8], pps: &[u8]| {
            let mut v = vec![1, 0x64, 0, level, 0xff, 0xe1];
            v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
            v.extend_from_slice(sps);
            v.push(1);
            v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
            v.extend_from_slice(pps);
            v.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0]);
            v
        };
        let a = avcc(13, &sps0, &pps0);
        let b = avcc(20, &sps1, &pps1);
        let merged = merge_avcc(&[&a, &b, &a]).unwrap();
        let (head, sps, pps, tail) = parse_avcc(&merged).unwrap();
        assert_eq!(head, [1, 0x64, 0, 20, 0xff]);
        assert_eq!(sps, vec![&sps0[..], &sps1[..]]);
        assert_eq!(pps, vec![&pps0[..], &pps1[..]]);
        assert_eq!(tail, [0xfd, 0xf8, 0xf8, 0]);
        assert_eq!(merge_avcc(&[&a, &a]).unwrap(), a);
        let other = [0x67, 0x64, 0x00, 0x1e, 0b1000_0000];
        let err = merge_avcc(&[&a, &avcc(13, &other, &pps0)]).unwrap_err();
        assert!(err.contains("SPS") && err.contains("id 0"), "{err}");
        let main = [&[1u8, 0x4d][..], &a[2..]].concat();
        assert!(merge_avcc(&[&a, &main]).is_err());
    }

    /// Real files from the installed ffmpeg and x264.
    mod with_ffmpeg {
        use std::path::{Path, PathBuf};
        use std::process::Command;

        use super::super::*;
        use super::{A, B, changed, copy, encode, pristine};
        use crate::Ffmpeg;

        fn ff() -> Ffmpeg {
            Ffmpeg::locate().expect("ffmpeg must be installed for these tests")
        }

        fn run(args: &[&str]) {
            let out = Command::new(ff().ffmpeg_path())
                .args(["-hide_banner", "-loglevel", "error", "-y"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }

        const X264: &[&str] = &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
        ];

        /// A 2 s 320x240 30 fps source with 15-frame GOPs (and x264's B-frames).
        fn source(dir: &Path, name: &str, lavfi: &str) -> PathBuf {
            let out = dir.join(name);
            let input = format!("{lavfi}=s=320x240:r=30:d=2");
            let args =
                [&["-f", "lavfi", "-i", &input][..], X264, &["-g", "15", out.to_str().unwrap()]];
            run(&args.concat());
            out
        }

        /// `(presented frame, packet hash)` of every video packet, from ffprobe.
        fn packets(path: &Path) -> Vec<(i64, String)> {
            let out = Command::new(ff().ffprobe_path())
                .args(["-v", "error", "-select_streams", "v:0", "-show_data_hash", "sha256"])
                .args(["-show_entries", "packet=pts,data_hash:stream=time_base", "-of", "csv=p=0"])
                .arg(path)
                .output()
                .unwrap();
            assert!(out.status.success());
            let text = String::from_utf8(out.stdout).unwrap();
            let mut lines = text.lines();
            // One line `time_base` for the stream, then the packets (ffprobe prints streams last
            // in csv, so find it by shape).
            let mut base = None;
            let mut rows = Vec::new();
            for l in lines.by_ref() {
                if let Some((n, d)) = l.split_once('/') {
                    base = Some((n.parse::<i64>().unwrap(), d.parse::<i64>().unwrap()));
                } else if let Some((pts, hash)) = l.split_once(',') {
                    rows.push((pts.parse::<i64>().unwrap(), hash.to_string()));
                }
            }
            let (n, d) = base.unwrap();
            // 30 fps: frame = pts * n / d * 30.
            rows.into_iter().map(|(p, h)| (p * n * 30 / d, h)).collect()
        }

        /// The presentation time of every decoded frame, and what `-v error` decoding printed.
        fn decode(path: &Path) -> (Vec<String>, String) {
            let out = Command::new(ff().ffprobe_path())
                .args(["-v", "error", "-select_streams", "v:0"])
                .args(["-show_entries", "frame=pts_time", "-of", "csv=p=0"])
                .arg(path)
                .output()
                .unwrap();
            // Side data (x264's SEI) adds an empty row; keep the frames' times only.
            let text = String::from_utf8(out.stdout).unwrap();
            let times = text
                .lines()
                .filter_map(|l| l.split(',').next().filter(|t| !t.is_empty()))
                .map(str::to_string)
                .collect();
            let out = Command::new(ff().ffmpeg_path())
                .args(["-hide_banner", "-v", "error", "-i"])
                .arg(path)
                .args(["-f", "null", "-"])
                .output()
                .unwrap();
            (times, String::from_utf8(out.stderr).unwrap())
        }

        fn check_output(path: &Path, frames: u64, copied: &[(Range<u64>, &Path, u64)]) {
            let (times, errors) = decode(path);
            assert_eq!(errors, "", "decoding `{}` printed errors", path.display());
            assert_eq!(times.len() as u64, frames);
            for (i, t) in times.iter().enumerate() {
                let want = i as f64 / 30.0;
                assert!((t.parse::<f64>().unwrap() - want).abs() < 1e-6, "frame {i} at {t}");
            }
            let out = packets(path);
            assert_eq!(out.len() as u64, frames);
            let by_frame: std::collections::HashMap<i64, &String> =
                out.iter().map(|(f, h)| (*f, h)).collect();
            for (range, src, src_start) in copied {
                let src_packets: std::collections::HashMap<i64, String> =
                    packets(src).into_iter().collect();
                for o in range.clone() {
                    let s = (o - range.start + src_start) as i64;
                    assert_eq!(by_frame[&(o as i64)], &src_packets[&s], "output frame {o}");
                }
            }
        }

        #[test]
        fn copied_gops_and_a_reencoded_run_splice_frame_exact() {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let a = source(d, "a.mp4", "testsrc2");
            let b = source(d, "b.mp4", "testsrc");
            let (sa, sb) = (analyse(&a).unwrap(), analyse(&b).unwrap());
            assert_eq!(sa.cuts.starts, vec![0, 15, 30, 45]);
            assert_eq!(sb.cuts.starts, vec![0, 15, 30, 45]);
            // x264's B-frames: closed ends inside each GOP too.
            assert!(sa.cuts.ends.len() > 4 && sa.cuts.ends.ends_with(&[60]), "{:?}", sa.cuts);
            let whole = |c: &Cuts| Cuts::gops(&c.starts, 60);
            assert!(sa.has_rate(30, 1) && !sa.has_rate(25, 1));
            // Output: A 0..40, 10 changed frames, B 20..60, with a caption on output 5..8
            // and on 70..75.
            let mut frames = [pristine(A, 0..40), changed(10), pristine(B, 20..60)].concat();
            for o in (5..8).chain(70..75) {
                frames[o] = Origin::Changed;
            }
            let pieces = plan(&frames, &[whole(&sa.cuts), whole(&sb.cuts)]);
            assert_eq!(
                pieces,
                vec![encode(0..15), copy(A, 15..30, 15), encode(30..75), copy(B, 45..60, 75)]
            );
            // One encoder run for every re-encoded piece: a keyframe at each piece start,
            // parameter sets numbered 1 so they sit beside the sources' 0.
            let enc = d.join("enc.mp4");
            let input = "color=c=red:s=320x240:r=30";
            let args = [
                &["-f", "lavfi", "-i", input, "-frames:v", "60"][..],
                X264,
                &["-x264-params", "sps-id=1", "-forced-idr", "1"],
                &["-force_key_frames", "expr:eq(n,15)", enc.to_str().unwrap()],
            ];
            run(&args.concat());
            let se = analyse(&enc).unwrap();
            assert!(se.cuts.starts.contains(&15), "{:?}", se.cuts);
            let sources = [&sa, &sb, &se];
            let takes = [
                Take { source: 2, frames: 0..15 },
                Take { source: A, frames: 15..30 },
                Take { source: 2, frames: 15..60 },
                Take { source: B, frames: 45..60 },
            ];
            let lay = layout(&sources, &takes).unwrap();
            assert_eq!(lay.frames(), 90);
            let out = d.join("out.mp4");
            write(&out, &sources, &lay, (30, 1), None).unwrap();
            let copied =
                [(15..30, a.as_path(), 15), (75..90, b.as_path(), 45), (0..15, enc.as_path(), 0)];
            check_output(&out, 90, &copied);
            // The splicer reads its own output back: one track, the same cut points kept.
            let back = analyse(&out).unwrap();
            assert_eq!(back.frames(), 90);
            assert!(
                [0, 15, 30, 75].iter().all(|c| back.cuts.starts.contains(c)),
                "{:?}",
                back.cuts
            );

            // Muxed with a soundtrack by plain stream copy, the packets stay as they were.
            let sound = d.join("sound.m4a");
            run(&["-f", "lavfi", "-i", "sine=d=3", "-c:a", "aac", sound.to_str().unwrap()]);
            let muxed = d.join("muxed.mp4");
            run(&[
                "-i",
                out.to_str().unwrap(),
                "-i",
                sound.to_str().unwrap(),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                muxed.to_str().unwrap(),
            ]);
            check_output(&muxed, 90, &copied);
            let info = crate::mp4::read_video_track(&muxed).unwrap();
            assert_eq!(info.avcc, lay_avcc(&sources));

            // A copy may stop inside a GOP where a B-frame group closes.
            let e = sa.cuts.ends.iter().copied().filter(|&e| e > 45 && e < 60).max().unwrap();
            let takes = [
                Take { source: A, frames: 0..e },
                Take { source: 2, frames: 0..15 },
                Take { source: B, frames: 45..60 },
            ];
            let lay = layout(&sources, &takes).unwrap();
            let prefix = d.join("prefix.mp4");
            write(&prefix, &sources, &lay, (30, 1), None).unwrap();
            let copied = [(0..e, a.as_path(), 0), (e + 15..e + 30, b.as_path(), 45)];
            check_output(&prefix, e + 30, &copied);
            // Not where a group is still open.
            let open = (46..60).find(|f| !sa.cuts.ends.contains(f)).unwrap();
            assert!(layout(&sources, &[Take { source: A, frames: 0..open }]).is_err());
        }

        fn lay_avcc(sources: &[&SourceVideo]) -> Vec<u8> {
            merge_avcc(&sources.iter().map(|s| s.avcc()).collect::<Vec<_>>()).unwrap()
        }

        #[test]
        fn clashing_parameter_sets_and_open_cuts_are_refused() {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let a = source(d, "a.mp4", "testsrc2");
            // Main profile, also with SPS id 0: the two cannot share one avcC.
            let main = d.join("main.mp4");
            let args = [
                &["-f", "lavfi", "-i", "testsrc=s=320x240:r=30:d=1", "-c:v", "libx264"][..],
                &["-profile:v", "main", "-pix_fmt", "yuv420p", main.to_str().unwrap()],
            ];
            run(&args.concat());
            let (sa, sm) = (analyse(&a).unwrap(), analyse(&main).unwrap());
            let takes = [Take { source: 0, frames: 0..15 }, Take { source: 1, frames: 0..30 }];
            assert!(layout(&[&sa, &sm], &takes).is_err());
            // A take not on cut points.
            let err = layout(&[&sa], &[Take { source: 0, frames: 3..15 }]).unwrap_err();
            assert!(err.contains("IDR"), "{err}");
            // Not an MP4 at all.
            let mkv = d.join("a.mkv");
            run(&["-i", a.to_str().unwrap(), "-c", "copy", mkv.to_str().unwrap()]);
            assert!(analyse(&mkv).is_err());
        }
    }
}
