//! `databricks-cli`: the token cache `databricks auth login` writes
//! (`~/.databricks/token-cache.json`: `{"version": 1, "tokens": {key: {...}}}`,
//! keyed by host and, in newer CLIs, by profile name). An expired access token
//! is refreshed with its refresh token (client `databricks-cli`) and the cache
//! is rewritten, as the CLI does. We never open a browser or prompt: without
//! a usable entry the message says to run `databricks auth login`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use reqwest::blocking::Client as Http;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Secret;
use super::fetch::{Token, form, token_request};

pub fn path(home: &str) -> PathBuf {
    Path::new(home).join(".databricks").join("token-cache.json")
}

fn read(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            // serde's message quotes no input, but keep it to the position.
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: not JSON (line {}, column {})",
                    path.display(),
                    e.line(),
                    e.column()
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The cache key present for this host or profile, if any.
pub fn key(path: &Path, host: &str, profile: Option<&str>) -> Option<String> {
    let cache = read(path).ok()??;
    let tokens = cache.get("tokens")?.as_object()?;
    profile
        .filter(|p| tokens.contains_key(*p))
        .map(str::to_string)
        .or_else(|| tokens.contains_key(host).then(|| host.to_string()))
}

/// The cached token for `key`, refreshed at `endpoint()` if it is stale
/// (or `force`d).
pub fn token(
    http: &Http,
    path: &Path,
    key: &str,
    host: &str,
    endpoint: &mut dyn FnMut() -> Result<String>,
    force: bool,
) -> Result<Token> {
    let login = format!("run `databricks auth login --host {host}`");
    let Some(mut cache) = read(path)? else {
        bail!("no token cache at {}; {login}", path.display());
    };
    let entry = cache["tokens"][key].clone();
    let Some(access) = entry.get("access_token").and_then(Value::as_str) else {
        bail!("no token for {key} in {}; {login}", path.display());
    };
    let expires = entry
        .get("expiry")
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .map(SystemTime::from);
    let cached = Token {
        access: Secret::new(access),
        expires,
        lifetime: None,
    };
    // `force`: the workspace refused the cached token though it looked fresh.
    if cached.fresh() && !force {
        return Ok(cached);
    }
    let Some(refresh) = entry.get("refresh_token").and_then(Value::as_str) else {
        bail!("the cached token for {key} has expired and has no refresh token; {login}");
    };
    let refresh = Secret::new(refresh);
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        ("client_id", "databricks-cli"),
    ]);
    let (token, answer) = token_request(http, &endpoint()?, body, None)
        .with_context(|| format!("refreshing the cached token for {key} failed; {login}"))?;
    // Refresh tokens rotate: keep the new one, or the next run is locked out.
    let new_refresh = answer
        .get("refresh_token")
        .and_then(Value::as_str)
        .unwrap_or(refresh.expose());
    let expiry = token
        .expires
        .map(OffsetDateTime::from)
        .and_then(|t| t.format(&Rfc3339).ok());
    cache["tokens"][key] = json!({
        "access_token": token.access.expose(),
        "token_type": "Bearer",
        "refresh_token": new_refresh,
        "expiry": expiry,
    });
    write(path, &cache)?;
    Ok(token)
}

/// Rewrites the cache atomically, readable by its owner only (it holds tokens).
fn write(path: &Path, cache: &Value) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(cache)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}
