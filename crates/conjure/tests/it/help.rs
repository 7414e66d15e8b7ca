//! Every option of `conjure media` and `conjure edit` has a help text: the command tree is
//! walked through the binary's own `-h` output (the `Commands:` sections), so a new subcommand
//! or flag without a doc comment fails here.

use crate::ctx;

/// The names listed under `Commands:` in a help text (without clap's own `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(String::from)
        .collect()
}

/// Lines of the `Arguments:` and `Options:` sections whose argument has no text after it, nor
/// on the next line (clap moves help there when the flags are wide).
fn undocumented(help: &str) -> Vec<String> {
    let is_spec = |l: &str| {
        let s = l.trim_start();
        l.starts_with(' ') && (s.starts_with('-') || s.starts_with('<') || s.starts_with('['))
    };
    let lines: Vec<&str> = help.lines().collect();
    let mut in_args = false;
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') {
            in_args = matches!(*line, "Arguments:" | "Options:");
            continue;
        }
        if !in_args || !is_spec(line) {
            continue;
        }
        let spec = line.trim();
        // `-o, --output <FILE>  The result`: the help follows two or more spaces.
        let inline = spec.split("  ").filter(|p| !p.trim().is_empty()).count() >= 2;
        let below = lines.get(i + 1).is_some_and(|next| {
            !next.trim().is_empty() && !is_spec(next) && next.starts_with("      ")
        });
        if !inline && !below {
            missing.push(spec.to_string());
        }
    }
    missing
}

#[test]
fn every_media_and_edit_option_has_help() {
    let t = ctx();
    let mut queue: Vec<Vec<String>> = vec![vec!["media".into()], vec!["edit".into()]];
    let mut problems = Vec::new();
    let mut seen = 0;
    while let Some(cmd) = queue.pop() {
        let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        args.push("-h");
        let run = t.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        seen += 1;
        for line in undocumented(&run.stdout) {
            problems.push(format!("`conjure {}`: {line}", cmd.join(" ")));
        }
        for sub in subcommands(&run.stdout) {
            let mut next = cmd.clone();
            next.push(sub);
            queue.push(next);
        }
    }
    assert!(seen > 30, "walked only {seen} commands");
    assert!(problems.is_empty(), "options without help:\n{}", problems.join("\n"));
}

#[test]
fn the_help_walker_notices_a_missing_text() {
    let help = "Usage: x\n\nOptions:\n      --a <A>  Has help\n      --gif-fps <GIF_FPS>      \n  -h, --help  Print help\n";
    assert_eq!(undocumented(help), ["--gif-fps <GIF_FPS>"]);
    assert_eq!(subcommands("Commands:\n  trim  Cut\n  help  Print\n\nOptions:\n"), ["trim"]);
}
