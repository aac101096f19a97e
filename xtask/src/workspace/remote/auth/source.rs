//! The token source a client and all its worker threads share: one mutex
//! around the current token, so a refresh happens once and every worker then
//! uses the new token (no stampede on the token endpoint).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use reqwest::blocking::Client as Http;

use super::attrs::Attrs;
use super::fetch::{self, Token};
use super::resolve::Method;
use super::{Secret, cli_cache};

/// How this process authenticates to one workspace.
pub struct Auth {
    pub host: String,
    pub method: Method,
    /// Extra headers for every API call (the unified-host routing header).
    pub headers: Vec<(String, String)>,
    attrs: Attrs,
    /// Ambient credentials read from the environment (GitHub Actions).
    github: Option<(String, Secret)>,
    /// The CLI token cache and the key of our entry.
    cli: Option<(std::path::PathBuf, String)>,
    http: Http,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Token>,
    endpoint: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("host", &self.host)
            .field("method", &self.method)
            .field("attrs", &self.attrs)
            .finish_non_exhaustive()
    }
}

/// What [`Auth::new`] needs beyond the attributes.
pub struct Extras {
    pub github: Option<(String, Secret)>,
    pub cli: Option<(std::path::PathBuf, String)>,
}

impl Auth {
    pub fn new(host: String, method: Method, attrs: Attrs, extras: Extras) -> Result<Auth> {
        // Token endpoints may be elsewhere (Entra ID, an IdP): roots are
        // skipped only when the workspace and every endpoint it may call
        // are plain HTTP, i.e. for a PAT on a loopback server.
        let builder = match method {
            Method::Pat => plain_http_only(Http::builder(), &host),
            _ => Http::builder(),
        };
        let http = builder
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "my_mlops_project-xtask/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .context("building the HTTP client for authentication")?;
        let headers = routing_headers(method, &attrs);
        let current = match method {
            Method::Pat => attrs.secret("token").map(Token::forever),
            _ => None,
        };
        Ok(Auth {
            host,
            method,
            headers,
            attrs,
            github: extras.github,
            cli: extras.cli,
            http,
            state: Mutex::new(State {
                current,
                endpoint: None,
            }),
        })
    }

    /// A personal access token, as given (tests and the plain PAT path).
    pub fn pat(host: String, token: Secret) -> Result<Auth> {
        let mut attrs = Attrs::default();
        attrs.set("host", &host);
        attrs.set("token", token.expose());
        let extras = Extras {
            github: None,
            cli: None,
        };
        Auth::new(host, Method::Pat, attrs, extras)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token to send now: the current one while fresh, else a new one.
    pub fn bearer(&self) -> Result<Secret> {
        let mut state = self.lock();
        if let Some(t) = state.current.as_ref().filter(|t| t.fresh()) {
            return Ok(t.access.clone());
        }
        let t = self.fetch(&mut state, false)?;
        let access = t.access.clone();
        state.current = Some(t);
        Ok(access)
    }

    /// After a 401 with `used`: gets a new token unless another worker already
    /// did. `Ok(false)` when there is nothing new to try (a PAT).
    pub fn refresh_after_401(&self, used: &Secret) -> Result<bool> {
        if self.method == Method::Pat {
            return Ok(false);
        }
        let mut state = self.lock();
        if let Some(t) = &state.current
            && t.access != *used
        {
            return Ok(true);
        }
        let t = self.fetch(&mut state, true)?;
        let new = t.access != *used;
        state.current = Some(t);
        Ok(new)
    }

    fn fetch(&self, state: &mut State, force: bool) -> Result<Token> {
        let old = state.current.as_ref().map(|t| t.access.clone());
        self.fetch_raw(state, force)
            .map_err(|e| self.scrub(e, old))
            .with_context(|| format!("authenticating to {} with {}", self.host, self.method))
    }

    fn fetch_raw(&self, state: &mut State, force: bool) -> Result<Token> {
        let mut endpoint = || -> Result<String> {
            if state.endpoint.is_none() {
                state.endpoint = Some(fetch::token_endpoint(&self.http, &self.host)?);
            }
            Ok(state.endpoint.clone().unwrap_or_default())
        };
        match self.method {
            Method::Pat => self
                .attrs
                .secret("token")
                .map(Token::forever)
                .context("token is not set"),
            Method::OauthM2m => fetch::oauth_m2m(&self.http, &endpoint()?, &self.attrs),
            Method::GithubOidc => {
                let (url, token) = self.github.as_ref().context(
                    "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set \
                     (run in GitHub Actions with `permissions: id-token: write`)",
                )?;
                fetch::github_oidc(&self.http, &endpoint()?, &self.attrs, url, token)
            }
            Method::DatabricksCli => {
                let (path, key) = self.cli.as_ref().with_context(|| {
                    format!(
                        "no cached login for {}; run `databricks auth login --host {}`",
                        self.host, self.host
                    )
                })?;
                cli_cache::token(&self.http, path, key, &self.host, &mut endpoint, force)
            }
            Method::AzureClientSecret => fetch::azure_client_secret(&self.http, &self.attrs),
            Method::AzureCli => fetch::azure_cli(&self.attrs),
        }
    }

    /// The message of `err` with every credential we hold replaced by `***`:
    /// servers sometimes echo what they refused.
    fn scrub(&self, err: anyhow::Error, old: Option<Secret>) -> anyhow::Error {
        let mut secrets = self.attrs.secrets();
        secrets.extend(self.github.as_ref().map(|(_, t)| t.clone()));
        secrets.extend(old);
        let mut msg = format!("{err:#}");
        for s in secrets.iter().filter(|s| s.expose().len() >= 4) {
            msg = msg.replace(s.expose(), "***");
        }
        anyhow!(msg)
    }
}

/// Unified hosts serve many workspaces: a workspace-level call names its
/// workspace in `X-Databricks-Org-Id` (the SDKs send it from `workspace_id`
/// when the host is unified; we know that from `experimental_is_unified_host`).
/// An Entra ID principal that is not yet a workspace user is let in by the
/// workspace's Azure resource id (`X-Databricks-Azure-Workspace-Resource-Id`,
/// as the SDKs send it with the Azure methods).
fn routing_headers(method: Method, attrs: &Attrs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let unified = attrs
        .get("experimental_is_unified_host")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    if unified && let Some(id) = attrs.get("workspace_id") {
        out.push(("X-Databricks-Org-Id".to_string(), id.to_string()));
    }
    let azure = matches!(method, Method::AzureClientSecret | Method::AzureCli);
    if azure && let Some(id) = attrs.get("azure_workspace_resource_id") {
        out.push((
            "X-Databricks-Azure-Workspace-Resource-Id".to_string(),
            id.to_string(),
        ));
    }
    out
}

/// A client for a plain `http://` host (a server on loopback) loads no
/// certificate roots: reading and parsing the system's bundle costs more
/// than a whole `validate` and would never be used.
pub fn plain_http_only(
    builder: reqwest::blocking::ClientBuilder,
    host: &str,
) -> reqwest::blocking::ClientBuilder {
    if host.starts_with("http://") {
        builder.tls_certs_only(Vec::new())
    } else {
        builder
    }
}
