//! SKILL.md is kept true: every `conjure` command it shows runs, in order, against the sandbox,
//! and must end with the exit code and carry the JSON fields its `# exit N → field, ...`
//! annotation documents. `$TOKEN`, `$JOB`, `$IMAGE` and `$VIDEO` stand for the last quote's
//! token, the last job and its files, as an agent following the skill would carry them; a
//! ```json block after "Save as `NAME`:" is written to NAME first. The front matter must be
//! YAML with the fields skill loaders read.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

fn skill() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../SKILL.md");
    std::fs::read_to_string(path).expect("SKILL.md at the repository root")
}

/// One documented command: its words, the exit code and the JSON fields it promises.
#[derive(Debug)]
struct Step {
    line: usize,
    words: Vec<String>,
    exit: i32,
    fields: Vec<String>,
}

/// A file the skill asks to save before the commands after it run.
#[derive(Debug)]
enum Item {
    Run(Step),
    Save { name: String, text: String },
}

/// Splits a shell line into words: whitespace separates, double quotes group.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quotes in `{line}`");
    if started {
        out.push(word);
    }
    out
}

fn parse(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut fence: Option<(String, Vec<String>)> = None;
    let mut save: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some((lang, body)) = &mut fence {
            if line.trim_start().starts_with("```") {
                if lang == "json"
                    && let Some(name) = save.take()
                {
                    items.push(Item::Save { name, text: body.join("\n") });
                }
                fence = None;
            } else if lang == "sh" && line.trim_start().starts_with("conjure ") {
                let (cmd, note) = line.split_once("# exit ").unwrap_or_else(|| {
                    panic!("SKILL.md line {}: every command says `# exit N → fields`", n + 1)
                });
                let (code, fields) = note.split_once('→').unwrap_or((note, ""));
                items.push(Item::Run(Step {
                    line: n + 1,
                    words: words(cmd.trim()),
                    exit: code.trim().parse().expect("an exit code"),
                    fields: fields
                        .split(',')
                        .map(|f| f.trim().to_owned())
                        .filter(|f| !f.is_empty())
                        .collect(),
                }));
            } else {
                body.push(line.to_owned());
            }
            continue;
        }
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            fence = Some((lang.trim().to_owned(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix("Save as `") {
            save = rest.split('`').next().map(str::to_owned);
        }
    }
    items
}

/// The value at a dotted path (`outputs.0.path`).
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| match key.parse::<usize>() {
        Ok(i) => v.get(i),
        Err(_) => v.get(key),
    })
}

fn substitute(text: &str, vars: &HashMap<&'static str, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${name}"), value);
    }
    out
}

#[test]
fn the_front_matter_is_what_skill_loaders_read() {
    let text = skill();
    let mut parts = text.splitn(3, "---\n");
    assert_eq!(parts.next(), Some(""), "SKILL.md starts with front matter");
    let front: serde_norway::Value = serde_norway::from_str(parts.next().unwrap()).unwrap();
    assert_eq!(front["name"].as_str(), Some("conjure"));
    assert!(front["description"].as_str().unwrap().len() > 100);
    let bins = &front["metadata"]["openclaw"]["requires"]["bins"];
    assert!(bins.as_sequence().unwrap().iter().any(|b| b.as_str() == Some("conjure")));
    let env = front["metadata"]["openclaw"]["env"].as_sequence().unwrap();
    for name in [conjure_core::env::KATANA_API_KEY, conjure_core::env::IMAGINEPRO_API_KEY] {
        assert!(env.iter().any(|e| e.as_str() == Some(name)), "{name}");
    }
}

#[test]
fn every_command_in_the_skill_does_what_it_says() {
    let items = parse(&skill());
    assert!(items.len() > 15, "the skill shows its commands: {items:?}");
    let t = crate::sandbox();
    let mut vars: HashMap<&'static str, String> = HashMap::new();
    for item in items {
        let step = match item {
            Item::Save { name, text } => {
                std::fs::write(t.out_dir().join(name), substitute(&text, &vars)).unwrap();
                continue;
            }
            Item::Run(step) => step,
        };
        let args: Vec<String> = step.words[1..].iter().map(|w| substitute(w, &vars)).collect();
        assert!(
            !args.iter().any(|a| a.contains('$')),
            "SKILL.md line {}: a variable no earlier command set: {args:?}",
            step.line
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = t.run(&args);
        assert_eq!(
            r.code, step.exit,
            "SKILL.md line {}: {args:?}\n{}\n{}",
            step.line, r.stdout, r.stderr
        );
        // One JSON object, or JSON Lines whose last line is the result (`conjure batch`).
        let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|_| {
            let last = r.stdout.trim().lines().last().unwrap_or_default();
            serde_json::from_str(last)
                .unwrap_or_else(|e| panic!("SKILL.md line {}: {e}\n{}", step.line, r.stdout))
        });
        for field in &step.fields {
            assert!(
                at(&v, field).is_some_and(|f| !f.is_null()),
                "SKILL.md line {}: no `{field}` in {v}",
                step.line
            );
        }
        if let Some(token) = at(&v, "quote.token").and_then(Value::as_str) {
            vars.insert("TOKEN", token.to_owned());
        }
        if let Some(job) = v["job_id"].as_str() {
            vars.insert("JOB", job.to_owned());
        }
        for o in v["outputs"].as_array().into_iter().flatten() {
            let (Some(mime), Some(path)) = (o["mime"].as_str(), o["path"].as_str()) else {
                continue;
            };
            let var = if mime.starts_with("video/") { "VIDEO" } else { "IMAGE" };
            vars.insert(var, path.to_owned());
        }
    }
    for var in ["TOKEN", "JOB", "IMAGE", "VIDEO"] {
        assert!(vars.contains_key(var), "the skill's walk-through uses ${var}");
    }
}
