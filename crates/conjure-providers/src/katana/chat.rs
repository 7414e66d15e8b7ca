//! Katana text: the chat request, its answer, and the stream it arrives in. All pure.
//!
//! [`build_chat`] writes a text job as `POST /v1/chat/completions` (OpenAI's shape: `messages`,
//! `max_tokens`, `temperature`, `top_p`, `files[].url`); a streamed job asks for server-sent
//! events with `stream_options.include_usage`, so that the charge arrives in the last chunk; an
//! async job goes to `?wait=false` and is polled like media. [`parse_completion`] reads a whole
//! `chat.completion`, [`usage_of`] the `usage` object with Katana's `usage.imgnai` credits.
//!
//! A stream is read in two layers. [`SseDecoder`] turns bytes into `data:` payloads: it cuts at
//! line ends on bytes, so a multi-byte character split across network reads is joined before it
//! is decoded. [`ChatStream`] turns payloads into pieces of answer and reasoning, in arrival order,
//! and at the end into a [`Snapshot`]. It never gives up on the answer: a payload that is not
//! JSON, a second choice, a chunk from another call or text after `[DONE]` is skipped or kept and
//! noted as a warning, because the call has been paid for and every character that did arrive is
//! the user's. Whether the money is known is decided by whether `usage` arrived, not by whether
//! the stream ended cleanly.

use conjure_core::money::Credits;
use conjure_core::provider::RemoteStatus;
use conjure_core::spec::{Item, MediaInput};
use conjure_core::text::{Delta, Message, Part, TextAnswer, TextItem, TextMode, TextUsage};
use conjure_core::{JobSpec, ProviderError, Snapshot, WireRequest};
use serde_json::{Map, Value, json};

/// The chat endpoint.
pub const CHAT_PATH: &str = "/v1/chat/completions";
/// The chat endpoint as an async job, polled at `/v1/generation-requests/{id}`.
pub const CHAT_ASYNC_PATH: &str = "/v1/chat/completions?wait=false";

/// The chat request for a text job. The spec must hold exactly one text item.
pub fn build_chat(spec: &JobSpec) -> Result<WireRequest, ProviderError> {
    let [Item::Text(item)] = spec.items.as_slice() else {
        return Err(ProviderError::Unsupported {
            message: "A text request is one conversation, sent on its own".to_owned(),
        });
    };
    let path = if item.mode == TextMode::Async { CHAT_ASYNC_PATH } else { CHAT_PATH };
    let mut wire = WireRequest::new("POST", path, chat_body(item));
    wire.files = spec.file_refs();
    Ok(wire)
}

fn chat_body(item: &TextItem) -> Value {
    let mut o = Map::new();
    o.insert("model".into(), item.model.clone().into());
    o.insert("messages".into(), item.messages.iter().map(message).collect());
    if let Some(n) = item.max_tokens {
        o.insert("max_tokens".into(), n.into());
    }
    if let Some(t) = item.temperature {
        o.insert("temperature".into(), t.into());
    }
    if let Some(p) = item.top_p {
        o.insert("top_p".into(), p.into());
    }
    if !item.files.is_empty() {
        o.insert("files".into(), item.files.iter().map(|u| json!({ "url": u })).collect());
    }
    if item.mode == TextMode::Stream {
        o.insert("stream".into(), true.into());
        o.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Value::Object(o)
}

fn message(m: &Message) -> Value {
    let content = match m.content.as_slice() {
        [Part::Text { text }] if m.plain => Value::String(text.clone()),
        parts => parts.iter().map(part).collect(),
    };
    json!({ "role": m.role.as_str(), "content": content })
}

fn part(p: &Part) -> Value {
    match p {
        Part::Text { text } => json!({ "type": "text", "text": text }),
        Part::Image { input } => {
            json!({ "type": "image_url", "image_url": { "url": input.wire_value() } })
        }
        Part::Raw { value } => value.clone(),
    }
}

/// An OpenAI-style `messages` array read into conjure's messages. `image` turns an image part's
/// URL into an input (a local file is refused there: it must be read and hashed by the caller).
pub fn parse_messages(
    value: &Value,
    image: &mut dyn FnMut(&str) -> Result<MediaInput, String>,
) -> Result<Vec<Message>, String> {
    let list = value.as_array().ok_or("expected a JSON array of messages")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let at = |why: &str| format!("message {i}: {why}");
        let obj = m.as_object().ok_or_else(|| at("not an object"))?;
        let role = obj.get("role").and_then(Value::as_str).ok_or_else(|| at("no `role`"))?;
        let role = conjure_core::text::Role::parse(role)
            .ok_or_else(|| at(&format!("unknown role `{role}`")))?;
        let message = match obj.get("content") {
            Some(Value::String(s)) => Message::text(role, s.clone()),
            Some(Value::Array(parts)) => {
                let mut content = Vec::with_capacity(parts.len());
                for p in parts {
                    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
                    content.push(match kind {
                        "text" => Part::Text {
                            text: p
                                .get("text")
                                .and_then(Value::as_str)
                                .ok_or_else(|| at("a text part has no `text`"))?
                                .to_owned(),
                        },
                        "image_url" => {
                            let url = p
                                .pointer("/image_url/url")
                                .or_else(|| p.get("image_url"))
                                .and_then(Value::as_str)
                                .ok_or_else(|| at("an image part has no `image_url.url`"))?;
                            Part::Image { input: image(url).map_err(|e| at(&e))? }
                        }
                        _ => Part::Raw { value: p.clone() },
                    });
                }
                Message { role, content, plain: false }
            }
            Some(Value::Null) | None => Message { role, content: Vec::new(), plain: true },
            Some(_) => return Err(at("`content` must be a string or a list of parts")),
        };
        out.push(message);
    }
    Ok(out)
}

fn credits_of(v: &Value) -> Option<Credits> {
    match v {
        Value::Number(n) => {
            n.to_string().parse::<Credits>().ok().or_else(|| n.as_f64().map(Credits::from_f64))
        }
        Value::String(s) => s.trim().parse::<Credits>().ok(),
        _ => None,
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// A `usage` object, with Katana's credits under `usage.imgnai`.
pub fn usage_of(v: &Value) -> Option<TextUsage> {
    let obj = v.as_object()?;
    let tokens = |k: &str| obj.get(k).and_then(Value::as_u64);
    let imgnai = obj.get("imgnai");
    let credit = |k: &str| imgnai.and_then(|i| i.get(k)).and_then(credits_of);
    Some(TextUsage {
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
        credits_reserved: credit("credits_reserved"),
        credits_charged: credit("credits_charged"),
        credits_refunded: credit("credits_refunded"),
        privacy_mode: imgnai.and_then(|i| text_of(i.get("privacy_mode"))),
        billing_source: imgnai.and_then(|i| text_of(i.get("billing_source"))),
    })
}

fn request_id_of(v: &Value) -> Option<String> {
    ["request_id", "id"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A finished text answer as a snapshot: completed, its charge the reported one.
fn finished(request_id: Option<String>, model: Option<String>, text: TextAnswer) -> Snapshot {
    let charged = text.usage.as_ref().and_then(|u| u.credits_charged);
    Snapshot {
        request_id,
        status: RemoteStatus::Completed,
        poll_after_seconds: None,
        progress: None,
        assets: Vec::new(),
        credits_spent: charged,
        errors: Vec::new(),
        model,
        buttons: Vec::new(),
        text: Some(text),
    }
}

/// Reads a whole `chat.completion`.
pub fn parse_completion(value: &Value) -> Result<Snapshot, ProviderError> {
    let protocol = |m: &str| ProviderError::Protocol { message: m.to_owned() };
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| protocol("The chat answer has no `choices`"))?;
    let message =
        choice.get("message").ok_or_else(|| protocol("The chat answer has no message"))?;
    let answer = TextAnswer {
        answer: text_of(message.get("content")).unwrap_or_default(),
        reasoning: text_of(message.get("reasoning_content")).unwrap_or_default(),
        usage: value.get("usage").and_then(usage_of),
        finish_reason: text_of(choice.get("finish_reason")),
        partial: false,
        warnings: Vec::new(),
    };
    Ok(finished(request_id_of(value), text_of(value.get("model")), answer))
}

/// Splits a byte stream into server-sent events' `data` payloads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    pending: Vec<u8>,
    data: Vec<String>,
}

impl SseDecoder {
    /// Takes the next bytes; returns the payloads of every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&String::from_utf8_lossy(&line), &mut events);
        }
        events
    }

    /// The payload of an event the stream ended inside of, if any.
    pub fn finish(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.line(&String::from_utf8_lossy(&rest), &mut events);
        }
        if !self.data.is_empty() {
            events.push(self.data.drain(..).collect::<Vec<_>>().join("\n"));
        }
        events
    }

    fn line(&mut self, line: &str, events: &mut Vec<String>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                events.push(self.data.drain(..).collect::<Vec<_>>().join("\n"));
            }
        } else if let Some(value) = line.strip_prefix("data:") {
            self.data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
        }
        // Comments (`:`), `event:`, `id:` and `retry:` lines carry nothing conjure uses.
    }
}

/// A chat stream being read: the answer so far, and what the chunks said about the call.
#[derive(Debug, Default)]
pub struct ChatStream {
    text: TextAnswer,
    request_id: Option<String>,
    model: Option<String>,
    done: bool,
    chunks: u64,
    skipped: u64,
    foreign: u64,
    after_done: u64,
    error: Option<String>,
}

impl ChatStream {
    /// Reads one event's payload, handing the pieces of answer to `sink`.
    pub fn event(&mut self, data: &str, sink: &(dyn Fn(Delta<'_>) + Send + Sync)) {
        let data = data.trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        if self.done {
            self.after_done += 1;
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            self.skipped += 1;
            return;
        };
        if let Some(e) = chunk.get("error") {
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| e.to_string(), str::to_owned);
            self.error = Some(message);
            return;
        }
        self.chunks += 1;
        if let Some(id) = request_id_of(&chunk) {
            match &self.request_id {
                None => {
                    sink(Delta::Started { request_id: &id });
                    self.request_id = Some(id);
                }
                Some(first) if *first != id => self.foreign += 1,
                Some(_) => {}
            }
        }
        if self.model.is_none() {
            self.model = text_of(chunk.get("model"));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()).and_then(usage_of) {
            self.text.usage = Some(usage);
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            // conjure asks for one answer; another choice's text is not part of it.
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            let delta = choice.get("delta").or_else(|| choice.get("message"));
            if let Some(r) = delta.and_then(|d| d.get("reasoning_content")).and_then(Value::as_str)
                && !r.is_empty()
            {
                self.text.reasoning.push_str(r);
                sink(Delta::Reasoning(r));
            }
            if let Some(c) = delta.and_then(|d| d.get("content")).and_then(Value::as_str)
                && !c.is_empty()
            {
                self.text.answer.push_str(c);
                sink(Delta::Answer(c));
            }
            if let Some(f) = text_of(choice.get("finish_reason")) {
                self.text.finish_reason = Some(f);
            }
        }
    }

    /// The answer so far, marked partial: what a cut stream leaves.
    pub fn partial(&self) -> TextAnswer {
        TextAnswer { partial: true, warnings: self.warnings(), ..self.text.clone() }
    }

    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        if self.skipped > 0 {
            w.push(format!(
                "{} chunk{} of the stream could not be read and {} skipped; the answer may be missing text",
                self.skipped,
                plural(self.skipped),
                if self.skipped == 1 { "was" } else { "were" }
            ));
        }
        if self.foreign > 0 {
            w.push(format!(
                "{} chunk{} named another call's id; their text is included as it arrived",
                self.foreign,
                plural(self.foreign)
            ));
        }
        if self.after_done > 0 {
            w.push(format!(
                "{} chunk{} came after the end of the stream and {} ignored",
                self.after_done,
                plural(self.after_done),
                if self.after_done == 1 { "was" } else { "were" }
            ));
        }
        w
    }

    /// The outcome once the stream stopped; `cut` is the transport error that stopped it, if
    /// it did not end on its own.
    ///
    /// The money is known once `usage` arrived, so the job is then complete even if the end
    /// marker never came. Without usage the reserve may have been kept: the outcome is unknown,
    /// and the caller keeps [`ChatStream::partial`].
    pub fn finish(self, cut: Option<ProviderError>) -> Result<Snapshot, ProviderError> {
        let has_usage = self.text.usage.as_ref().is_some_and(|u| u.credits_charged.is_some());
        if let Some(message) = &self.error
            && !has_usage
        {
            return Err(ProviderError::Transport {
                sent: true,
                message: format!("the stream reported an error: {message}"),
            });
        }
        if !has_usage {
            let why = match cut {
                Some(e) => {
                    // reqwest's chain ("error decoding response body: ...: unexpected EOF ...")
                    // says at its end what happened.
                    let detail = match &e {
                        ProviderError::Transport { message, .. } => {
                            message.rsplit(": ").next().unwrap_or(message).to_owned()
                        }
                        other => other.to_string(),
                    };
                    format!("the stream was cut before the charge was reported ({detail})")
                }
                None if self.done => "the stream ended without reporting the charge".to_owned(),
                None => "the stream ended early, before the charge was reported".to_owned(),
            };
            return Err(ProviderError::Transport { sent: true, message: why });
        }
        let mut text = self.text.clone();
        text.warnings = self.warnings();
        if let Some(message) = &self.error {
            text.warnings.push(format!("the stream reported an error after the charge: {message}"));
        }
        if !self.done && cut.is_some() {
            text.warnings.push("the stream was cut after the charge was reported".to_owned());
        }
        Ok(finished(self.request_id, self.model, text))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use conjure_core::ProviderId;
    use conjure_core::text::Role;

    fn item(mode: TextMode) -> TextItem {
        TextItem {
            model: "grok-4-3".into(),
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::text(Role::User, "hi"),
            ],
            max_tokens: Some(100),
            temperature: Some(0.5),
            top_p: None,
            files: vec![],
            mode,
            continues: None,
        }
    }

    fn spec(mode: TextMode) -> JobSpec {
        JobSpec::new(ProviderId::Katana, vec![Item::Text(item(mode))])
    }

    #[test]
    fn builds_the_chat_body() {
        let wire = build_chat(&spec(TextMode::Stream)).unwrap();
        assert_eq!(wire.path, CHAT_PATH);
        assert_eq!(
            wire.body,
            json!({
                "model": "grok-4-3",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"}
                ],
                "max_tokens": 100,
                "temperature": 0.5,
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
        let wire = build_chat(&spec(TextMode::Async)).unwrap();
        assert_eq!(wire.path, CHAT_ASYNC_PATH);
        assert!(wire.body.get("stream").is_none());
    }

    #[test]
    fn vision_parts_round_trip() {
        let raw = json!([{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
        ]}]);
        let mut image = |u: &str| Ok(MediaInput::Url { url: u.to_owned() });
        let messages = parse_messages(&raw, &mut image).unwrap();
        let mut t = item(TextMode::Whole);
        t.messages = messages;
        let body = chat_body(&t);
        assert_eq!(body["messages"], raw);
        assert!(parse_messages(&json!([{"role": "robot", "content": "x"}]), &mut image).is_err());
        assert!(parse_messages(&json!({"role": "user"}), &mut image).is_err());
    }

    #[test]
    fn a_whole_answer_is_read() {
        let v = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "grok-4-3",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello — «hi»", "reasoning_content": "think"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "imgnai": {"credits_reserved": 10.0, "credits_charged": 0.1, "credits_refunded": 9.9, "privacy_mode": "Anonymized"}}
        });
        let s = parse_completion(&v).unwrap();
        assert_eq!(s.request_id.as_deref(), Some("chatcmpl-1"));
        assert_eq!(s.status, RemoteStatus::Completed);
        assert_eq!(s.credits_spent, Some(Credits::from_tenths(1)));
        let t = s.text.unwrap();
        assert_eq!(t.answer, "Hello — «hi»");
        assert_eq!(t.reasoning, "think");
        let u = t.usage.unwrap();
        assert_eq!(u.credits_refunded, Some(Credits::from_tenths(99)));
        assert_eq!(u.privacy_mode.as_deref(), Some("Anonymized"));
    }

    fn stream_body() -> String {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "c1", "object": "chat.completion.chunk", "model": "grok-4-3",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut s = String::new();
        for v in [
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"reasoning_content": "hmm"}), Value::Null),
            chunk(json!({"content": "Grüße "}), Value::Null),
            chunk(json!({"content": "— 🦊"}), Value::Null),
            chunk(json!({}), json!("stop")),
            json!({"id": "c1", "object": "chat.completion.chunk", "choices": [],
                   "usage": {"prompt_tokens": 4, "completion_tokens": 2,
                             "imgnai": {"credits_reserved": 10.0, "credits_charged": 0.1, "credits_refunded": 9.9}}}),
        ] {
            s.push_str(&format!("data: {v}\n\n"));
        }
        s.push_str("data: [DONE]\n\n");
        s
    }

    fn read(bytes: &[u8], step: usize) -> (Vec<String>, ChatStream) {
        let seen = Mutex::new(Vec::new());
        let sink = |d: Delta<'_>| {
            if let Delta::Answer(a) = d {
                seen.lock().unwrap().push(a.to_owned());
            }
        };
        let mut decoder = SseDecoder::default();
        let mut stream = ChatStream::default();
        for piece in bytes.chunks(step) {
            for data in decoder.feed(piece) {
                stream.event(&data, &sink);
            }
        }
        for data in decoder.finish() {
            stream.event(&data, &sink);
        }
        (seen.into_inner().unwrap(), stream)
    }

    #[test]
    fn a_stream_is_assembled_byte_exact_however_it_is_split() {
        let body = stream_body();
        for step in [1, 2, 3, 7, 64, body.len()] {
            let (pieces, stream) = read(body.as_bytes(), step);
            assert_eq!(pieces.concat(), "Grüße — 🦊", "split every {step} bytes");
            let s = stream.finish(None).unwrap();
            let t = s.text.unwrap();
            assert_eq!(t.answer, "Grüße — 🦊");
            assert_eq!(t.reasoning, "hmm");
            assert_eq!(t.finish_reason.as_deref(), Some("stop"));
            assert!(t.warnings.is_empty(), "{:?}", t.warnings);
            assert_eq!(s.credits_spent, Some(Credits::from_tenths(1)));
            assert_eq!(s.request_id.as_deref(), Some("c1"));
        }
    }

    #[test]
    fn a_cut_stream_keeps_its_partial_answer_and_is_unknown() {
        let body = stream_body();
        let cut_at = body.find("— 🦊").unwrap() + 2;
        let (_, stream) = read(&body.as_bytes()[..cut_at], 5);
        let partial = stream.partial();
        assert_eq!(partial.answer, "Grüße ");
        assert!(partial.partial);
        let err =
            stream.finish(Some(ProviderError::Transport { sent: true, message: "reset".into() }));
        assert!(matches!(err, Err(ProviderError::Transport { sent: true, .. })));
        // Cut after the usage arrived: the money is known, the job is complete.
        let cut_at = body.find("[DONE]").unwrap();
        let (_, stream) = read(&body.as_bytes()[..cut_at], 9);
        let s =
            stream.finish(Some(ProviderError::Transport { sent: true, message: "reset".into() }));
        let t = s.unwrap().text.unwrap();
        assert_eq!(t.answer, "Grüße — 🦊");
        assert_eq!(t.warnings.len(), 1);
    }

    #[test]
    fn malformed_and_out_of_order_chunks_are_noted_not_fatal() {
        let mut body = stream_body();
        body.insert_str(
            body.find("data: {\"choices\":[{\"delta\":{\"reasoning").unwrap(),
            "data: {broken\n\n",
        );
        body.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\n");
        body = body.replacen("data: {\"choices\":[{\"delta\":{}", "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}}]}\n\ndata: {\"choices\":[{\"delta\":{}", 1);
        let (pieces, stream) = read(body.as_bytes(), 4);
        assert_eq!(pieces.concat(), "Grüße — 🦊");
        let t = stream.finish(None).unwrap().text.unwrap();
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
        assert!(t.warnings[0].contains("1 chunk of the stream could not be read"));
        assert!(t.warnings[1].contains("after the end"));
    }

    #[test]
    fn a_stream_without_usage_or_with_an_error_is_unknown() {
        let body = stream_body();
        let no_usage: String =
            body.split("\n\n").filter(|e| !e.contains("usage")).collect::<Vec<_>>().join("\n\n");
        let (_, stream) = read(no_usage.as_bytes(), 100);
        assert!(matches!(stream.finish(None), Err(ProviderError::Transport { sent: true, .. })));
        let errored = "data: {\"error\": {\"message\": \"upstream_error\"}}\n\n";
        let (_, stream) = read(errored.as_bytes(), 100);
        let e = stream.finish(None).unwrap_err();
        assert!(e.to_string().contains("upstream_error"), "{e}");
    }
}
