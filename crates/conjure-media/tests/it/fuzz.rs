//! Fuzzing of the timeline parser on stable Rust: property tests with proptest.
//!
//! Targets (each a `#[test]`, so they run in the normal suite with a modest case count):
//! - `timeline_structured`: valid-ish timelines built field by field from the format's own
//!   vocabulary, with values near and beyond every limit. Parsing and validation never panic; a
//!   parsed timeline serialised back to JSON parses to the same timeline and validates the same
//!   way; the same document written as YAML parses to the same timeline.
//! - `timeline_mutated`: those documents with random values swapped in at random places
//!   (JSON-level) and with random byte edits (text-level), read as JSON and as YAML.
//! - `timeline_bytes`: arbitrary bytes, read as JSON and as YAML.
//!
//! `PROPTEST_CASES` sets the cases per target (the suite's default keeps the whole module to a
//! few seconds in debug); `PROPTEST_RNG_SEED` picks the seed (fixed by default, so the suite is
//! reproducible). With `CONJURE_FUZZ_REPORT` set, each target prints its executions and wall
//! time to stderr (`scripts/bench-fuzz` runs them in release with millions of cases).

use std::fmt::Debug;
use std::time::Instant;

use conjure_media::{MediaError, Timeline};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

/// Runs one fuzz target: `default_cases` unless `PROPTEST_CASES` says otherwise.
fn check<S: Strategy>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: Debug,
{
    let mut config = Config { failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x00C0_FFEE);
    }
    let cases = config.cases;
    let start = Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("fuzz target `{name}` failed: {e}");
    }
    if std::env::var_os("CONJURE_FUZZ_REPORT").is_some() {
        eprintln!(
            "fuzz-report target={name} executions={cases} seconds={:.3} result=no-panic",
            start.elapsed().as_secs_f64()
        );
    }
}

/// Seconds and factors: in range, on the edges, out of range, and extreme.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0.0..12.0f64).prop_map(|x| json!(x)),
        2 => (0u32..20).prop_map(|x| json!(x)),
        1 => prop::sample::select(vec![0.0, -0.0, 0.25, 4.0, 10.0, 100.0, -1.0, 1e-12, 1e308, -1e308])
            .prop_map(|x| json!(x)),
        1 => any::<f64>().prop_map(|x| json!(x)),
        1 => any::<i64>().prop_map(|x| json!(x)),
        1 => any::<u64>().prop_map(|x| json!(x)),
    ]
}

/// Pixel counts and other unsigned fields (`u32`, `u8`), including ones that do not fit.
fn count() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0u32..2000).prop_map(|x| json!(x)),
        1 => prop::sample::select(vec![0u64, 1, 2, 16, 63, 64, 255, 256, 8192, 8193, 4_294_967_295, 4_294_967_296])
            .prop_map(|x| json!(x)),
        1 => any::<i64>().prop_map(|x| json!(x)),
        1 => (0.0..100.0f64).prop_map(|x| json!(x)),
    ]
}

/// A string from `known`, or any string at all.
fn word(known: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![4 => prop::sample::select(known).prop_map(|s| json!(s)), 1 => any::<String>().prop_map(Value::String)]
}

const PATHS: &[&str] = &[
    "o.mp4",
    "out/o.webm",
    "o.mkv",
    "o.mov",
    "o.avi",
    "",
    "/abs/o.MP4",
    "über 🎬.mp4",
    "a.mp4",
    "clip.png",
    "../x.mov",
    "noext",
];
const COLORS: &[&str] =
    &["black", "#ff0000", "0x00FF00", "RED", "red@0.5", "#ff0000@1.5", "#zzzzzz", "#fff", "@", "é"];
const POSITIONS: &[&str] = &[
    "top",
    "center",
    "bottom",
    "top-left",
    "bottom-right",
    "centre",
    "middle",
    "10,20",
    " 1.5 , -3 ",
    "x,y",
    ",",
    "left-ish",
];

/// An object with each `(key, value)` whose value is present.
fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect())
}

fn maybe<S: Strategy<Value = Value>>(s: S) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(0.4, s)
}

fn output() -> impl Strategy<Value = Value> {
    (
        (maybe(word(PATHS)), maybe(any::<bool>().prop_map(Value::Bool)), maybe(count())),
        (maybe(count()), maybe(number()), maybe(word(&["h264", "h265", "vp9", "av1", "mpeg2"]))),
        (
            maybe(word(&["ultrafast", "medium", "veryslow", "placebo"])),
            maybe(count()),
            maybe(word(&["192k", "128K", "k", "12x", ""])),
            maybe(word(&["nvenc", "qsv", "vaapi", "cuda"])),
        ),
    )
        .prop_map(
            |((path, overwrite, width), (height, fps, codec), (preset, crf, bitrate, hw))| {
                object(vec![
                    ("path", path),
                    ("overwrite", overwrite),
                    ("width", width),
                    ("height", height),
                    ("fps", fps),
                    ("codec", codec),
                    ("preset", preset),
                    ("crf", crf),
                    ("audio_bitrate", bitrate),
                    ("hardware", hw),
                ])
            },
        )
}

fn transition() -> impl Strategy<Value = Value> {
    (word(&["cut", "fade", "dissolve", "wipeleft", "circleopen", "zap", "FADE"]), maybe(number()))
        .prop_map(|(kind, duration)| object(vec![("type", Some(kind)), ("duration", duration)]))
}

fn rect() -> impl Strategy<Value = Value> {
    (count(), count(), count(), count())
        .prop_map(|(x, y, width, height)| json!({"x": x, "y": y, "width": width, "height": height}))
}

fn clip() -> impl Strategy<Value = Value> {
    (
        (
            maybe(word(&["a.mp4", "still.png", "b.mov", "🎞.mkv"])),
            maybe(word(COLORS)),
            maybe(number()),
            maybe(number()),
            maybe(number()),
            maybe(word(&["contain", "cover", "blur", "stretch", "zoom"])),
        ),
        (
            maybe(number()),
            maybe(number()),
            maybe(any::<bool>().prop_map(Value::Bool)),
            maybe(word(&["none", "zoom-in", "zoom-out", "pan-left", "pan-right", "spin"])),
            maybe(transition()),
            maybe(number()),
            maybe(number()),
        ),
        (
            maybe(any::<bool>().prop_map(Value::Bool)),
            maybe(any::<bool>().prop_map(Value::Bool)),
            maybe((number(), number(), number(), number()).prop_map(
                |(b, c, s, g)| json!({"brightness": b, "contrast": c, "saturation": s, "gamma": g}),
            )),
            maybe(
                (maybe(number()), maybe(rect()))
                    .prop_map(|(sigma, region)| object(vec![("sigma", sigma), ("region", region)])),
            ),
            maybe(rect()),
        ),
    )
        .prop_map(
            |(
                (src, color, from, to, duration, fit),
                (speed, volume, keep_audio, motion, transition, fade_in, fade_out),
                (reverse, greyscale, eq, blur, crop),
            )| {
                object(vec![
                    ("src", src),
                    ("color", color),
                    ("from", from),
                    ("to", to),
                    ("duration", duration),
                    ("fit", fit),
                    ("speed", speed),
                    ("volume", volume),
                    ("keep_audio", keep_audio),
                    ("motion", motion),
                    ("transition", transition),
                    ("fade_in", fade_in),
                    ("fade_out", fade_out),
                    ("reverse", reverse),
                    ("greyscale", greyscale),
                    ("eq", eq),
                    ("blur", blur),
                    ("crop", crop),
                ])
            },
        )
}

fn text() -> impl Strategy<Value = Value> {
    (
        (
            word(&["Hello", "", "«quotes» : 100% 🦊", "line\nbreak", "日本語"]),
            maybe(number()),
            maybe(number()),
        ),
        (
            maybe(prop_oneof![
                word(POSITIONS),
                (number(), number()).prop_map(|(x, y)| json!([x, y]))
            ]),
            maybe(count()),
            maybe(word(COLORS)),
            maybe(any::<bool>().prop_map(Value::Bool)),
            maybe(word(&["font.ttf", "/usr/share/fonts/x.otf"])),
            maybe(word(&["left", "up", "down"])),
        ),
    )
        .prop_map(|((text, start, end), (position, size, color, boxed, font, scroll))| {
            object(vec![
                ("text", Some(text)),
                ("start", start),
                ("end", end),
                ("position", position),
                ("size", size),
                ("color", color),
                ("box", boxed),
                ("font", font),
                ("scroll", scroll),
            ])
        })
}

fn audio() -> impl Strategy<Value = Value> {
    (
        word(&["music.mp3", "voice.wav"]),
        maybe(number()),
        maybe(number()),
        maybe(number()),
        maybe(number()),
        maybe(any::<bool>().prop_map(Value::Bool)),
    )
        .prop_map(|(src, start, volume, fade_in, fade_out, looped)| {
            object(vec![
                ("src", Some(src)),
                ("start", start),
                ("volume", volume),
                ("fade_in", fade_in),
                ("fade_out", fade_out),
                ("loop", looped),
            ])
        })
}

fn overlay() -> impl Strategy<Value = Value> {
    (
        word(&["logo.png", "pip.mp4"]),
        maybe(number()),
        maybe(number()),
        maybe(word(POSITIONS)),
        maybe(number()),
        maybe(count()),
    )
        .prop_map(|(src, start, end, position, width, margin)| {
            object(vec![
                ("src", Some(src)),
                ("start", start),
                ("end", end),
                ("position", position),
                ("width", width),
                ("margin", margin),
            ])
        })
}

/// A valid-ish timeline document.
fn timeline() -> impl Strategy<Value = Value> {
    (
        maybe(output()),
        vec(clip(), 0..5),
        maybe(vec(text(), 0..3).prop_map(Value::Array)),
        maybe(vec(audio(), 0..3).prop_map(Value::Array)),
        maybe(vec(overlay(), 0..3).prop_map(Value::Array)),
        maybe(
            (word(&["subs.srt", "subs.ass"]), maybe(any::<bool>().prop_map(Value::Bool)))
                .prop_map(|(path, burn)| object(vec![("path", Some(path)), ("burn", burn)])),
        ),
    )
        .prop_map(|(output, clips, texts, audio, overlays, subtitles)| {
            object(vec![
                ("output", output),
                ("clips", Some(Value::Array(clips))),
                ("texts", texts),
                ("audio", audio),
                ("overlays", overlays),
                ("subtitles", subtitles),
            ])
        })
}

const KEYS: &[&str] =
    &["src", "color", "duration", "to", "from", "transition", "type", "path", "clips", "output"];

/// Any JSON value, its object keys often the format's own.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        any::<String>().prop_map(Value::String),
        word(COLORS),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(
                prop_oneof![
                    4 => prop::sample::select(KEYS).prop_map(str::to_owned),
                    1 => any::<String>(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Replaces the value at a random place in `doc` (chosen by `pick`) with `new`.
fn swap_in(doc: &mut Value, mut pick: u64, new: Value) {
    let mut at = doc;
    loop {
        let n = match &*at {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        // Stop here one time in four, or at a leaf.
        if n == 0 || pick.is_multiple_of(4) {
            *at = new;
            return;
        }
        pick /= 4;
        let i = (pick % n as u64) as usize;
        pick /= n as u64;
        at = match at {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => o.values_mut().nth(i).expect("i < len"),
            _ => unreachable!("n > 0 only for containers"),
        };
    }
}

/// One byte-level edit of a document's text.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        prop::sample::select(vec![
            "{", "}", "[", "]", "\"", ",", ":", "-", "1e999", "null", "\\u00", "\u{FFFD}", "🦊",
            "\n  - ", ": &a", "*a", "!!binary", "\t", "#", "'",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        vec(any::<u8>(), 1..4),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), token).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Edit::Delete(i, n)),
    ]
}

fn apply(text: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits {
        let len = text.len();
        match e {
            Edit::Flip(i, b) if len > 0 => text[i % len] ^= b | 1,
            Edit::Insert(i, t) => {
                let at = i % (len + 1);
                text.splice(at..at, t.iter().copied());
            }
            Edit::Delete(i, n) if len > 0 => {
                let at = i % len;
                text.drain(at..(at + n).min(len));
            }
            _ => {}
        }
    }
}

/// Parses `text` both ways; whatever parses validates without panicking and survives the trip
/// back through JSON.
fn parse_any(text: &str) -> Result<(), TestCaseError> {
    for yaml in [false, true] {
        if let Ok(tl) = Timeline::parse(text, yaml) {
            same_after_round_trip(&tl)?;
        }
    }
    Ok(())
}

fn same_after_round_trip(tl: &Timeline) -> Result<(), TestCaseError> {
    let verdict = tl.validate().map_err(|e| e.path);
    let json = serde_json::to_string(tl).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let again = Timeline::parse(&json, false).map_err(|e| {
        TestCaseError::fail(format!("the reserialised timeline does not parse: {e}\n{json}"))
    })?;
    if again != *tl {
        // serde_json's default float parser (its `float_roundtrip` feature is off) may read a
        // 16- or 17-digit number (or a subnormal) a few units in the last place off, and each
        // trip through text can drift again; anything beyond that is a bug.
        let (a, b) = (serde_json::to_value(&again), serde_json::to_value(tl));
        let (Ok(a), Ok(b)) = (a, b) else { return Err(TestCaseError::fail("not serialisable")) };
        prop_assert!(nearly_equal(&a, &b), "{a}\nis not\n{b}");
    }
    prop_assert_eq!(again.validate().map_err(|e| e.path), verdict);
    Ok(())
}

/// Equal, except that numbers may differ in their 14th significant digit (or below
/// `f64::MIN_POSITIVE`).
fn nearly_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                // Subnormals (below f64::MIN_POSITIVE) carry fewer digits, so they may
                // drift by more, relative to their size.
                let d = (x - y).abs();
                x.to_bits() == y.to_bits()
                    || d <= 1e-14 * x.abs().max(y.abs())
                    || d < f64::MIN_POSITIVE
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| nearly_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| nearly_equal(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn timeline_structured() {
    check("timeline_structured", 512, timeline(), |doc| {
        let json = doc.to_string();
        let parsed = Timeline::parse(&json, false);
        if let Ok(tl) = &parsed {
            same_after_round_trip(tl)?;
        }
        // The same document as YAML reads the same (or fails the same way).
        let yaml = serde_norway::to_string(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let from_yaml = Timeline::parse(&yaml, true);
        match (&parsed, &from_yaml) {
            (Ok(a), Ok(b)) if a == b => {}
            (Ok(a), Ok(b)) => {
                let (a, b) = (serde_json::to_value(a), serde_json::to_value(b));
                let (Ok(a), Ok(b)) = (a, b) else {
                    return Err(TestCaseError::fail("not serialisable"));
                };
                prop_assert!(nearly_equal(&a, &b), "JSON {}\nYAML {}\nYAML:\n{}", a, b, yaml);
            }
            (Err(MediaError::Timeline(a)), Err(MediaError::Timeline(b))) => {
                prop_assert_eq!(&a.path, &b.path, "YAML:\n{}", yaml);
            }
            (a, b) => prop_assert!(false, "JSON gave {:?}, YAML gave {:?}\nYAML:\n{}", a, b, yaml),
        }
        Ok(())
    });
}

#[test]
fn timeline_mutated() {
    check(
        "timeline_mutated",
        512,
        (timeline(), vec((any::<u64>(), any_json()), 0..3), vec(edit(), 0..4)),
        |(mut doc, swaps, edits)| {
            for (pick, new) in swaps {
                swap_in(&mut doc, pick, new);
            }
            parse_any(&doc.to_string())?;
            let mut json = doc.to_string().into_bytes();
            apply(&mut json, &edits);
            parse_any(&String::from_utf8_lossy(&json))?;
            if let Ok(yaml) = serde_norway::to_string(&doc) {
                let mut yaml = yaml.into_bytes();
                apply(&mut yaml, &edits);
                parse_any(&String::from_utf8_lossy(&yaml))?;
            }
            Ok(())
        },
    );
}

#[test]
fn timeline_bytes() {
    check("timeline_bytes", 512, vec(any::<u8>(), 0..256), |bytes| {
        parse_any(&String::from_utf8_lossy(&bytes))
    });
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    // 100,000 deep took libyaml minutes before the parser refused deep flow nesting up front.
    for depth in [1_000, 100_000] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            assert!(Timeline::parse(&text, false).is_err());
            assert!(Timeline::parse(&text, true).is_err());
        }
        let yaml = format!("{}1", "- ".repeat(depth));
        assert!(Timeline::parse(&yaml, true).is_err());
    }
}
