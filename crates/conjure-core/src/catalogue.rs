//! The model catalogue: which models exist, what they cost and what they accept.
//!
//! The catalogue is data, not code: the provider snapshots in `data/*.tsv` are compiled in with
//! `include_str!` and parsed once. A model is named by its canonical key, a legacy key or an
//! alias (aliases are per media kind: `default` means `gen` for images and `seedance-2-0-fast` for
//! video). Quoting and validation read only from here; a name the catalogue does not know is an
//! error that suggests the closest names, because conjure cannot quote a price it does not have.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::money::Credits;

pub mod imaginepro;
pub mod live;

const KATANA_TSV: &str = include_str!("../data/katana-models.tsv");

/// A provider conjure can talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderId {
    Katana,
    #[serde(rename = "imaginepro")]
    ImaginePro,
}

impl ProviderId {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::Katana => "katana",
            ProviderId::ImaginePro => "imaginepro",
        }
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderId {
    type Err = CatalogueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "katana" | "imgnai" => Ok(ProviderId::Katana),
            "imaginepro" => Ok(ProviderId::ImaginePro),
            other => Err(CatalogueError::UnknownProvider(other.to_owned())),
        }
    }
}

/// What a model produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Text,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Text => "text",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaKind {
    type Err = CatalogueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Ok(MediaKind::Image),
            "video" => Ok(MediaKind::Video),
            "text" => Ok(MediaKind::Text),
            other => Err(CatalogueError::UnknownKind(other.to_owned())),
        }
    }
}

/// How a model is priced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "unit", rename_all = "snake_case")]
pub enum Pricing {
    /// Credits per submitted item (image models).
    PerItem { credits: Credits },
    /// Credits per allowed duration in seconds; only these durations are valid (video models).
    PerDuration { credits: BTreeMap<u32, Credits> },
    /// Credits per million tokens (text models).
    PerMillionTokens {
        input: Credits,
        output: Credits,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_read: Option<Credits>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_write: Option<Credits>,
    },
}

/// Video constraints from the catalogue's `custom_rules` (see the Katana spec's glossary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoRule {
    Audio15sMax,
    AudioDrivesDuration,
    AudioFfOnly,
    AudioNeedsReferenceImage,
    AudioOrFflfExclusive,
    InputVideoDrivesLength,
    LfNeedsFf,
    ReferenceFfOnly,
    ReferenceIsVoiceTimbre,
    ReferenceNoFfOrLf,
    VideoOffsetAllowed,
    VideoRequired,
}

impl VideoRule {
    /// The rule in words, as `conjure models MODEL` shows it.
    pub fn describe(self) -> &'static str {
        match self {
            VideoRule::Audio15sMax => "audio inputs may be at most 15 s long",
            VideoRule::AudioDrivesDuration => "the audio's length sets the video's duration",
            VideoRule::AudioFfOnly => "audio can be combined only with a first frame",
            VideoRule::AudioNeedsReferenceImage => {
                "audio inputs need at least one reference image (`--ref`)"
            }
            VideoRule::AudioOrFflfExclusive => {
                "audio cannot be combined with a first or last frame"
            }
            VideoRule::InputVideoDrivesLength => "the input video's length sets the duration",
            VideoRule::LfNeedsFf => "a last frame is allowed only together with a first frame",
            VideoRule::ReferenceFfOnly => {
                "reference images can be combined with a first frame, not a last frame"
            }
            VideoRule::ReferenceIsVoiceTimbre => "a reference audio sets the voice's timbre",
            VideoRule::ReferenceNoFfOrLf => {
                "reference images cannot be combined with a first or last frame"
            }
            VideoRule::VideoOffsetAllowed => "input videos may start and end at offsets",
            VideoRule::VideoRequired => "at least one input video is required",
        }
    }

    fn parse(s: &str) -> Option<VideoRule> {
        Some(match s {
            "audio_15s_max" => VideoRule::Audio15sMax,
            "audio_drives_duration" => VideoRule::AudioDrivesDuration,
            "audio_ff_only" => VideoRule::AudioFfOnly,
            "audio_needs_reference_image" => VideoRule::AudioNeedsReferenceImage,
            "audio_or_fflf_exclusive" => VideoRule::AudioOrFflfExclusive,
            "input_video_drives_length" => VideoRule::InputVideoDrivesLength,
            "lf_needs_ff" => VideoRule::LfNeedsFf,
            "reference_ff_only" => VideoRule::ReferenceFfOnly,
            "reference_is_voice_timbre" => VideoRule::ReferenceIsVoiceTimbre,
            "reference_no_ff_or_lf" => VideoRule::ReferenceNoFfOrLf,
            "video_offset_allowed" => VideoRule::VideoOffsetAllowed,
            "video_required" => VideoRule::VideoRequired,
            _ => return None,
        })
    }
}

/// Privacy tier of a text model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    Anonymized,
    Private,
    E2ee,
}

impl Privacy {
    pub fn label(self) -> &'static str {
        match self {
            Privacy::Anonymized => "Anonymized",
            Privacy::Private => "Private",
            Privacy::E2ee => "E2EE Private",
        }
    }
}

/// One model of a provider's catalogue.
#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub provider: ProviderId,
    pub kind: MediaKind,
    /// The canonical key: what conjure sends as `model`.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_key: Option<String>,
    pub aliases: Vec<String>,
    pub pricing: Pricing,
    /// Allowed `aspect_ratio` values; empty for text.
    pub aspects: Vec<String>,
    /// Reference images allowed (the catalogue's `max_refs`, raised to 1 where an image is required).
    pub max_refs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    pub requires_image: bool,
    pub accepts_edit_input: bool,
    pub first_frame: bool,
    pub last_frame: bool,
    pub audio_input: bool,
    pub audio_output: bool,
    pub video_input: bool,
    pub legacy: bool,
    pub uhd: bool,
    /// Fast mode (`--fast`) works: Katana honours it on models it hosts itself (creator imgnAI).
    pub fast: bool,
    /// What `--uhd` asks this model for, where the catalogue names it ("Enhanced Quality").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uhd_means: Option<String>,
    pub prompt_assist: bool,
    pub rules: Vec<VideoRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<Privacy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u64>,
    /// The most tokens a text model writes in one answer, where the catalogue lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// What a text model reads besides text: `image` (vision), `file`, `video`, `audio`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text_inputs: Vec<String>,
    pub notes: String,
}

/// Katana's global cap on audio inputs for one video request.
pub const MAX_AUDIO_INPUTS: u32 = 4;

impl Model {
    /// Credits for one item at `duration` seconds (video) or one image; `None` when the
    /// duration is not one the model offers or the model is not priced per item.
    pub fn item_credits(&self, duration: Option<u32>) -> Option<Credits> {
        match (&self.pricing, duration) {
            (Pricing::PerItem { credits }, _) => Some(*credits),
            (Pricing::PerDuration { credits }, Some(d)) => credits.get(&d).copied(),
            _ => None,
        }
    }

    pub fn durations(&self) -> Vec<u32> {
        match &self.pricing {
            Pricing::PerDuration { credits } => credits.keys().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// A text model reads `what` (`image`, `file`, ...) besides text.
    pub fn reads(&self, what: &str) -> bool {
        self.text_inputs.iter().any(|i| i == what)
    }

    pub fn has_rule(&self, rule: VideoRule) -> bool {
        self.rules.contains(&rule)
    }

    /// The cheapest unit price, for listings.
    pub fn min_credits(&self) -> Credits {
        match &self.pricing {
            Pricing::PerItem { credits } => *credits,
            Pricing::PerDuration { credits } => credits.values().copied().min().unwrap_or_default(),
            Pricing::PerMillionTokens { input, .. } => *input,
        }
    }
}

/// Errors from catalogue look-ups.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogueError {
    #[error("Unknown {}model `{name}`{}", kind_prefix(kind), suggest(suggestions))]
    UnknownModel { name: String, kind: String, suggestions: Vec<String> },
    #[error(
        "`{name}` names {} model{}, not {} model",
        article(*actual),
        if name == id { String::new() } else { format!(" (`{id}`)") },
        article(*wanted)
    )]
    WrongKind { name: String, id: String, actual: MediaKind, wanted: MediaKind },
    #[error("Unknown provider `{0}`: use `katana` or `imaginepro`")]
    UnknownProvider(String),
    #[error("Unknown media type `{0}`: use `image`, `video` or `text`")]
    UnknownKind(String),
    #[error("The bundled catalogue is malformed at line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    /// A `GET /v1/models` answer conjure cannot read as a catalogue.
    #[error("The live catalogue cannot be read: {0}")]
    Live(String),
}

impl CatalogueError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            CatalogueError::UnknownModel { kind, .. } if kind != "any" => {
                format!("list {kind} models with `conjure models --kind {kind}`")
            }
            CatalogueError::UnknownModel { .. } => "list models with `conjure models`".to_owned(),
            CatalogueError::WrongKind { name, actual, wanted, .. } => format!(
                "use `conjure {actual} --model {name}`, or pick a {wanted} model from `conjure models --kind {wanted}`"
            ),
            CatalogueError::UnknownProvider(_) | CatalogueError::UnknownKind(_) => return None,
            CatalogueError::Malformed { .. } => {
                "this build's catalogue is damaged; reinstall conjure".to_owned()
            }
            CatalogueError::Live(_) => {
                "nothing was cached and the catalogue in use is unchanged; check the base URL (`conjure config`) and try `conjure models --refresh` again later".to_owned()
            }
        })
    }
}

/// `image ` for a kind, nothing for `any`.
fn kind_prefix(kind: &str) -> String {
    if kind == "any" { String::new() } else { format!("{kind} ") }
}

/// `an image`, `a video`, `a text`.
fn article(kind: MediaKind) -> String {
    match kind {
        MediaKind::Image => "an image".to_owned(),
        other => format!("a {other}"),
    }
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(
            "; did you mean {}?",
            suggestions.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        )
    }
}

/// All models conjure knows, across providers.
#[derive(Clone, Debug)]
pub struct Catalogue {
    models: Vec<Model>,
}

impl Catalogue {
    /// The catalogue compiled into this build. Parsed once.
    pub fn bundled() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| {
            Catalogue::from_katana_tsv(KATANA_TSV)
                .expect("the bundled catalogue is checked by a unit test")
        })
    }

    /// Parses a Katana catalogue TSV (the format of `data/katana-models.tsv`).
    pub fn from_katana_tsv(text: &str) -> Result<Catalogue, CatalogueError> {
        let mut models = Vec::new();
        let mut header_seen = false;
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if !header_seen {
                header_seen = true;
                continue;
            }
            models.push(
                parse_katana_row(line)
                    .map_err(|reason| CatalogueError::Malformed { line: line_no, reason })?,
            );
        }
        Ok(Catalogue { models })
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn iter(
        &self,
        provider: Option<ProviderId>,
        kind: Option<MediaKind>,
    ) -> impl Iterator<Item = &Model> {
        self.models.iter().filter(move |m| {
            provider.is_none_or(|p| m.provider == p) && kind.is_none_or(|k| m.kind == k)
        })
    }

    /// Finds a model by canonical key, legacy key or alias. `kind` disambiguates aliases
    /// such as `default`; with a kind, a model of another kind is an error.
    pub fn resolve(
        &self,
        provider: ProviderId,
        kind: Option<MediaKind>,
        name: &str,
    ) -> Result<&Model, CatalogueError> {
        let wanted = name.trim().to_ascii_lowercase();
        let candidates = || self.models.iter().filter(|m| m.provider == provider);
        let exact = candidates()
            .find(|m| m.id == wanted || m.legacy_key.as_deref() == Some(wanted.as_str()));
        // An alias of another kind only when none of the wanted kind has it, so that
        // `image --model kling` says "kling is a video model" rather than suggesting a name.
        let found = exact
            .or_else(|| {
                candidates()
                    .filter(|m| kind.is_none_or(|k| m.kind == k))
                    .find(|m| m.aliases.contains(&wanted))
            })
            .or_else(|| candidates().find(|m| m.aliases.contains(&wanted)));
        match (found, kind) {
            (Some(m), Some(k)) if m.kind != k => Err(CatalogueError::WrongKind {
                name: name.to_owned(),
                id: m.id.clone(),
                actual: m.kind,
                wanted: k,
            }),
            (Some(m), _) => Ok(m),
            (None, _) => Err(CatalogueError::UnknownModel {
                name: name.to_owned(),
                kind: kind.map_or_else(|| "any".to_owned(), |k| k.to_string()),
                suggestions: self.closest(provider, kind, &wanted),
            }),
        }
    }

    /// Up to three names closest to `name` by edit distance (prefix matches first).
    fn closest(&self, provider: ProviderId, kind: Option<MediaKind>, name: &str) -> Vec<String> {
        let mut scored: Vec<(usize, String)> = Vec::new();
        for m in self.iter(Some(provider), kind) {
            let names = std::iter::once(&m.id).chain(m.legacy_key.iter()).chain(m.aliases.iter());
            let best = names
                .map(|n| {
                    let d = edit_distance(name, n);
                    if n.starts_with(name) || name.starts_with(n.as_str()) { d.min(2) } else { d }
                })
                .min()
                .unwrap_or(usize::MAX);
            scored.push((best, m.id.clone()));
        }
        scored.sort();
        let limit = (name.len() / 2).max(3);
        scored.into_iter().filter(|(d, _)| *d <= limit).take(3).map(|(_, n)| n).collect()
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn dash_none(s: &str) -> Option<&str> {
    let s = s.trim();
    if s.is_empty() || s == "-" { None } else { Some(s) }
}

fn parse_katana_row(line: &str) -> Result<Model, String> {
    let cols: Vec<&str> = line.split('\t').collect();
    let [kind, id, legacy, credits, aspects, max_refs, creator, flags, notes] = cols[..] else {
        return Err(format!("expected 9 tab-separated columns, found {}", cols.len()));
    };
    let kind: MediaKind = kind.parse().map_err(|e: CatalogueError| e.to_string())?;
    let flags: Vec<&str> = dash_none(flags).map(|f| f.split(',').collect()).unwrap_or_default();
    let has = |f: &str| flags.contains(&f);
    let credit = |s: &str| s.parse::<Credits>().map_err(|e| format!("model `{id}`: {e}"));

    let pricing = match kind {
        MediaKind::Image => Pricing::PerItem { credits: credit(credits)? },
        MediaKind::Video => {
            let mut table = BTreeMap::new();
            for pair in credits.split(',') {
                let (d, c) =
                    pair.split_once(':').ok_or_else(|| format!("model `{id}`: bad `{pair}`"))?;
                let d: u32 = d.parse().map_err(|_| format!("model `{id}`: bad duration `{d}`"))?;
                table.insert(d, credit(c)?);
            }
            Pricing::PerDuration { credits: table }
        }
        MediaKind::Text => {
            let mut rates: BTreeMap<&str, Credits> = BTreeMap::new();
            for pair in credits.split(';') {
                let (k, v) =
                    pair.split_once('=').ok_or_else(|| format!("model `{id}`: bad `{pair}`"))?;
                rates.insert(k, credit(v)?);
            }
            let cache = rates.get("cache").copied();
            Pricing::PerMillionTokens {
                input: rates
                    .get("in")
                    .copied()
                    .ok_or_else(|| format!("model `{id}`: no `in` rate"))?,
                output: rates
                    .get("out")
                    .copied()
                    .ok_or_else(|| format!("model `{id}`: no `out` rate"))?,
                cache_read: rates.get("cache_r").copied().or(cache),
                cache_write: rates.get("cache_w").copied(),
            }
        }
    };

    let mut aliases = Vec::new();
    let mut rules = Vec::new();
    let mut context_tokens = None;
    let mut max_output_tokens = None;
    let mut text_inputs = Vec::new();
    let mut uhd_means = None;
    for note in notes.split("; ") {
        if let Some(what) =
            note.strip_prefix("is_uhd means ").and_then(|r| r.strip_suffix(" on this model"))
        {
            uhd_means = Some(what.to_owned());
        } else if let Some(list) = note.strip_prefix("aliases=") {
            aliases.extend(list.split(',').map(str::to_owned));
        } else if let Some(list) = note.strip_prefix("custom_rules (mapped, inferred)=") {
            // A trailing `?` marks a guessed mapping; conjure enforces it anyway, since a local
            // refusal costs nothing and a provider rejection may.
            for r in list.split(',') {
                let r = r.trim_end_matches('?');
                rules.push(
                    VideoRule::parse(r)
                        .ok_or_else(|| format!("model `{id}`: unknown rule `{r}`"))?,
                );
            }
        } else if let Some(ctx) = note.strip_prefix("ctx=") {
            context_tokens = ctx.parse().ok();
        } else if let Some(max) = note.strip_prefix("max_out=") {
            // `not listed` stays unknown: the provider then decides.
            max_output_tokens = max.parse().ok();
        } else if let Some(list) = note.strip_prefix("inputs=") {
            text_inputs.extend(list.split(',').filter(|i| *i != "text").map(str::to_owned));
        }
    }
    if kind == MediaKind::Video && has("lf") && !rules.contains(&VideoRule::LfNeedsFf) {
        // The Katana video docs state lf_needs_ff as the general rule for last frames.
        rules.push(VideoRule::LfNeedsFf);
    }

    let requires_image = has("requires_image");
    let mut max_refs: u32 = dash_none(max_refs)
        .map_or(Ok(0), str::parse)
        .map_err(|_| format!("model `{id}`: bad max_refs `{max_refs}`"))?;
    if kind == MediaKind::Image && requires_image {
        // Required input but a cap of 0 in the snapshot: allow one image (spec, open question 18).
        max_refs = max_refs.max(1);
    }

    let privacy = match kind {
        MediaKind::Text => Some(if has("e2ee") {
            Privacy::E2ee
        } else if has("private") {
            Privacy::Private
        } else {
            Privacy::Anonymized
        }),
        _ => None,
    };

    Ok(Model {
        provider: ProviderId::Katana,
        kind,
        id: id.to_owned(),
        legacy_key: dash_none(legacy).map(str::to_owned),
        aliases,
        pricing,
        aspects: dash_none(aspects)
            .map(|a| a.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        max_refs,
        creator: dash_none(creator).map(str::to_owned),
        requires_image,
        accepts_edit_input: has("edit")
            || requires_image
            || (kind == MediaKind::Video && max_refs > 0),
        first_frame: has("ff"),
        last_frame: has("lf"),
        audio_input: has("ain"),
        audio_output: has("aout"),
        video_input: has("vin"),
        legacy: has("legacy"),
        uhd: has("uhd") || has("4k"),
        // The catalogue: "is_fast/fast_mode works on imgnAI-hosted models only".
        fast: kind == MediaKind::Image && dash_none(creator) == Some("imgnAI"),
        uhd_means,
        prompt_assist: has("prompt_assist"),
        rules,
        privacy,
        context_tokens,
        max_output_tokens,
        text_inputs,
        notes: dash_none(notes).unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalogue_has_every_model() {
        let c = Catalogue::bundled();
        let count = |k| c.iter(Some(ProviderId::Katana), Some(k)).count();
        assert_eq!(count(MediaKind::Image), 51);
        assert_eq!(count(MediaKind::Video), 25);
        assert_eq!(count(MediaKind::Text), 45);
    }

    #[test]
    fn aliases_resolve_per_kind() {
        let c = Catalogue::bundled();
        let r = |k, n| c.resolve(ProviderId::Katana, Some(k), n).unwrap().id.clone();
        assert_eq!(r(MediaKind::Image, "flux"), "flux-2-pro");
        assert_eq!(r(MediaKind::Image, "default"), "gen");
        assert_eq!(r(MediaKind::Video, "default"), "seedance-2-0-fast");
        assert_eq!(r(MediaKind::Video, "seedance"), "seedance-2-0-fast");
        assert_eq!(r(MediaKind::Video, "seedance-hd"), "seedance-2-0");
        assert_eq!(r(MediaKind::Image, "gpt2image"), "gpt-image-2");
        assert_eq!(r(MediaKind::Image, "GPT-Image-2"), "gpt-image-2");
        assert_eq!(r(MediaKind::Text, "claude"), "claude-opus-4-8");
    }

    #[test]
    fn unknown_model_suggests_closest() {
        let c = Catalogue::bundled();
        let err = c.resolve(ProviderId::Katana, Some(MediaKind::Image), "flux-2-pr").unwrap_err();
        let CatalogueError::UnknownModel { suggestions, .. } = &err else { panic!("{err}") };
        assert_eq!(suggestions.first().map(String::as_str), Some("flux-2-pro"));
        assert!(err.to_string().contains("did you mean `flux-2-pro`"));
    }

    #[test]
    fn wrong_kind_is_an_error() {
        let c = Catalogue::bundled();
        let err = c.resolve(ProviderId::Katana, Some(MediaKind::Video), "gpt-image-2").unwrap_err();
        assert!(matches!(err, CatalogueError::WrongKind { .. }));
        assert_eq!(err.to_string(), "`gpt-image-2` names an image model, not a video model");
        // An alias of a video model, asked for as an image: named as such, not "did you mean".
        let err = c.resolve(ProviderId::Katana, Some(MediaKind::Image), "kling").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`kling` names a video model (`kling-3-0-kling30`), not an image model"
        );
    }

    #[test]
    fn video_pricing_and_rules() {
        let c = Catalogue::bundled();
        let m = c.resolve(ProviderId::Katana, Some(MediaKind::Video), "seedance-2-0").unwrap();
        assert_eq!(m.item_credits(Some(10)), Some(Credits::whole(375)));
        assert_eq!(m.item_credits(Some(7)), None);
        assert!(m.has_rule(VideoRule::ReferenceNoFfOrLf));
        assert!(m.has_rule(VideoRule::LfNeedsFf));
        assert!(m.audio_input);
        let kontext = c.resolve(ProviderId::Katana, Some(MediaKind::Image), "kontextpro").unwrap();
        assert!(kontext.requires_image);
        assert_eq!(kontext.max_refs, 1);
    }

    #[test]
    fn fast_mode_is_for_imgnai_hosted_images() {
        let c = Catalogue::bundled();
        let r = |k, n| c.resolve(ProviderId::Katana, Some(k), n).unwrap();
        assert!(r(MediaKind::Image, "gen").fast);
        assert!(!r(MediaKind::Image, "gpt-image-2").fast);
        assert!(!r(MediaKind::Video, "kling").fast);
    }

    #[test]
    fn text_pricing_parses_tenths() {
        let c = Catalogue::bundled();
        let m = c.resolve(ProviderId::Katana, Some(MediaKind::Text), "naifu").unwrap();
        assert_eq!(
            m.pricing,
            Pricing::PerMillionTokens {
                input: Credits::from_tenths(385),
                output: Credits::from_tenths(2404),
                cache_read: None,
                cache_write: None
            }
        );
        assert_eq!(m.privacy, Some(Privacy::Private));
    }
}
