//! The sandbox's answer to a chat request: deterministic, clearly labelled placeholder text.
//!
//! The same conversation always gets the same words (so a streamed answer can be compared
//! byte for byte with a whole one), and another conversation gets others: the reply quotes the
//! last user text and carries a short fingerprint of the conversation. It is a few sentences
//! long, says it is not a real model, and always contains multi-byte UTF-8 (an em dash,
//! guillemets, an emoji) so clients are tested on it. It says how many earlier assistant turns
//! it saw (a client's "continue" is visible), how many images and files it was given (with the
//! decoded size of inline images), and whether it continues an assistant prefill.
//!
//! With [`REASON_MARKER`] anywhere in the conversation, or on `q-naifu-a3b` (the catalogue's
//! reasoning model), there is also `reasoning_content`. Both are cut to `max_tokens` by
//! `conjure_core::text::estimate_tokens` (reasoning first, as a model writes it), at a
//! character boundary, with `finish_reason` `length`. Pure functions only.

use conjure_core::text::{Role, TextItem, estimate_tokens};
use sha2::{Digest, Sha256};

use super::request::ChatRequest;

/// A conversation containing this marker also gets `reasoning_content`.
pub const REASON_MARKER: &str = "sandbox:reason";
/// The model that always reasons.
const REASONING_MODEL: &str = "q-naifu-a3b";
/// How much of the question the reply quotes, in characters.
const QUOTE_CHARS: usize = 80;
/// Words per streamed piece.
const WORDS_PER_PIECE: usize = 3;

/// What the model "wrote".
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub content: String,
    pub reasoning: Option<String>,
    /// `stop`, or `length` when `max_tokens` cut it.
    pub finish_reason: &'static str,
}

impl Reply {
    /// Completion tokens by the client's estimate: answer plus reasoning.
    pub(crate) fn completion_tokens(&self) -> u64 {
        estimate_tokens(&self.content) + self.reasoning.as_deref().map_or(0, estimate_tokens)
    }
}

/// The reply to `req`, cut to its `max_tokens`.
pub(crate) fn compose(req: &ChatRequest) -> Reply {
    let item = &req.item;
    let fingerprint = fingerprint(item);
    let content = answer(req, &fingerprint);
    let reasons = item.model == REASONING_MODEL
        || item.messages.iter().any(|m| m.joined_text().contains(REASON_MARKER));
    let reasoning = reasons.then(|| reasoning(item, &fingerprint));
    truncate(&content, reasoning.as_deref(), item.effective_max_tokens())
}

/// The first 8 hex digits of a digest of the model, the messages and the files.
fn fingerprint(item: &TextItem) -> String {
    let mut hash = Sha256::new();
    hash.update(item.model.as_bytes());
    hash.update([0]);
    hash.update(serde_json::to_vec(&item.messages).unwrap_or_default());
    for file in &item.files {
        hash.update([0]);
        hash.update(file.as_bytes());
    }
    hex::encode(&hash.finalize()[..4])
}

/// The last user turn's text (all its text parts), on one line.
fn question(item: &TextItem) -> String {
    let text = item
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(conjure_core::text::Message::joined_text)
        .unwrap_or_default();
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > QUOTE_CHARS {
        let cut: String = flat.chars().take(QUOTE_CHARS).collect();
        format!("{}…", cut.trim_end())
    } else {
        flat
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn answer(req: &ChatRequest, fingerprint: &str) -> String {
    let item = &req.item;
    let mut text = format!(
        "[conjure sandbox] placeholder answer from {} — not a real model. You asked: «{}». ",
        req.model.id,
        question(item)
    );
    let earlier = item.messages.iter().filter(|m| m.role == Role::Assistant).count();
    let prefill = item.messages.last().is_some_and(|m| m.role == Role::Assistant);
    let earlier = if prefill { earlier - 1 } else { earlier };
    if earlier > 0 {
        text.push_str(&format!(
            "It saw {} with {} before this one, so this continues a conversation. ",
            plural(item.messages.len(), "message", "messages"),
            plural(earlier, "assistant turn", "assistant turns"),
        ));
    }
    if prefill {
        text.push_str("It continues your assistant prefill. ");
    }
    if !req.images.is_empty() {
        let inline: Vec<String> = req.images.iter().flatten().map(ToString::to_string).collect();
        let sizes = if inline.is_empty() {
            String::new()
        } else {
            format!(" ({} bytes inline)", inline.join(" + "))
        };
        text.push_str(&format!(
            "It received {}{sizes} and did not look at {}. ",
            plural(req.images.len(), "image", "images"),
            if req.images.len() == 1 { "it" } else { "them" }
        ));
    }
    if !item.files.is_empty() {
        text.push_str(&format!(
            "It received {} and did not read {}. ",
            plural(item.files.len(), "file", "files"),
            if item.files.len() == 1 { "it" } else { "them" }
        ));
    }
    text.push_str(&format!(
        "This text is made offline to show what an answer looks like 🧪: the same conversation \
         always gets the same words and another one gets others (fingerprint {fingerprint}). \
         Nothing was sent to a real provider; only the sandbox balance moved."
    ));
    text
}

fn reasoning(item: &TextItem, fingerprint: &str) -> String {
    format!(
        "[conjure sandbox] placeholder reasoning — no model thought this 🤔. Step 1: read {} \
         (about {} prompt tokens). Step 2: take the fingerprint {fingerprint}. Step 3: write the \
         labelled placeholder answer.",
        plural(item.messages.len(), "message", "messages"),
        item.input_tokens()
    )
}

/// The longest prefix of `text` that `estimate_tokens` counts as at most `tokens`, cut at a
/// character boundary.
fn cut(text: &str, tokens: u64) -> &str {
    let limit = usize::try_from(tokens.saturating_mul(4)).unwrap_or(usize::MAX);
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn truncate(content: &str, reasoning: Option<&str>, max_tokens: u32) -> Reply {
    let budget = u64::from(max_tokens);
    let (reasoning, used, reasoning_cut) = match reasoning {
        Some(r) => {
            let kept = cut(r, budget);
            let cut_short = kept.len() < r.len();
            (Some(kept.to_owned()), estimate_tokens(kept), cut_short)
        }
        None => (None, 0, false),
    };
    let kept = cut(content, budget.saturating_sub(used));
    let finish_reason = if reasoning_cut || kept.len() < content.len() { "length" } else { "stop" };
    Reply { content: kept.to_owned(), reasoning, finish_reason }
}

/// `text` in streamed pieces of a few words each; the pieces put together are `text` exactly.
pub(crate) fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut words = 0;
    for (i, _) in text.match_indices(' ') {
        words += 1;
        if words == WORDS_PER_PIECE {
            out.push(&text[start..=i]);
            start = i + 1;
            words = 0;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Served;
    use serde_json::{Value, json};

    fn request(body: &Value) -> ChatRequest {
        super::super::request::parse(body.to_string().as_bytes(), Served::bundled(), false).unwrap()
    }

    fn ask(prompt: &str) -> Reply {
        compose(&request(&json!({"model": "grok-4-3", "prompt": prompt})))
    }

    #[test]
    fn labelled_deterministic_and_prompt_dependent() {
        let a = ask("Why is the sky blue?");
        assert_eq!(a, ask("Why is the sky blue?"));
        assert_ne!(a.content, ask("Why is grass green?").content);
        assert!(a.content.starts_with(
            "[conjure sandbox] placeholder answer from grok-4-3 — not a real model. \
             You asked: «Why is the sky blue?». "
        ));
        assert!(a.content.contains('🧪'));
        let words = a.content.split_whitespace().count();
        assert!((40..=80).contains(&words), "{words} words");
        assert_eq!((a.reasoning, a.finish_reason), (None, "stop"));
    }

    #[test]
    fn long_questions_are_quoted_in_part() {
        let long = "word ".repeat(40);
        let a = ask(&long);
        let quoted = a.content.split('«').nth(1).unwrap().split('»').next().unwrap();
        assert!(quoted.ends_with('…'));
        assert!(quoted.chars().count() <= QUOTE_CHARS + 1);
    }

    #[test]
    fn turns_images_files_and_prefill_are_mentioned() {
        let r = compose(&request(&json!({"model": "gpt-5-5", "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [
                {"type": "text", "text": "three"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAECAw=="}},
            ]},
            {"role": "assistant", "content": "The answer is"},
        ], "files": [{"url": "https://example.com/a.pdf"}]})));
        assert!(
            r.content.contains("It saw 4 messages with 1 assistant turn before"),
            "{}",
            r.content
        );
        assert!(r.content.contains("It continues your assistant prefill."));
        assert!(r.content.contains("It received 1 image (4 bytes inline)"));
        assert!(r.content.contains("It received 1 file"));
        assert!(r.content.contains("«three»"));
    }

    #[test]
    fn reasoning_on_the_marker_or_the_reasoning_model() {
        let r = ask(&format!("think first {REASON_MARKER}"));
        assert!(
            r.reasoning
                .as_deref()
                .unwrap()
                .starts_with("[conjure sandbox] placeholder reasoning — ")
        );
        let naifu = compose(&request(&json!({"model": "q-naifu-a3b", "prompt": "hi"})));
        assert!(naifu.reasoning.is_some());
        assert_eq!(
            naifu.completion_tokens(),
            estimate_tokens(&naifu.content) + estimate_tokens(naifu.reasoning.as_deref().unwrap())
        );
    }

    #[test]
    fn max_tokens_cuts_at_a_character_boundary() {
        let full = ask("hi");
        // 20 tokens = 80 bytes: the cut falls inside the answer's first sentence.
        let short =
            compose(&request(&json!({"model": "grok-4-3", "prompt": "hi", "max_tokens": 20})));
        assert_eq!(short.finish_reason, "length");
        assert!(full.content.starts_with(&short.content));
        assert!(short.content.len() <= 80 && short.content.len() >= 77);
        assert!(short.completion_tokens() <= 20);
        // Reasoning first: a tiny budget leaves no answer.
        let r =
            compose(&request(&json!({"model": "q-naifu-a3b", "prompt": "hi", "max_tokens": 3})));
        assert_eq!((r.content.as_str(), r.finish_reason), ("", "length"));
        assert_eq!(r.reasoning.as_deref(), Some("[conjure san"));
        // Exactly enough is not cut.
        let exact = u32::try_from(full.completion_tokens()).unwrap();
        let same =
            compose(&request(&json!({"model": "grok-4-3", "prompt": "hi", "max_tokens": exact})));
        assert_eq!(same, full);
        // Every budget cuts on a character boundary (slicing elsewhere would panic) and keeps
        // a prefix of the whole answer.
        let whole = ask("«é» 🧪");
        for budget in 1..=u32::try_from(whole.completion_tokens()).unwrap() {
            let body = json!({"model": "grok-4-3", "prompt": "«é» 🧪", "max_tokens": budget});
            let r = compose(&request(&body));
            assert!(whole.content.starts_with(&r.content), "{budget}");
        }
    }

    #[test]
    fn pieces_put_together_are_the_text() {
        let text = "a b c d e f g — «h» 🧪 i";
        let p = pieces(text);
        assert_eq!(p.concat(), text);
        assert_eq!(p[0], "a b c ");
        assert!(p.len() >= 3);
        assert!(pieces("").is_empty());
        assert_eq!(pieces("one"), vec!["one"]);
    }
}
