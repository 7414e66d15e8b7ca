//! Fixtures: a journal in a temp directory and a realistic, quoted Katana image job.

use std::path::PathBuf;

use conjure_core::spec::{ImageFormat, ImageItem};
use conjure_core::{
    Catalogue, CreditPrice, Item, JobRecord, JobSpec, JobStore, MediaInput, NewJob, ProviderId,
    Quote, WireRequest,
};
use conjure_journal::Journal;
use serde_json::json;
use tempfile::TempDir;

pub struct Fixture {
    /// Keeps the directory alive for the test's duration.
    pub _dir: TempDir,
    pub path: PathBuf,
    pub journal: Journal,
}

pub fn journal() -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state").join("journal.db");
    let journal = Journal::open(&path).expect("the journal opens");
    Fixture { _dir: dir, path, journal }
}

pub fn spec(prompt: &str) -> JobSpec {
    JobSpec {
        provider: ProviderId::Katana,
        items: vec![Item::Image(ImageItem {
            model: "gpt-image-2".into(),
            prompt: prompt.into(),
            aspect_ratio: "16:9".into(),
            format: ImageFormat::Webp,
            inputs: vec![
                MediaInput::Url { url: "https://example.com/ref/fox.jpg".into() },
                MediaInput::Data {
                    source: "./sketch é.png".into(),
                    mime: "image/png".into(),
                    base64: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==".into(),
                    sha256: "4f0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d".into(),
                },
            ],
            negative_prompt: Some("blurry, \"watermark\"".into()),
            fast: false,
            uhd: false,
        })],
    }
}

pub fn wire(spec: &JobSpec) -> WireRequest {
    let Item::Image(item) = &spec.items[0] else { unreachable!() };
    WireRequest {
        method: "POST".into(),
        path: "/v1/generation-requests?wait=false".into(),
        body: json!({
            "requests": [{
                "model": "gpt2image",
                "prompt": item.prompt,
                "aspect_ratio": item.aspect_ratio,
                "output_format": "webp",
                "images": item.inputs.iter().map(MediaInput::wire_value).collect::<Vec<_>>(),
                "negative_prompt": item.negative_prompt,
                "strength": 0.1 + 0.2,
            }]
        }),
    }
}

pub fn quote(spec: &JobSpec) -> Quote {
    Quote::compute(spec, Catalogue::bundled(), Some(CreditPrice::KATANA_REFERENCE))
        .expect("the fixture is quotable")
}

/// Records a new job for `prompt` and returns it.
pub fn create(journal: &Journal, prompt: &str) -> JobRecord {
    let spec = spec(prompt);
    let wire = wire(&spec);
    let quote = quote(&spec);
    journal
        .create(NewJob { spec: &spec, wire: &wire, quote: &quote, retry_of: None, parent: None })
        .expect("the job is recorded")
}

/// A plain SQLite connection to the journal file, bypassing `Journal`.
pub fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("the file opens")
}
