//! The catalogue the sandbox serves: the one bundled with conjure, or a drifted copy.
//!
//! The real service's catalogue changes without notice (new models, removed ones, new prices),
//! while conjure ships a snapshot. Under the `catalogue-drift` fault the sandbox plays a service
//! that has moved on, so a client can be tested on noticing it: [`Served::drifted`] adds the text
//! model [`DRIFT_ADDED`] (100.0 in, 300.0 out per million tokens, 202 752 context, 65 536 out),
//! removes [`DRIFT_REMOVED`], re-prices `grok-4-3`'s input to 300.0 (output unchanged) and the
//! image model `gpt-image-2` to 16 credits. Everything that reads the catalogue (`/v1/models` in
//! both shapes, `llms.txt`, media validation and prices, text validation and billing) asks
//! [`crate::state::AppState::catalogue`], which picks one of the two by the current faults, so
//! what the sandbox lists is what it accepts and charges.
//!
//! Only Katana models are served, and only by exact public name (canonical or legacy key):
//! aliases such as `grok` are a client-side convenience the service does not know.

use std::sync::OnceLock;

use conjure_core::catalogue::{Catalogue, MediaKind, Model, Pricing, Privacy, ProviderId};
use conjure_core::money::Credits;

/// The text model the drifted catalogue adds.
pub const DRIFT_ADDED: &str = "glm-5-2";
/// The text model the drifted catalogue no longer has.
pub const DRIFT_REMOVED: &str = "gemma-3-27b-private";

/// One served catalogue: Katana models in catalogue order.
#[derive(Debug)]
pub(crate) struct Served {
    models: Vec<Model>,
}

impl Served {
    /// The bundled catalogue, as conjure knows it.
    pub(crate) fn bundled() -> &'static Served {
        static SERVED: OnceLock<Served> = OnceLock::new();
        SERVED.get_or_init(|| Served { models: katana_models() })
    }

    /// The catalogue of the `catalogue-drift` fault.
    pub(crate) fn drifted() -> &'static Served {
        static SERVED: OnceLock<Served> = OnceLock::new();
        SERVED.get_or_init(|| Served { models: drift(katana_models()) })
    }

    /// Models of `kind` (all kinds for `None`), in catalogue order.
    pub(crate) fn iter(&self, kind: Option<MediaKind>) -> impl Iterator<Item = &Model> {
        self.models.iter().filter(move |m| kind.is_none_or(|k| m.kind == k))
    }

    /// The model whose canonical or legacy key is `name` (case and surrounding space ignored).
    pub(crate) fn exact(&self, name: &str) -> Option<&Model> {
        let wanted = name.trim().to_ascii_lowercase();
        self.models
            .iter()
            .find(|m| m.id == wanted || m.legacy_key.as_deref() == Some(wanted.as_str()))
    }

    /// Like [`Served::exact`], for a model of `kind` only.
    pub(crate) fn exact_of(&self, kind: MediaKind, name: &str) -> Option<&Model> {
        self.exact(name).filter(|m| m.kind == kind)
    }
}

fn katana_models() -> Vec<Model> {
    Catalogue::bundled().iter(Some(ProviderId::Katana), None).cloned().collect()
}

fn drift(mut models: Vec<Model>) -> Vec<Model> {
    models.retain(|m| m.id != DRIFT_REMOVED);
    for m in &mut models {
        match (m.id.as_str(), &mut m.pricing) {
            ("grok-4-3", Pricing::PerMillionTokens { input, .. }) => *input = Credits::whole(300),
            ("gpt-image-2", Pricing::PerItem { credits }) => *credits = Credits::whole(16),
            _ => {}
        }
    }
    let added = Model {
        provider: ProviderId::Katana,
        kind: MediaKind::Text,
        id: DRIFT_ADDED.to_owned(),
        legacy_key: None,
        aliases: Vec::new(),
        pricing: Pricing::PerMillionTokens {
            input: Credits::whole(100),
            output: Credits::whole(300),
            cache_read: None,
            cache_write: None,
        },
        aspects: Vec::new(),
        max_refs: 0,
        creator: Some("Z.ai".to_owned()),
        requires_image: false,
        accepts_edit_input: false,
        first_frame: false,
        last_frame: false,
        audio_input: false,
        audio_output: false,
        video_input: false,
        legacy: false,
        uhd: false,
        fast: false,
        uhd_means: None,
        prompt_assist: false,
        rules: Vec::new(),
        privacy: Some(Privacy::Anonymized),
        context_tokens: Some(202_752),
        max_output_tokens: Some(65_536),
        text_inputs: vec!["text".to_owned()],
        notes: "sandbox catalogue drift: not in the bundled catalogue".to_owned(),
    };
    // Next to its predecessor, as a real catalogue would list it.
    let at = models.iter().position(|m| m.id == "glm-5-1").map_or(models.len(), |i| i + 1);
    models.insert(at, added);
    models
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_adds_removes_and_reprices() {
        let (bundled, drifted) = (Served::bundled(), Served::drifted());
        assert!(bundled.exact(DRIFT_ADDED).is_none());
        assert!(bundled.exact(DRIFT_REMOVED).is_some());
        assert!(drifted.exact(DRIFT_REMOVED).is_none());
        let added = drifted.exact_of(MediaKind::Text, DRIFT_ADDED).unwrap();
        assert_eq!(added.max_output_tokens, Some(65_536));
        let grok = |s: &Served| conjure_core::text::rates(s.exact("grok-4-3").unwrap()).unwrap();
        assert_eq!(grok(drifted), (Credits::whole(300), grok(bundled).1));
        assert_eq!(
            drifted.exact("gpt2image").unwrap().item_credits(None),
            Some(Credits::whole(16))
        );
        assert_eq!(bundled.iter(None).count(), drifted.iter(None).count());
        assert!(bundled.exact_of(MediaKind::Text, "gpt-image-2").is_none());
        assert!(bundled.exact("grok").is_none(), "aliases are not public names");
    }
}
