//! The CLI through a team gateway (`--gateway URL`), the real binary end to end: a
//! `conjure serve` process on a real Postgres database in front of the real sandbox (the
//! gateway alone has the provider's credentials), and a "laptop" with its own home, no provider
//! credentials, only a member key in `CONJURE_GATEWAY_KEY`. The sandbox counts the paid POSTs.

use crate::serve_members::{database, member_key, serve_with};

#[test]
fn image_and_video_quote_and_spend_through_the_gateway_with_the_local_protocol() {
    let db = database();
    let gw = crate::sandbox();
    let key = member_key(&gw, &db, "alice");
    let storage = gw.path("shared-storage");
    let served = serve_with(&gw, &db, &["--storage", storage.to_str().unwrap()]);
    let base = served.base.clone();

    // The laptop: no provider credentials, a member key, the gateway by flag.
    let mut laptop = crate::ctx();
    laptop.env("CONJURE_GATEWAY_KEY", &key);
    let image = |extra: &[&str]| {
        let mut args = vec!["--json", "--gateway", base.as_str(), "image", "a gateway lighthouse"];
        args.extend_from_slice(&["--model", "gpt-image-2"]);
        args.extend_from_slice(extra);
        laptop.run(&args)
    };

    // Without approval: the gateway's quote, exit 3, nothing sent.
    let quoted = image(&[]);
    assert_eq!(quoted.code, 3, "{quoted:?}");
    let quote = quoted.json();
    assert_eq!(quote["status"], "confirmation_required", "{quote}");
    let token = quote["quote"]["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("cq_"), "{quote}");
    assert_eq!(gw.stats().submit_posts_received, 0);

    // With the token: sent once through the gateway, polled, downloaded on the laptop.
    let done = image(&["--approve", &token]);
    assert_eq!(done.code, 0, "{done:?}");
    let result = done.json();
    assert_eq!(result["status"], "completed", "{result}");
    let path = result["outputs"][0]["path"].as_str().expect("a file").to_owned();
    let bytes = std::fs::read(&path).expect("the file is on the laptop");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG at {path}");
    assert_eq!(gw.stats().submit_posts_received, 1);
    // The gateway stored it in the shared directory as well.
    let stored: Vec<_> = walk(&storage).into_iter().filter(|p| p.ends_with("0.png")).collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(std::fs::read(&stored[0]).unwrap(), bytes);
    // The laptop's journal holds the job.
    let jobs = laptop.run(&["--json", "jobs"]);
    assert_eq!(jobs.code, 0, "{jobs:?}");
    assert!(jobs.stdout.contains("a gateway lighthouse"), "{jobs:?}");

    // The same token again: refused before anything is sent.
    let again = image(&["--approve", &token]);
    assert_ne!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("hint:") || again.stdout.contains("hint"), "{again:?}");
    assert_eq!(gw.stats().submit_posts_received, 1);

    // --yes, the gateway from the environment; a video too.
    let mut cmd = laptop.command(&["--json", "image", "a second lighthouse", "--yes"]);
    cmd.env("CONJURE_GATEWAY", &base);
    let yes = laptop.run_cmd(cmd);
    assert_eq!(yes.code, 0, "{yes:?}");
    assert_eq!(gw.stats().submit_posts_received, 2);
    let video = laptop.run(&["--json", "--gateway", &base, "video", "waves at dusk", "--yes"]);
    assert_eq!(video.code, 0, "{video:?}");
    assert_eq!(video.json()["status"], "completed", "{video:?}");
    assert_eq!(gw.stats().submit_posts_received, 3);

    // Sent without waiting, resumed later through the gateway: the same job, nothing resent.
    let sent = laptop.run(&[
        "--json",
        "--gateway",
        &base,
        "image",
        "a third lighthouse",
        "--yes",
        "--no-wait",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let job = sent.json()["job_id"].as_str().expect("a job id").to_owned();
    assert_eq!(gw.stats().submit_posts_received, 4);
    let waited = laptop.run(&["--json", "--gateway", &base, "wait", &job]);
    assert_eq!(waited.code, 0, "{waited:?}");
    assert_eq!(waited.json()["status"], "completed", "{waited:?}");
    let fetched = laptop.run(&["--json", "--gateway", &base, "fetch", &job, "--force"]);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert_eq!(gw.stats().submit_posts_received, 4);

    // A local file as input travels inline (a data: URL the sandbox decodes; it refuses a
    // path): quoted with its hash, sent once, and never printed in full.
    std::fs::write(laptop.out_dir().join("ref.png"), &bytes).unwrap();
    let local = image(&["--ref", "ref.png", "--yes"]);
    assert_eq!(local.code, 0, "{local:?}");
    assert_eq!(local.json()["status"], "completed", "{local:?}");
    assert_eq!(gw.stats().submit_posts_received, 5);
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    };
    assert!(!local.stdout.contains(&b64[..64.min(b64.len())]), "the file's bytes printed");
    let local_job = local.json()["job_id"].as_str().expect("a job id").to_owned();
    let shown = laptop.run(&["--json", "status", &local_job]);
    let sha = {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(&bytes))
    };
    assert!(shown.stdout.contains(&sha[..12]), "the quote binds the file's hash: {shown:?}");
    // The laptop's journal keeps the file by reference, as for a local job: not its bytes.
    let journal = laptop.journal_path();
    for file in [journal.clone(), journal.with_extension("sqlite3-wal")] {
        let kept = std::fs::read(&file).unwrap_or_default();
        for at in (0..b64.len().saturating_sub(40)).step_by(97) {
            let piece = &b64.as_bytes()[at..at + 40];
            assert!(
                !kept.windows(40).any(|w| w == piece),
                "the file's bytes are in {}",
                file.display()
            );
        }
    }
    // A file that is not an image: refused on the laptop with what to do, nothing sent.
    std::fs::write(laptop.out_dir().join("notes.png"), b"not an image").unwrap();
    let bad = image(&["--ref", "notes.png", "--yes"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("hint:"), "{bad:?}");
    assert_eq!(gw.stats().submit_posts_received, 5);

    // Paid commands that do not go through a gateway yet are refused, not sent elsewhere.
    let text = laptop.run(&["--gateway", &base, "retry", &job]);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.stderr.contains("hint:"), "{text:?}");

    // No member key: the credentials exit, with where the key goes.
    let keyless = crate::ctx().run(&["--gateway", &base, "image", "x", "--yes"]);
    assert_eq!(keyless.code, 7, "{keyless:?}");
    assert!(keyless.stderr.contains("CONJURE_GATEWAY_KEY"), "{keyless:?}");
    assert_eq!(gw.stats().submit_posts_received, 5);

    let printed = served.stop();
    for run in [
        &quoted, &done, &again, &yes, &video, &sent, &waited, &fetched, &local, &bad, &text,
        &keyless,
    ] {
        assert!(!format!("{}{}", run.stdout, run.stderr).contains(&key), "the key printed");
    }
    assert!(!printed.contains(&key), "the key in the gateway's output");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn an_answer_lost_upstream_is_unknown_on_the_laptop_and_never_sent_again() {
    let db = database();
    let gw = crate::sandbox_with(conjure_test::Faults {
        drop_after_accept: true,
        ..conjure_test::Faults::default()
    });
    let key = member_key(&gw, &db, "alice");
    let served = serve_with(&gw, &db, &[]);
    let mut laptop = crate::ctx();
    laptop.env("CONJURE_GATEWAY_KEY", &key);
    laptop.env("CONJURE_GATEWAY", &served.base);
    let args = ["--json", "image", "a lost lighthouse", "--model", "gpt-image-2"];
    let token = laptop.run(&args).json()["quote"]["token"].as_str().expect("a token").to_owned();

    let lost = laptop.run(&[&args[..], &["--approve", &token]].concat());
    assert_eq!(lost.code, 5, "the unknown exit: {lost:?}");
    assert_eq!(gw.stats().submit_posts_received, 1);
    // The laptop's journal says so; the gateway shows the member the exposure.
    let jobs = laptop.run(&["--json", "jobs"]);
    assert!(jobs.stdout.contains("unknown"), "{jobs:?}");

    // The same token again, or --yes for the same request: nothing is sent again.
    let again = laptop.run(&[&args[..], &["--approve", &token]].concat());
    assert_ne!(again.code, 0, "{again:?}");
    let yes = laptop.run(&[&args[..], &["--yes"]].concat());
    assert_ne!(yes.code, 0, "{yes:?}");
    assert_eq!(gw.stats().submit_posts_received, 1, "a paid POST is never sent again");
    served.stop();
}

/// A question with multi-byte characters; the sandbox's answer quotes it.
const QUESTION: &str = "Grüße — how do «lighthouses» work?";

#[test]
fn text_streams_through_the_gateway_with_the_local_protocol() {
    let db = database();
    // Upstream pieces split inside characters: the laptop still prints them whole.
    let gw = crate::sandbox_with(conjure_test::Faults { split_utf8: true, ..Default::default() });
    let key = member_key(&gw, &db, "alice");
    let served = serve_with(&gw, &db, &[]);
    let base = served.base.clone();
    let mut laptop = crate::ctx();
    laptop.env("CONJURE_GATEWAY_KEY", &key);
    let text = |extra: &[&str]| {
        let mut args = vec!["--gateway", base.as_str(), "text", QUESTION];
        args.extend_from_slice(extra);
        laptop.run(&args)
    };

    // Without approval: the gateway's quote of the reserve, exit 3, nothing sent.
    let quoted = text(&["--json"]);
    assert_eq!(quoted.code, 3, "{quoted:?}");
    let token = quoted.json()["quote"]["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("cq_"), "{quoted:?}");
    assert_eq!(gw.stats().chat_posts_received, 0, "a quote sends nothing");

    // Approved: one POST upstream, the answer streamed to stdout as it is.
    let streamed = text(&["--approve", &token]);
    assert_eq!(streamed.code, 0, "{streamed:?}");
    assert_eq!(gw.stats().chat_posts_received, 1);
    assert!(streamed.stdout.starts_with("[conjure sandbox]"), "{streamed:?}");
    // Byte-exact: what the provider answers the same question asked directly (the gateway's
    // own credentials, no gateway in between).
    let direct = gw.run(&["--json", "text", QUESTION, "--yes"]);
    assert_eq!(direct.code, 0, "{direct:?}");
    assert_eq!(gw.stats().chat_posts_received, 2);
    let direct = direct.json();
    assert_eq!(streamed.stdout, direct["answer"].as_str().unwrap(), "byte-exact");

    // --json: the local shape, the same answer (--again: the same question within the day).
    let json = text(&["--json", "--yes", "--again"]);
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(gw.stats().chat_posts_received, 3);
    let value = json.json();
    assert_eq!(value["answer"], direct["answer"], "{value}");
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&value), keys(&direct), "{value}\n{direct}");
    assert_eq!(value["status"], direct["status"]);

    // --async: sent once, polled through the gateway like media, the same answer.
    let polled = text(&["--json", "--async", "--yes"]);
    assert_eq!(polled.code, 0, "{polled:?}");
    assert_eq!(gw.stats().chat_posts_received, 4);
    assert_eq!(polled.json()["answer"], direct["answer"], "{polled:?}");

    // --continue: the earlier turns come from the laptop's journal and travel with the request.
    let next = laptop.run(&["--gateway", &base, "text", "--continue", "and at night?", "--yes"]);
    assert_eq!(next.code, 0, "{next:?}");
    assert_eq!(gw.stats().chat_posts_received, 5);
    assert!(next.stdout.contains("with 1 assistant turn before"), "{next:?}");

    // The laptop journaled the jobs.
    let jobs = laptop.run(&["--json", "jobs"]);
    assert_eq!(jobs.code, 0, "{jobs:?}");
    assert!(jobs.stdout.contains("lighthouses"), "{jobs:?}");

    // The same token again: refused, nothing sent.
    let again = text(&["--approve", &token]);
    assert_ne!(again.code, 0, "{again:?}");
    assert_eq!(gw.stats().chat_posts_received, 5);

    // A local image travels inline: the sandbox says it received it, with its size. A whole
    // answer (--no-stream) comes back with the job.
    let png = conjure_test::png_bytes();
    std::fs::write(laptop.out_dir().join("look.png"), &png).unwrap();
    let seen = laptop.run(&[
        "--gateway",
        &base,
        "text",
        "what is in this picture?",
        "--image",
        "look.png",
        "--model",
        "gpt",
        "--no-stream",
        "--yes",
    ]);
    assert_eq!(seen.code, 0, "{seen:?}");
    assert_eq!(gw.stats().chat_posts_received, 6);
    let received = format!("It received 1 image ({} bytes inline)", png.len());
    assert!(seen.stdout.contains(&received), "{seen:?}");
    // Continued: the laptop's journal kept the image by reference; it travels inline again,
    // read back from the file, since the gateway cannot read this disk.
    let more = laptop.run(&["--gateway", &base, "text", "--continue", "and its colour?", "--yes"]);
    assert_eq!(more.code, 0, "{more:?}");
    assert_eq!(gw.stats().chat_posts_received, 7);
    // Changed since: refused on the laptop with what to do, nothing sent.
    std::fs::write(laptop.out_dir().join("look.png"), conjure_test::other_png_bytes()).unwrap();
    let changed = laptop.run(&["--gateway", &base, "text", "--continue", "and now?", "--yes"]);
    assert_eq!(changed.code, 2, "{changed:?}");
    assert!(changed.stderr.contains("changed since it was sent"), "{changed:?}");
    assert_eq!(gw.stats().chat_posts_received, 7);

    let printed = served.stop();
    for run in [&quoted, &streamed, &json, &polled, &next, &jobs, &again, &seen, &more, &changed] {
        assert!(!format!("{}{}", run.stdout, run.stderr).contains(&key), "the key printed");
    }
    assert!(!printed.contains(&key), "the key in the gateway's output");
}

#[test]
fn a_text_stream_cut_upstream_is_unknown_on_the_laptop_with_its_partial_answer() {
    let db = database();
    let gw = crate::sandbox_with(conjure_test::Faults {
        stream_cut_after: Some(2),
        ..Default::default()
    });
    let key = member_key(&gw, &db, "alice");
    let served = serve_with(&gw, &db, &[]);
    let mut laptop = crate::ctx();
    laptop.env("CONJURE_GATEWAY_KEY", &key);
    laptop.env("CONJURE_GATEWAY", &served.base);

    let cut = laptop.run(&["text", QUESTION, "--yes"]);
    assert_eq!(cut.code, 5, "the unknown exit: {cut:?}");
    assert!(cut.stdout.starts_with("[conjure sandbox]"), "the partial answer: {cut:?}");
    assert_eq!(gw.stats().chat_posts_received, 1);
    let jobs = laptop.run(&["--json", "jobs"]);
    assert!(jobs.stdout.contains("unknown"), "{jobs:?}");

    // Asked again: nothing is sent again.
    let again = laptop.run(&["text", QUESTION, "--yes"]);
    assert_ne!(again.code, 0, "{again:?}");
    assert_eq!(gw.stats().chat_posts_received, 1, "a paid POST is never sent again");
    let printed = served.stop();
    for run in [&cut, &jobs, &again] {
        assert!(!format!("{}{}", run.stdout, run.stderr).contains(&key), "the key printed");
    }
    assert!(!printed.contains(&key));
}

/// A TCP proxy in front of `upstream` (`http://HOST:PORT`) that passes everything through,
/// except that a streamed answer (`application/x-ndjson`) is cut right after its first
/// `answer` line: the laptop loses the gateway mid-answer, while the gateway goes on.
fn cutting_proxy(upstream: &str) -> String {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};
    let target = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_client, &mut to_server);
            });
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let mut seen: Vec<u8> = Vec::new();
                let mut forwarded = 0;
                let mut buf = [0u8; 4096];
                loop {
                    let n = match from_server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    seen.extend_from_slice(&buf[..n]);
                    let cut = find(&seen, b"x-ndjson").and_then(|h| {
                        let answer = h + find(&seen[h..], b"{\"answer\"")?;
                        Some(answer + find(&seen[answer..], b"\n")? + 1)
                    });
                    let upto = cut.unwrap_or(seen.len()).min(seen.len());
                    if to_client.write_all(&seen[forwarded..upto]).is_err() {
                        break;
                    }
                    forwarded = upto;
                    if cut.is_some() {
                        let _ = to_client.shutdown(std::net::Shutdown::Both);
                        let _ = from_server.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_text_stream_cut_between_the_gateway_and_the_laptop_is_unknown_and_never_sent_again() {
    let db = database();
    let gw = crate::sandbox();
    let key = member_key(&gw, &db, "alice");
    let served = serve_with(&gw, &db, &[]);
    let proxy = cutting_proxy(&served.base);
    let mut laptop = crate::ctx();
    laptop.env("CONJURE_GATEWAY_KEY", &key);

    let cut = laptop.run(&["--gateway", &proxy, "text", QUESTION, "--yes"]);
    assert_eq!(cut.code, 5, "the unknown exit: {cut:?}");
    assert!(cut.stdout.starts_with("[conjure sandbox]"), "the partial answer: {cut:?}");
    assert_eq!(gw.stats().chat_posts_received, 1);
    let jobs = laptop.run(&["--json", "jobs"]);
    assert!(jobs.stdout.contains("unknown"), "{jobs:?}");
    // The journal kept the piece that arrived, and the gateway's job id to ask it about.
    let listed = &jobs.json()["jobs"][0];
    assert_eq!(listed["partial"], true, "{listed}");
    assert!(cut.stdout.starts_with(listed["answer"].as_str().unwrap()), "{listed}");
    assert!(listed["request_id"].as_str().is_some_and(|r| r.starts_with("j_")), "{listed}");

    // Asked again, even straight at the gateway: nothing is sent again.
    let again = laptop.run(&["--gateway", &served.base, "text", QUESTION, "--yes"]);
    assert_ne!(again.code, 0, "{again:?}");
    assert_eq!(gw.stats().chat_posts_received, 1, "a paid POST is never sent again");
    let printed = served.stop();
    for run in [&cut, &jobs, &again] {
        assert!(!format!("{}{}", run.stdout, run.stderr).contains(&key), "the key printed");
    }
    assert!(!printed.contains(&key));
}

#[test]
fn one_text_token_spent_by_four_laptops_at_once_sends_once() {
    let db = database();
    let gw = crate::sandbox_with(conjure_test::Faults { latency_ms: 200, ..Default::default() });
    let key = member_key(&gw, &db, "alice");
    let served = serve_with(&gw, &db, &[]);
    let laptops: Vec<_> = (0..4)
        .map(|_| {
            let mut l = crate::ctx();
            l.env("CONJURE_GATEWAY_KEY", &key);
            l.env("CONJURE_GATEWAY", &served.base);
            l
        })
        .collect();
    let quoted = laptops[0].run(&["--json", "text", QUESTION]);
    assert_eq!(quoted.code, 3, "{quoted:?}");
    let token = quoted.json()["quote"]["token"].as_str().expect("a token").to_owned();
    // Each laptop has its own journal: only the gateway stands between them and a second POST.
    let children: Vec<_> = laptops
        .iter()
        .map(|l| {
            let mut cmd = l.command(&["--json", "text", QUESTION, "--approve", &token]);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let codes: Vec<i32> = outputs.iter().map(|o| o.status.code().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(gw.stats().chat_posts_received, 1, "one token, one POST: {codes:?}");
    served.stop();
    for o in &outputs {
        let all =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!all.contains(&key), "the key printed");
    }
}

#[test]
fn imaginepro_tools_on_an_image_url_quote_and_spend_through_the_gateway() {
    let db = database();
    let gw = crate::sandbox();
    let key = member_key(&gw, &db, "bob");
    let served = serve_with(&gw, &db, &[]);
    let base = served.base.clone();
    let mut laptop = crate::ctx();
    laptop.env("CONJURE_GATEWAY_KEY", &key);
    let posts = || gw.stats().imaginepro_posts_received;

    // Unapproved: the gateway's quote, nothing sent.
    let url = "https://example.com/portrait.png";
    let quoted = laptop.run(&["--json", "--gateway", &base, "upscale", url, "--scale", "3"]);
    assert_eq!(quoted.code, 3, "{quoted:?}");
    assert_eq!(quoted.json()["status"], "confirmation_required", "{quoted:?}");
    assert_eq!(posts(), 0);

    // Approved (ImaginePro has no dollar price here, so `--yes` takes a cap in credits, as on
    // the local path): one POST upstream each, the result delivered on the laptop.
    let yes = ["--yes", "--max-cost", "50cr"];
    for tool in [&["upscale", url, "--scale", "3"][..], &["remove-bg", url]] {
        let args = [tool, &yes[..]].concat();
        let before = posts();
        let mut all = vec!["--json", "--gateway", base.as_str()];
        all.extend_from_slice(&args);
        let done = laptop.run(&all);
        assert_eq!(done.code, 0, "{args:?}: {done:?}");
        let v = done.json();
        assert_eq!(v["status"], "completed", "{v}");
        let path = v["outputs"][0]["path"].as_str().expect("a file on the laptop");
        assert!(std::fs::metadata(path).unwrap().len() > 0, "{path}");
        assert_eq!(posts(), before + 1, "{args:?}: exactly one POST upstream");
        assert!(!format!("{}{}", done.stdout, done.stderr).contains(&key), "the key printed");
    }

    // A file path is refused on the laptop with what to do; a Midjourney button is not taken
    // through a gateway yet. Neither sends anything.
    std::fs::write(laptop.out_dir().join("cat.png"), b"\x89PNG").unwrap();
    let path = laptop.run(&["--gateway", &base, "remove-bg", "cat.png", "--yes"]);
    assert_eq!(path.code, 2, "{path:?}");
    assert!(path.stderr.contains("hint:"), "{path:?}");
    let button = laptop.run(&["--gateway", &base, "upscale", "j_abc", "--index", "1", "--yes"]);
    assert_eq!(button.code, 2, "{button:?}");
    assert!(button.stderr.contains("upscale JOB"), "{button:?}");
    assert_eq!(posts(), 2);
    assert!(!served.stop().contains(&key), "the key in the gateway's output");
}
