//! Approval as a type: the only way to get an [`Approved`] order, and so the only way to send one.
//!
//! An [`Order`] is what the user is asked to pay for: the normalised request, the exact wire
//! request it becomes, its quote, and what it is (a new request, a retry of a job, a follow-up
//! of a parent). [`approve`] turns an order and a [`Consent`] into an [`Approved`] order, or says
//! why it needs approval. `Approved` has no public constructor, and [`crate::runner::Runner`]'s
//! submit accepts nothing else: code cannot send a request nobody agreed to.
//!
//! Consent is one of: a token from an earlier quote (`--approve TOKEN`), a standing yes for
//! scripts (`--yes`), or a person answering yes at a prompt. A token is `cq_`, an 8-hex nonce and
//! a 24-hex hash of the nonce, the request's fingerprint, the total, the price per credit and the
//! job a retry re-sends: it approves exactly the request that was quoted, at that price, for that
//! purpose. The nonce makes every quote's token different, so a token can be single-use (the
//! store consumes it in the same transaction that records the job) while the same request can
//! still be quoted and approved again later.
//!
//! Spending limits, duplicates and budgets are not decided here but in [`crate::policy`], applied
//! by the store's `reserve`.

use sha2::{Digest, Sha256};

use crate::job::JobId;
use crate::money::{CreditPrice, Credits};
use crate::provider::WireRequest;
use crate::quote::Quote;
use crate::spec::JobSpec;

const TOKEN_PREFIX: &str = "cq_";
const NONCE_HEX: usize = 8;
const MAC_HEX: usize = 24;

/// What the user is asked to pay for.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub spec: JobSpec,
    pub wire: WireRequest,
    /// The price, with the token that approves exactly this order.
    pub quote: Quote,
    /// The job this order sends again (`conjure retry`).
    pub retry_of: Option<JobId>,
    /// The job this order derives from (a follow-up action on a parent's result).
    pub parent: Option<JobId>,
    /// Where the requester wants the results, as the front end spells it (opaque here, and
    /// not part of what the token approves): journalled with the job, so that collecting it
    /// later writes where the person asked.
    pub deliver_to: Option<String>,
    /// The batch lines this order sends (`conjure batch`), journalled with the job in the
    /// transaction that records it. Not part of what a token approves: a batch is approved as a
    /// whole, by its own token.
    pub batch: Option<crate::batch::BatchLink>,
}

impl Order {
    /// An order for `spec`, issuing a fresh approval token into its quote.
    pub fn new(
        spec: JobSpec,
        wire: WireRequest,
        mut quote: Quote,
        retry_of: Option<JobId>,
        parent: Option<JobId>,
    ) -> Result<Order, getrandom::Error> {
        let mut nonce = [0_u8; NONCE_HEX / 2];
        getrandom::fill(&mut nonce)?;
        let nonce = hex::encode(nonce);
        quote.token = token_with(
            &nonce,
            &quote.fingerprint,
            quote.credits,
            price_of(&quote),
            retry_of.as_ref(),
        );
        Ok(Order { spec, wire, quote, retry_of, parent, deliver_to: None, batch: None })
    }

    /// Whether `token` was issued for this order (any nonce, this request, total, price and
    /// purpose).
    pub fn accepts(&self, token: &str) -> bool {
        let token = token.trim();
        let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else { return false };
        if rest.len() != NONCE_HEX + MAC_HEX || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        let expected = token_with(
            &rest[..NONCE_HEX],
            &self.quote.fingerprint,
            self.quote.credits,
            price_of(&self.quote),
            self.retry_of.as_ref(),
        );
        constant_time_eq(expected.as_bytes(), token.as_bytes())
    }
}

fn price_of(quote: &Quote) -> Option<CreditPrice> {
    quote
        .usd_per_credit
        .map(|p| CreditPrice::from_micros_per_credit((p * 1_000_000.0).round() as i64))
}

fn token_with(
    nonce: &str,
    fingerprint: &str,
    credits: Credits,
    price: Option<CreditPrice>,
    retry_of: Option<&JobId>,
) -> String {
    let mut h = Sha256::new();
    h.update(b"conjure-approval-v2\0");
    h.update(nonce.as_bytes());
    h.update(b"\0");
    h.update(fingerprint.as_bytes());
    h.update(credits.tenths().to_le_bytes());
    h.update(price.map_or(0, CreditPrice::micros_per_credit).to_le_bytes());
    h.update(b"\0");
    h.update(retry_of.map_or("", JobId::as_str).as_bytes());
    let digest = hex::encode(h.finalize());
    format!("{TOKEN_PREFIX}{nonce}{}", &digest[..MAC_HEX])
}

/// The token that approves a batch's calls (`conjure batch`): `cb_`, an 8-hex nonce and 24 hex of
/// the hash of the nonce, the batch and every call's request, total and price. It approves
/// exactly these calls: once one is sent, what is left differs and needs a new quote.
pub fn batch_token(nonce: &str, batch: &str, calls: &[&Quote]) -> String {
    let mut h = Sha256::new();
    h.update(b"conjure-batch-approval-v1\0");
    h.update(nonce.as_bytes());
    h.update(b"\0");
    h.update(batch.as_bytes());
    for q in calls {
        h.update(b"\0");
        h.update(q.fingerprint.as_bytes());
        h.update(q.credits.tenths().to_le_bytes());
        h.update(price_of(q).map_or(0, CreditPrice::micros_per_credit).to_le_bytes());
    }
    format!("cb_{nonce}{}", &hex::encode(h.finalize())[..MAC_HEX])
}

/// Whether `given` is a [`batch_token`] of these calls (any nonce).
pub fn batch_accepts(given: &str, batch: &str, calls: &[&Quote]) -> bool {
    let given = given.trim();
    let Some(rest) = given.strip_prefix("cb_") else { return false };
    rest.len() == NONCE_HEX + MAC_HEX
        && rest.bytes().all(|b| b.is_ascii_hexdigit())
        && constant_time_eq(
            batch_token(&rest[..NONCE_HEX], batch, calls).as_bytes(),
            given.as_bytes(),
        )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How the user agreed to pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consent {
    /// `--approve TOKEN`: the token of an earlier quote of this very order.
    Token(String),
    /// `--yes`: a standing yes for scripts; still bound by every limit.
    Yes,
    /// A person saw the quote and answered yes.
    Person,
    /// One call of a batch whose whole quote was approved (by its token, `--yes` or a person)
    /// before any of its calls was reserved.
    Batch,
}

/// An order someone agreed to pay for. Only [`approve`] makes one.
#[derive(Debug)]
pub struct Approved {
    order: Order,
    token: Option<String>,
}

impl Approved {
    pub fn order(&self) -> &Order {
        &self.order
    }

    /// The token that approved it, which the store consumes when it records the job.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// Why an order cannot be sent yet. Nothing was sent.
#[derive(Debug)]
pub enum NeedsApproval {
    /// No consent was given: show the quote and ask.
    Missing(Box<Order>),
    /// The token was not issued for this order (the request, the total, the price or the
    /// purpose changed since that quote).
    TokenMismatch(Box<Order>),
}

impl NeedsApproval {
    pub fn order(&self) -> &Order {
        match self {
            NeedsApproval::Missing(o) | NeedsApproval::TokenMismatch(o) => o,
        }
    }

    pub fn into_order(self) -> Order {
        match self {
            NeedsApproval::Missing(o) | NeedsApproval::TokenMismatch(o) => *o,
        }
    }
}

/// The one gate between a quote and a payment.
pub fn approve(order: Order, consent: Option<Consent>) -> Result<Approved, NeedsApproval> {
    // The quote must have been made for this very request; a mismatch is a bug upstream, and
    // is refused like a wrong token rather than trusted.
    if order.quote.fingerprint != order.spec.fingerprint() {
        return Err(NeedsApproval::TokenMismatch(Box::new(order)));
    }
    match consent {
        None => Err(NeedsApproval::Missing(Box::new(order))),
        Some(Consent::Token(token)) => {
            if order.accepts(&token) {
                Ok(Approved { order, token: Some(token.trim().to_owned()) })
            } else {
                Err(NeedsApproval::TokenMismatch(Box::new(order)))
            }
        }
        Some(Consent::Yes | Consent::Person | Consent::Batch) => {
            Ok(Approved { order, token: None })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Catalogue, ProviderId};
    use crate::spec::{ImageItem, Item};

    fn order(prompt: &str, count: usize, retry_of: Option<JobId>) -> Order {
        let item = Item::Image(ImageItem::new("gpt-image-2", prompt));
        let spec = JobSpec::new(ProviderId::Katana, vec![item; count]);
        let quote =
            Quote::compute(&spec, Catalogue::bundled(), Some(CreditPrice::KATANA_REFERENCE))
                .unwrap();
        let wire = WireRequest::new("POST", "/x", serde_json::json!({}));
        Order::new(spec, wire, quote, retry_of, None).unwrap()
    }

    #[test]
    fn a_token_approves_only_its_own_order() {
        let a = order("fox", 1, None);
        let token = a.quote.token.clone();
        assert!(token.starts_with("cq_") && token.len() == 3 + 32, "{token}");
        assert!(a.accepts(&token));
        // Another quote of the same request has another token, and both are valid.
        let again = order("fox", 1, None);
        assert_ne!(again.quote.token, token);
        assert!(again.accepts(&token));
        // A changed request, total or purpose is refused.
        assert!(!order("owl", 1, None).accepts(&token));
        assert!(!order("fox", 2, None).accepts(&token));
        assert!(!order("fox", 1, Some(JobId::compose(0, 1))).accepts(&token));
        for bad in ["", "cq_", "cq_zz", &token[..token.len() - 1], &token.to_uppercase()] {
            assert!(!a.accepts(bad), "{bad}");
        }
    }

    #[test]
    fn a_batch_token_approves_exactly_its_calls() {
        let (a, b) = (order("fox", 1, None), order("owl", 2, None));
        let t = batch_token("0badf00d", "b1", &[&a.quote, &b.quote]);
        assert!(t.starts_with("cb_0badf00d") && t.len() == 35, "{t}");
        assert!(batch_accepts(&t, "b1", &[&a.quote, &b.quote]));
        assert!(!batch_accepts(&t, "b2", &[&a.quote, &b.quote]), "another batch");
        assert!(!batch_accepts(&t, "b1", &[&a.quote]), "a call fewer");
        assert!(!batch_accepts(&t, "b1", &[&b.quote, &a.quote]), "another order");
        assert!(!batch_accepts(&a.quote.token, "b1", &[&a.quote]), "a single request's token");
    }

    #[test]
    fn a_retry_token_does_not_approve_the_original() {
        let job = JobId::compose(0, 7);
        let retry = order("fox", 1, Some(job));
        assert!(!order("fox", 1, None).accepts(&retry.quote.token));
    }

    #[test]
    fn approve_needs_consent() {
        let o = order("fox", 1, None);
        let token = o.quote.token.clone();
        assert!(matches!(approve(o.clone(), None), Err(NeedsApproval::Missing(_))));
        let mut wrong = order("fox", 1, None).quote.token;
        let last = if wrong.ends_with('0') { '1' } else { '0' };
        wrong.pop();
        wrong.push(last);
        let wrong = Consent::Token(wrong);
        assert!(matches!(approve(o.clone(), Some(wrong)), Err(NeedsApproval::TokenMismatch(_))));
        let approved = approve(o.clone(), Some(Consent::Token(format!(" {token} ")))).unwrap();
        assert_eq!(approved.token(), Some(token.as_str()));
        assert_eq!(approve(o.clone(), Some(Consent::Yes)).unwrap().token(), None);
        assert_eq!(
            approve(o, Some(Consent::Person)).unwrap().order().quote.credits,
            Credits::whole(14)
        );
    }

    #[test]
    fn a_quote_for_another_request_is_refused() {
        let mut o = order("fox", 1, None);
        o.spec = order("owl", 1, None).spec;
        assert!(matches!(approve(o, Some(Consent::Yes)), Err(NeedsApproval::TokenMismatch(_))));
    }
}
