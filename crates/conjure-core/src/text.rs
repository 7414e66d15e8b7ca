//! Text generation: the conversation a text job sends, and the arithmetic of text billing.
//!
//! A text job is one [`TextItem`]: a model, the whole message list (system turn, earlier turns of
//! a continued conversation, the new question, images for vision), sampling settings and how the
//! answer is to come back ([`TextMode`]). The list is part of the spec, so the approval token binds
//! every message, not only the last one.
//!
//! Text is billed unlike media (Katana spec section 13): the provider takes a **reserve** up
//! front (at least [`MIN_RESERVE`]; a large `max_tokens` raises it), charges the tokens used (at
//! least 0.1 credit, rounded up to 0.1) and refunds the rest; a stream that ends without usage
//! keeps the whole reserve. The provider does not publish how a large `max_tokens` raises the
//! reserve, so conjure estimates it as the cost of the worst case the request allows ([`reserve`]):
//! every input token at the input rate plus `max_tokens` at the output rate. That is also the
//! most the request can cost, so a quote's credits (what limits and budgets hold against) are
//! the reserve, and the expected charge is shown beside it.
//!
//! Tokens are estimated without a tokenizer, by [`estimate_tokens`]: a quarter of the UTF-8
//! bytes, rounded up (English prose runs about 4 bytes a token; code and CJK text run fewer, so
//! the estimate errs low for them). An image counts [`IMAGE_TOKENS`].
//!
//! The sandbox bills with these same functions, so offline runs charge what conjure quotes.

use serde::{Deserialize, Serialize};

use crate::catalogue::{Model, Pricing};
use crate::money::Credits;
use crate::spec::MediaInput;

/// The provider's minimum reserve for a text call.
pub const MIN_RESERVE: Credits = Credits::whole(10);
/// The provider's minimum charge for a text call (also its rounding step).
pub const MIN_CHARGE: Credits = Credits::from_tenths(1);
/// Katana's `max_tokens` when a request names none.
pub const DEFAULT_MAX_TOKENS: u32 = 16_000;
/// Tokens an input image is assumed to cost (the provider resizes images to at most 4096 px on
/// the long side; most models bill a picture at roughly a thousand tokens).
pub const IMAGE_TOKENS: u64 = 1_000;
/// The answer length the expected charge assumes, when `max_tokens` allows it.
pub const TYPICAL_ANSWER_TOKENS: u64 = 500;

/// Who speaks a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => return None,
        })
    }
}

/// One part of a message's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    /// An image for vision models: a URL, or a local file sent as a `data:` URL.
    Image {
        input: MediaInput,
    },
    /// A content part conjure passes through as given (`input_audio`, say).
    Raw {
        value: serde_json::Value,
    },
}

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
    /// A plain string on the wire (rather than a list of parts), as it was given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain: bool,
}

impl Message {
    /// A message of one text part, sent as a plain string.
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message { role, content: vec![Part::Text { text: text.into() }], plain: true }
    }

    /// The text parts, joined.
    pub fn joined_text(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn images(&self) -> impl Iterator<Item = &MediaInput> {
        self.content.iter().filter_map(|p| match p {
            Part::Image { input } => Some(input),
            _ => None,
        })
    }
}

/// How the answer comes back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextMode {
    /// Server-sent events, printed as they arrive, with usage in the last chunk.
    #[default]
    Stream,
    /// One JSON answer when the model is done.
    Whole,
    /// An async job (`?wait=false`), polled like media.
    Async,
}

/// One text generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextItem {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// File inputs (`files[].url`), for models that take them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default)]
    pub mode: TextMode,
    /// The job whose conversation this continues (`--continue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<String>,
}

impl TextItem {
    /// The last user turn's text: what lists and summaries show as the prompt.
    pub fn prompt(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .and_then(|m| {
                m.content.iter().find_map(|p| match p {
                    Part::Text { text } => Some(text.as_str()),
                    _ => None,
                })
            })
            .unwrap_or("")
    }

    pub fn images(&self) -> impl Iterator<Item = &MediaInput> {
        self.messages.iter().flat_map(Message::images)
    }

    /// `max_tokens` as the provider will apply it.
    pub fn effective_max_tokens(&self) -> u32 {
        self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)
    }

    /// The estimated input tokens of the whole message list.
    pub fn input_tokens(&self) -> u64 {
        self.messages
            .iter()
            .flat_map(|m| m.content.iter())
            .map(|p| match p {
                Part::Text { text } => estimate_tokens(text),
                Part::Image { .. } => IMAGE_TOKENS,
                Part::Raw { value } => estimate_tokens(&value.to_string()),
            })
            .sum::<u64>()
            // Roles and separators: a few tokens a turn.
            + 4 * self.messages.len() as u64
    }
}

/// A token estimate for `text`: a quarter of its UTF-8 bytes, rounded up.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// The per-million-token rates of a text model: `(input, output)`.
pub fn rates(model: &Model) -> Option<(Credits, Credits)> {
    match &model.pricing {
        Pricing::PerMillionTokens { input, output, .. } => Some((*input, *output)),
        _ => None,
    }
}

/// `tokens` at `per_million` credits per million tokens, in exact tenths rounded up.
fn cost(tokens: u64, per_million: Credits) -> i128 {
    // Tenths x tokens / 1e6, kept in integers; the caller rounds the sum.
    i128::from(per_million.tenths()) * i128::from(tokens)
}

fn round_up_tenths(scaled: i128) -> Credits {
    let tenths = (scaled + 999_999) / 1_000_000;
    Credits::from_tenths(i64::try_from(tenths).unwrap_or(i64::MAX))
}

/// What `prompt_tokens` in and `completion_tokens` out cost on `model`: at least
/// [`MIN_CHARGE`], rounded up to a tenth of a credit.
pub fn charge(model: &Model, prompt_tokens: u64, completion_tokens: u64) -> Credits {
    let Some((input, output)) = rates(model) else { return MIN_CHARGE };
    let scaled = cost(prompt_tokens, input) + cost(completion_tokens, output);
    round_up_tenths(scaled).max(MIN_CHARGE)
}

/// The reserve for `input_tokens` in and at most `max_tokens` out: the worst case's cost, and
/// never less than [`MIN_RESERVE`].
pub fn reserve(model: &Model, input_tokens: u64, max_tokens: u32) -> Credits {
    charge(model, input_tokens, u64::from(max_tokens)).max(MIN_RESERVE)
}

/// The charge conjure expects: the estimated input and an answer of
/// [`TYPICAL_ANSWER_TOKENS`] (or `max_tokens`, when smaller).
pub fn expected_charge(model: &Model, input_tokens: u64, max_tokens: u32) -> Credits {
    charge(model, input_tokens, TYPICAL_ANSWER_TOKENS.min(u64::from(max_tokens)))
}

/// What a text call reported it used and cost (`usage`, with Katana's `usage.imgnai`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_reserved: Option<Credits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_charged: Option<Credits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_refunded: Option<Credits>,
    /// `Anonymized` or `E2EE Private`, as the provider says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_source: Option<String>,
}

/// A text answer, whole or as far as it came.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextAnswer {
    pub answer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reasoning: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TextUsage>,
    /// Why the model stopped (`stop`, `length`, ...), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The answer stopped short: the stream was cut before it ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Things that went wrong in the stream without ending it (a malformed chunk, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A piece of a streamed answer, handed to the front end as it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delta<'a> {
    /// The provider's id for the call, from the first chunk that carries one.
    Started {
        request_id: &'a str,
    },
    Answer(&'a str),
    Reasoning(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Catalogue, MediaKind, ProviderId};

    fn model(name: &str) -> &'static Model {
        Catalogue::bundled().resolve(ProviderId::Katana, Some(MediaKind::Text), name).unwrap()
    }

    #[test]
    fn charges_round_up_to_a_tenth_with_a_floor() {
        let grok = model("grok");
        // 264.5 in, 528.9 out per million: 10 tokens each cost far below 0.1.
        assert_eq!(charge(grok, 10, 10), MIN_CHARGE);
        // 1M in + 1M out = 793.4 exactly.
        assert_eq!(charge(grok, 1_000_000, 1_000_000), Credits::from_tenths(7934));
        // 1000 in = 0.2645 -> 0.3.
        assert_eq!(charge(grok, 1000, 0), Credits::from_tenths(3));
    }

    #[test]
    fn the_reserve_is_the_worst_case_and_at_least_ten() {
        let grok = model("grok");
        assert_eq!(reserve(grok, 100, 1000), MIN_RESERVE);
        // 16000 out at 528.9 = 8.46 + 100 in: under 10.
        assert_eq!(reserve(grok, 100, DEFAULT_MAX_TOKENS), MIN_RESERVE);
        let opus = model("claude");
        // 16000 x 5000 / 1e6 = 80, plus 100 x 1000 / 1e6 = 0.1.
        assert_eq!(reserve(opus, 100, DEFAULT_MAX_TOKENS), Credits::from_tenths(801));
        assert!(expected_charge(opus, 100, DEFAULT_MAX_TOKENS) < reserve(opus, 100, 16_000));
    }

    #[test]
    fn tokens_are_estimated_from_bytes() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        let item = TextItem {
            model: "grok-4-3".into(),
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::text(Role::User, "hi"),
            ],
            max_tokens: None,
            temperature: None,
            top_p: None,
            files: vec![],
            mode: TextMode::Stream,
            continues: None,
        };
        assert_eq!(item.input_tokens(), 2 + 1 + 8);
        assert_eq!(item.prompt(), "hi");
    }
}
