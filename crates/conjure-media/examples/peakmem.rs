//! Runs a command and reports the peak memory of its whole process tree, for
//! `scripts/bench-media`.
//!
//! Why: a render is several ffmpeg processes at once, so one process's peak RSS (what GNU `time`
//! reports) understates it, and summing RSS overstates it: every ffmpeg maps the same ~45 MB of
//! shared libraries, counted once per process. The kernel's proportional set size (PSS) splits
//! shared pages between the processes that map them, so the sum of PSS is the physical memory
//! the tree holds. This samples both sums every 50 ms from `/proc/PID/smaps_rollup` (Linux only)
//! and prints one line: `peak_rss_sum_mb peak_pss_sum_mb`.
//!
//! Usage: `peakmem CMD [ARGS...]` (the command's own output goes to the terminal; its exit status
//! is passed on).

use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

/// `(rss_kb, pss_kb)` of one process, if it still exists.
fn rollup(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("Rss:")?, field("Pss:")?))
}

/// `root` and its descendants, from `/proc/PID/task/TID/children`.
fn tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while let Some(&pid) = out.get(i) {
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            out.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let program = args.next().ok_or("usage: peakmem CMD [ARGS...]")?;
    let mut child = Command::new(program).args(args).spawn()?;
    let root = child.id();
    let (mut rss, mut pss) = (0, 0);
    let status = loop {
        let (r, p) = tree(root)
            .into_iter()
            .filter_map(rollup)
            .fold((0, 0), |(r, p), (r1, p1)| (r + r1, p + p1));
        rss = rss.max(r);
        pss = pss.max(p);
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    writeln!(std::io::stderr(), "{} {}", rss / 1024, pss / 1024)?;
    std::process::exit(status.code().unwrap_or(1));
}
