//! The live catalogue: Katana's `GET /v1/models` answer read into a [`Catalogue`], and what it
//! changed against the bundled one.
//!
//! Why: the bundled snapshot (models.md, synced 2026-06-08) drifts, and the Katana skill's rule is
//! that prices never change silently. So a refreshed catalogue is built *on* the bundled one: a
//! model both know keeps every bundled fact conjure curated (aliases, video rules, flags, notes)
//! and takes the live prices, aspects, durations and limits; a model only the live answer lists
//! is built from its entry alone; a bundled model the live answer no longer lists is gone
//! (unless the answer lists no model of its kind at all: that kind is kept as bundled). What
//! changed is reported by [`diff`], and a quote of a re-priced model says so ([`price_notes`]).
//!
//! Key terms:
//! - **shape**: the answer is either *sectioned* (`{images, videos, text, text_pricing}`, sent to
//!   requests without `Authorization`) or an OpenAI-style *list* (`{object: "list", data}`, sent
//!   to any request with one). Both carry the same entry fields (`public_model_name`,
//!   `supported_aspects`, `video_lengths_and_costs`, `maximum_reference_images`,
//!   `context_length`/`max_context_length`, ...); see the sandbox's `models.rs`.
//! - **stated**: a live field that is present and not `null`. Only stated values replace bundled
//!   ones, so a list answer that omits cache rates does not "re-price" them to nothing.
//!
//! Pure: no IO. Fetching, caching and deciding which catalogue is in use is `conjure-app`'s job.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Catalogue, CatalogueError, MediaKind, Model, Pricing, Privacy, ProviderId, VideoRule};
use crate::money::Credits;

/// The sha256 of Katana's production `llms.txt` the bundled catalogue was built from (the Katana
/// skill's stored checksum).
pub const BUNDLED_LLMS_SHA256: &str =
    "09a695f3958a6d9f17d4139179e2323600292c929be5c494253ae7df9d1410b3";
/// When the bundled catalogue was synced with that `llms.txt`.
pub const BUNDLED_SYNCED: &str = "2026-06-08";

/// Which of Katana's two answer shapes a `/v1/models` body had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveShape {
    /// `{images, videos, text, text_pricing}`.
    Sectioned,
    /// `{object: "list", data: [...]}` (or a bare array).
    List,
}

/// A live answer read into a catalogue, with what could not be used.
#[derive(Clone, Debug)]
pub struct LiveCatalogue {
    pub catalogue: Catalogue,
    pub shape: LiveShape,
    /// Entries left out, each with the reason (no id, no price conjure can read, unknown kind).
    pub skipped: Vec<String>,
    /// Kinds the answer lists no model of, kept from the bundled catalogue as they were.
    pub kept: Vec<MediaKind>,
}

impl Catalogue {
    /// The catalogue a `/v1/models` answer describes, built on `base` (the bundled catalogue):
    /// see the module documentation for what is kept and what is replaced.
    pub fn from_live(value: &Value, base: &Catalogue) -> Result<Catalogue, CatalogueError> {
        read_live(value, base).map(|l| l.catalogue)
    }
}

/// Like [`Catalogue::from_live`], also saying which shape the answer had and what was skipped.
pub fn read_live(value: &Value, base: &Catalogue) -> Result<LiveCatalogue, CatalogueError> {
    let (shape, entries) = entries(value)?;
    let text_pricing = value.get("text_pricing").and_then(Value::as_object);
    let mut skipped = Vec::new();
    // Canonical id -> the model, in the order first seen.
    let mut merged: BTreeMap<String, Model> = BTreeMap::new();
    let mut fresh: Vec<String> = Vec::new();
    for (hint, entry) in entries {
        let Some(raw_id) = string(entry, &["public_model_name", "id", "model"]) else {
            skipped.push("an entry without `public_model_name` or `id`".to_owned());
            continue;
        };
        let id = raw_id.trim().to_ascii_lowercase();
        let known = base.models.iter().find(|m| {
            m.provider == ProviderId::Katana
                && (m.id == id || m.legacy_key.as_deref() == Some(id.as_str()))
        });
        let kind = hint
            .or_else(|| entry_kind(entry))
            .or(known.map(|m| m.kind))
            .or_else(|| infer_kind(entry, text_pricing.is_some_and(|t| t.contains_key(&raw_id))));
        let Some(kind) = kind else {
            skipped.push(format!("`{id}`: its kind (image, video or text) is not stated"));
            continue;
        };
        let rates = text_rates(entry, text_pricing.and_then(|t| t.get(&raw_id)));
        let model = match known {
            Some(m) if m.kind == kind => merge(m, entry, rates.as_ref()),
            _ => match new_model(&id, kind, entry, rates.as_ref()) {
                Ok(m) => m,
                Err(reason) => {
                    skipped.push(format!("`{id}`: {reason}"));
                    continue;
                }
            },
        };
        if merged.contains_key(&model.id) {
            // A canonical key and its legacy key both listed: the first entry wins.
            continue;
        }
        fresh.push(model.id.clone());
        merged.insert(model.id.clone(), model);
    }
    if merged.is_empty() {
        return Err(CatalogueError::Live("the answer lists no model conjure can use".to_owned()));
    }
    // An answer without a single model of a kind does not say they are all gone (the service
    // has sent text only to authenticated requests): that kind stays as bundled.
    let listed: BTreeSet<MediaKind> = merged.values().map(|m| m.kind).collect();
    let kept: Vec<MediaKind> = [MediaKind::Image, MediaKind::Video, MediaKind::Text]
        .into_iter()
        .filter(|k| !listed.contains(k))
        .collect();
    // Bundled order for the models both know (listings sort anyway), then the new ones.
    let mut models: Vec<Model> =
        base.models.iter().filter(|m| m.provider != ProviderId::Katana).cloned().collect();
    for m in base.models.iter().filter(|m| m.provider == ProviderId::Katana) {
        if let Some(live) = merged.remove(&m.id) {
            models.push(live);
        } else if kept.contains(&m.kind) {
            models.push(m.clone());
        }
    }
    models.extend(fresh.iter().filter_map(|id| merged.remove(id)));
    Ok(LiveCatalogue { catalogue: Catalogue { models }, shape, skipped, kept })
}

/// Entries of an answer, each with the kind its section names (sectioned answers only).
type Entries<'a> = Vec<(Option<MediaKind>, &'a Map<String, Value>)>;

/// The entries of either shape.
fn entries(value: &Value) -> Result<(LiveShape, Entries<'_>), CatalogueError> {
    let sections =
        [("images", MediaKind::Image), ("videos", MediaKind::Video), ("text", MediaKind::Text)];
    if let Some(obj) = value.as_object()
        && sections.iter().any(|(key, _)| obj.get(*key).is_some_and(Value::is_array))
    {
        let mut out = Vec::new();
        for (key, kind) in sections {
            if let Some(list) = obj.get(key).and_then(Value::as_array) {
                out.extend(objects(list).into_iter().map(|e| (Some(kind), e)));
            }
        }
        return Ok((LiveShape::Sectioned, out));
    }
    let list = value.get("data").and_then(Value::as_array).or_else(|| value.as_array());
    match list {
        Some(list) => Ok((LiveShape::List, objects(list).into_iter().map(|e| (None, e)).collect())),
        None => Err(CatalogueError::Live(
            "the answer is neither the sectioned `{images, videos, text}` shape nor an OpenAI-style `{data: [...]}` list".to_owned(),
        )),
    }
}

fn objects(list: &[Value]) -> Vec<&Map<String, Value>> {
    list.iter().filter_map(Value::as_object).collect()
}

fn stated<'a>(entry: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| entry.get(*k).filter(|v| !v.is_null()))
}

fn string(entry: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    stated(entry, keys)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn boolean(entry: &Map<String, Value>, key: &str) -> bool {
    entry.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A non-negative whole number, given as a number or a numeric string.
fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Credits given as a number (rounded to the tenth) or a decimal string (exact).
fn credits(v: &Value) -> Option<Credits> {
    let c = match v {
        Value::Number(n) => Credits::from_f64(n.as_f64()?),
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    (c >= Credits::ZERO).then_some(c)
}

fn entry_kind(entry: &Map<String, Value>) -> Option<MediaKind> {
    let t = string(entry, &["type", "kind", "model_type"])?.to_ascii_lowercase();
    match t.as_str() {
        "image" | "images" => Some(MediaKind::Image),
        "video" | "videos" => Some(MediaKind::Video),
        "text" | "chat" | "llm" => Some(MediaKind::Text),
        _ => None,
    }
}

/// The kind from which fields an entry has, when nothing names it.
fn infer_kind(entry: &Map<String, Value>, in_text_pricing: bool) -> Option<MediaKind> {
    if stated(entry, &["video_lengths_and_costs"]).is_some() {
        Some(MediaKind::Video)
    } else if in_text_pricing
        || stated(entry, &["context_length", "max_context_length"]).is_some()
        || entry.get("credits").is_some_and(Value::is_object)
    {
        Some(MediaKind::Text)
    } else if stated(entry, &["supported_aspects"]).is_some() {
        Some(MediaKind::Image)
    } else {
        None
    }
}

/// Per-million-token rates a text entry states (each `None` when not stated).
#[derive(Debug, Default)]
struct Rates {
    input: Option<Credits>,
    output: Option<Credits>,
    cache_read: Option<Credits>,
    cache_write: Option<Credits>,
}

fn text_rates(entry: &Map<String, Value>, section: Option<&Value>) -> Option<Rates> {
    let sources = [
        section,
        entry.get("text_pricing"),
        entry.get("pricing"),
        entry.get("credits").filter(|c| c.is_object()),
    ];
    let mut rates = Rates::default();
    let mut any = false;
    for obj in sources.into_iter().flatten().filter_map(Value::as_object) {
        let rate = |keys: &[&str]| stated(obj, keys).and_then(credits);
        let fill = |slot: &mut Option<Credits>, keys: &[&str]| {
            if slot.is_none() {
                *slot = rate(keys);
            }
        };
        fill(&mut rates.input, &["input_per_million", "input", "input_credits_per_million"]);
        fill(&mut rates.output, &["output_per_million", "output", "output_credits_per_million"]);
        fill(
            &mut rates.cache_read,
            &["cache_read_per_million", "cache_read", "cache_per_million", "cache"],
        );
        fill(&mut rates.cache_write, &["cache_write_per_million", "cache_write"]);
        any = true;
    }
    any.then_some(rates)
}

/// The price an entry states for a model of `kind`, completed from `before` where the entry is
/// silent (text cache rates); `None` when it states no usable price.
fn live_pricing(
    kind: MediaKind,
    entry: &Map<String, Value>,
    rates: Option<&Rates>,
    before: Option<&Pricing>,
) -> Option<Pricing> {
    match kind {
        MediaKind::Image => {
            let c = stated(entry, &["credits", "credits_per_image", "cost"]).and_then(credits)?;
            Some(Pricing::PerItem { credits: c })
        }
        MediaKind::Video => {
            let table = stated(entry, &["video_lengths_and_costs"])?.as_object()?;
            let mut out = BTreeMap::new();
            for (d, c) in table {
                let d: u32 = d.trim().trim_end_matches('s').parse().ok()?;
                out.insert(d, credits(c)?);
            }
            (!out.is_empty()).then_some(Pricing::PerDuration { credits: out })
        }
        MediaKind::Text => {
            let rates = rates?;
            let was = match before {
                Some(Pricing::PerMillionTokens { input, output, cache_read, cache_write }) => {
                    Rates {
                        input: Some(*input),
                        output: Some(*output),
                        cache_read: *cache_read,
                        cache_write: *cache_write,
                    }
                }
                _ => Rates::default(),
            };
            Some(Pricing::PerMillionTokens {
                input: rates.input.or(was.input)?,
                output: rates.output.or(was.output)?,
                cache_read: rates.cache_read.or(was.cache_read),
                cache_write: rates.cache_write.or(was.cache_write),
            })
        }
    }
}

fn aspects(entry: &Map<String, Value>) -> Option<Vec<String>> {
    let list: Vec<String> = match stated(entry, &["supported_aspects"])? {
        Value::Array(a) => {
            a.iter().filter_map(Value::as_str).map(|s| s.trim().to_owned()).collect()
        }
        Value::String(s) => s.split(',').map(|a| a.trim().to_owned()).collect(),
        _ => return None,
    };
    let list: Vec<String> = list.into_iter().filter(|a| !a.is_empty()).collect();
    (!list.is_empty()).then_some(list)
}

fn max_refs(entry: &Map<String, Value>) -> Option<u32> {
    stated(entry, &["maximum_reference_images", "multi_image_inputs_allowed"])
        .and_then(count)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn context(entry: &Map<String, Value>) -> Option<u64> {
    stated(entry, &["context_length", "max_context_length"]).and_then(count)
}

fn max_output(entry: &Map<String, Value>) -> Option<u64> {
    stated(entry, &["max_output_tokens", "max_completion_tokens"]).and_then(count)
}

/// A bundled model with the live facts applied.
fn merge(bundled: &Model, entry: &Map<String, Value>, rates: Option<&Rates>) -> Model {
    let mut m = bundled.clone();
    if let Some(p) = live_pricing(m.kind, entry, rates, Some(&bundled.pricing)) {
        m.pricing = p;
    }
    if let Some(a) = aspects(entry) {
        m.aspects = a;
    }
    if let Some(n) = max_refs(entry) {
        // Required input with a cap of 0 still takes one image (spec, open question 18).
        m.max_refs = if m.requires_image && m.kind == MediaKind::Image { n.max(1) } else { n };
    }
    if let Some(c) = context(entry) {
        m.context_tokens = Some(c);
    }
    if let Some(c) = max_output(entry) {
        m.max_output_tokens = Some(c);
    }
    m
}

/// A model only the live answer knows, from its entry alone.
fn new_model(
    id: &str,
    kind: MediaKind,
    entry: &Map<String, Value>,
    rates: Option<&Rates>,
) -> Result<Model, String> {
    let pricing = live_pricing(kind, entry, rates, None)
        .ok_or_else(|| format!("no {kind} price conjure can read, so it cannot be quoted"))?;
    let requires_image = boolean(entry, "requires_input_image");
    let mut max_refs = max_refs(entry).unwrap_or(0);
    if kind == MediaKind::Image && requires_image {
        max_refs = max_refs.max(1);
    }
    let creator = string(entry, &["creator", "owned_by"]);
    let privacy = (kind == MediaKind::Text).then(|| {
        let label = string(entry, &["privacy_mode", "privacy", "privacy_tier"])
            .unwrap_or_default()
            .to_ascii_lowercase();
        if label.contains("e2ee") {
            Privacy::E2ee
        } else if label == "private" {
            Privacy::Private
        } else {
            Privacy::Anonymized
        }
    });
    // Rules conjure has no name for are left out: it cannot enforce what it cannot read.
    let mut rules: Vec<VideoRule> = match entry.get("custom_rules") {
        Some(Value::Array(list)) => {
            list.iter().filter_map(Value::as_str).filter_map(VideoRule::parse).collect()
        }
        _ => Vec::new(),
    };
    let display = string(entry, &["display_name"]);
    let last_frame = boolean(entry, "supports_last_frame");
    if kind == MediaKind::Video && last_frame && !rules.contains(&VideoRule::LfNeedsFf) {
        // As in the bundled catalogue: the Katana video docs state it for every last frame.
        rules.push(VideoRule::LfNeedsFf);
    }
    Ok(Model {
        provider: ProviderId::Katana,
        kind,
        id: id.to_owned(),
        legacy_key: string(entry, &["legacy_model_name"]).map(|l| l.to_ascii_lowercase()),
        aliases: Vec::new(),
        pricing,
        aspects: aspects(entry).unwrap_or_default(),
        max_refs,
        fast: kind == MediaKind::Image
            && creator.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("imgnai")),
        creator,
        requires_image,
        accepts_edit_input: requires_image || max_refs > 0,
        first_frame: boolean(entry, "supports_first_frame"),
        last_frame,
        audio_input: boolean(entry, "supports_audio_input"),
        audio_output: boolean(entry, "audio_output"),
        video_input: boolean(entry, "supports_video_input"),
        legacy: false,
        uhd: false,
        uhd_means: None,
        prompt_assist: false,
        rules,
        privacy,
        context_tokens: context(entry),
        max_output_tokens: max_output(entry),
        text_inputs: Vec::new(),
        notes: match display {
            Some(d) => format!("from the live catalogue only ({d})"),
            None => "from the live catalogue only".to_owned(),
        },
    })
}

/// One model in a [`CatalogueDiff`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffModel {
    pub id: String,
    pub kind: MediaKind,
    pub pricing: Pricing,
}

/// A model whose price differs between the two catalogues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Repriced {
    pub id: String,
    pub kind: MediaKind,
    pub before: Pricing,
    pub after: Pricing,
    /// The change in words, e.g. `input 264.5 -> 300.0 credits per million tokens`.
    pub change: String,
}

/// What a refreshed catalogue added, removed and re-priced against the bundled one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CatalogueDiff {
    pub added: Vec<DiffModel>,
    pub removed: Vec<DiffModel>,
    pub repriced: Vec<Repriced>,
}

impl CatalogueDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.repriced.is_empty()
    }
}

/// Models of `live` that `base` lacks, of `base` that `live` lacks, and of both whose price
/// differs; each list sorted by kind, then id.
pub fn diff(base: &Catalogue, live: &Catalogue) -> CatalogueDiff {
    let key = |m: &Model| (m.provider, m.id.clone());
    let ids = |c: &Catalogue| c.models.iter().map(key).collect::<BTreeSet<_>>();
    let (in_base, in_live) = (ids(base), ids(live));
    let summary =
        |m: &Model| DiffModel { id: m.id.clone(), kind: m.kind, pricing: m.pricing.clone() };
    let mut out = CatalogueDiff {
        added: live.models.iter().filter(|m| !in_base.contains(&key(m))).map(summary).collect(),
        removed: base.models.iter().filter(|m| !in_live.contains(&key(m))).map(summary).collect(),
        repriced: Vec::new(),
    };
    for after in &live.models {
        let Some(before) = base.models.iter().find(|b| key(b) == key(after)) else { continue };
        if let Some(change) = price_change(&before.pricing, &after.pricing) {
            out.repriced.push(Repriced {
                id: after.id.clone(),
                kind: after.kind,
                before: before.pricing.clone(),
                after: after.pricing.clone(),
                change,
            });
        }
    }
    out.added.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    out.removed.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    out.repriced.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    out
}

/// Credits with one decimal, as the catalogue lists them (`264.5`, `300.0`).
fn one_decimal(c: Credits) -> String {
    format!("{:.1}", c.as_f64())
}

fn opt(c: Option<Credits>) -> String {
    c.map_or_else(|| "unlisted".to_owned(), one_decimal)
}

/// A price in words (`14.0 credits per image`).
pub fn describe_pricing(p: &Pricing) -> String {
    match p {
        Pricing::PerItem { credits } => format!("{} credits per image", one_decimal(*credits)),
        Pricing::PerDuration { credits } => {
            let parts: Vec<String> =
                credits.iter().map(|(d, c)| format!("{d} s {}", one_decimal(*c))).collect();
            format!("{} credits", parts.join(", "))
        }
        Pricing::PerMillionTokens { input, output, .. } => format!(
            "input {} / output {} credits per million tokens",
            one_decimal(*input),
            one_decimal(*output)
        ),
    }
}

/// How a price changed, in words; `None` when it did not.
pub fn price_change(before: &Pricing, after: &Pricing) -> Option<String> {
    if before == after {
        return None;
    }
    Some(match (before, after) {
        (Pricing::PerItem { credits: b }, Pricing::PerItem { credits: a }) => {
            format!("{} -> {} credits per image", one_decimal(*b), one_decimal(*a))
        }
        (Pricing::PerDuration { credits: b }, Pricing::PerDuration { credits: a }) => {
            let durations: BTreeSet<u32> = b.keys().chain(a.keys()).copied().collect();
            let parts: Vec<String> = durations
                .into_iter()
                .filter_map(|d| match (b.get(&d), a.get(&d)) {
                    (Some(x), Some(y)) if x != y => {
                        Some(format!("{d} s {} -> {}", one_decimal(*x), one_decimal(*y)))
                    }
                    (None, Some(y)) => Some(format!("{d} s new at {}", one_decimal(*y))),
                    (Some(_), None) => Some(format!("{d} s no longer offered")),
                    _ => None,
                })
                .collect();
            format!("{} credits", parts.join(", "))
        }
        (
            Pricing::PerMillionTokens { input: bi, output: bo, cache_read: br, cache_write: bw },
            Pricing::PerMillionTokens { input: ai, output: ao, cache_read: ar, cache_write: aw },
        ) => {
            let mut parts = Vec::new();
            if bi != ai {
                parts.push(format!("input {} -> {}", one_decimal(*bi), one_decimal(*ai)));
            }
            if bo != ao {
                parts.push(format!("output {} -> {}", one_decimal(*bo), one_decimal(*ao)));
            }
            if br != ar {
                parts.push(format!("cache read {} -> {}", opt(*br), opt(*ar)));
            }
            if bw != aw {
                parts.push(format!("cache write {} -> {}", opt(*bw), opt(*aw)));
            }
            format!("{} credits per million tokens", parts.join(", "))
        }
        (b, a) => format!("{} -> {}", describe_pricing(b), describe_pricing(a)),
    })
}

/// The note a quote carries when `id`'s price in the refreshed catalogue differs from the
/// bundled one; `None` when it does not.
pub fn price_change_note(
    id: &str,
    before: &Pricing,
    after: &Pricing,
    refreshed_at: &str,
) -> Option<String> {
    price_change(before, after).map(|change| {
        format!(
            "the price of `{id}` changed since the built-in catalogue: {change} (catalogue refreshed {refreshed_at})"
        )
    })
}

/// The notes a quote of `models` (canonical ids, from a quote's items) carries when it is priced
/// from `live` rather than `base`: a price that changed, or a model `base` does not know.
pub fn price_notes<'a>(
    provider: ProviderId,
    models: impl IntoIterator<Item = &'a str>,
    base: &Catalogue,
    live: &Catalogue,
    refreshed_at: &str,
) -> Vec<String> {
    fn find<'c>(c: &'c Catalogue, provider: ProviderId, id: &str) -> Option<&'c Model> {
        c.models.iter().find(|m| m.provider == provider && m.id == id)
    }
    let mut seen = BTreeSet::new();
    let mut notes = Vec::new();
    for id in models {
        if !seen.insert(id) {
            continue;
        }
        let Some(now) = find(live, provider, id) else { continue };
        match find(base, provider, id) {
            Some(before) => {
                notes.extend(price_change_note(id, &before.pricing, &now.pricing, refreshed_at));
            }
            None => notes.push(format!(
                "`{id}` is not in the built-in catalogue: its price is from the catalogue refreshed {refreshed_at}"
            )),
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bundled() -> &'static Catalogue {
        Catalogue::bundled()
    }

    fn get<'a>(c: &'a Catalogue, id: &str) -> &'a Model {
        c.models().iter().find(|m| m.id == id).unwrap_or_else(|| panic!("no {id}"))
    }

    /// The changes the integration tests' fake serves, in the sectioned shape.
    fn sectioned() -> Value {
        json!({
            "images": [
                {"public_model_name": "gpt-image-2", "display_name": "GPT Image 2", "credits": 16,
                 "supported_aspects": ["1:1", "16:9"], "maximum_reference_images": 8},
                {"public_model_name": "anima-base", "display_name": "Anima Base", "credits": "3.5",
                 "creator": "imgnAI", "supported_aspects": ["1:1"], "maximum_reference_images": 0},
                {"display_name": "nameless", "credits": 1}
            ],
            "videos": [
                {"public_model_name": "seedance-2-0", "credits": 200,
                 "video_lengths_and_costs": {"5": 200, "10": 375, "15": 560}}
            ],
            "text": [
                {"public_model_name": "grok-4-3", "context_length": 1_000_000},
                {"public_model_name": "glm-5-2", "display_name": "GLM 5.2",
                 "max_context_length": 202_752, "privacy_mode": "E2EE Private"},
                {"public_model_name": "mystery-llm"}
            ],
            "text_pricing": {
                "grok-4-3": {"input_per_million": 300.0, "output_per_million": 528.9,
                             "cache_read_per_million": 42.4, "cache_write_per_million": null},
                "glm-5-2": {"input_per_million": 120.0, "output_per_million": 480.0}
            }
        })
    }

    #[test]
    fn sectioned_answers_merge_onto_the_bundled_catalogue() {
        let live = read_live(&sectioned(), bundled()).unwrap();
        assert_eq!(live.shape, LiveShape::Sectioned);
        let c = &live.catalogue;
        // Known: live price and aspects, bundled aliases and legacy key.
        let gpt = get(c, "gpt-image-2");
        assert_eq!(gpt.pricing, Pricing::PerItem { credits: Credits::whole(16) });
        assert_eq!(gpt.aspects, ["1:1", "16:9"]);
        assert_eq!(gpt.max_refs, 8);
        assert_eq!(gpt.aliases, ["gpt-image"]);
        assert_eq!(gpt.legacy_key.as_deref(), Some("gpt2image"));
        // Known text model: the re-priced input, the bundled cache rate kept.
        let grok = get(c, "grok-4-3");
        assert_eq!(
            grok.pricing,
            Pricing::PerMillionTokens {
                input: Credits::whole(300),
                output: Credits::from_tenths(5289),
                cache_read: Some(Credits::from_tenths(424)),
                cache_write: None,
            }
        );
        assert_eq!(grok.aliases, ["grok"]);
        // Video: durations from the live table, rules kept.
        let seedance = get(c, "seedance-2-0");
        assert_eq!(seedance.durations(), [5, 10, 15]);
        assert!(seedance.has_rule(VideoRule::ReferenceNoFfOrLf));
        // New models from their entries alone.
        let glm = get(c, "glm-5-2");
        assert_eq!(
            (glm.kind, glm.privacy, glm.context_tokens),
            (MediaKind::Text, Some(Privacy::E2ee), Some(202_752))
        );
        let anima = get(c, "anima-base");
        assert_eq!(anima.pricing, Pricing::PerItem { credits: Credits::from_tenths(35) });
        assert!(anima.fast);
        // Models the answer does not list are gone; unusable entries are reported.
        assert!(c.models().iter().all(|m| m.id != "gemma-3-27b-private" && m.id != "gen"));
        assert_eq!(live.skipped.len(), 2, "{:?}", live.skipped);
        assert!(live.skipped.iter().any(|s| s.contains("mystery-llm")));
        // Resolution works on the result, aliases included.
        let r = c.resolve(ProviderId::Katana, Some(MediaKind::Text), "grok").unwrap();
        assert_eq!(r.id, "grok-4-3");
        assert!(c.resolve(ProviderId::Katana, Some(MediaKind::Text), "glm-5-2").is_ok());
    }

    #[test]
    fn list_answers_read_the_same_fields() {
        let answer = json!({"object": "list", "data": [
            {"id": "gpt2image", "object": "model", "type": "image", "credits": 14,
             "supported_aspects": ["1:1"]},
            {"id": "grok-4-3", "object": "model", "type": "text",
             "credits": {"input": 264.5, "output": 600}},
            {"id": "new-clip", "object": "model",
             "video_lengths_and_costs": {"4": 40, "8": 80}, "supported_aspects": ["16:9"],
             "supports_first_frame": true, "owned_by": "someone"},
            {"id": "new-chat", "object": "model", "context_length": 8192,
             "pricing": {"input": 1, "output": 2}}
        ]});
        let live = read_live(&answer, bundled()).unwrap();
        assert_eq!(live.shape, LiveShape::List);
        let c = &live.catalogue;
        // A legacy key merges into its canonical model.
        assert_eq!(get(c, "gpt-image-2").aspects, ["1:1"]);
        let grok = get(c, "grok-4-3");
        let Pricing::PerMillionTokens { input, output, cache_read, .. } = grok.pricing else {
            panic!()
        };
        assert_eq!(
            (input, output, cache_read),
            (Credits::from_tenths(2645), Credits::whole(600), Some(Credits::from_tenths(424)))
        );
        let clip = get(c, "new-clip");
        assert_eq!(
            (clip.kind, clip.durations(), clip.first_frame),
            (MediaKind::Video, vec![4, 8], true)
        );
        assert_eq!(clip.creator.as_deref(), Some("someone"));
        assert_eq!(get(c, "new-chat").kind, MediaKind::Text);
        assert_eq!(get(c, "new-chat").privacy, Some(Privacy::Anonymized));
        assert_eq!(c.models().len(), 4);
        // A bare array is a list too. Kinds it does not list at all are kept as bundled.
        let bare = json!([{"id": "gen", "type": "image", "credits": 2}]);
        let live = read_live(&bare, bundled()).unwrap();
        assert_eq!(live.kept, [MediaKind::Video, MediaKind::Text]);
        assert_eq!(live.catalogue.models().len(), 1 + 25 + 45);
        assert_eq!(diff(bundled(), &live.catalogue).removed.len(), 50);
    }

    #[test]
    fn the_sandbox_shapes_reproduce_the_bundled_prices() {
        // What the sandbox serves from the bundled catalogue reads back without any re-price,
        // in both shapes (its list shape omits cache rates: the bundled ones are kept).
        let mut entries = Vec::new();
        for m in bundled().models() {
            let mut e = json!({"public_model_name": m.id, "type": m.kind.as_str()});
            match &m.pricing {
                Pricing::PerItem { credits } => e["credits"] = json!(credits),
                Pricing::PerDuration { credits } => {
                    e["video_lengths_and_costs"] = credits
                        .iter()
                        .map(|(d, c)| (d.to_string(), json!(c)))
                        .collect::<Map<_, _>>()
                        .into();
                }
                Pricing::PerMillionTokens { input, output, .. } => {
                    e["credits"] = json!({"input": input, "output": output});
                }
            }
            entries.push(e);
        }
        let c =
            Catalogue::from_live(&json!({"object": "list", "data": entries}), bundled()).unwrap();
        assert_eq!(diff(bundled(), &c), CatalogueDiff::default());
    }

    #[test]
    fn unreadable_answers_are_errors() {
        for bad in [json!({"detail": "nope"}), json!("text"), json!({"data": []})] {
            let e = Catalogue::from_live(&bad, bundled()).unwrap_err();
            assert!(matches!(e, CatalogueError::Live(_)), "{e}");
            assert!(e.hint().is_some());
        }
    }

    #[test]
    fn diff_lists_added_removed_and_repriced() {
        let live = Catalogue::from_live(&sectioned(), bundled()).unwrap();
        let d = diff(bundled(), &live);
        let ids = |l: &[DiffModel]| l.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&d.added), ["anima-base", "glm-5-2"]);
        assert!(ids(&d.removed).contains(&"gemma-3-27b-private".to_owned()));
        assert!(!ids(&d.removed).contains(&"grok-4-3".to_owned()));
        let changes: Vec<(&str, &str)> =
            d.repriced.iter().map(|r| (r.id.as_str(), r.change.as_str())).collect();
        assert_eq!(
            changes,
            [
                ("gpt-image-2", "14.0 -> 16.0 credits per image"),
                ("seedance-2-0", "15 s 550.0 -> 560.0 credits"),
                ("grok-4-3", "input 264.5 -> 300.0 credits per million tokens"),
            ],
            "{:#?}",
            d.repriced
        );
    }

    #[test]
    fn price_changes_in_words() {
        let tokens = |i, o, r| Pricing::PerMillionTokens {
            input: Credits::from_tenths(i),
            output: Credits::from_tenths(o),
            cache_read: r,
            cache_write: None,
        };
        assert_eq!(price_change(&tokens(10, 20, None), &tokens(10, 20, None)), None);
        assert_eq!(
            price_change(&tokens(10, 20, None), &tokens(10, 25, Some(Credits::whole(1)))).unwrap(),
            "output 2.0 -> 2.5, cache read unlisted -> 1.0 credits per million tokens"
        );
        assert_eq!(
            price_change(&Pricing::PerItem { credits: Credits::whole(2) }, &tokens(10, 20, None))
                .unwrap(),
            "2.0 credits per image -> input 1.0 / output 2.0 credits per million tokens"
        );
        let note = price_change_note(
            "grok-4-3",
            &tokens(2645, 5289, None),
            &tokens(3000, 5289, None),
            "2026-11-21T16:00:00Z",
        )
        .unwrap();
        assert_eq!(
            note,
            "the price of `grok-4-3` changed since the built-in catalogue: input 264.5 -> 300.0 credits per million tokens (catalogue refreshed 2026-11-21T16:00:00Z)"
        );
    }

    #[test]
    fn quote_notes_name_changed_and_new_models_once() {
        let live = Catalogue::from_live(&sectioned(), bundled()).unwrap();
        let notes = price_notes(
            ProviderId::Katana,
            ["gpt-image-2", "gpt-image-2", "glm-5-2", "seedance-2-0-fast"],
            bundled(),
            &live,
            "T",
        );
        assert_eq!(
            notes,
            [
                "the price of `gpt-image-2` changed since the built-in catalogue: 14.0 -> 16.0 credits per image (catalogue refreshed T)",
                "`glm-5-2` is not in the built-in catalogue: its price is from the catalogue refreshed T",
            ]
        );
    }
}
