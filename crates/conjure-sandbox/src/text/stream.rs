//! The SSE body of a streamed chat answer, and the stream faults.
//!
//! A stream is a list of [`Step`]s: `data: {chat.completion.chunk}\n\n` frames in the OpenAI
//! order (a role-only first chunk, reasoning pieces as `delta.reasoning_content`, content
//! pieces as `delta.content`, an empty delta with `finish_reason`, the usage chunk with
//! `choices: []` when `stream_options.include_usage` asked for it, then `data: [DONE]`), with a
//! short pause between frames so each goes out as its own write, as a model's tokens do. Every
//! chunk carries the same `id`, `object`, `created` and `model`.
//!
//! The faults rewrite the list before it is sent: `stream-malformed` inserts one frame of
//! invalid JSON halfway, `stream-cut-after N` replaces everything from the (N+1)-th content
//! frame on (from the finish frame on, when there are no more) with an abort (the body stream yields an error, so hyper drops the connection without the
//! final empty chunk and the client sees a transport error), and `split-utf8` cuts every frame
//! into pieces that end in the middle of a multi-byte character. Over HTTP/1.1 each piece is
//! its own chunk of the chunked encoding, so a client reads pieces no larger than these.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Value, json};

use super::reply::{Reply, pieces};
use crate::faults::Faults;

/// The pause between frames.
const PACE: Duration = Duration::from_millis(5);

/// One step of writing the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Bytes written as one body frame.
    Data(Bytes),
    /// A pause, so the next frame is a separate write.
    Pace,
    /// End the body with an error: the connection is dropped mid-response.
    Abort,
}

/// What every chunk of one answer shares.
#[derive(Clone, Debug)]
pub(crate) struct Head<'a> {
    pub id: &'a str,
    pub created: i64,
    pub model: &'a str,
}

impl Head<'_> {
    fn chunk(&self, choices: &Value, usage: Option<&Value>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let (Some(usage), Value::Object(obj)) = (usage, &mut chunk) {
            obj.insert("usage".into(), usage.clone());
        }
        chunk
    }

    fn delta(&self, delta: &Value, finish_reason: Option<&str>) -> Value {
        self.chunk(
            &json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }]),
            None,
        )
    }
}

fn frame(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// A frame whose data starts like a chunk and is not valid JSON.
fn malformed(head: &Head<'_>) -> Bytes {
    frame(&format!(
        r#"{{"id":"{}","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"sandbox fault: this frame is not valid JSON"#,
        head.id
    ))
}

/// What a frame is, for the cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Content,
    Finish,
    Other,
}

/// The steps of one streamed answer under `faults`. `usage` is sent only when given.
pub(crate) fn steps(
    head: &Head<'_>,
    reply: &Reply,
    usage: Option<&Value>,
    faults: &Faults,
) -> Vec<Step> {
    let mut frames: Vec<(Bytes, Kind)> = Vec::new();
    let mut push = |value: &Value, kind| frames.push((frame(&value.to_string()), kind));
    push(&head.delta(&json!({ "role": "assistant", "content": "" }), None), Kind::Other);
    for piece in reply.reasoning.as_deref().map(pieces).unwrap_or_default() {
        push(&head.delta(&json!({ "reasoning_content": piece }), None), Kind::Other);
    }
    for piece in pieces(&reply.content) {
        push(&head.delta(&json!({ "content": piece }), None), Kind::Content);
    }
    push(&head.delta(&json!({}), Some(reply.finish_reason)), Kind::Finish);
    if let Some(usage) = usage {
        push(&head.chunk(&json!([]), Some(usage)), Kind::Other);
    }
    frames.push((frame("[DONE]"), Kind::Other));

    if faults.stream_malformed {
        frames.insert(frames.len() / 2, (malformed(head), Kind::Other));
    }
    let abort_at = faults.stream_cut_after.map(|limit| cut_index(&frames, limit));
    let mut out = Vec::new();
    for (i, (bytes, _)) in frames.into_iter().enumerate() {
        if i > 0 {
            // Also before an abort: the pause lets hyper flush what was written so far, which
            // an error straight after the last frame would throw away with the connection.
            out.push(Step::Pace);
        }
        if abort_at == Some(i) {
            out.push(Step::Abort);
            break;
        }
        if faults.split_utf8 {
            out.extend(split_mid_character(&bytes).into_iter().map(Step::Data));
        } else {
            out.push(Step::Data(bytes));
        }
    }
    out
}

/// Where a cut after `limit` content frames falls: before the next content frame, or right
/// after the last one when the answer has no more (before the finish frame if it has none).
fn cut_index(frames: &[(Bytes, Kind)], limit: u32) -> usize {
    let content: Vec<usize> =
        frames.iter().enumerate().filter(|(_, f)| f.1 == Kind::Content).map(|(i, _)| i).collect();
    let finish = frames.iter().position(|f| f.1 == Kind::Finish).unwrap_or(frames.len());
    usize::try_from(limit)
        .ok()
        .and_then(|limit| content.get(limit).copied())
        .unwrap_or_else(|| content.last().map_or(finish, |last| last + 1))
}

/// `bytes` cut after the first byte of every multi-byte character (or in the middle when it
/// has none), so each piece but the last ends inside a character.
fn split_mid_character(bytes: &Bytes) -> Vec<Bytes> {
    let mut cuts: Vec<usize> =
        bytes.iter().enumerate().filter(|(_, b)| **b >= 0xC0).map(|(i, _)| i + 1).collect();
    if cuts.is_empty() && bytes.len() > 1 {
        cuts.push(bytes.len() / 2);
    }
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        out.push(bytes.slice(start..cut));
        start = cut;
    }
    out.push(bytes.slice(start..));
    out
}

/// The response body that performs `steps`.
pub(crate) fn body(steps: Vec<Step>) -> Body {
    let stream = futures_util::stream::unfold(steps.into_iter(), |mut steps| async move {
        loop {
            match steps.next()? {
                Step::Pace => tokio::time::sleep(PACE).await,
                Step::Data(bytes) => return Some((Ok(bytes), steps)),
                Step::Abort => {
                    let cut = io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "sandbox fault: stream cut",
                    );
                    return Some((Err(cut), steps));
                }
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> Reply {
        Reply {
            content: "one two three four — five «six» 🧪".into(),
            reasoning: Some("think a bit".into()),
            finish_reason: "stop",
        }
    }

    fn head() -> Head<'static> {
        Head { id: "chatcmpl-x", created: 7, model: "grok-4-3" }
    }

    fn data(steps: &[Step]) -> Vec<u8> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Data(b) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn frames(steps: &[Step]) -> Vec<String> {
        String::from_utf8(data(steps))
            .unwrap()
            .split_terminator("\n\n")
            .map(|f| f.strip_prefix("data: ").unwrap().to_owned())
            .collect()
    }

    #[test]
    fn frames_in_openai_order() {
        let usage = json!({ "prompt_tokens": 1 });
        let f = frames(&steps(&head(), &reply(), Some(&usage), &Faults::default()));
        let json: Vec<Value> =
            f[..f.len() - 1].iter().map(|s| serde_json::from_str(s).unwrap()).collect();
        assert_eq!(f.last().unwrap(), "[DONE]");
        assert_eq!(json[0]["choices"][0]["delta"], json!({ "role": "assistant", "content": "" }));
        assert_eq!(json[1]["choices"][0]["delta"]["reasoning_content"], "think a bit");
        let content: String =
            json.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(content, reply().content);
        let finish = &json[json.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        assert_eq!(finish["choices"][0]["delta"], json!({}));
        assert_eq!(json.last().unwrap()["choices"], json!([]));
        assert_eq!(json.last().unwrap()["usage"], usage);
        for c in &json {
            assert_eq!((c["id"].as_str(), c["created"].as_i64()), (Some("chatcmpl-x"), Some(7)));
            assert_eq!(c["object"], "chat.completion.chunk");
        }
    }

    #[test]
    fn cut_after_n_content_frames() {
        let content_frames = pieces(&reply().content).len();
        for n in 0..=u32::try_from(content_frames).unwrap() + 1 {
            let faults = Faults { stream_cut_after: Some(n), ..Faults::default() };
            let s = steps(&head(), &reply(), Some(&json!({})), &faults);
            assert_eq!(s.last(), Some(&Step::Abort), "{n}");
            let f = frames(&s);
            let sent =
                f.iter().filter(|c| c.contains("\"content\":") && !c.contains("\"role\"")).count();
            assert_eq!(sent, (n as usize).min(content_frames), "{n}");
            assert!(
                !f.iter().any(|c| c == "[DONE]" || c.contains("usage") || c.contains("\"stop\""))
            );
        }
    }

    #[test]
    fn malformed_frame_is_extra() {
        let faults = Faults { stream_malformed: true, ..Faults::default() };
        let f = frames(&steps(&head(), &reply(), None, &faults));
        let bad: Vec<&String> = f
            .iter()
            .filter(|s| *s != "[DONE]" && serde_json::from_str::<Value>(s).is_err())
            .collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(f.len(), frames(&steps(&head(), &reply(), None, &Faults::default())).len() + 1);
    }

    #[test]
    fn split_pieces_end_inside_characters() {
        let faults = Faults { split_utf8: true, ..Faults::default() };
        let s = steps(&head(), &reply(), None, &faults);
        assert_eq!(data(&s), data(&steps(&head(), &reply(), None, &Faults::default())));
        let pieces: Vec<&Bytes> = s
            .iter()
            .filter_map(|s| match s {
                Step::Data(b) => Some(b),
                _ => None,
            })
            .collect();
        let broken = pieces.iter().filter(|p| std::str::from_utf8(p).is_err()).count();
        assert!(broken >= 4, "{broken}");
        assert_eq!(split_mid_character(&Bytes::from_static("a€b".as_bytes())).len(), 2);
    }
}
