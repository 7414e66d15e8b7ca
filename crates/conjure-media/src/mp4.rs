//! A small reader of MP4/MOV track headers, so that deciding "can these clips be joined by
//! stream copy?" does not start one ffprobe process per input.
//!
//! Key terms: a *box* is the MP4 unit (`size`, `type`, payload); the *movie* is the `moov` box
//! with one `trak` per stream; the *codec configuration* is the `avcC` record of an H.264 track
//! (its SPS and PPS) or the AAC `AudioSpecificConfig` inside `esds`, i.e. the bytes ffmpeg calls
//! the stream's extradata.
//!
//! [`parse_movie`] is a pure function over the bytes of a `moov` payload; [`read_file`] finds
//! that box in a file. Both answer `None` whenever anything is outside what they fully
//! understand, and the caller then asks ffprobe: the reader never guesses. It understands
//! exactly one shape: at most one H.264 (`avc1`) video track in 8-bit 4:2:0 (Baseline, Main or
//! High) at a constant frame rate whose edit list only hides the B-frame delay, and at most one
//! AAC-LC (`mp4a`) audio track, plus any number of subtitle and timecode tracks. That is what
//! ffmpeg, x264 and the providers write, and what a copy join can use. It does not read
//! container tags (the result has none), other codecs, fragmented files or edit lists that cut
//! frames (a keyframe-copy trim writes those).
//!
//! [`read_video_track`] goes one level deeper for the splicer (`splice`): the per-sample tables
//! of the one H.264 track (where each sample is, its size, decode time, composition offset and
//! whether it is a sync sample), so whole GOPs can be copied byte for byte. It shares the
//! same rule: `None` for anything it does not fully understand.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::probe::{AudioInfo, MediaInfo, VideoInfo};

/// What ffprobe calls the MP4/MOV demuxer; the fast path reports the same name.
pub(crate) const FORMAT_NAME: &str = "mov,mp4,m4a,3gp,3g2,mj2";

/// Largest `moov` the reader loads (header-only files are a few kB to a few MB).
const MAX_MOOV: u64 = 64 << 20;

/// Reads the track headers of an MP4/MOV file, or `None` when ffprobe must be asked instead
/// (not MP4/MOV, unreadable, or anything the reader does not fully understand).
pub(crate) fn read_file(path: &Path) -> Option<MediaInfo> {
    let mut file = File::open(path).ok()?;
    let moov = find_moov(&mut file)?;
    let mut info = parse_movie(&moov)?;
    info.path = path.to_path_buf();
    Some(info)
}

/// Walks the top-level boxes (starting with `ftyp`) and returns the `moov` payload.
fn find_moov<R: Read + Seek>(r: &mut R) -> Option<Vec<u8>> {
    let len = r.seek(SeekFrom::End(0)).ok()?;
    let mut pos = 0u64;
    let mut first = true;
    while pos + 8 <= len {
        r.seek(SeekFrom::Start(pos)).ok()?;
        let mut head = [0u8; 16];
        r.read_exact(&mut head[..8]).ok()?;
        let mut size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = [head[4], head[5], head[6], head[7]];
        let mut header = 8;
        if size == 1 {
            r.read_exact(&mut head[8..16]).ok()?;
            size = u64::from_be_bytes(head[8..16].try_into().ok()?);
            header = 16;
        } else if size == 0 {
            size = len - pos;
        }
        if size < header || pos + size > len {
            return None;
        }
        // MP4 and QuickTime files written by ffmpeg and cameras open with `ftyp`; anything else
        // (Matroska, MPEG-TS, images, text) is left to ffprobe.
        if first && &kind != b"ftyp" {
            return None;
        }
        first = false;
        match &kind {
            b"moov" => {
                let body = size - header;
                if body > MAX_MOOV {
                    return None;
                }
                let mut buf = vec![0u8; usize::try_from(body).ok()?];
                r.read_exact(&mut buf).ok()?;
                return Some(buf);
            }
            // Fragments mean the sample tables in `moov` are not the whole story.
            b"moof" => return None,
            _ => {}
        }
        pos += size;
    }
    None
}

/// Big-endian reads with bounds checks; every read answers `None` past the end.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes(8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
    }

    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }
}

/// Splits a payload into its child boxes; `None` if a size is inconsistent.
pub(crate) fn children(data: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    let mut out = Vec::new();
    let mut c = Cursor::new(data);
    while !c.rest().is_empty() {
        let start = c.pos;
        let size = c.u32()?;
        let kind: [u8; 4] = c.bytes(4)?.try_into().ok()?;
        let size = match size {
            0 => data.len() - start,
            1 => usize::try_from(c.u64()?).ok()?,
            s => usize::try_from(s).ok()?,
        };
        let header = c.pos - start;
        if size < header {
            return None;
        }
        out.push((kind, c.bytes(size - header)?));
    }
    Some(out)
}

fn child(data: &[u8], kind: [u8; 4]) -> Option<&[u8]> {
    children(data)?.into_iter().find(|(k, _)| *k == kind).map(|(_, b)| b)
}

/// Timescale and duration of a full box with a version-dependent time layout (`mvhd`, `mdhd`).
fn times(payload: &[u8]) -> Option<(u32, u64)> {
    let mut c = Cursor::new(payload);
    let version = c.u8()?;
    c.skip(3)?;
    if version == 1 {
        c.skip(16)?;
        let scale = c.u32()?;
        Some((scale, c.u64()?))
    } else {
        c.skip(8)?;
        let scale = c.u32()?;
        Some((scale, u64::from(c.u32()?)))
    }
}

/// `(count, delta)` runs of `stts`.
fn stts(payload: &[u8]) -> Option<Vec<(u32, u32)>> {
    let mut c = Cursor::new(payload);
    c.skip(4)?;
    let n = c.u32()?;
    (0..n).map(|_| Some((c.u32()?, c.u32()?))).collect()
}

/// The first composition offset of `ctts`, if the box is present.
fn first_ctts(payload: &[u8]) -> Option<i64> {
    let mut c = Cursor::new(payload);
    let version = c.u8()?;
    c.skip(3)?;
    if c.u32()? == 0 {
        return Some(0);
    }
    c.skip(4)?;
    let off = c.u32()?;
    // Version 1 offsets are signed; version 0 ones are unsigned by the spec.
    Some(if version == 1 { i64::from(off.cast_signed()) } else { i64::from(off) })
}

/// Edit list entries as `(segment_duration in movie units, media_time, rate == 1)`.
fn elst(payload: &[u8]) -> Option<Vec<(u64, i64, bool)>> {
    let mut c = Cursor::new(payload);
    let version = c.u8()?;
    c.skip(3)?;
    let n = c.u32()?;
    (0..n)
        .map(|_| {
            let (dur, time) = if version == 1 {
                (c.u64()?, c.u64()?.cast_signed())
            } else {
                (u64::from(c.u32()?), i64::from(c.u32()?.cast_signed()))
            };
            let rate = c.u32()?;
            Some((dur, time, rate == 0x0001_0000))
        })
        .collect()
}

/// Reads an MPEG-4 descriptor header (tag, length with 7-bit continuation bytes).
fn descriptor<'a>(c: &mut Cursor<'a>) -> Option<(u8, &'a [u8])> {
    let tag = c.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = c.u8()?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((tag, c.bytes(len)?));
        }
    }
    None
}

/// The `AudioSpecificConfig` of an `esds` box whose stream is MPEG-4 audio.
fn esds_config(payload: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor::new(payload);
    c.skip(4)?;
    let (tag, es) = descriptor(&mut c)?;
    if tag != 3 {
        return None;
    }
    let mut c = Cursor::new(es);
    c.skip(2)?;
    let flags = c.u8()?;
    if flags & 0x80 != 0 {
        c.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let n = c.u8()?;
        c.skip(usize::from(n))?;
    }
    if flags & 0x20 != 0 {
        c.skip(2)?;
    }
    let (tag, dc) = descriptor(&mut c)?;
    if tag != 4 {
        return None;
    }
    let mut c = Cursor::new(dc);
    // 0x40: MPEG-4 audio (AAC); anything else (MP3 0x6B ...) is left to ffprobe.
    if c.u8()? != 0x40 {
        return None;
    }
    c.skip(12)?;
    let (tag, asc) = descriptor(&mut c)?;
    (tag == 5).then_some(asc)
}

/// MSB-first bit reader.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(b))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// Exp-Golomb unsigned.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// Exp-Golomb signed.
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// AAC-LC facts from an `AudioSpecificConfig`: `(sample_rate, channels)`.
fn aac_lc(asc: &[u8]) -> Option<(u32, u32)> {
    const RATES: [u32; 13] =
        [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
    let mut b = Bits { data: asc, pos: 0 };
    if b.bits(5)? != 2 {
        return None;
    }
    let rate = *RATES.get(usize::try_from(b.bits(4)?).ok()?)?;
    let channels = match b.bits(4)? {
        c @ 1..=6 => c,
        7 => 8,
        _ => return None,
    };
    // GASpecificConfig: 1024-sample frames, no core coder, no extension.
    if b.bits(3)? != 0 {
        return None;
    }
    // ffmpeg's encoder appends an explicit "no SBR" sync extension; accept exactly that.
    if b.left() >= 16 && (b.bits(11)? != 0x2b7 || b.bits(5)? != 5 || b.bit()? != 0) {
        return None;
    }
    (b.left() < 8).then_some((rate, channels))
}

/// Facts from an H.264 sequence parameter set (the RBSP, NAL header removed).
#[derive(Debug, PartialEq)]
struct Sps {
    profile: &'static str,
    width: u32,
    height: u32,
}

/// Parses an SPS far enough to know the profile, size, chroma format, bit depth, scan type and
/// colour range; `None` unless it is 8-bit 4:2:0 progressive limited-range video in a profile
/// ffprobe names Baseline, Constrained Baseline, Main or High.
fn parse_sps(nal: &[u8]) -> Option<Sps> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let rbsp = rbsp(nal);
    let mut b = Bits { data: &rbsp, pos: 0 };
    let profile_idc = b.bits(8)?;
    let constraints = b.bits(8)?;
    b.bits(8)?;
    b.ue()?;
    let profile = match profile_idc {
        66 if constraints & 0x40 != 0 => "Constrained Baseline",
        66 => "Baseline",
        77 => "Main",
        100 => "High",
        _ => return None,
    };
    if profile_idc == 100 {
        // chroma_format_idc 1 (4:2:0), 8-bit luma and chroma.
        if b.ue()? != 1 || b.ue()? != 0 || b.ue()? != 0 {
            return None;
        }
        b.bit()?;
        if b.bit()? == 1 {
            for i in 0..8 {
                if b.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + b.se()? + 256) % 256;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    b.ue()?;
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()? {
                b.se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    b.ue()?;
    b.bit()?;
    let mbs_w = b.ue()? + 1;
    let map_units_h = b.ue()? + 1;
    // Interlaced coding changes what a "frame" is in MP4 timing: leave it to ffprobe.
    if b.bit()? != 1 {
        return None;
    }
    b.bit()?;
    let (mut crop_x, mut crop_y) = (0, 0);
    if b.bit()? == 1 {
        crop_x = b.ue()? + b.ue()?;
        crop_y = b.ue()? + b.ue()?;
    }
    // 4:2:0 progressive: crop units are 2 luma samples both ways.
    let width = (mbs_w * 16).checked_sub(crop_x * 2)?;
    let height = (map_units_h * 16).checked_sub(crop_y * 2)?;
    if b.bit()? == 1 {
        if b.bit()? == 1 && b.bits(8)? == 255 {
            b.bits(32)?;
        }
        if b.bit()? == 1 {
            b.bit()?;
        }
        // Full range would make ffprobe say `yuvj420p`.
        if b.bit()? == 1 {
            b.bits(3)?;
            if b.bit()? == 1 {
                return None;
            }
        }
    }
    Some(Sps { profile, width, height })
}

/// The single SPS of an `avcC` record.
fn avcc_sps(avcc: &[u8]) -> Option<Sps> {
    let mut c = Cursor::new(avcc);
    if c.u8()? != 1 {
        return None;
    }
    c.skip(3)?;
    c.u8()?;
    if c.u8()? & 0x1f != 1 {
        return None;
    }
    let len = c.u16()?;
    parse_sps(c.bytes(usize::from(len))?)
}

/// One track's contribution to the result.
enum Track {
    Video(VideoInfo),
    Audio(AudioInfo),
    Subtitle,
    Ignored,
}

fn video_track(stbl: &[u8], entry: &[u8], scale: u32, edits: Option<&[u8]>) -> Option<VideoInfo> {
    let mut c = Cursor::new(entry);
    c.skip(8 + 16)?;
    let (width, height) = (u32::from(c.u16()?), u32::from(c.u16()?));
    c.skip(50)?;
    let avcc = child(c.rest(), *b"avcC")?;
    let sps = avcc_sps(avcc)?;
    if (sps.width, sps.height) != (width, height) {
        return None;
    }
    let runs = stts(child(stbl, *b"stts")?)?;
    // Constant rate: one run, or one run plus a last frame of another length.
    let (frames, delta) = match runs.as_slice() {
        [(n, d)] => (u64::from(*n), *d),
        [(n, d), (1, _)] => (u64::from(*n) + 1, *d),
        _ => return None,
    };
    if delta == 0 || scale == 0 || frames == 0 {
        return None;
    }
    let total: u64 = runs.iter().map(|&(n, d)| u64::from(n) * u64::from(d)).sum();
    // An edit list may only hide the B-frame delay (media time = the first composition
    // offset); one that drops frames (a keyframe-copy trim) is ffprobe's business.
    if let Some(e) = edits {
        let lead = child(stbl, *b"ctts").map_or(Some(0), first_ctts)?;
        match elst(e)?.as_slice() {
            [(_, time, true)] if *time == lead => {}
            _ => return None,
        }
    }
    let g = gcd(scale, delta);
    Some(VideoInfo {
        codec: "h264".into(),
        profile: Some(sps.profile.into()),
        pix_fmt: Some("yuv420p".into()),
        width,
        height,
        fps_num: scale / g,
        fps_den: delta / g,
        duration: Some(total as f64 / f64::from(scale)),
        frames: Some(frames),
        still: false,
        config: Some(avcc.to_vec()),
    })
}

fn audio_track(
    stbl: &[u8],
    entry: &[u8],
    scale: u32,
    edits: Option<(&[u8], u32)>,
) -> Option<AudioInfo> {
    let mut c = Cursor::new(entry);
    c.skip(8)?;
    let version = c.u16()?;
    c.skip(6)?;
    // ISO files write the template value 2 here whatever the layout; the decoder (and
    // ffprobe) take the channel count from the AAC config instead.
    c.skip(8)?;
    let rate = c.u32()? >> 16;
    match version {
        0 => {}
        1 => c.skip(16)?,
        _ => return None,
    }
    let boxes = c.rest();
    // QuickTime files may wrap `esds` in a `wave` box.
    let esds = child(boxes, *b"esds").or_else(|| child(child(boxes, *b"wave")?, *b"esds"))?;
    let asc = esds_config(esds)?;
    let (asc_rate, asc_channels) = aac_lc(asc)?;
    if asc_rate != rate {
        return None;
    }
    let total: u64 =
        stts(child(stbl, *b"stts")?)?.iter().map(|&(n, d)| u64::from(n) * u64::from(d)).sum();
    let duration = match edits {
        None => total as f64 / f64::from(scale),
        Some((e, movie_scale)) => match elst(e)?.as_slice() {
            [(dur, time, true)] if *time >= 0 && movie_scale > 0 => {
                let kept = (total as f64 - *time as f64) / f64::from(scale);
                kept.min(*dur as f64 / f64::from(movie_scale))
            }
            _ => return None,
        },
    };
    Some(AudioInfo {
        codec: "aac".into(),
        sample_rate: rate,
        channels: asc_channels,
        duration: Some(duration),
        config: Some(asc.to_vec()),
    })
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

fn track(trak: &[u8], movie_scale: u32) -> Option<Track> {
    let mdia = child(trak, *b"mdia")?;
    let (scale, _) = times(child(mdia, *b"mdhd")?)?;
    let hdlr = child(mdia, *b"hdlr")?;
    let handler: [u8; 4] = hdlr.get(8..12)?.try_into().ok()?;
    match &handler {
        b"sbtl" | b"text" | b"subt" => return Some(Track::Subtitle),
        b"tmcd" => return Some(Track::Ignored),
        b"vide" | b"soun" => {}
        _ => return None,
    }
    let stbl = child(child(mdia, *b"minf")?, *b"stbl")?;
    let stsd = child(stbl, *b"stsd")?;
    let mut c = Cursor::new(stsd);
    c.skip(4)?;
    // Several sample descriptions mean the codec settings change mid-stream.
    if c.u32()? != 1 {
        return None;
    }
    let entries = children(c.rest())?;
    let [(kind, entry)] = entries.as_slice() else { return None };
    let edits = child(trak, *b"edts").map(|e| child(e, *b"elst"));
    let edits = match edits {
        Some(None) => return None,
        Some(Some(e)) => Some(e),
        None => None,
    };
    match (&handler, kind) {
        (b"vide", b"avc1") => video_track(stbl, entry, scale, edits).map(Track::Video),
        (b"soun", b"mp4a") => {
            audio_track(stbl, entry, scale, edits.map(|e| (e, movie_scale))).map(Track::Audio)
        }
        _ => None,
    }
}

/// Reads a `moov` payload into the facts ffprobe would report, or `None` when unsure.
pub(crate) fn parse_movie(moov: &[u8]) -> Option<MediaInfo> {
    let boxes = children(moov)?;
    if boxes.iter().any(|(k, _)| k == b"mvex") {
        return None;
    }
    let (_, mvhd) = boxes.iter().find(|(k, _)| k == b"mvhd")?;
    let (movie_scale, movie_duration) = times(mvhd)?;
    if movie_scale == 0 {
        return None;
    }
    let mut info = MediaInfo {
        path: std::path::PathBuf::new(),
        format_name: FORMAT_NAME.into(),
        duration: movie_duration as f64 / f64::from(movie_scale),
        video: None,
        audio: None,
        subtitle_streams: 0,
        tags: Vec::new(),
    };
    for (_, trak) in boxes.iter().filter(|(k, _)| k == b"trak") {
        match track(trak, movie_scale)? {
            // A second picture or sound track: which one is "first" is ffprobe's call.
            Track::Video(_) if info.video.is_some() => return None,
            Track::Audio(_) if info.audio.is_some() => return None,
            Track::Video(v) => info.video = Some(v),
            Track::Audio(a) => info.audio = Some(a),
            Track::Subtitle => info.subtitle_streams += 1,
            Track::Ignored => {}
        }
    }
    if info.video.is_none() && info.audio.is_none() {
        return None;
    }
    Some(info)
}

/// One sample (an access unit) of a video track, in decode order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Byte offset in the file.
    pub offset: u64,
    /// Bytes.
    pub size: u32,
    /// Decode time, in the track's timescale.
    pub dts: u64,
    /// Composition time minus decode time, in the track's timescale.
    pub cts_offset: i64,
    /// A sync sample (`stss`, or every sample when the box is absent).
    pub sync: bool,
}

/// The sample tables of a file's one H.264 video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VideoTrack {
    /// Units per second of every time below.
    pub timescale: u32,
    /// Every sample in decode order.
    pub samples: Vec<Sample>,
    /// Media time where presentation starts: the edit list's `media_time` (the B-frame delay
    /// it hides), 0 without an edit list.
    pub media_start: i64,
    /// The whole `avc1` sample entry payload (after its 8-byte box header).
    pub entry: Vec<u8>,
    /// The `avcC` record inside it.
    pub avcc: Vec<u8>,
    /// Coded size from the sample entry.
    pub width: u32,
    /// Coded size from the sample entry.
    pub height: u32,
}

/// Reads the sample tables of the one `avc1` video track of an MP4/MOV file (other tracks are
/// skipped), or `None` when the file is anything else or holds something the reader does not
/// fully understand (several sample descriptions, an edit list that cuts frames, fragments).
pub(crate) fn read_video_track(path: &Path) -> Option<VideoTrack> {
    let mut file = File::open(path).ok()?;
    let moov = find_moov(&mut file)?;
    parse_video_track(&moov)
}

/// [`read_video_track`] over the bytes of a `moov` payload: a pure function.
pub(crate) fn parse_video_track(moov: &[u8]) -> Option<VideoTrack> {
    let boxes = children(moov)?;
    if boxes.iter().any(|(k, _)| k == b"mvex") {
        return None;
    }
    let (_, mvhd) = boxes.iter().find(|(k, _)| k == b"mvhd")?;
    let (movie_scale, _) = times(mvhd)?;
    let mut found = None;
    for (_, trak) in boxes.iter().filter(|(k, _)| k == b"trak") {
        let mdia = child(trak, *b"mdia")?;
        let hdlr = child(mdia, *b"hdlr")?;
        if hdlr.get(8..12)? != b"vide" {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(trak_samples(trak, mdia, movie_scale)?);
    }
    found
}

/// The one sound track of an MP4/M4A file, read to be copied into another file by the
/// splicer (`crate::splice::write`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoundTrack {
    /// The file.
    pub path: std::path::PathBuf,
    /// Units per second of the samples' decode times.
    pub timescale: u32,
    /// Media time where presentation starts (the edit list's: the encoder's priming).
    pub media_start: i64,
    /// Every sample in decode order: byte offset in the file, size, decode time.
    pub samples: Vec<(u64, u32, u64)>,
    /// The track's presentation length in milliseconds (its `tkhd` duration).
    pub duration_ms: u64,
    /// The `trak` payload as the file has it.
    pub trak: Vec<u8>,
}

/// Reads the sound track of an audio-only MP4/M4A file (what the soundtrack run writes), or
/// `None` when the file holds anything else or anything the reader does not fully understand
/// (another movie timescale than ffmpeg's 1000, several tracks or sample descriptions, an edit
/// list of more than one segment, fragments).
pub(crate) fn read_sound_track(path: &Path) -> Option<SoundTrack> {
    let mut file = File::open(path).ok()?;
    let moov = find_moov(&mut file)?;
    let boxes = children(&moov)?;
    if boxes.iter().any(|(k, _)| k == b"mvex") {
        return None;
    }
    let (_, mvhd) = boxes.iter().find(|(k, _)| k == b"mvhd")?;
    if times(mvhd)?.0 != 1000 {
        return None;
    }
    let traks: Vec<&[u8]> = boxes.iter().filter(|(k, _)| k == b"trak").map(|(_, b)| *b).collect();
    let [trak] = traks.as_slice() else { return None };
    let mdia = child(trak, *b"mdia")?;
    if child(mdia, *b"hdlr")?.get(8..12)? != b"soun" {
        return None;
    }
    let (timescale, _) = times(child(mdia, *b"mdhd")?)?;
    let stbl = child(child(mdia, *b"minf")?, *b"stbl")?;
    let mut stsd = Cursor::new(child(stbl, *b"stsd")?);
    stsd.skip(4)?;
    if stsd.u32()? != 1 {
        return None;
    }
    let (offsets, sizes, dts) = sample_table(stbl)?;
    let mut tkhd = Cursor::new(child(trak, *b"tkhd")?);
    let version = tkhd.u8()?;
    tkhd.skip(3 + if version == 1 { 16 + 8 } else { 8 + 8 })?;
    let duration_ms = if version == 1 { tkhd.u64()? } else { u64::from(tkhd.u32()?) };
    let media_start = match child(trak, *b"edts") {
        None => 0,
        Some(edts) => match elst(child(edts, *b"elst")?)?.as_slice() {
            [(_, time, true)] if *time >= 0 => *time,
            _ => return None,
        },
    };
    let samples = offsets.into_iter().zip(sizes).zip(dts).map(|((o, s), t)| (o, s, t)).collect();
    Some(SoundTrack {
        path: path.to_path_buf(),
        timescale,
        media_start,
        samples,
        duration_ms,
        trak: trak.to_vec(),
    })
}

fn trak_samples(trak: &[u8], mdia: &[u8], movie_scale: u32) -> Option<VideoTrack> {
    let (timescale, _) = times(child(mdia, *b"mdhd")?)?;
    let stbl = child(child(mdia, *b"minf")?, *b"stbl")?;
    let mut stsd = Cursor::new(child(stbl, *b"stsd")?);
    stsd.skip(4)?;
    if stsd.u32()? != 1 {
        return None;
    }
    let entries = children(stsd.rest())?;
    let [(kind, entry)] = entries.as_slice() else { return None };
    if kind != b"avc1" {
        return None;
    }
    let mut fields = Cursor::new(entry);
    fields.skip(8 + 16)?;
    let (width, height) = (u32::from(fields.u16()?), u32::from(fields.u16()?));
    fields.skip(50)?;
    let avcc = child(fields.rest(), *b"avcC")?.to_vec();

    let (offsets, sizes, dts) = sample_table(stbl)?;
    let count = sizes.len();
    // Composition offsets, when there is a ctts (version 1 offsets are signed).
    let mut cts = vec![0i64; count];
    if let Some(b) = child(stbl, *b"ctts") {
        let mut table = Cursor::new(b);
        let version = table.u8()?;
        table.skip(3)?;
        let entries = table.u32()?;
        let mut i = 0usize;
        for _ in 0..entries {
            let runs = table.u32()?;
            let off = table.u32()?;
            let off = if version == 1 { i64::from(off.cast_signed()) } else { i64::from(off) };
            for _ in 0..runs {
                *cts.get_mut(i)? = off;
                i += 1;
            }
        }
        if i != count {
            return None;
        }
    }
    let sync: Option<Vec<u32>> = match child(stbl, *b"stss") {
        None => None,
        Some(b) => {
            let mut k = Cursor::new(b);
            k.skip(4)?;
            let n = k.u32()?;
            Some((0..n).map(|_| k.u32()).collect::<Option<_>>()?)
        }
    };
    let mut samples: Vec<Sample> = (0..count)
        .map(|i| Sample {
            offset: offsets[i],
            size: sizes[i],
            dts: dts[i],
            cts_offset: cts[i],
            sync: sync.is_none(),
        })
        .collect();
    for n in sync.unwrap_or_default() {
        samples.get_mut(usize::try_from(n).ok()?.checked_sub(1)?)?.sync = true;
    }
    // An edit list may only hide the B-frame delay: one segment at rate 1 starting at the
    // earliest composition time and running to the end of the media.
    let mut media_start = 0;
    if let Some(edts) = child(trak, *b"edts") {
        let list = elst(child(edts, *b"elst")?)?;
        let [(dur, time, true)] = list.as_slice() else { return None };
        let first = samples.iter().map(|s| s.dts.cast_signed() + s.cts_offset).min()?;
        let end = samples.iter().map(|s| s.dts.cast_signed() + s.cts_offset).max()?;
        let frame = samples.get(1).map_or(0, |s| s.dts.cast_signed());
        let shown = i128::from(*dur) * i128::from(timescale) / i128::from(movie_scale.max(1));
        if *time != first || shown + i128::from(frame) < i128::from(end - first) {
            return None;
        }
        media_start = *time;
    }
    Some(VideoTrack { timescale, samples, media_start, entry: entry.to_vec(), avcc, width, height })
}

/// Every sample of a track's `stbl`, in decode order: byte offsets, sizes and decode times (in
/// the track's timescale), from `stsz`, `stco`/`co64`, `stsc` and `stts`.
#[expect(clippy::similar_names, reason = "the cursors are named after the boxes they read")]
fn sample_table(stbl: &[u8]) -> Option<(Vec<u64>, Vec<u32>, Vec<u64>)> {
    // stsz: one size for all, or one per sample.
    let mut stsz = Cursor::new(child(stbl, *b"stsz")?);
    stsz.skip(4)?;
    let fixed = stsz.u32()?;
    let count = usize::try_from(stsz.u32()?).ok()?;
    let sizes: Vec<u32> = if fixed == 0 {
        (0..count).map(|_| stsz.u32()).collect::<Option<_>>()?
    } else {
        vec![fixed; count]
    };
    // Chunk offsets: 32-bit `stco` or 64-bit `co64`.
    let chunks: Vec<u64> = if let Some(b) = child(stbl, *b"stco") {
        let mut k = Cursor::new(b);
        k.skip(4)?;
        let n = k.u32()?;
        (0..n).map(|_| k.u32().map(u64::from)).collect::<Option<_>>()?
    } else {
        let mut k = Cursor::new(child(stbl, *b"co64")?);
        k.skip(4)?;
        let n = k.u32()?;
        (0..n).map(|_| k.u64()).collect::<Option<_>>()?
    };
    // stsc runs: (first chunk, 1-based; samples per chunk; description index).
    let mut stsc = Cursor::new(child(stbl, *b"stsc")?);
    stsc.skip(4)?;
    let entries = stsc.u32()?;
    let runs: Vec<(u32, u32)> = (0..entries)
        .map(|_| {
            let first = stsc.u32()?;
            let per = stsc.u32()?;
            stsc.u32()?;
            Some((first, per))
        })
        .collect::<Option<_>>()?;
    let mut offsets = Vec::with_capacity(count);
    for (i, &(first, per)) in runs.iter().enumerate() {
        let end = runs.get(i + 1).map_or(chunks.len() as u64 + 1, |&(f, _)| u64::from(f));
        if first == 0 || u64::from(first) > end {
            return None;
        }
        for chunk in u64::from(first)..end {
            let mut at = *chunks.get(usize::try_from(chunk - 1).ok()?)?;
            for _ in 0..per {
                let size = *sizes.get(offsets.len())?;
                offsets.push(at);
                at = at.checked_add(u64::from(size))?;
            }
        }
    }
    if offsets.len() != count {
        return None;
    }
    // Decode times from stts runs.
    let mut dts = Vec::with_capacity(count);
    let mut t = 0u64;
    for (run, delta) in stts(child(stbl, *b"stts")?)? {
        for _ in 0..run {
            dts.push(t);
            t = t.checked_add(u64::from(delta))?;
        }
    }
    if dts.len() != count {
        return None;
    }
    Some((offsets, sizes, dts))
}

/// The RBSP of a NAL unit (its header byte removed, emulation-prevention bytes dropped).
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal.get(1..).unwrap_or_default() {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// The `seq_parameter_set_id` of an SPS NAL unit.
pub(crate) fn sps_id(nal: &[u8]) -> Option<u32> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let data = rbsp(nal);
    let mut b = Bits { data: &data, pos: 24 };
    b.ue()
}

/// `(pic_parameter_set_id, seq_parameter_set_id)` of a PPS NAL unit.
pub(crate) fn pps_ids(nal: &[u8]) -> Option<(u32, u32)> {
    if nal.first()? & 0x1f != 8 {
        return None;
    }
    let data = rbsp(nal);
    let mut b = Bits { data: &data, pos: 0 };
    Some((b.ue()?, b.ue()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exp_golomb_and_boxes() {
        let mut b = Bits { data: &[0b1010_0110, 0b0100_0000], pos: 0 };
        assert_eq!(b.ue(), Some(0));
        assert_eq!(b.ue(), Some(1));
        assert_eq!(b.ue(), Some(2));
        assert_eq!(b.se(), Some(2));
        let data = [0, 0, 0, 9, b'a', b'b', b'c', b'd', 7, 0, 0, 0, 8, b'e', b'f', b'g', b'h'];
        let kids = children(&data).unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0], (*b"abcd", &[7u8][..]));
        assert!(children(&[0, 0, 0, 20, b'a', b'b', b'c', b'd']).is_none());
    }

    #[test]
    fn understands_only_plain_aac_lc() {
        // What ffmpeg's AAC encoder writes for 44.1 kHz stereo, with the explicit "no SBR" tail.
        assert_eq!(aac_lc(&[0x12, 0x10, 0x56, 0xe5, 0x00]), Some((44100, 2)));
        assert_eq!(aac_lc(&[0x11, 0x90]), Some((48000, 2)));
        // HE-AAC (object type 5) and a channel layout given by a PCE are left to ffprobe.
        assert_eq!(aac_lc(&[0x2b, 0x92, 0x08, 0x00]), None);
        assert_eq!(aac_lc(&[0x12, 0x00]), None);
    }

    #[test]
    fn rejects_non_mp4_and_fragments() {
        let mut not_mp4 = std::io::Cursor::new(b"\x1aE\xdf\xa3 matroska".to_vec());
        assert!(find_moov(&mut not_mp4).is_none());
        let mut frag = Vec::new();
        frag.extend_from_slice(&[0, 0, 0, 8, b'f', b't', b'y', b'p']);
        frag.extend_from_slice(&[0, 0, 0, 8, b'm', b'o', b'o', b'f']);
        frag.extend_from_slice(&[0, 0, 0, 8, b'm', b'o', b'o', b'v']);
        assert!(find_moov(&mut std::io::Cursor::new(frag)).is_none());
        assert!(parse_movie(&[]).is_none());
    }

    /// Real files from the installed ffmpeg: where the reader answers, it must say exactly what
    /// ffprobe says; where it cannot be sure, it must not answer.
    mod against_ffprobe {
        use std::path::{Path, PathBuf};
        use std::process::Command;

        use crate::Ffmpeg;
        use crate::probe::MediaInfo;

        fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
            let ff = Ffmpeg::locate().expect("ffmpeg must be installed for these tests");
            let out = dir.join(name);
            let status = Command::new(ff.ffmpeg_path())
                .args(["-hide_banner", "-loglevel", "error", "-y"])
                .args(args)
                .arg(&out)
                .status()
                .unwrap();
            assert!(status.success(), "making {name}");
            out
        }

        const SRC: &[&str] =
            &["-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=1", "-f", "lavfi", "-i", "sine=d=1"];

        fn with(head: &[&'static str], tail: &[&'static str]) -> Vec<&'static str> {
            head.iter().chain(tail).copied().collect()
        }

        fn assert_same(fast: &MediaInfo, probed: &MediaInfo) {
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() < 2e-3,
                (a, b) => a == b,
            };
            assert_eq!(fast.format_name, probed.format_name);
            assert_eq!(fast.subtitle_streams, probed.subtitle_streams);
            assert!((fast.duration - probed.duration).abs() < 2e-3, "{fast:?}\n{probed:?}");
            match (&fast.video, &probed.video) {
                (Some(f), Some(p)) => {
                    assert_eq!(
                        (&f.codec, &f.profile, &f.pix_fmt, f.width, f.height),
                        (&p.codec, &p.profile, &p.pix_fmt, p.width, p.height)
                    );
                    assert_eq!((f.fps_num, f.fps_den, f.frames), (p.fps_num, p.fps_den, p.frames));
                    assert_eq!((f.still, &f.config), (p.still, &p.config));
                    assert!(close(f.duration, p.duration), "{f:?}\n{p:?}");
                }
                (f, p) => assert_eq!(f.is_some(), p.is_some()),
            }
            match (&fast.audio, &probed.audio) {
                (Some(f), Some(p)) => {
                    assert_eq!(
                        (&f.codec, f.sample_rate, f.channels, &f.config),
                        (&p.codec, p.sample_rate, p.channels, &p.config)
                    );
                    assert!(close(f.duration, p.duration), "{f:?}\n{p:?}");
                }
                (f, p) => assert_eq!(f.is_some(), p.is_some()),
            }
        }

        #[test]
        fn agrees_with_ffprobe_or_declines() {
            let ff = Ffmpeg::locate().expect("ffmpeg must be installed for these tests");
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let x264 = |profile: &'static str, preset: &'static str| {
                vec!["-c:v", "libx264", "-preset", preset, "-profile:v", profile]
            };
            let mut cases: Vec<(PathBuf, bool)> = Vec::new();
            let high_fast = [x264("high", "ultrafast"), vec!["-pix_fmt", "yuv420p"]].concat();
            let aac = ["-c:a", "aac", "-ar", "44100", "-ac", "2", "-shortest"];
            cases.push((
                make(d, "high.mp4", &with(SRC, &[high_fast.as_slice(), &aac].concat())),
                true,
            ));
            // B-frames: composition offsets and an edit list hiding the delay; faststart.
            let bframes = [x264("high", "medium"), vec!["-pix_fmt", "yuv420p"]].concat();
            let tail = [bframes.as_slice(), &aac, &["-movflags", "+faststart"]].concat();
            cases.push((make(d, "bframes.mp4", &with(SRC, &tail)), true));
            // Main profile at 29.97 fps and a size that is not a multiple of 16 (SPS cropping).
            let main = [
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=170x98:r=30000/1001:d=1",
                "-c:v",
                "libx264",
                "-profile:v",
                "main",
                "-pix_fmt",
                "yuv420p",
            ];
            cases.push((make(d, "main.mp4", &main), true));
            let base = [x264("baseline", "fast"), vec!["-pix_fmt", "yuv420p"]].concat();
            let tail = [base.as_slice(), &aac].concat();
            cases.push((make(d, "baseline.mov", &with(SRC, &tail)), true));
            let m4a = ["-f", "lavfi", "-i", "sine=d=1:r=48000", "-c:a", "aac"];
            cases.push((make(d, "music.m4a", &m4a), true));
            // Outside what the reader claims to understand: it must decline.
            let yuv444 = [x264("high444", "ultrafast"), vec!["-pix_fmt", "yuv444p"]].concat();
            cases.push((make(d, "yuv444.mp4", &with(SRC, &yuv444)), false));
            let full = [x264("high", "ultrafast"), vec!["-pix_fmt", "yuvj420p"]].concat();
            cases.push((make(d, "full-range.mp4", &with(SRC, &full)), false));
            let ten = [x264("high10", "ultrafast"), vec!["-pix_fmt", "yuv420p10le"]].concat();
            if ff.capabilities().encoders.contains("libx264") {
                // Some libx264 builds are 8-bit only; skip quietly when this one refuses.
                let ok = Command::new(ff.ffmpeg_path())
                    .args(["-hide_banner", "-loglevel", "quiet", "-y"])
                    .args(with(SRC, &ten))
                    .arg(d.join("ten.mp4"))
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    cases.push((d.join("ten.mp4"), false));
                }
            }
            let mkv = [high_fast.as_slice(), &aac].concat();
            cases.push((make(d, "clip.mkv", &with(SRC, &mkv)), false));
            let frag = [high_fast.as_slice(), &["-movflags", "frag_keyframe+empty_moov"]].concat();
            cases.push((make(d, "frag.mp4", &with(SRC, &frag)), false));
            if ff.capabilities().encoders.contains("libx265") {
                let hevc = ["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1"];
                cases.push((make(d, "hevc.mp4", &with(SRC, &hevc)), false));
            }
            // A keyframe-copy trim: the edit list drops decoded frames, so it is ffprobe's job.
            let src = d.join("bframes.mp4");
            let src = src.to_str().unwrap();
            let trim = ["-ss", "0.5", "-i", src, "-c", "copy", "-map", "0:v"];
            let trimmed = make(d, "trim.mp4", &trim);
            for (path, understood) in cases {
                let fast = super::super::read_file(&path);
                let probed = ff.probe(&path).unwrap();
                assert_eq!(fast.is_some(), understood, "{}: {fast:?}", path.display());
                if let Some(fast) = fast {
                    assert_same(&fast, &probed);
                    assert_eq!(fast.path, path);
                    // The sample tables agree with the header: one sample per frame.
                    if let Some(v) = &fast.video {
                        let track = super::super::read_video_track(&path).unwrap();
                        assert_eq!(Some(track.samples.len() as u64), v.frames);
                        assert_eq!(track.avcc, v.config.clone().unwrap());
                        assert!(track.samples[0].sync);
                    }
                }
            }
            if let Some(fast) = super::super::read_file(&trimmed) {
                assert_same(&fast, &ff.probe(&trimmed).unwrap());
            }
        }
    }
}
