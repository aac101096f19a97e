//! Getting an access token, one function per method. Each returns a
//! [`Token`] or an error that says what was refused; the caller names the
//! method and scrubs every credential from the message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::blocking::Client as Http;
use serde_json::Value;

use super::Secret;
use super::attrs::Attrs;

/// The Azure Databricks first-party application: the resource an Entra ID
/// token must be issued for.
pub const AZURE_DATABRICKS_APP: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// An access token and when it stops working (`None`: never, e.g. a PAT).
#[derive(Clone, Debug)]
pub struct Token {
    pub access: Secret,
    pub expires: Option<SystemTime>,
    /// How long it was valid when issued, to refresh well before the end.
    pub lifetime: Option<Duration>,
}

impl Token {
    pub fn forever(access: Secret) -> Token {
        Token {
            access,
            expires: None,
            lifetime: None,
        }
    }

    pub fn expiring_in(access: Secret, secs: u64) -> Token {
        let lifetime = Duration::from_secs(secs);
        Token {
            access,
            expires: Some(SystemTime::now() + lifetime),
            lifetime: Some(lifetime),
        }
    }

    /// Still good for a while: refreshed 40 s before expiry as the SDKs do,
    /// or half-way through a shorter life.
    pub fn fresh(&self) -> bool {
        let Some(expires) = self.expires else {
            return true;
        };
        let margin = self.lifetime.map_or(Duration::from_secs(40), |l| {
            (l / 2).min(Duration::from_secs(40))
        });
        SystemTime::now() + margin < expires
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// POSTs a form to a token endpoint and reads an OAuth token answer
/// (`access_token`, `expires_in`); a refusal reports `error` and
/// `error_description`, never the request.
pub fn token_request(
    http: &Http,
    url: &str,
    body: String,
    basic: Option<(&str, &Secret)>,
) -> Result<(Token, Value)> {
    // A refusal (4xx) is final at once; an unreachable or overloaded
    // endpoint gets two more tries, a second apart and then two.
    let mut attempt = 0;
    let resp = loop {
        attempt += 1;
        let mut req = http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some((user, pass)) = basic {
            req = req.basic_auth(user, Some(pass.expose()));
        }
        let sent = req.send();
        let transient = match &sent {
            Ok(r) => r.status().as_u16() == 429 || r.status().is_server_error(),
            Err(_) => true,
        };
        if !transient || attempt == 3 {
            break sent
                .map_err(|e| anyhow!(e.without_url()))
                .with_context(|| format!("POST {}", redact_url(url)))?;
        }
        std::thread::sleep(Duration::from_secs(attempt));
    };
    let status = resp.status().as_u16();
    let body: Value = resp
        .json()
        .map_err(|e| anyhow!(e.without_url()))
        .with_context(|| {
            format!(
                "POST {}: status {status}, the answer is not JSON",
                redact_url(url)
            )
        })?;
    if !(200..300).contains(&status) {
        let field = |k| body.get(k).and_then(Value::as_str).unwrap_or("");
        bail!(
            "{} refused: {}: {} (status {status})",
            redact_url(url),
            field("error"),
            field("error_description")
        );
    }
    let access = body
        .get("access_token")
        .and_then(Value::as_str)
        .with_context(|| format!("{}: no access_token in the answer", redact_url(url)))?;
    let expires_in = body.get("expires_in").and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let token = match expires_in {
        Some(secs) => Token::expiring_in(Secret::new(access), secs),
        // No lifetime said: assume an hour, the Databricks default.
        None => Token::expiring_in(Secret::new(access), 3600),
    };
    Ok((token, body))
}

/// The workspace's OAuth token endpoint, from its OIDC metadata.
pub fn token_endpoint(http: &Http, host: &str) -> Result<String> {
    let url = format!("{host}/oidc/.well-known/oauth-authorization-server");
    let resp = http
        .get(&url)
        .send()
        .map_err(|e| anyhow!(e.without_url()))
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    if status != 200 {
        bail!("GET {url}: status {status} (is OAuth enabled on this workspace?)");
    }
    let meta: Value = resp
        .json()
        .map_err(|e| anyhow!(e.without_url()))
        .with_context(|| format!("GET {url}: the answer is not JSON"))?;
    meta.get("token_endpoint")
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("GET {url}: no token_endpoint"))
}

/// `oauth-m2m`: client credentials of a service principal.
pub fn oauth_m2m(http: &Http, endpoint: &str, attrs: &Attrs) -> Result<Token> {
    let id = attrs.get("client_id").context("client_id is not set")?;
    let secret = attrs
        .secret("client_secret")
        .context("client_secret is not set")?;
    let body = form(&[("grant_type", "client_credentials"), ("scope", "all-apis")]);
    Ok(token_request(http, endpoint, body, Some((id, &secret)))?.0)
}

/// `github-oidc`: the job's ID token for `audience`, exchanged for a
/// Databricks token under a federation policy (RFC 8693).
pub fn github_oidc(
    http: &Http,
    endpoint: &str,
    attrs: &Attrs,
    request_url: &str,
    request_token: &Secret,
) -> Result<Token> {
    let audience = attrs.get("token_audience").unwrap_or(endpoint);
    let sep = if request_url.contains('?') { '&' } else { '?' };
    let url = format!("{request_url}{sep}{}", form(&[("audience", audience)]));
    let resp = http
        .get(&url)
        .bearer_auth(request_token.expose())
        .send()
        .map_err(|e| anyhow!(e.without_url()))
        .context("requesting the GitHub Actions ID token")?;
    let status = resp.status().as_u16();
    if status != 200 {
        bail!(
            "the GitHub Actions ID token request answered status {status} (does the job have `permissions: id-token: write`?)"
        );
    }
    let v: Value = resp
        .json()
        .map_err(|e| anyhow!(e.without_url()))
        .context("the GitHub Actions ID token answer is not JSON")?;
    let id_token = Secret::new(
        v.get("value")
            .and_then(Value::as_str)
            .context("the GitHub Actions ID token answer has no `value`")?,
    );
    let mut pairs = vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("subject_token", id_token.expose()),
        ("scope", "all-apis"),
    ];
    if let Some(id) = attrs.get("client_id") {
        pairs.push(("client_id", id));
    }
    Ok(token_request(http, endpoint, form(&pairs), None)?.0)
}

/// `azure-client-secret`: an Entra ID token for the Azure Databricks
/// resource, by client credentials (the v1 endpoint with `resource`, as the
/// Go SDK asks for it).
pub fn azure_client_secret(http: &Http, attrs: &Attrs) -> Result<Token> {
    let tenant = attrs
        .get("azure_tenant_id")
        .context("azure_tenant_id is not set")?;
    let id = attrs
        .get("azure_client_id")
        .context("azure_client_id is not set")?;
    let secret = attrs
        .secret("azure_client_secret")
        .context("azure_client_secret is not set")?;
    let url = format!("{}/{tenant}/oauth2/token", authority(attrs)?);
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret.expose()),
        ("resource", azure_resource(attrs)),
    ]);
    Ok(token_request(http, &url, body, None)?.0)
}

/// The Azure Databricks application id (`azure_login_app_id` overrides it).
pub fn azure_resource(attrs: &Attrs) -> &str {
    attrs
        .get("azure_login_app_id")
        .unwrap_or(AZURE_DATABRICKS_APP)
}

/// The Entra ID authority: `AZURE_AUTHORITY_HOST`, else the one of
/// `azure_environment` (`PUBLIC` by default), as in the SDKs' table.
fn authority(attrs: &Attrs) -> Result<String> {
    if let Some(host) = attrs.get("azure_authority_host") {
        return Ok(host.trim_end_matches('/').to_string());
    }
    let env = attrs.get("azure_environment").unwrap_or("PUBLIC");
    Ok(match env.to_ascii_uppercase().as_str() {
        "PUBLIC" | "AZUREPUBLICCLOUD" => "https://login.microsoftonline.com",
        "USGOVERNMENT" | "AZUREUSGOVERNMENTCLOUD" => "https://login.microsoftonline.us",
        "CHINA" | "AZURECHINACLOUD" => "https://login.chinacloudapi.cn",
        other => bail!("azure_environment `{other}` is not PUBLIC, USGOVERNMENT or CHINA"),
    }
    .to_string())
}

/// `azure-cli`: `az account get-access-token`. The arguments hold no secret;
/// the token comes back on stdout and is never echoed.
pub fn azure_cli(attrs: &Attrs) -> Result<Token> {
    let mut cmd = std::process::Command::new("az");
    cmd.args([
        "account",
        "get-access-token",
        "--resource",
        azure_resource(attrs),
    ]);
    if let Some(tenant) = attrs.get("azure_tenant_id") {
        cmd.args(["--tenant", tenant]);
    }
    cmd.args(["--output", "json"]);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .context("running `az` (is the Azure CLI installed and on PATH?)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        bail!(
            "`az account get-access-token` failed ({}): {first} (run `az login`)",
            out.status
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .context("`az account get-access-token` did not print JSON")?;
    let access = v
        .get("accessToken")
        .and_then(Value::as_str)
        .context("`az account get-access-token` printed no accessToken")?;
    let expires = v
        .get("expires_on")
        .and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
        })
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
    Ok(match expires {
        Some(at) => Token {
            access: Secret::new(access),
            expires: Some(at),
            lifetime: at.duration_since(SystemTime::now()).ok(),
        },
        // Older `az` prints only a local time: trust it for five minutes.
        None => Token::expiring_in(Secret::new(access), 300),
    })
}

/// A URL fit for a message: no `user:password@`, no query (it may carry a
/// signature or a code).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    if scheme.is_empty() {
        format!("{authority}{path}")
    } else {
        format!("{scheme}://{authority}{path}")
    }
}
