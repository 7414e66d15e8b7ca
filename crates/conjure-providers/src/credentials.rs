//! Provider credentials: where they are looked up, how the files are read and written.
//!
//! A Katana credential is a pair, the API **key** and the API **secret**. Lookup order, first
//! hit wins:
//! 1. the environment: `KATANA_API_KEY` and `KATANA_API_SECRET` (both, or an error naming the
//!    missing one, so that a half-configured shell is not silently overridden by a file);
//! 2. the Katana skill's secrets file: `$KATANA_SECRETS_FILE`, default
//!    `~/.openclaw/secrets/katana.env`, so users of the skill need no second setup;
//! 3. conjure's own file `<config_dir>/credentials/katana.env`, written by `conjure auth katana`.
//!
//! An ImaginePro credential is one API key ([`ImagineProKey`], `sk-...`): `IMAGINEPRO_API_KEY`
//! in the environment (the variable ImaginePro's own skill reads), else the same conjure file.
//!
//! **conjure's file** holds every provider's entries side by side (`KATANA_API_KEY`,
//! `KATANA_API_SECRET`, `IMAGINEPRO_API_KEY`). Its name, `katana.env`, is historical: it predates
//! the second provider and is kept so that existing files keep working. `conjure auth PROVIDER`
//! rewrites only that provider's lines and keeps the others' (read, merge, write to a temp file,
//! rename), so saving one provider's key never wipes another's. A file without a provider's
//! lines is "not found" for that provider, not an error.
//!
//! Files are `KEY=VALUE` lines with `#` comments, optional single or double quotes and an
//! optional `export ` prefix. A file that group or others can access is refused. The process
//! environment, the home directory and the config directory are parameters, so tests never
//! touch the real ones. Nothing here prints a value; errors name files and line numbers only.
//!
//! Not here: prompting for a key (the CLI's `auth` command) and sending it (`crate::katana`,
//! `crate::imaginepro`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use conjure_core::ProviderId;

use crate::error::Error;
use crate::secret::Secret;

pub const KEY_VAR: &str = conjure_core::env::KATANA_API_KEY;
pub const SECRET_VAR: &str = conjure_core::env::KATANA_API_SECRET;
pub const SECRETS_FILE_VAR: &str = conjure_core::env::KATANA_SECRETS_FILE;
pub const IMAGINEPRO_KEY_VAR: &str = conjure_core::env::IMAGINEPRO_API_KEY;

/// Every name conjure's own file holds, in the order it writes them.
const CONJURE_FILE_VARS: [&str; 3] = [KEY_VAR, SECRET_VAR, IMAGINEPRO_KEY_VAR];

/// A Katana key and secret, checked to be usable as HTTP header values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KatanaCredentials {
    pub key: Secret,
    pub secret: Secret,
}

impl KatanaCredentials {
    /// Trims surrounding whitespace and checks both values.
    ///
    /// The key may not contain `:` because the Bearer form joins `key:secret` and the server
    /// splits on the first colon; the secret may.
    pub fn new(key: &str, secret: &str) -> Result<KatanaCredentials, Error> {
        let key = key.trim();
        let secret = secret.trim();
        check_value(ProviderId::Katana, "API key", key)?;
        check_value(ProviderId::Katana, "API secret", secret)?;
        if key.contains(':') {
            return Err(Error::InvalidCredential {
                provider: ProviderId::Katana,
                what: "API key",
                reason: "it contains `:`",
            });
        }
        Ok(KatanaCredentials { key: Secret::new(key), secret: Secret::new(secret) })
    }

    /// The value after `Bearer ` for text, models and balance: `key:secret`.
    pub fn bearer_token(&self) -> Secret {
        Secret::new(format!("{}:{}", self.key.expose(), self.secret.expose()))
    }
}

/// An ImaginePro API key (`sk-...`), checked to be usable as a Bearer header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagineProKey(Secret);

impl ImagineProKey {
    /// Trims surrounding whitespace and checks the value: not empty, visible ASCII only.
    ///
    /// The `sk-` prefix is not demanded: the spec documents it from one README, and refusing a
    /// key over it would lock out a user whose key ImaginePro accepts.
    pub fn new(key: &str) -> Result<ImagineProKey, Error> {
        let key = key.trim();
        check_value(ProviderId::ImaginePro, "API key", key)?;
        Ok(ImagineProKey(Secret::new(key)))
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }

    pub fn into_secret(self) -> Secret {
        self.0
    }
}

fn check_value(provider: ProviderId, what: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::InvalidCredential { provider, what, reason: "it is empty" });
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::InvalidCredential {
            provider,
            what,
            reason: "it contains spaces, control or non-ASCII characters",
        });
    }
    Ok(())
}

/// Where the credentials in use came from (for `conjure auth status` and diagnostics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    /// The Katana skill's secrets file (`KATANA_SECRETS_FILE` or its default).
    SecretsFile(PathBuf),
    /// conjure's own `<config_dir>/credentials/katana.env` (every provider's entries).
    ConjureFile(PathBuf),
}

/// The skill's default secrets file under `home`.
pub fn default_secrets_file(home: &Path) -> PathBuf {
    home.join(".openclaw").join("secrets").join("katana.env")
}

/// conjure's own credentials file under its config directory, shared by every provider (the
/// name predates the second one).
pub fn conjure_credentials_file(config_dir: &Path) -> PathBuf {
    config_dir.join("credentials").join("katana.env")
}

fn non_empty(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn expand_home(value: &str, home: Option<&Path>) -> PathBuf {
    match (value.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(value),
    }
}

/// Finds the Katana credentials in the documented order.
///
/// `env` looks up an environment variable; `home` is the user's home directory (if known);
/// `config_dir` is conjure's configuration directory.
pub fn load_katana_credentials(
    env: impl Fn(&str) -> Option<String>,
    home: Option<&Path>,
    config_dir: &Path,
) -> Result<(KatanaCredentials, CredentialSource), Error> {
    match (non_empty(&env, KEY_VAR), non_empty(&env, SECRET_VAR)) {
        (Some(key), Some(secret)) => {
            return Ok((KatanaCredentials::new(&key, &secret)?, CredentialSource::Environment));
        }
        (Some(_), None) => {
            return Err(Error::PartialEnv { present: KEY_VAR, missing: SECRET_VAR });
        }
        (None, Some(_)) => {
            return Err(Error::PartialEnv { present: SECRET_VAR, missing: KEY_VAR });
        }
        (None, None) => {}
    }

    let mut places = vec![format!("the environment (`{KEY_VAR}`, `{SECRET_VAR}`)")];

    if let Some(named) = non_empty(&env, SECRETS_FILE_VAR) {
        let path = expand_home(named.trim(), home);
        // An explicit setting that points nowhere is a mistake worth reporting, not skipping.
        if !path.exists() {
            return Err(Error::SecretsFileMissing { path });
        }
        let creds = read_credentials_file(&path)?;
        return Ok((creds, CredentialSource::SecretsFile(path)));
    }
    match home {
        Some(home) => {
            let path = default_secrets_file(home);
            if path.exists() {
                let creds = read_credentials_file(&path)?;
                return Ok((creds, CredentialSource::SecretsFile(path)));
            }
            places.push(format!("`{}` (or `{SECRETS_FILE_VAR}`)", path.display()));
        }
        None => places.push(format!(
            "`~/.openclaw/secrets/katana.env` (no home directory known; or `{SECRETS_FILE_VAR}`)"
        )),
    }

    let path = conjure_credentials_file(config_dir);
    if path.exists() {
        let values = read_env_file(&path)?;
        // Only ImaginePro's line: Katana was never saved here.
        if values.contains_key(KEY_VAR) || values.contains_key(SECRET_VAR) {
            let creds = katana_from(&path, &values)?;
            return Ok((creds, CredentialSource::ConjureFile(path)));
        }
    }
    places.push(format!("`{}`", path.display()));
    Err(Error::NotFound { provider: ProviderId::Katana, places })
}

/// Finds the ImaginePro key: `IMAGINEPRO_API_KEY`, else conjure's own file.
pub fn load_imaginepro_key(
    env: impl Fn(&str) -> Option<String>,
    config_dir: &Path,
) -> Result<(ImagineProKey, CredentialSource), Error> {
    if let Some(key) = non_empty(&env, IMAGINEPRO_KEY_VAR) {
        return Ok((ImagineProKey::new(&key)?, CredentialSource::Environment));
    }
    let path = conjure_credentials_file(config_dir);
    if path.exists()
        && let Some(key) = read_env_file(&path)?.get(IMAGINEPRO_KEY_VAR)
    {
        return Ok((ImagineProKey::new(key)?, CredentialSource::ConjureFile(path)));
    }
    Err(Error::NotFound {
        provider: ProviderId::ImaginePro,
        places: vec![
            format!("the environment (`{IMAGINEPRO_KEY_VAR}`)"),
            format!("`{}`", path.display()),
        ],
    })
}

/// Reads a credentials file's `KEY=VALUE` lines, refusing it if group or others can access it.
fn read_env_file(path: &Path) -> Result<HashMap<String, String>, Error> {
    check_permissions(path)?;
    let text =
        fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
    parse_env_file(&text).map_err(|line| Error::Malformed { path: path.to_owned(), line })
}

fn katana_from(path: &Path, values: &HashMap<String, String>) -> Result<KatanaCredentials, Error> {
    let key = values
        .get(KEY_VAR)
        .ok_or(Error::IncompleteFile { path: path.to_owned(), missing: KEY_VAR })?;
    let secret = values
        .get(SECRET_VAR)
        .ok_or(Error::IncompleteFile { path: path.to_owned(), missing: SECRET_VAR })?;
    KatanaCredentials::new(key, secret)
}

/// Reads one credentials file, refusing it if group or others can access it.
pub fn read_credentials_file(path: &Path) -> Result<KatanaCredentials, Error> {
    katana_from(path, &read_env_file(path)?)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta =
        fs::metadata(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecurePermissions { path: path.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), Error> {
    Ok(())
}

/// Parses `KEY=VALUE` lines. On failure returns the 1-based number of the bad line.
///
/// Later lines win, as they would in a shell. Values are not unescaped: only one matching pair
/// of outer quotes is removed, because secrets may contain any printable character.
pub fn parse_env_file(text: &str) -> Result<HashMap<String, String>, usize> {
    let mut out = HashMap::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        // `export #...` is `export` and a comment, as in a shell. Read as the key `#...`, it
        // would be written back as a line that starts with `#`: a comment, the entry lost.
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(index + 1);
        };
        let key = key.trim();
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(index + 1);
        }
        out.insert(key.to_owned(), unquote(value.trim()).to_owned());
    }
    Ok(out)
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// Saves Katana's key and secret in conjure's file at `path`, keeping any other provider's
/// entries (see `update_credentials_file`).
pub fn write_credentials_file(path: &Path, creds: &KatanaCredentials) -> Result<(), Error> {
    update_credentials_file(path, &[(KEY_VAR, &creds.key), (SECRET_VAR, &creds.secret)])
}

/// Saves the ImaginePro key in conjure's file at `path`, keeping any other provider's entries.
pub fn write_imaginepro_key(path: &Path, key: &ImagineProKey) -> Result<(), Error> {
    update_credentials_file(path, &[(IMAGINEPRO_KEY_VAR, key.secret())])
}

/// Sets `entries` in the credentials file at `path` and keeps every other entry already there,
/// writing it with mode 0600 and creating parent directories with mode 0700.
///
/// The file is written to a temp file in the same directory (created 0600, so the secret is
/// never readable by others even for an instant) and renamed into place, so a crash leaves
/// either the old file or the new one. An existing file that cannot be parsed is refused
/// rather than overwritten: it may hold the only copy of another provider's key. Comments are
/// not kept; entries are written in a fixed order (known names first), each value quoted.
fn update_credentials_file(path: &Path, entries: &[(&str, &Secret)]) -> Result<(), Error> {
    let werr = |source| Error::Write { path: path.to_owned(), source };
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    if path.exists() {
        // Not `read_env_file`: a file with loose permissions is ours to tighten, not a reason
        // to refuse the save that fixes it.
        let text = fs::read_to_string(path)
            .map_err(|source| Error::Read { path: path.to_owned(), source })?;
        let old = parse_env_file(&text)
            .map_err(|line| Error::Malformed { path: path.to_owned(), line })?;
        values.extend(old);
    }
    for (name, value) in entries {
        values.insert((*name).to_owned(), value.expose().to_owned());
    }

    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(werr)?;

    let file_name = path
        .file_name()
        .map_or_else(|| "credentials".to_owned(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let content = render_env_file(&values);
    let result = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(werr(e));
    }
    Ok(())
}

/// conjure's file as `update_credentials_file` writes it: a header comment, then every entry
/// on its own line, known names first, each value quoted. [`parse_env_file`] reads it back to
/// the same entries.
pub fn render_env_file(values: &BTreeMap<String, String>) -> String {
    let mut content = String::from(
        "# conjure's provider credentials, written by `conjure auth PROVIDER`.\n\
         # Each `conjure auth` replaces its own provider's lines and keeps the others.\n",
    );
    let known = CONJURE_FILE_VARS.iter().filter_map(|n| values.get_key_value(*n));
    let others = values.iter().filter(|(n, _)| !CONJURE_FILE_VARS.contains(&n.as_str()));
    for (name, value) in known.chain(others) {
        // Always quote: a secret that itself starts and ends with a quote survives the round
        // trip.
        let _ = writeln!(content, "{name}=\"{value}\"");
    }
    content
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // A stale temp file from a crashed run is ours to replace; truncate instead of create_new.
    let _ = fs::remove_file(path);
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    let _ = fs::remove_file(path);
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "kat_key_ABC123";
    const SECRET: &str = "s3cr3t:with:colons";

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[cfg(unix)]
    fn write_mode(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn assert_no_secret(text: &str) {
        assert!(!text.contains(KEY), "key leaked: {text}");
        assert!(!text.contains(SECRET), "secret leaked: {text}");
        assert!(!text.contains("s3cr3t"), "secret leaked: {text}");
    }

    fn show(e: &Error) -> String {
        format!("{e} | {e:?} | {}", e.hint().unwrap_or_default())
    }

    #[test]
    fn env_wins_when_both_set() {
        let tmp = tempfile::tempdir().unwrap();
        let env = env_of(&[(KEY_VAR, KEY), (SECRET_VAR, SECRET)]);
        let (c, src) = load_katana_credentials(env, Some(tmp.path()), tmp.path()).unwrap();
        assert_eq!(src, CredentialSource::Environment);
        assert_eq!(c.key.expose(), KEY);
        assert_eq!(c.secret.expose(), SECRET);
        assert_eq!(c.bearer_token().expose(), format!("{KEY}:{SECRET}"));
    }

    #[test]
    fn half_set_env_names_the_missing_variable() {
        let tmp = tempfile::tempdir().unwrap();
        let e = load_katana_credentials(env_of(&[(KEY_VAR, KEY)]), Some(tmp.path()), tmp.path())
            .unwrap_err();
        assert!(e.to_string().contains("`KATANA_API_SECRET` is not"), "{e}");
        assert_no_secret(&show(&e));
        let e =
            load_katana_credentials(env_of(&[(SECRET_VAR, SECRET)]), Some(tmp.path()), tmp.path())
                .unwrap_err();
        assert!(e.to_string().contains("`KATANA_API_KEY` is not"), "{e}");
        assert_no_secret(&show(&e));
    }

    #[test]
    fn an_exported_comment_is_a_comment() {
        // Found by fuzzing (tests/it/fuzz.rs): `export #=x` gave the key `#`, which conjure's
        // writer then wrote as a comment line, so `conjure auth` silently dropped the entry.
        let m = parse_env_file("export #=kk-123\nexport  # note\nA=1\n").unwrap();
        assert_eq!(m.len(), 1, "{m:?}");
        let values: BTreeMap<String, String> = m.into_iter().collect();
        let again = parse_env_file(&render_env_file(&values)).unwrap();
        assert_eq!(again.into_iter().collect::<BTreeMap<_, _>>(), values);
    }

    #[test]
    fn parses_comments_quotes_and_export() {
        let text = "\u{feff}# comment\n\nexport KATANA_API_KEY='abc'\n  KATANA_API_SECRET = \"x=y#z\"  \nOTHER=1\n";
        let m = parse_env_file(text).unwrap();
        assert_eq!(m["KATANA_API_KEY"], "abc");
        assert_eq!(m["KATANA_API_SECRET"], "x=y#z");
        assert_eq!(m["OTHER"], "1");
        assert_eq!(parse_env_file("# ok\nnot a pair\n"), Err(2));
    }

    #[cfg(unix)]
    #[test]
    fn default_skill_file_then_conjure_file() {
        let home = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let conjure = conjure_credentials_file(config.path());
        write_mode(&conjure, "KATANA_API_KEY=c\nKATANA_API_SECRET=d\n", 0o600);
        let (c, src) =
            load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap();
        assert_eq!(src, CredentialSource::ConjureFile(conjure.clone()));
        assert_eq!(c.key.expose(), "c");

        let skill = default_secrets_file(home.path());
        write_mode(&skill, "export KATANA_API_KEY=a\nKATANA_API_SECRET=b\n", 0o600);
        let (c, src) =
            load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap();
        assert_eq!(src, CredentialSource::SecretsFile(skill));
        assert_eq!(c.secret.expose(), "b");
    }

    #[cfg(unix)]
    #[test]
    fn secrets_file_env_overrides_default_and_expands_tilde() {
        let home = tempfile::tempdir().unwrap();
        let custom = home.path().join("elsewhere.env");
        write_mode(&custom, "KATANA_API_KEY=e\nKATANA_API_SECRET=f\n", 0o600);
        let env = env_of(&[(SECRETS_FILE_VAR, "~/elsewhere.env")]);
        let (c, src) = load_katana_credentials(env, Some(home.path()), home.path()).unwrap();
        assert_eq!(src, CredentialSource::SecretsFile(custom));
        assert_eq!(c.key.expose(), "e");

        let env = env_of(&[(SECRETS_FILE_VAR, "/nonexistent/katana.env")]);
        let e = load_katana_credentials(env, Some(home.path()), home.path()).unwrap_err();
        assert!(matches!(e, Error::SecretsFileMissing { .. }), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn readable_by_others_is_refused_with_chmod_hint() {
        let home = tempfile::tempdir().unwrap();
        let skill = default_secrets_file(home.path());
        write_mode(&skill, &format!("KATANA_API_KEY={KEY}\nKATANA_API_SECRET={SECRET}\n"), 0o640);
        let e = load_katana_credentials(env_of(&[]), Some(home.path()), home.path()).unwrap_err();
        assert!(matches!(e, Error::InsecurePermissions { mode: 0o640, .. }), "{e}");
        assert_eq!(e.hint().unwrap(), format!("chmod 600 {}", skill.display()));
        assert_no_secret(&show(&e));
    }

    #[test]
    fn missing_everywhere_lists_three_places() {
        let home = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let e = load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap_err();
        let Error::NotFound { places, .. } = &e else { panic!("{e}") };
        assert_eq!(places.len(), 3);
        let text = e.to_string();
        assert!(text.contains("KATANA_API_KEY"), "{text}");
        assert!(text.contains(".openclaw/secrets/katana.env"), "{text}");
        assert!(text.contains("credentials/katana.env"), "{text}");
        assert!(e.hint().unwrap().contains("conjure auth katana"));
    }

    #[cfg(unix)]
    #[test]
    fn malformed_and_incomplete_files_never_echo_values() {
        let home = tempfile::tempdir().unwrap();
        let skill = default_secrets_file(home.path());
        write_mode(&skill, &format!("KATANA_API_KEY={KEY}\n{SECRET}\n"), 0o600);
        let e = load_katana_credentials(env_of(&[]), Some(home.path()), home.path()).unwrap_err();
        assert!(matches!(e, Error::Malformed { line: 2, .. }), "{e}");
        assert_no_secret(&show(&e));

        write_mode(&skill, &format!("KATANA_API_SECRET={SECRET}\n"), 0o600);
        let e = load_katana_credentials(env_of(&[]), Some(home.path()), home.path()).unwrap_err();
        assert!(e.to_string().contains("no `KATANA_API_KEY` line"), "{e}");
        assert_no_secret(&show(&e));

        write_mode(
            &skill,
            &format!("KATANA_API_KEY=has space {KEY}\nKATANA_API_SECRET={SECRET}\n"),
            0o600,
        );
        let e = load_katana_credentials(env_of(&[]), Some(home.path()), home.path()).unwrap_err();
        assert!(matches!(e, Error::InvalidCredential { what: "API key", .. }), "{e}");
        assert_no_secret(&show(&e));
    }

    #[test]
    fn key_with_colon_is_refused() {
        let e = KatanaCredentials::new("a:b", SECRET).unwrap_err();
        assert_no_secret(&show(&e));
        assert!(KatanaCredentials::new(" ", SECRET).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn write_is_0600_in_a_0700_dir_and_round_trips() {
        use std::os::unix::fs::PermissionsExt as _;
        let config = tempfile::tempdir().unwrap();
        let path = conjure_credentials_file(&config.path().join("conjure"));
        let creds = KatanaCredentials::new(KEY, "\"quoted\"#x").unwrap();
        write_credentials_file(&path, &creds).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(read_credentials_file(&path).unwrap(), creds);
        // Overwrite in place.
        let second = KatanaCredentials::new("k2", SECRET).unwrap();
        write_credentials_file(&path, &second).unwrap();
        assert_eq!(read_credentials_file(&path).unwrap(), second);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
    }

    const IP_KEY: &str = "sk-IPLEAK-0123456789";

    #[test]
    fn imaginepro_env_wins_over_the_file() {
        let config = tempfile::tempdir().unwrap();
        let path = conjure_credentials_file(config.path());
        write_imaginepro_key(&path, &ImagineProKey::new("sk-from-file").unwrap()).unwrap();
        let (k, src) =
            load_imaginepro_key(env_of(&[(IMAGINEPRO_KEY_VAR, IP_KEY)]), config.path()).unwrap();
        assert_eq!((k.secret().expose(), src), (IP_KEY, CredentialSource::Environment));
        let (k, src) = load_imaginepro_key(env_of(&[]), config.path()).unwrap();
        assert_eq!(
            (k.secret().expose(), src),
            ("sk-from-file", CredentialSource::ConjureFile(path))
        );
    }

    #[test]
    fn imaginepro_key_is_checked_and_never_shown() {
        assert_eq!(ImagineProKey::new("  sk-x1  ").unwrap().secret().expose(), "sk-x1");
        for bad in ["", "   ", "sk- spaced", "sk-\u{7}bell", "sk-é"] {
            let e = ImagineProKey::new(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidCredential { provider: ProviderId::ImaginePro, .. }));
            assert!(e.to_string().starts_with("The ImaginePro API key"), "{e}");
        }
        let e =
            load_imaginepro_key(env_of(&[(IMAGINEPRO_KEY_VAR, "sk-IPLEAK bad")]), Path::new("/x"))
                .unwrap_err();
        assert!(!show(&e).contains("IPLEAK"), "{}", show(&e));
        let k = ImagineProKey::new(IP_KEY).unwrap();
        assert!(!format!("{k:?} {k:#?} {}", k.secret()).contains("IPLEAK"));
    }

    #[test]
    fn imaginepro_missing_names_both_places_and_the_auth_command() {
        let config = tempfile::tempdir().unwrap();
        let e = load_imaginepro_key(env_of(&[]), config.path()).unwrap_err();
        let Error::NotFound { provider: ProviderId::ImaginePro, places } = &e else {
            panic!("{e}")
        };
        assert_eq!(places.len(), 2);
        assert!(e.to_string().starts_with("No ImaginePro credentials found"), "{e}");
        assert!(e.to_string().contains("IMAGINEPRO_API_KEY"), "{e}");
        assert!(e.hint().unwrap().contains("conjure auth imaginepro"));
    }

    #[cfg(unix)]
    #[test]
    fn both_providers_share_the_file_and_neither_save_wipes_the_other() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let path = conjure_credentials_file(config.path());
        let katana = KatanaCredentials::new(KEY, SECRET).unwrap();
        write_credentials_file(&path, &katana).unwrap();
        // A Katana-only file: no ImaginePro key in it, which is "not found", not an error.
        assert!(matches!(
            load_imaginepro_key(env_of(&[]), config.path()),
            Err(Error::NotFound { .. })
        ));
        write_imaginepro_key(&path, &ImagineProKey::new(IP_KEY).unwrap()).unwrap();
        let (k, _) =
            load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap();
        assert_eq!(k, katana);
        let (ip, _) = load_imaginepro_key(env_of(&[]), config.path()).unwrap();
        assert_eq!(ip.secret().expose(), IP_KEY);
        // Saving Katana again keeps ImaginePro's line, and the reverse.
        let katana2 = KatanaCredentials::new("k2", "s2").unwrap();
        write_credentials_file(&path, &katana2).unwrap();
        assert_eq!(
            load_imaginepro_key(env_of(&[]), config.path()).unwrap().0.secret().expose(),
            IP_KEY
        );
        write_imaginepro_key(&path, &ImagineProKey::new("sk-second").unwrap()).unwrap();
        let (k, _) =
            load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap();
        assert_eq!(k, katana2);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("IMAGINEPRO_API_KEY=").count(), 1, "{text}");
        assert!(text.contains("IMAGINEPRO_API_KEY=\"sk-second\""), "{text}");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn an_imaginepro_only_file_is_no_katana_credentials_and_old_files_still_read() {
        let home = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let path = conjure_credentials_file(config.path());
        write_imaginepro_key(&path, &ImagineProKey::new(IP_KEY).unwrap()).unwrap();
        let e = load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap_err();
        assert!(matches!(e, Error::NotFound { provider: ProviderId::Katana, .. }), "{e}");
        // A file as older conjure wrote it (Katana only, its own comment) is read as before,
        // and an ImaginePro save keeps its Katana lines.
        write_mode(
            &path,
            &format!(
                "# Katana API credentials, written by `conjure auth katana`.\nKATANA_API_KEY=\"{KEY}\"\nKATANA_API_SECRET=\"{SECRET}\"\n"
            ),
            0o600,
        );
        let (k, _) =
            load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap();
        assert_eq!(k.key.expose(), KEY);
        write_imaginepro_key(&path, &ImagineProKey::new(IP_KEY).unwrap()).unwrap();
        let (k, _) =
            load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap();
        assert_eq!(k.secret.expose(), SECRET);
        // Half a Katana pair next to an ImaginePro key is still an incomplete file.
        write_mode(&path, &format!("KATANA_API_KEY={KEY}\nIMAGINEPRO_API_KEY={IP_KEY}\n"), 0o600);
        let e = load_katana_credentials(env_of(&[]), Some(home.path()), config.path()).unwrap_err();
        assert!(matches!(e, Error::IncompleteFile { .. }), "{e}");
        // A malformed file is not overwritten: it may hold the only copy of a key.
        write_mode(&path, "garbage line\n", 0o600);
        let e = write_imaginepro_key(&path, &ImagineProKey::new(IP_KEY).unwrap()).unwrap_err();
        assert!(matches!(e, Error::Malformed { line: 1, .. }), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "garbage line\n");
    }

    #[test]
    fn debug_of_credentials_hides_values() {
        let c = KatanaCredentials::new(KEY, SECRET).unwrap();
        assert_no_secret(&format!("{c:?} {:?}", c.bearer_token()));
    }
}
