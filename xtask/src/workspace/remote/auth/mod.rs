//! Who we are talking to and how we prove it: Databricks unified
//! authentication (reference §3 "Auth", README "Authentication").
//!
//! `attrs` knows the attributes and the config file, `resolve` the
//! precedence and the choice of method (pure, tested as a table), `fetch`
//! and `cli_cache` get tokens, `source` shares and refreshes them.
//!
//! The config file is `DATABRICKS_CONFIG_FILE`, else `~/.databrickscfg`.
//! Every credential is wrapped in [`Secret`] (or held in [`attrs::Attrs`],
//! whose `Debug` hides them) from the moment it is read, and messages of
//! failed token requests are scrubbed of them, so no `{:?}` or error leaks one.

pub mod attrs;
mod cli_cache;
pub mod fetch;
pub mod resolve;
mod source;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

pub use attrs::Attrs;
pub use resolve::Method;
pub use source::{Auth, plain_http_only};

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The raw value, for the places that send it (headers, token requests).
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

/// A workspace and a personal access token (tests and benchmarks).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub host: String,
    pub token: Secret,
}

/// What the bundle target says: `workspace.host`, `workspace.profile` and
/// the other `workspace.*` attributes (auth_type, client_id, azure_*...).
#[derive(Clone, Debug, Default)]
pub struct TargetAuth {
    pub host: Option<String>,
    pub profile: Option<String>,
    pub attrs: Attrs,
}

impl TargetAuth {
    /// Every explicit attribute, the host included.
    fn explicit(&self) -> Attrs {
        let mut attrs = self.attrs.clone();
        if let Some(h) = &self.host {
            attrs.set("host", h);
        }
        attrs
    }
}

/// Resolves the target's authentication from the process environment and
/// the user's home, ready to hand out tokens.
pub fn resolve(target: &TargetAuth) -> Result<Arc<Auth>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (host, method, resolved) = choose(target, &env, &|| az_on_path(&env))?;
    let home = home(&env);
    let github = env("ACTIONS_ID_TOKEN_REQUEST_URL")
        .zip(env("ACTIONS_ID_TOKEN_REQUEST_TOKEN").map(Secret::new));
    let cache = cli_cache::path(&home);
    let cli = cli_cache::key(&cache, &host, resolved.profile.as_deref()).map(|k| (cache, k));
    let extras = source::Extras { github, cli };
    Ok(Arc::new(Auth::new(host, method, resolved.attrs, extras)?))
}

/// Host, method and attributes, with the machine probed through `env` and `az`.
pub fn choose(
    target: &TargetAuth,
    env: &dyn Fn(&str) -> Option<String>,
    az: &dyn Fn() -> bool,
) -> Result<(String, Method, resolve::Resolved)> {
    let cfg_path = config_path(env);
    let cfg_name = cfg_path.display().to_string();
    let (cfg, file_found) = match std::fs::read_to_string(&cfg_path) {
        Ok(text) => (attrs::parse_config(&text, &cfg_path)?, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (attrs::ConfigFile::default(), false),
        Err(e) => return Err(e).with_context(|| format!("reading {cfg_name}")),
    };
    // As the SDKs: a machine with no config file has no profiles to load,
    // so a named one is passed over and the environment used (a bundle
    // naming its author's profile runs in CI on env vars).
    let profile = target.profile.as_deref().filter(|_| file_found);
    let env_without_profile = |name: &str| {
        if !file_found && name == "DATABRICKS_CONFIG_PROFILE" {
            return None;
        }
        env(name)
    };
    let resolved = resolve::attributes(
        &target.explicit(),
        profile,
        &env_without_profile,
        &cfg,
        &cfg_name,
    )?;
    let Some(host) = resolved.attrs.get("host") else {
        bail!(
            "no workspace host: set workspace.host or workspace.profile in the target, \
             DATABRICKS_HOST, or a [DEFAULT] profile in {cfg_name}"
        );
    };
    let host = normalize_host(host)?;
    let ambient = resolve::Ambient {
        github_actions: env("ACTIONS_ID_TOKEN_REQUEST_URL").is_some()
            && env("ACTIONS_ID_TOKEN_REQUEST_TOKEN").is_some(),
        cli_cache: cli_cache::key(
            &cli_cache::path(&home(env)),
            &host,
            resolved.profile.as_deref(),
        )
        .is_some(),
        az: az(),
    };
    let method =
        resolve::method(&resolved.attrs, ambient).map_err(|e| match &resolved.profile {
            Some(p) => e.context(format!("profile `{p}` in {cfg_name}")),
            None => e,
        })?;
    Ok((host, method, resolved))
}

fn home(env: &dyn Fn(&str) -> Option<String>) -> String {
    env("HOME")
        .or_else(|| env("USERPROFILE"))
        .unwrap_or_default()
}

/// Whether an executable `az` is on `PATH` (the SDK tries the Azure CLI only then).
fn az_on_path(env: &dyn Fn(&str) -> Option<String>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = env("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join("az"))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
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
        bail!(
            "workspace host `{}` must use https://",
            fetch::redact_url(raw)
        );
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains(char::is_whitespace) || authority.contains('@') {
        bail!(
            "workspace host `{}` is not a host name (expected e.g. https://adb-123.4.azuredatabricks.net)",
            fetch::redact_url(raw)
        );
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

fn config_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(path) = env("DATABRICKS_CONFIG_FILE") {
        return PathBuf::from(path);
    }
    Path::new(&home(env)).join(".databrickscfg")
}
