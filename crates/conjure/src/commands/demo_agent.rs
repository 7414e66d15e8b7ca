//! `conjure demo --agent`: what an agent does with conjure, shown message by message.
//!
//! Starts the sandbox and conjure's MCP server (in this process, on an in-memory pipe, with the
//! demo's sandbox ledger), and drives the server as an MCP client would: initialize, list the
//! tools, list models, quote, `generate` without a token (nothing is sent), `generate` with the
//! token (exactly one paid request), wait, fetch, and an edit of the result. Every JSON-RPC
//! message both ways is printed (long strings shortened), so a person can see the protocol an
//! agent follows. The sandbox's counter of paid requests is shown after each step that could spend.

use std::path::Path;

use conjure_app::App;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::commands::Ctx;

/// A line-delimited JSON-RPC client on one end of the pipe (MCP's stdio framing).
struct Client {
    reader: BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    writer: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    next_id: u64,
}

impl Client {
    async fn send(&mut self, ctx: &Ctx, message: &Value) -> anyhow::Result<()> {
        show(ctx, "→", message);
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        self.writer.write_all(&line).await?;
        Ok(())
    }

    /// Sends a request and returns its result, printing whatever the server says meanwhile.
    async fn call(&mut self, ctx: &Ctx, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(ctx, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await? == 0 {
                anyhow::bail!("the MCP server closed the pipe");
            }
            let message: Value = serde_json::from_str(line.trim())?;
            show(ctx, "←", &message);
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    anyhow::bail!("the MCP server refused `{method}`: {error}");
                }
                return Ok(message["result"].clone());
            }
        }
    }

    /// Calls a tool; its result's JSON (the first text content, parsed).
    async fn tool(&mut self, ctx: &Ctx, name: &str, arguments: Value) -> anyhow::Result<Value> {
        let result =
            self.call(ctx, "tools/call", json!({"name": name, "arguments": arguments})).await?;
        let text = result["content"][0]["text"].as_str().unwrap_or("null");
        Ok(serde_json::from_str(text).unwrap_or(Value::String(text.to_owned())))
    }
}

/// Prints one message, its long strings shortened (tool schemas, data).
fn show(ctx: &Ctx, arrow: &str, message: &Value) {
    fn shorten(v: &Value, depth: usize) -> Value {
        match v {
            Value::String(s) if s.chars().count() > 160 => {
                Value::String(format!("{}…", s.chars().take(157).collect::<String>()))
            }
            Value::Object(o) if depth > 5 => Value::String(format!("{{…{} fields}}", o.len())),
            Value::Array(a) if a.len() > 12 => {
                let mut head: Vec<Value> =
                    a.iter().take(12).map(|x| shorten(x, depth + 1)).collect();
                head.push(Value::String(format!("…{} more", a.len() - 12)));
                Value::Array(head)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| shorten(x, depth + 1)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), shorten(x, depth + 1))).collect())
            }
            other => other.clone(),
        }
    }
    ctx.out.note(format!("{arrow} {}", shorten(message, 0)));
}

/// Runs the walk-through against `app` (the demo's, on the sandbox) and `sandbox`.
pub async fn run(
    ctx: &Ctx,
    app: App,
    sandbox: &conjure_sandbox::Sandbox,
    out: &Path,
) -> anyhow::Result<Value> {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(crate::commands::mcp::serve_io(app, theirs));
    let (reader, writer) = tokio::io::split(ours);
    let mut c = Client { reader: BufReader::new(reader), writer, next_id: 0 };
    let posts = || sandbox.stats().submit_posts_received;

    ctx.out.note("== an agent connects ==");
    c.call(
        ctx,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "conjure demo --agent", "version": env!("CARGO_PKG_VERSION")}}),
    )
    .await?;
    c.send(ctx, &json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
    c.call(ctx, "tools/list", json!({})).await?;

    ctx.out.note("\n== it looks for a model ==");
    c.tool(ctx, "list_models", json!({"kind": "image", "filter": "gpt-image"})).await?;

    let request = json!({"type": "image", "model": "gpt-image-2", "aspect": "16:9",
                         "prompt": "a lighthouse on a cliff at dawn, watercolor"});
    ctx.out.note("\n== it asks what it costs ==");
    let quote = c.tool(ctx, "quote", request.clone()).await?;
    let token = quote["quote"]["token"].as_str().unwrap_or_default().to_owned();

    ctx.out.note("\n== it tries to generate without the person's approval: nothing is sent ==");
    c.tool(ctx, "generate", request.clone()).await?;
    ctx.out.note(format!("(paid requests the sandbox received: {})", posts()));

    ctx.out.note("\n== the person agrees; it generates with the token: one paid request ==");
    let mut approved = request.clone();
    approved["approval_token"] = json!(token);
    approved["wait_seconds"] = json!(60);
    let job = c.tool(ctx, "generate", approved).await?;
    ctx.out.note(format!("(paid requests the sandbox received: {})", posts()));
    let id = job["job_id"].as_str().unwrap_or_default().to_owned();

    ctx.out.note("\n== it checks on the job, and collects its files ==");
    c.tool(ctx, "wait_job", json!({"job": id, "wait_seconds": 30})).await?;
    let fetched = c.tool(ctx, "fetch_job", json!({"job": id})).await?;
    let image = fetched["outputs"][0]["path"].as_str().unwrap_or_default().to_owned();

    ctx.out.note("\n== it edits the result (local, free) ==");
    let output = std::path::absolute(out.join("agent-edit.mp4"))?;
    let edit = c
        .tool(
            ctx,
            "edit_media",
            json!({"timeline": {
                "output": {"width": 640, "height": 360, "fps": 24},
                "clips": [{"src": image, "duration": 2.5, "motion": "zoom-in", "fit": "cover"}],
                "texts": [{"text": "made by an agent, approved by a person", "start": 0.2,
                           "end": 2.4, "position": "bottom", "box": true, "size": 22}]},
                   "output": output, "overwrite": true}),
        )
        .await?;
    ctx.out.note(format!("\n(paid requests the sandbox received in all: {})", posts()));
    drop(c);
    server.abort();
    Ok(json!({"job": job, "edit": edit}))
}
