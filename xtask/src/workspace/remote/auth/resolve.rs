//! Which attributes apply and which method uses them: the precedence of the
//! Databricks SDKs and CLI, as plain functions on plain data (no I/O), so
//! the rules are tested as a table.
//!
//! 1. Explicit configuration: the target's `workspace.*`, with `-p/--profile`
//!    replacing `workspace.profile`. An explicit profile is then read and
//!    wins over the auth environment variables (the CLI's bundle rule).
//! 2. Otherwise the environment fills what is unset, then one profile:
//!    `DATABRICKS_CONFIG_PROFILE`; else, when the target names a host and no
//!    auth attribute is set yet, the profile whose host matches (several:
//!    the one whose `workspace_id` matches, else an error); else, without
//!    any auth attribute, `[__settings__] default_profile` or `[DEFAULT]`
//!    (unless it is for another host than `DATABRICKS_HOST`).
//! 3. `auth_type` forces a method; without it the first method whose
//!    attributes are present is used, in the SDK's order.

use anyhow::{Result, bail};

use super::attrs::{Attrs, ConfigFile, Profile};
use super::fetch::redact_url;
use super::normalize_host;

/// The method names of unified authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Pat,
    OauthM2m,
    DatabricksCli,
    GithubOidc,
    AzureClientSecret,
    AzureCli,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Pat,
        Method::OauthM2m,
        Method::DatabricksCli,
        Method::GithubOidc,
        Method::AzureClientSecret,
        Method::AzureCli,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Pat => "pat",
            Method::OauthM2m => "oauth-m2m",
            Method::DatabricksCli => "databricks-cli",
            Method::GithubOidc => "github-oidc",
            Method::AzureClientSecret => "azure-client-secret",
            Method::AzureCli => "azure-cli",
        }
    }

    /// The attributes the method cannot work without.
    fn required(self) -> &'static [&'static str] {
        match self {
            Method::Pat => &["token"],
            Method::OauthM2m => &["client_id", "client_secret"],
            Method::AzureClientSecret => {
                &["azure_client_id", "azure_client_secret", "azure_tenant_id"]
            }
            Method::DatabricksCli | Method::GithubOidc | Method::AzureCli => &[],
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the machine offers beyond attributes, probed by the caller.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ambient {
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN` are set (a GitHub job with `id-token: write`).
    pub github_actions: bool,
    /// `~/.databricks/token-cache.json` has an entry for the host.
    pub cli_cache: bool,
    /// An `az` program is on `PATH`.
    pub az: bool,
}

/// The attributes in force and where the profile came from.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub attrs: Attrs,
    pub profile: Option<String>,
}

/// Step 1 and 2 of the module doc. `explicit` is the target's `workspace.*`
/// (host, auth_type, client_id, azure_*...), `profile` the explicit profile.
pub fn attributes(
    explicit: &Attrs,
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    cfg: &ConfigFile,
    cfg_name: &str,
) -> Result<Resolved> {
    let mut attrs = explicit.clone();
    let missing = |name: &str| format!("profile `{name}` not found in {cfg_name}");
    if let Some(name) = profile {
        let Some(p) = cfg.get(name) else {
            bail!("{}", missing(name))
        };
        check_host(explicit, p, cfg_name, "")?;
        attrs.fill(&p.attrs);
        return Ok(Resolved {
            attrs,
            profile: Some(name.to_string()),
        });
    }
    attrs.fill_env(env);
    if let Some(name) = env("DATABRICKS_CONFIG_PROFILE") {
        let Some(p) = cfg.get(&name) else {
            bail!("{} (DATABRICKS_CONFIG_PROFILE)", missing(&name))
        };
        check_host(explicit, p, cfg_name, " (DATABRICKS_CONFIG_PROFILE)")?;
        attrs.fill(&p.attrs);
        return Ok(Resolved {
            attrs,
            profile: Some(name),
        });
    }
    if attrs.any_auth() {
        return Ok(Resolved {
            attrs,
            profile: None,
        });
    }
    let chosen = match explicit.get("host") {
        Some(host) => match_host(host, attrs.get("workspace_id"), cfg, cfg_name)?,
        None => {
            let name = cfg.default_profile.as_deref().unwrap_or("DEFAULT");
            match cfg.get(name) {
                // A default profile for another host would pair its
                // credentials with the wrong workspace.
                Some(p) if !same_host(attrs.get("host"), p.attrs.get("host")) => None,
                Some(p) => Some(p),
                None if cfg.default_profile.is_some() => {
                    bail!("{} ([__settings__] default_profile)", missing(name))
                }
                None => None,
            }
        }
    };
    let profile = chosen.map(|p| {
        attrs.fill(&p.attrs);
        p.name.clone()
    });
    Ok(Resolved { attrs, profile })
}

/// Whether `host` (if set) is the profile's host.
fn same_host(host: Option<&str>, theirs: Option<&str>) -> bool {
    match (host, theirs) {
        (Some(a), Some(b)) => normalize_host(a).ok() == normalize_host(b).ok(),
        _ => true,
    }
}

/// An explicit host must be the host of the chosen profile.
fn check_host(explicit: &Attrs, p: &Profile, cfg_name: &str, why: &str) -> Result<()> {
    let (Some(want), Some(theirs)) = (explicit.get("host"), p.attrs.get("host")) else {
        return Ok(());
    };
    if normalize_host(want)? != normalize_host(theirs)? {
        bail!(
            "workspace.host {} does not match host {} of profile `{}`{why} in {cfg_name}",
            redact_url(want),
            redact_url(theirs),
            p.name
        );
    }
    Ok(())
}

/// The CLI's `ResolveProfileFromHost`: the one profile with this host; ties
/// broken by `workspace_id` (unified hosts serve several workspaces).
fn match_host<'a>(
    host: &str,
    workspace_id: Option<&str>,
    cfg: &'a ConfigFile,
    cfg_name: &str,
) -> Result<Option<&'a Profile>> {
    let host = normalize_host(host)?;
    let same = |p: &&Profile| {
        p.attrs
            .get("host")
            .and_then(|h| normalize_host(h).ok())
            .is_some_and(|h| h == host)
    };
    let mut matching: Vec<&Profile> = cfg.profiles.iter().filter(same).collect();
    if matching.len() > 1
        && let Some(id) = workspace_id
    {
        matching.retain(|p| p.attrs.get("workspace_id") == Some(id));
    }
    match matching.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        several => {
            let names: Vec<&str> = several.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "multiple profiles matched: {} (in {cfg_name}); set workspace.profile, --profile or DATABRICKS_CONFIG_PROFILE",
                names.join(", ")
            )
        }
    }
}

/// Step 3: the method, forced by `auth_type` or detected in the SDK's order.
pub fn method(attrs: &Attrs, ambient: Ambient) -> Result<Method> {
    let has = |k: &str| attrs.get(k).is_some();
    if let Some(forced) = attrs.get("auth_type") {
        let Some(m) = Method::ALL.into_iter().find(|m| m.name() == forced) else {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            bail!(
                "auth_type `{forced}` is not supported; use one of: {}",
                names.join(", ")
            );
        };
        if let Some(k) = m.required().iter().find(|k| !has(k)) {
            bail!(
                "auth_type {m}: {k} is not set (set {} or `{k}` in the profile)",
                super::attrs::ATTRS
                    .iter()
                    .find(|a| a.name == *k)
                    .map_or("", |a| a.env)
            );
        }
        return Ok(m);
    }
    // Like the SDK's validation: two complete credentials are ambiguous.
    let kinds: Vec<&str> = [
        ("pat", has("token")),
        ("oauth", has("client_secret")),
        ("azure", has("azure_client_secret")),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if kinds.len() > 1 {
        bail!(
            "more than one authorization method configured: {}; set auth_type to choose",
            kinds.join(" and ")
        );
    }
    let azure = is_azure(attrs);
    let complete = |m: Method| m.required().iter().all(|k| has(k));
    let found = [
        (Method::Pat, complete(Method::Pat)),
        (Method::OauthM2m, complete(Method::OauthM2m)),
        (Method::DatabricksCli, ambient.cli_cache),
        (Method::GithubOidc, ambient.github_actions),
        (
            Method::AzureClientSecret,
            azure && complete(Method::AzureClientSecret),
        ),
        (Method::AzureCli, azure && ambient.az),
    ]
    .into_iter()
    .find_map(|(m, ok)| ok.then_some(m));
    match found {
        Some(m) => Ok(m),
        None => bail!(
            "no credentials for {}: set DATABRICKS_TOKEN, DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET, \
             run `databricks auth login`, or add a profile (see README \"Authentication\")",
            attrs.get("host").unwrap_or("the workspace")
        ),
    }
}

/// Azure methods are only detected for Azure workspaces (the SDK's `IsAzure`);
/// `auth_type` forces them anywhere.
fn is_azure(attrs: &Attrs) -> bool {
    attrs.get("azure_workspace_resource_id").is_some()
        || attrs.get("host").is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            [
                ".azuredatabricks.net",
                ".databricks.azure.cn",
                ".databricks.azure.us",
            ]
            .iter()
            .any(|d| h.trim_end_matches('/').ends_with(d))
        })
}
