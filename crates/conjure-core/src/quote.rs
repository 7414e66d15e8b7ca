//! Quotes: what a request will cost, computed from the catalogue before anything is sent.
//!
//! A quote lists each item's credits, the total, and the dollar estimate at the configured
//! price per credit. Its `token` is issued by [`crate::approval::Order::new`] and binds the
//! request's fingerprint, the total and the price: `--approve TOKEN` is accepted only for the
//! very request that was quoted, so an agent cannot approve one request and send another.
//!
//! ImaginePro is priced from its operations table ([`crate::imaginepro`]), not the catalogue.
//! An operation it publishes no price for is a line flagged `unpriced` (credits zero, no dollar
//! amount) and makes the whole quote `unpriced`: its total is a lower bound, never a guess, and
//! `policy` refuses it while a cost limit is set.

use serde::Serialize;

use crate::catalogue::{Catalogue, MediaKind, ProviderId};
use crate::imaginepro::{self, PriceTable};
use crate::money::{CreditPrice, Credits, Usd};
use crate::spec::{JobSpec, SpecError};

/// One priced item of a quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct QuoteLine {
    pub index: usize,
    pub kind: MediaKind,
    pub model: String,
    pub detail: String,
    pub prompt: String,
    pub credits: Credits,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd: Option<Usd>,
    /// The provider publishes no price for this item (and the configuration gives none): its
    /// `credits` are not a price.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unpriced: bool,
}

/// How a text request is billed (see [`crate::text`]): the quote's credits are the reserve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TextQuote {
    /// Taken up front; the unused part is refunded. Also the worst case: a stream that ends
    /// without usage keeps all of it.
    pub reserve: Credits,
    /// The estimated input and a typical answer at the catalogue's token rates.
    pub expected: Credits,
    /// The most it can cost: the reserve, kept whole when a stream ends without usage.
    pub worst_case: Credits,
    pub input_tokens: u64,
    pub max_tokens: u32,
    /// Credits per million tokens in and out.
    pub input_rate: Credits,
    pub output_rate: Credits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
}

/// The price of a request, with the token that approves exactly this request.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Quote {
    pub provider: ProviderId,
    pub model: String,
    pub items: Vec<QuoteLine>,
    pub credits: Credits,
    /// `None` when no dollar price per credit is known for the provider.
    pub usd: Option<Usd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_credit: Option<f64>,
    pub fingerprint: String,
    /// Empty until the quote becomes part of an [`crate::approval::Order`].
    pub token: String,
    /// Notes the user should read before approving (price caveats).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Text billing: reserve, expected charge, token rates. `None` for media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextQuote>,
    /// Some item has no published price: `credits` leaves it out and `usd` is `None`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unpriced: bool,
}

impl Quote {
    /// Prices `spec` from the catalogue. The spec must already be validated.
    pub fn compute(
        spec: &JobSpec,
        catalogue: &Catalogue,
        price: Option<CreditPrice>,
    ) -> Result<Quote, SpecError> {
        Quote::compute_with(spec, catalogue, price, &PriceTable::new())
    }

    /// [`Quote::compute`] with the configuration's prices for operations the provider does not
    /// price (ImaginePro's `[imaginepro.prices]`).
    pub fn compute_with(
        spec: &JobSpec,
        catalogue: &Catalogue,
        price: Option<CreditPrice>,
        prices: &PriceTable,
    ) -> Result<Quote, SpecError> {
        if spec.provider == ProviderId::ImaginePro {
            return imaginepro_quote(spec, price, prices);
        }
        let mut items = Vec::new();
        let mut notes = Vec::new();
        let mut text = None;
        for (index, item) in spec.items.iter().enumerate() {
            let model = catalogue.resolve(spec.provider, Some(item.kind()), item.model())?;
            let credits = match item {
                crate::spec::Item::Text(t) => {
                    let quote = text_quote(t, model);
                    let reserve = quote.reserve;
                    text = Some(quote);
                    reserve
                }
                crate::spec::Item::Image(i) => {
                    if let Some(note) = image_note(i, model)
                        && !notes.contains(&note)
                    {
                        notes.push(note);
                    }
                    media_credits(model, None)?
                }
                crate::spec::Item::Video(v) => media_credits(model, Some(v.duration_seconds))?,
                crate::spec::Item::Button(_) | crate::spec::Item::Tool(_) => {
                    return Err(SpecError::NotSupported {
                        model: model.id.clone(),
                        what: "button presses or image tools (they are ImaginePro's)",
                    });
                }
            };
            items.push(QuoteLine {
                index,
                kind: item.kind(),
                model: model.id.clone(),
                detail: item.detail(),
                prompt: item.prompt().to_owned(),
                credits,
                usd: price.map(|p| p.usd(credits)),
                unpriced: false,
            });
        }
        let credits: Credits = items.iter().map(|l| l.credits).sum();
        let fingerprint = spec.fingerprint();
        Ok(Quote {
            provider: spec.provider,
            model: spec.model().to_owned(),
            items,
            credits,
            usd: price.map(|p| p.usd(credits)),
            usd_per_credit: price.map(|p| p.micros_per_credit() as f64 / 1_000_000.0),
            fingerprint,
            token: String::new(),
            notes,
            text,
            unpriced: false,
        })
    }
}

/// An ImaginePro quote, from its operations table and the configuration's prices.
fn imaginepro_quote(
    spec: &JobSpec,
    price: Option<CreditPrice>,
    prices: &PriceTable,
) -> Result<Quote, SpecError> {
    let mut items = Vec::new();
    let mut notes = Vec::new();
    let mut note = |n: String| {
        if !notes.contains(&n) {
            notes.push(n);
        }
    };
    for (index, item) in spec.items.iter().enumerate() {
        let line = imaginepro::item_price(item, prices)?;
        let unpriced = line.credits.is_none();
        if unpriced {
            note(format!(
                "ImaginePro publishes no price for `{op}`: it is quoted as \"price not published\", the total leaves it out and the charge is unknown; it is refused while a cost limit is set unless you price it in the config (`[imaginepro.prices] {op} = CREDITS`)",
                op = line.operation
            ));
        } else if line.from_config {
            note(format!(
                "`{}` is priced by your config ([imaginepro.prices]); ImaginePro publishes no price for it",
                line.operation
            ));
        }
        let credits = line.credits.unwrap_or(Credits::ZERO);
        items.push(QuoteLine {
            index,
            kind: item.kind(),
            model: item.model().to_owned(),
            detail: imaginepro::detail(item),
            prompt: item.prompt().to_owned(),
            credits,
            usd: if unpriced { None } else { price.map(|p| p.usd(credits)) },
            unpriced,
        });
    }
    match price {
        None => note("ImaginePro publishes no dollar price per credit, so amounts are in credits only; set `[imaginepro] usd_per_credit` (or CONJURE_IMAGINEPRO_USD_PER_CREDIT) to see dollar estimates".to_owned()),
        Some(_) => note("Dollar amounts are estimates at your configured price per ImaginePro credit (ImaginePro publishes none)".to_owned()),
    }
    let unpriced = items.iter().any(|l| l.unpriced);
    let credits: Credits = items.iter().map(|l| l.credits).sum();
    Ok(Quote {
        provider: spec.provider,
        model: spec.model().to_owned(),
        items,
        credits,
        usd: if unpriced { None } else { price.map(|p| p.usd(credits)) },
        usd_per_credit: price.map(|p| p.micros_per_credit() as f64 / 1_000_000.0),
        fingerprint: spec.fingerprint(),
        token: String::new(),
        notes,
        text: None,
        unpriced,
    })
}

/// What `--uhd` or `--fast` leaves unpriced, as a note for the quote.
fn image_note(i: &crate::spec::ImageItem, model: &crate::catalogue::Model) -> Option<String> {
    if i.uhd {
        Some(format!(
            "--uhd asks for {}; the provider publishes no price for it, so this is the catalogue price and the charge may be higher (conjure reports what was charged)",
            model.uhd_means.as_deref().unwrap_or("UHD output")
        ))
    } else if i.fast {
        Some("--fast asks for half-resolution output, which the provider calls cheaper without publishing a price; this is the full catalogue price".to_owned())
    } else {
        None
    }
}

/// An image's or a `duration`-second video's catalogue price.
fn media_credits(
    model: &crate::catalogue::Model,
    duration: Option<u32>,
) -> Result<Credits, SpecError> {
    model.item_credits(duration).ok_or_else(|| SpecError::Duration {
        model: model.id.clone(),
        duration: duration.unwrap_or_default(),
        allowed: model.durations().iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
    })
}

fn text_quote(t: &crate::text::TextItem, model: &crate::catalogue::Model) -> TextQuote {
    let input_tokens = t.input_tokens();
    let max_tokens = t.effective_max_tokens();
    let (input_rate, output_rate) = crate::text::rates(model).unwrap_or_default();
    let reserve = crate::text::reserve(model, input_tokens, max_tokens);
    TextQuote {
        reserve,
        worst_case: reserve,
        expected: crate::text::expected_charge(model, input_tokens, max_tokens),
        input_tokens,
        max_tokens,
        input_rate,
        output_rate,
        privacy: model.privacy.map(|p| p.label().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ImageItem, Item};

    fn spec(count: usize) -> JobSpec {
        let item = Item::Image(ImageItem::new("gpt-image-2", "a red fox"));
        JobSpec::new(ProviderId::Katana, vec![item; count])
    }

    #[test]
    fn quote_sums_items_and_prices_dollars() {
        let q = Quote::compute(&spec(3), Catalogue::bundled(), Some(CreditPrice::KATANA_REFERENCE))
            .unwrap();
        assert_eq!(q.credits, Credits::whole(42));
        assert_eq!(q.usd.unwrap().to_string(), "$0.2184");
        assert_eq!(q.items.len(), 3);
        assert_eq!(q.fingerprint, spec(3).fingerprint());
    }

    fn imaginepro(items: Vec<Item>) -> JobSpec {
        JobSpec::new(ProviderId::ImaginePro, items)
    }

    #[test]
    fn imaginepro_quotes_follow_the_operations_table() {
        let q = |items| Quote::compute(&imaginepro(items), Catalogue::bundled(), None).unwrap();
        let relax = q(vec![Item::Image(ImageItem::new("midjourney", "a cat --relax"))]);
        assert_eq!(relax.credits, Credits::whole(5));
        assert!(relax.items[0].detail.contains("relax"));
        assert!(relax.usd.is_none());
        assert!(relax.notes.iter().any(|n| n.contains("usd_per_credit")), "{:?}", relax.notes);
        let fast = q(vec![Item::Image(ImageItem::new("midjourney", "a cat"))]);
        assert_eq!(fast.credits, Credits::whole(10));
        let flux = q(vec![Item::Image(ImageItem::new("flux", "a fox")); 3]);
        assert_eq!(flux.credits, Credits::whole(18));
        assert_eq!(flux.items.len(), 3);
        let priced = Quote::compute(
            &imaginepro(vec![Item::Image(ImageItem::new("flux", "a fox"))]),
            Catalogue::bundled(),
            Some(CreditPrice::from_micros_per_credit(10_000)),
        )
        .unwrap();
        assert_eq!(priced.usd.unwrap().to_string(), "$0.0600");
        assert!(priced.notes.iter().any(|n| n.contains("estimates")));
    }

    #[test]
    fn an_unpublished_price_is_flagged_never_guessed() {
        let reroll = Item::Button(crate::spec::ButtonItem {
            parent: "j1".into(),
            parent_message: "m1".into(),
            button: "🔄".into(),
            mask: None,
            prompt: None,
        });
        let spec = imaginepro(vec![reroll]);
        let price = Some(CreditPrice::from_micros_per_credit(10_000));
        let q = Quote::compute(&spec, Catalogue::bundled(), price).unwrap();
        assert!(q.unpriced && q.items[0].unpriced);
        assert_eq!(q.usd, None);
        assert!(q.notes.iter().any(|n| n.contains("price not published")), "{:?}", q.notes);
        let json = serde_json::to_value(&q).unwrap();
        assert_eq!(json["unpriced"], true);
        let mut table = PriceTable::new();
        table.insert("mj_button_other".into(), Credits::whole(5));
        let q = Quote::compute_with(&spec, Catalogue::bundled(), price, &table).unwrap();
        assert!(!q.unpriced);
        assert_eq!(q.credits, Credits::whole(5));
        assert!(q.notes.iter().any(|n| n.contains("priced by your config")));
    }

    #[test]
    fn no_price_means_no_dollars() {
        let q = Quote::compute(&spec(1), Catalogue::bundled(), None).unwrap();
        assert_eq!(q.usd, None);
        assert_eq!(q.usd_per_credit, None);
        assert!(q.items.iter().all(|l| l.usd.is_none()));
    }
}
