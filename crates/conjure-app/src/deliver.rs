//! Delivery: a finished job's outputs, downloaded to disk with a provenance sidecar each.
//!
//! Every asset streams into a hidden temp file beside its destination and is moved into place
//! without replacing anything (unless forced; see [`crate::destination`]), so a file exists
//! whole or not at all. A temp file left by a killed download is removed by the next delivery
//! of that job to that folder. A download that fails once every link has expired makes the job
//! `expired` ([`crate::expiry`]). In a folder, names are `<job>-<item>-<n>.<ext>` with the extension from
//! the MIME type (never the URL); `-o` names the files instead. Each file gets `<file>.json`: prompt, model,
//! provider, request id, credits and dollars actually charged, source URL, expiry, size, hash.
//! Only when every asset is on disk are the files and the delivery recorded, in one journal
//! write; until then `conjure jobs --pending` lists the job as undelivered, and `conjure fetch`
//! finishes it.

use std::path::{Path, PathBuf};

use conjure_core::provider::{Asset, Snapshot};
use conjure_core::spec::Item;
use conjure_core::{
    Credits, JobRecord, JobState, JobStore as _, OutputRecord, Provider, ProviderError, Usd,
};
use serde::Serialize;

use crate::destination::{self, Destination};
use crate::error::AppError;
use crate::paid::Progress;
use crate::session::Session;
use crate::timefmt;

/// What a front end says about a file made locally (an edit, a media operation): its type by
/// content, size and SHA-256, as a delivered output's record carries them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalFile {
    pub mime: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Reads `path` once for its [`LocalFile`] facts; an unrecognised type is
/// `application/octet-stream`.
pub fn local_file(path: &Path) -> std::io::Result<LocalFile> {
    use sha2::{Digest as _, Sha256};
    let bytes = std::fs::read(path)?;
    Ok(LocalFile {
        mime: crate::inputs::sniff(&bytes).unwrap_or("application/octet-stream").to_owned(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

/// File extension from a MIME type; never from the URL.
pub fn extension_for(mime: &str) -> &'static str {
    match mime.split(';').next().unwrap_or("").trim() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "text/plain" => "txt",
        _ => "bin",
    }
}

/// Dollars for `credits` at the job's own quoted price per credit.
pub fn job_usd(job: &JobRecord, credits: Credits) -> Option<Usd> {
    let quoted = job.quoted_usd?;
    let tenths = i128::from(job.quoted_credits.tenths());
    if tenths == 0 {
        return Some(Usd::ZERO);
    }
    Some(Usd::from_micros(
        (i128::from(quoted.micros()) * i128::from(credits.tenths()) / tenths) as i64,
    ))
}

fn download_error(job: &JobRecord, message: &str) -> AppError {
    AppError::other(format!("Downloading an output of job `{}` failed: {message}", job.id))
        .hint(format!(
            "the result is safe at the provider until it expires; `conjure fetch {}` downloads it again",
            job.id
        ))
        .job(&job.id)
}

/// Where and how a job's files are written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Delivery {
    pub destination: Destination,
    /// Replace existing files of the given names (`--force`).
    pub force: bool,
}

impl Delivery {
    /// The form journalled with a job ([`conjure_core::Order::deliver_to`]), paths absolute.
    pub fn journalled(&self) -> Option<String> {
        let absolute = Delivery { destination: self.destination.absolute(), force: self.force };
        serde_json::to_string(&absolute).ok()
    }

    /// Where `job` was asked to deliver, when it says.
    pub fn of(job: &JobRecord) -> Option<Delivery> {
        job.deliver_to.as_deref().and_then(|s| serde_json::from_str(s).ok())
    }
}

/// Downloads every asset of a finished job to `delivery`. Returns the delivered outputs.
pub async fn deliver<P: Provider>(
    session: &Session,
    provider: &P,
    job: &JobRecord,
    delivery: &Delivery,
    observer: &(dyn Fn(Progress<'_>) + Send + Sync),
) -> Result<Vec<OutputRecord>, AppError> {
    if !matches!(job.state, JobState::Completed | JobState::Partial) {
        return Err(AppError::invalid(format!(
            "Job `{}` is `{}` and has nothing to download",
            job.id, job.state
        ))
        .job(&job.id));
    }
    let snapshot: Snapshot = job
        .last_snapshot
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| download_error(job, "no provider answer is recorded"))?;
    // Absolute paths in results: agents read them from other working directories.
    let destination = delivery.destination.absolute();
    let out_dir = destination.dir();
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| download_error(job, &format!("cannot create `{}`: {e}", out_dir.display())))?;
    let out_dir = std::fs::canonicalize(&out_dir).unwrap_or(out_dir);
    sweep_parts(&out_dir, job.id.as_str());
    let mut delivered = Vec::new();
    for (n, asset) in snapshot.assets.iter().enumerate() {
        let named = destination.named(n).and_then(|p| p.file_name().map(PathBuf::from));
        // A file this job's interrupted delivery already put under the name is its own to
        // write again (the journal did not record it), not someone else's to keep.
        let interrupted = named
            .as_ref()
            .is_some_and(|name| destination::delivered_for(&out_dir.join(name), job.id.as_str()));
        let target = Target { dir: &out_dir, named, force: delivery.force || interrupted };
        // A file the user named that this job already delivered, unchanged: it is kept as it
        // is (`conjure fetch` again), not downloaded beside it under another name.
        let kept = target.named.as_ref().and_then(|name| {
            let dest = out_dir.join(name);
            job.outputs.iter().find(|o| {
                o.index == n
                    && Path::new(&o.path) == dest
                    && destination::same_bytes(&dest, &o.sha256)
            })
        });
        let output = match kept {
            Some(o) => o.clone(),
            None => match deliver_one(provider, job, &snapshot, n, asset, &target).await {
                Ok(output) => output,
                // A link that failed once its expiry passed will not work again.
                Err(e) if crate::expiry::links_expired_at(job).is_some() => {
                    let job = crate::expiry::settle(session, job.clone()).await?;
                    return Err(if job.state == JobState::Expired {
                        crate::expiry::expired_error(&job)
                    } else {
                        e
                    });
                }
                Err(e) => return Err(e),
            },
        };
        observer(Progress::Saved { job: &job.id, path: Path::new(&output.path) });
        delivered.push(output);
    }
    // One write for every file: until it commits, the job is listed as undelivered and
    // `conjure fetch` writes the same files again.
    session.journal.record_delivery(&job.id, &delivered).await?;
    Ok(delivered)
}

/// Removes what killed downloads of `job` left in `dir`: `.<job>-<item>-<n>.<ext>.<pid>.part`
/// files whose process no longer exists. Nothing else is touched: the job's id and a dead
/// process's id in the name make it ours and abandoned.
fn sweep_parts(dir: &Path, job_id: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{job_id}-");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let Some(pid) = rest
            .strip_suffix(".part")
            .and_then(|r| r.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id()
            && !conjure_media::workdir::process_exists(pid)
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Where one file goes: a name the user gave, else conjure's own, in `dir`.
struct Target<'a> {
    dir: &'a Path,
    named: Option<PathBuf>,
    force: bool,
}

async fn deliver_one<P: Provider>(
    provider: &P,
    job: &JobRecord,
    snapshot: &Snapshot,
    n: usize,
    asset: &Asset,
    target: &Target<'_>,
) -> Result<OutputRecord, AppError> {
    let own_name = format!("{}-{}-{}.{}", job.id, asset.item, n, extension_for(&asset.mime));
    let out_dir = target.dir;
    let own = out_dir.join(&own_name);
    let dest = target.named.as_ref().map_or_else(|| own.clone(), |name| out_dir.join(name));
    // This process's id in the name: the next delivery here can tell a killed download's
    // leftover from one still running ([`sweep_parts`]).
    let temp = out_dir.join(format!(".{own_name}.{}.part", std::process::id()));
    let mut used_url = asset.url.clone();
    let mut result = provider.download(&asset.url, &temp).await;
    if result.is_err()
        && let Some(fallback) = &asset.fallback_url
    {
        used_url.clone_from(fallback);
        result = provider.download(fallback, &temp).await;
    }
    let downloaded = result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        let message = match e {
            // Asset hosts take no credentials: a refusal there means the signed link died.
            ProviderError::Auth { status, .. } => {
                format!("the asset host refused the link (HTTP {status}); it may have expired")
            }
            ProviderError::NotFound { .. } => {
                "the asset is gone (HTTP 404); its link may have expired".to_owned()
            }
            other => other.to_string(),
        };
        download_error(job, &message)
    })?;
    // conjure's own names belong to the job: a second `fetch` replaces its own earlier copy.
    let force = target.force || target.named.is_none();
    let dest = destination::place(&temp, &dest, &own, force).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        download_error(job, &format!("cannot move the file into `{}`: {e}", dest.display()))
    })?;
    let output = OutputRecord {
        index: n,
        path: dest.display().to_string(),
        url: used_url,
        mime: asset.mime.clone(),
        width: asset.width,
        height: asset.height,
        duration_seconds: asset.duration_seconds,
        sha256: downloaded.sha256,
        bytes: downloaded.bytes,
        expires_at: asset.expires_at.clone(),
    };
    write_sidecar(job, snapshot, &output, &destination::sidecar(&own), force)
        .map_err(|e| download_error(job, &format!("cannot write the provenance file: {e}")))?;
    Ok(output)
}

/// The provenance written next to every delivered file as `<file>.json`.
#[derive(Serialize)]
struct Provenance<'a> {
    job_id: &'a str,
    provider: &'a str,
    model: &'a str,
    prompt: &'a str,
    request_id: Option<&'a str>,
    credits: Credits,
    usd: Option<Usd>,
    source_url: &'a str,
    expires_at: Option<&'a str>,
    mime: &'a str,
    width: Option<u32>,
    height: Option<u32>,
    duration_seconds: Option<f64>,
    sha256: &'a str,
    bytes: u64,
    time: String,
}

fn write_sidecar(
    job: &JobRecord,
    snapshot: &Snapshot,
    out: &OutputRecord,
    fallback: &Path,
    force: bool,
) -> std::io::Result<()> {
    let item_prompt = job.spec.items.get(snapshot.assets.get(out.index).map_or(0, |a| a.item));
    let credits = snapshot.credits_spent.or(job.credits_spent).unwrap_or(job.quoted_credits);
    let provenance = Provenance {
        job_id: job.id.as_str(),
        provider: job.provider.as_str(),
        model: snapshot.model.as_deref().unwrap_or(&job.model),
        prompt: item_prompt.map_or(job.prompt.as_str(), Item::prompt),
        request_id: job.request_id.as_deref(),
        credits,
        usd: job_usd(job, credits),
        source_url: &out.url,
        expires_at: out.expires_at.as_deref(),
        mime: &out.mime,
        width: out.width,
        height: out.height,
        duration_seconds: out.duration_seconds,
        sha256: &out.sha256,
        bytes: out.bytes,
        time: timefmt::rfc3339_ms(timefmt::now_ms()),
    };
    let path = destination::sidecar(Path::new(&out.path));
    let temp = PathBuf::from(format!("{}.json.part", out.path));
    let mut text = serde_json::to_string_pretty(&provenance).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&temp, text)?;
    destination::place(&temp, &path, fallback, force).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_download_of_the_job_is_swept() {
        let d = tempfile::tempdir().unwrap();
        let dead = {
            let mut c = std::process::Command::new("true").spawn().unwrap();
            let id = c.id();
            c.wait().unwrap();
            id
        };
        let job = "j_20261201_abc";
        let names = [
            format!(".{job}-0-0.png.{dead}.part"),
            format!(".{job}-0-1.png.{}.part", std::process::id()),
            format!(".j_other-0-0.png.{dead}.part"),
            format!(".{job}-0-0.png.part"),
            "photo.png.part".to_owned(),
        ];
        for n in &names {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        sweep_parts(d.path(), job);
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected = names[1..].to_vec();
        expected.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn extensions_come_from_mime() {
        assert_eq!(extension_for("image/jpeg"), "jpg");
        assert_eq!(extension_for("video/mp4; codecs=avc1"), "mp4");
        assert_eq!(extension_for("application/x-unknown"), "bin");
    }
}
