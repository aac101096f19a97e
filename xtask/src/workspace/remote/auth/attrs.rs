//! The attributes of Databricks unified authentication, by their SDK names,
//! and the `.databrickscfg` file that holds them in profiles.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Result, bail};

use super::Secret;

/// One attribute: its name in profiles and `databricks.yml`, its environment
/// variable, whether it configures authentication (which stops host-to-profile
/// matching, as in the CLI) and whether it is a credential.
pub struct Attr {
    pub name: &'static str,
    pub env: &'static str,
    pub auth: bool,
    pub secret: bool,
}

const fn attr(name: &'static str, env: &'static str, auth: bool, secret: bool) -> Attr {
    Attr {
        name,
        env,
        auth,
        secret,
    }
}

/// The attributes we read, with the SDKs' environment variables.
/// `azure_authority_host` is ours: the Databricks SDKs only know the fixed
/// authorities of `azure_environment`; we also honour `AZURE_AUTHORITY_HOST`,
/// the Azure Identity libraries' override, so tests and sovereign clouds can
/// point Entra ID elsewhere.
pub const ATTRS: &[Attr] = &[
    attr("host", "DATABRICKS_HOST", false, false),
    attr("token", "DATABRICKS_TOKEN", true, true),
    attr("auth_type", "DATABRICKS_AUTH_TYPE", true, false),
    attr("client_id", "DATABRICKS_CLIENT_ID", true, false),
    attr("client_secret", "DATABRICKS_CLIENT_SECRET", true, true),
    attr("azure_client_id", "ARM_CLIENT_ID", true, false),
    attr("azure_client_secret", "ARM_CLIENT_SECRET", true, true),
    attr("azure_tenant_id", "ARM_TENANT_ID", true, false),
    attr("azure_environment", "ARM_ENVIRONMENT", false, false),
    attr(
        "azure_login_app_id",
        "DATABRICKS_AZURE_LOGIN_APP_ID",
        false,
        false,
    ),
    attr(
        "azure_workspace_resource_id",
        "DATABRICKS_AZURE_RESOURCE_ID",
        true,
        false,
    ),
    attr("azure_authority_host", "AZURE_AUTHORITY_HOST", false, false),
    attr("token_audience", "DATABRICKS_TOKEN_AUDIENCE", true, false),
    attr("workspace_id", "DATABRICKS_WORKSPACE_ID", false, false),
    attr("account_id", "DATABRICKS_ACCOUNT_ID", false, false),
    attr(
        "experimental_is_unified_host",
        "DATABRICKS_EXPERIMENTAL_IS_UNIFIED_HOST",
        false,
        false,
    ),
];

fn find(name: &str) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| a.name == name)
}

/// A set of attribute values. `Debug` shows credentials as `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attrs(BTreeMap<&'static str, String>);

impl Attrs {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).map(Secret::new)
    }

    /// Sets a known attribute (unknown names are ignored, as the SDK does
    /// with unknown profile keys); an empty value counts as unset.
    pub fn set(&mut self, name: &str, value: &str) {
        if let Some(a) = find(name)
            && !value.trim().is_empty()
        {
            self.0.insert(a.name, value.trim().to_string());
        }
    }

    /// Fills the attributes still unset from `other`.
    pub fn fill(&mut self, other: &Attrs) {
        for (k, v) in &other.0 {
            self.0.entry(k).or_insert_with(|| v.clone());
        }
    }

    /// Fills the unset attributes from the environment.
    pub fn fill_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        for a in ATTRS {
            if !self.0.contains_key(a.name)
                && let Some(v) = env(a.env)
            {
                self.set(a.name, &v);
            }
        }
    }

    /// Whether any attribute that configures authentication is set.
    pub fn any_auth(&self) -> bool {
        self.0.keys().any(|k| find(k).is_some_and(|a| a.auth))
    }

    /// Every credential value held, to scrub from messages.
    pub fn secrets(&self) -> Vec<Secret> {
        self.0
            .iter()
            .filter(|(k, _)| find(k).is_some_and(|a| a.secret))
            .map(|(_, v)| Secret::new(v.clone()))
            .collect()
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            let secret = find(k).is_some_and(|a| a.secret);
            m.entry(k, if secret { &"***" as &dyn fmt::Debug } else { v });
        }
        m.finish()
    }
}

/// One `[section]` of the config file.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub attrs: Attrs,
}

/// The parsed config file: its profiles and `[__settings__] default_profile`.
#[derive(Clone, Debug, Default)]
pub struct ConfigFile {
    pub profiles: Vec<Profile>,
    pub default_profile: Option<String>,
}

impl ConfigFile {
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

/// The INI subset `.databrickscfg` uses: `[section]`, `key = value`, `#`/`;`
/// comments. Keys before any section belong to `DEFAULT`, as in go-ini.
/// An error names the line, never its text: the line may hold a secret.
pub fn parse_config(text: &str, path: &Path) -> Result<ConfigFile> {
    let mut out = ConfigFile::default();
    let mut current = Profile {
        name: "DEFAULT".into(),
        attrs: Attrs::default(),
    };
    let mut seen_header = false;
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
            let next = Profile {
                name: name.trim().to_string(),
                attrs: Attrs::default(),
            };
            let done = std::mem::replace(&mut current, next);
            if seen_header || done.attrs != Attrs::default() {
                out.profiles.push(done);
            }
            seen_header = true;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("{}:{}:1: expected `key = value`", path.display(), i + 1);
        };
        let key = key.trim().to_ascii_lowercase();
        if current.name == "__settings__" {
            if key == "default_profile" {
                out.default_profile = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            }
            continue;
        }
        current.attrs.set(&key, value);
    }
    out.profiles.push(current);
    out.profiles.retain(|p| p.name != "__settings__");
    Ok(out)
}
