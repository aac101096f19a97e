//! Who we are talking to and with what token (reference §3 "Auth").
//!
//! Sources, as the Databricks CLI resolves them for a bundle:
//! 1. the target's `workspace.profile`: that profile of the config file wins
//!    over the auth environment variables;
//! 2. the target's `workspace.host`: environment attributes first
//!    (`DATABRICKS_TOKEN`, `DATABRICKS_CONFIG_PROFILE`), then the single
//!    profile whose host matches (several → "multiple profiles matched");
//! 3. neither: `DATABRICKS_HOST`/`DATABRICKS_TOKEN`, completed from the
//!    profile named by `DATABRICKS_CONFIG_PROFILE`, else `[DEFAULT]`.
//!
//! The config file is `DATABRICKS_CONFIG_FILE`, else `~/.databrickscfg`.
//! Only personal access tokens are supported. The token is wrapped in
//! [`Secret`] from the moment it is read, so no `{:?}` or error can leak it.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The raw value, for the one place that needs it (the `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A resolved workspace: normalised host (`https://host`, no path) and token.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub host: String,
    pub token: Secret,
}

/// What the bundle target says about its workspace (`workspace.host`/`profile`).
#[derive(Clone, Debug, Default)]
pub struct TargetAuth {
    pub host: Option<String>,
    pub profile: Option<String>,
}

/// Resolves credentials from the process environment and the user's home.
pub fn resolve(target: &TargetAuth) -> Result<Credentials> {
    resolve_with(target, &|name| {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    })
}

/// [`resolve`] with the environment given as a lookup function, for tests.
pub fn resolve_with(
    target: &TargetAuth,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials> {
    let cfg_path = config_path(env);
    let profiles = || -> Result<Vec<Profile>> {
        match std::fs::read_to_string(&cfg_path) {
            Ok(text) => parse_config(&text, &cfg_path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", cfg_path.display())),
        }
    };
    let find = |all: &[Profile], name: &str| -> Result<Profile> {
        all.iter()
            .find(|p| p.name == name)
            .cloned()
            .with_context(|| format!("profile `{name}` not found in {}", cfg_path.display()))
    };

    if let Some(name) = &target.profile {
        // An explicit profile in the bundle wins over the auth env vars.
        let profile = find(&profiles()?, name)?;
        let host = profile
            .host
            .as_deref()
            .with_context(|| format!("profile `{name}` in {} has no `host`", cfg_path.display()))?;
        let token = profile
            .token
            .clone()
            .with_context(|| no_token(&profile, &cfg_path))?;
        let host = normalize_host(host)?;
        if let Some(want) = &target.host
            && normalize_host(want)? != host
        {
            bail!(
                "workspace.host {want} does not match host {host} of profile `{name}` in {}",
                cfg_path.display()
            );
        }
        return Ok(Credentials { host, token });
    }

    if let Some(want) = &target.host {
        let host = normalize_host(want)?;
        // Environment attributes apply first, as in the SDK's config loaders.
        if let Some(token) = env("DATABRICKS_TOKEN") {
            return Ok(Credentials {
                host,
                token: Secret::new(token),
            });
        }
        let all = profiles()?;
        if let Some(name) = env("DATABRICKS_CONFIG_PROFILE") {
            let profile = find(&all, &name)?;
            let theirs = profile.host.as_deref().map(normalize_host).transpose()?;
            if theirs.as_deref() != Some(host.as_str()) {
                bail!(
                    "workspace.host {host} does not match the host of profile `{name}` \
                     (DATABRICKS_CONFIG_PROFILE) in {}",
                    cfg_path.display()
                );
            }
            let token = profile
                .token
                .clone()
                .with_context(|| no_token(&profile, &cfg_path))?;
            return Ok(Credentials { host, token });
        }
        let matching: Vec<&Profile> = all
            .iter()
            .filter(|p| {
                p.host
                    .as_deref()
                    .and_then(|h| normalize_host(h).ok())
                    .as_deref()
                    == Some(&*host)
            })
            .collect();
        return match matching.as_slice() {
            [] => bail!(
                "no credentials for {host}: set DATABRICKS_TOKEN or add a profile with this host to {}",
                cfg_path.display()
            ),
            [profile] => {
                let token = profile
                    .token
                    .clone()
                    .with_context(|| no_token(profile, &cfg_path))?;
                Ok(Credentials { host, token })
            }
            several => {
                let names: Vec<&str> = several.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "multiple profiles matched: {} (in {}); set workspace.profile or DATABRICKS_CONFIG_PROFILE",
                    names.join(", "),
                    cfg_path.display()
                )
            }
        };
    }

    // No workspace settings in the target: environment, then a profile.
    let mut host = env("DATABRICKS_HOST");
    let mut token = env("DATABRICKS_TOKEN").map(Secret::new);
    if host.is_none() || token.is_none() {
        let all = profiles()?;
        let profile = match env("DATABRICKS_CONFIG_PROFILE") {
            Some(name) => Some(find(&all, &name)?),
            None => all.iter().find(|p| p.name == "DEFAULT").cloned(),
        };
        if let Some(profile) = profile {
            host = host.or(profile.host);
            token = token.or(profile.token);
        }
    }
    let Some(host) = host else {
        bail!(
            "no workspace host: set workspace.host or workspace.profile in the target, \
             DATABRICKS_HOST, or a [DEFAULT] profile in {}",
            cfg_path.display()
        );
    };
    let host = normalize_host(&host)?;
    let Some(token) = token else {
        bail!(
            "no token for {host}: set DATABRICKS_TOKEN or a profile in {}",
            cfg_path.display()
        );
    };
    Ok(Credentials { host, token })
}

/// `https://host` without a trailing slash or path; `http://` is kept (used
/// by the fake workspace in tests), a bare host name gets `https://`.
pub fn normalize_host(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("https".to_string(), raw),
    };
    if scheme != "https" && scheme != "http" {
        bail!("workspace host `{raw}` must use https://");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains(char::is_whitespace) || authority.contains('@') {
        bail!(
            "workspace host `{raw}` is not a host name (expected e.g. https://adb-123.4.azuredatabricks.net)"
        );
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

fn config_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(path) = env("DATABRICKS_CONFIG_FILE") {
        return PathBuf::from(path);
    }
    let home = env("HOME")
        .or_else(|| env("USERPROFILE"))
        .unwrap_or_default();
    Path::new(&home).join(".databrickscfg")
}

fn no_token(profile: &Profile, cfg: &Path) -> String {
    format!(
        "profile `{}` in {} has no `token` (only personal access tokens are supported)",
        profile.name,
        cfg.display()
    )
}

#[derive(Clone, Debug)]
struct Profile {
    name: String,
    host: Option<String>,
    token: Option<Secret>,
}

/// The INI subset `.databrickscfg` uses: `[section]`, `key = value`, `#`/`;`
/// comments. Keys before any section belong to `DEFAULT`, as in go-ini.
fn parse_config(text: &str, path: &Path) -> Result<Vec<Profile>> {
    let mut profiles: Vec<Profile> = Vec::new();
    let mut current = Profile {
        name: "DEFAULT".into(),
        host: None,
        token: None,
    };
    let mut seen_any = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                bail!(
                    "{}:{}:1: unterminated section header",
                    path.display(),
                    i + 1
                );
            };
            let finished = std::mem::replace(
                &mut current,
                Profile {
                    name: name.trim().to_string(),
                    host: None,
                    token: None,
                },
            );
            if seen_any || finished.host.is_some() || finished.token.is_some() {
                profiles.push(finished);
            }
            seen_any = true;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            // The line may hold a secret: name its position, never its text.
            bail!("{}:{}:1: expected `key = value`", path.display(), i + 1);
        };
        let value = value.trim().to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "host" => current.host = Some(value),
            "token" => current.token = Some(Secret::new(value)),
            _ => {}
        }
    }
    profiles.push(current);
    Ok(profiles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const CFG: &str = "\
; comment
[DEFAULT]
host = https://default.cloud.databricks.com/
token = dapi-default

[dev]
host = https://DEV.cloud.databricks.com/some/path
token = dapi-dev

[dev-too]
host = dev.cloud.databricks.com
token = dapi-dev-too

[prod]
host = https://prod.cloud.databricks.com
token = dapi-prod
";

    fn setup(vars: &[(&str, &str)]) -> (tempfile_dir::Dir, HashMap<String, String>) {
        let dir = tempfile_dir::Dir::new();
        let cfg = dir.0.join("databrickscfg");
        std::fs::write(&cfg, CFG).unwrap();
        let mut env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("DATABRICKS_CONFIG_FILE".into(), cfg.display().to_string());
        (dir, env)
    }

    fn run(target: TargetAuth, env: &HashMap<String, String>) -> Result<Credentials> {
        resolve_with(&target, &|k| env.get(k).cloned())
    }

    fn target(host: Option<&str>, profile: Option<&str>) -> TargetAuth {
        TargetAuth {
            host: host.map(String::from),
            profile: profile.map(String::from),
        }
    }

    #[test]
    fn explicit_profile_wins_over_env() {
        let (_d, env) = setup(&[
            ("DATABRICKS_HOST", "https://env.x"),
            ("DATABRICKS_TOKEN", "dapi-env"),
        ]);
        let c = run(target(None, Some("prod")), &env).unwrap();
        assert_eq!(c.host, "https://prod.cloud.databricks.com");
        assert_eq!(c.token.expose(), "dapi-prod");
    }

    #[test]
    fn host_picks_the_single_matching_profile() {
        let (_d, env) = setup(&[]);
        let c = run(target(Some("prod.cloud.databricks.com"), None), &env).unwrap();
        assert_eq!(c.token.expose(), "dapi-prod");
    }

    #[test]
    fn host_with_several_matching_profiles_is_an_error() {
        let (_d, env) = setup(&[]);
        let err = run(target(Some("https://dev.cloud.databricks.com"), None), &env).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("multiple profiles matched: dev, dev-too"),
            "{msg}"
        );
        assert!(!msg.contains("dapi-dev"), "{msg}");
    }

    #[test]
    fn host_with_env_token_uses_env_first() {
        let (_d, env) = setup(&[("DATABRICKS_TOKEN", "dapi-env")]);
        let c = run(
            target(Some("https://dev.cloud.databricks.com/"), None),
            &env,
        )
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.token.expose()),
            ("https://dev.cloud.databricks.com", "dapi-env")
        );
    }

    #[test]
    fn host_with_env_profile_must_match() {
        let (_d, env) = setup(&[("DATABRICKS_CONFIG_PROFILE", "prod")]);
        let c = run(target(Some("prod.cloud.databricks.com"), None), &env).unwrap();
        assert_eq!(c.token.expose(), "dapi-prod");
        let err = run(target(Some("dev.cloud.databricks.com"), None), &env).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
    }

    #[test]
    fn env_then_named_profile_then_default() {
        let (_d, env) = setup(&[
            ("DATABRICKS_HOST", "http://127.0.0.1:8080/"),
            ("DATABRICKS_TOKEN", "t"),
        ]);
        let c = run(TargetAuth::default(), &env).unwrap();
        assert_eq!(c.host, "http://127.0.0.1:8080");
        let (_d, env) = setup(&[("DATABRICKS_CONFIG_PROFILE", "dev")]);
        let c = run(TargetAuth::default(), &env).unwrap();
        assert_eq!(
            (c.host.as_str(), c.token.expose()),
            ("https://dev.cloud.databricks.com", "dapi-dev")
        );
        let (_d, env) = setup(&[]);
        let c = run(TargetAuth::default(), &env).unwrap();
        assert_eq!(
            (c.host.as_str(), c.token.expose()),
            ("https://default.cloud.databricks.com", "dapi-default")
        );
    }

    #[test]
    fn missing_profile_and_missing_file_are_clear_errors() {
        let (_d, env) = setup(&[]);
        let err = run(target(None, Some("nope")), &env).unwrap_err();
        assert!(
            format!("{err:#}").contains("profile `nope` not found"),
            "{err:#}"
        );
        let env: HashMap<String, String> = [(
            "DATABRICKS_CONFIG_FILE".to_string(),
            "/nonexistent/cfg".to_string(),
        )]
        .into();
        let err = run(TargetAuth::default(), &env).unwrap_err();
        assert!(format!("{err:#}").contains("no workspace host"), "{err:#}");
    }

    #[test]
    fn secrets_never_print() {
        let (_d, env) = setup(&[]);
        let c = run(target(None, Some("prod")), &env).unwrap();
        let shown = format!("{c:?} {} {:?}", c.token, c.token);
        assert!(!shown.contains("dapi-prod"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn malformed_config_names_the_line_not_the_content() {
        let dir = tempfile_dir::Dir::new();
        let cfg = dir.0.join("cfg");
        std::fs::write(&cfg, "[x]\nhost = https://x\ndapi-leaked-secret\n").unwrap();
        let env: HashMap<String, String> = [(
            "DATABRICKS_CONFIG_FILE".to_string(),
            cfg.display().to_string(),
        )]
        .into();
        let err = run(target(None, Some("x")), &env).unwrap_err();
        let msg = format!("{err:#} {err:?}");
        assert!(msg.contains(":3:1: expected `key = value`"), "{msg}");
        assert!(!msg.contains("dapi-leaked-secret"), "{msg}");
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(
            normalize_host("HOST.example.com/").unwrap(),
            "https://host.example.com"
        );
        assert_eq!(normalize_host("https://h.x/?o=1").unwrap(), "https://h.x");
        assert!(normalize_host("ftp://h").is_err());
        assert!(normalize_host("https://").is_err());
    }

    /// A temp dir without pulling `tempfile` into xtask's dev-dependencies.
    mod tempfile_dir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let p = std::env::temp_dir().join(format!("xtask-auth-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
