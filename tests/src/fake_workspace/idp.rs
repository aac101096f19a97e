//! The identity providers a workspace client meets, faked on the same
//! loopback server: the workspace's OIDC metadata and token endpoint
//! (client credentials, RFC 8693 token exchange, refresh tokens), a GitHub
//! Actions ID token endpoint and an Entra ID (v1) token endpoint. Tokens they
//! issue are accepted by the workspace routes until their real expiry, which
//! a test can make shorter than the `expires_in` they announce.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;

use super::http::{Request, Response, parse_query};
use super::{error, json_response, ok};

pub const AZURE_DATABRICKS_APP: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
pub const GITHUB_ID_TOKEN_PATH: &str = "/_github/id-token";

/// What the fake identity providers accept and what they issued.
pub struct Idp {
    /// Access token → when it really stops working.
    issued: HashMap<String, Instant>,
    /// `expires_in` announced, and the real lifetime.
    pub announced: u64,
    pub lifetime: Duration,
    /// Service principals for client credentials: id → secret.
    pub clients: HashMap<String, String>,
    /// Valid refresh tokens (rotated on use), for the `databricks-cli` client.
    pub refresh_tokens: HashSet<String>,
    /// The bearer a GitHub job presents to get an ID token, and the ID tokens issued.
    pub github_request_token: Option<String>,
    id_tokens: HashSet<String>,
    /// The audience every ID token was asked for.
    pub audiences: Vec<String>,
    /// A federation policy bound to a service principal: the client id a
    /// token exchange must name (None: an account-wide policy).
    pub federation_client: Option<String>,
    /// Entra ID: (tenant, client id, secret) of the one service principal.
    pub azure: Option<(String, String, String)>,
    /// Grant types served successfully, in order.
    pub grants: Vec<String>,
    counter: u64,
}

impl Default for Idp {
    fn default() -> Idp {
        Idp {
            issued: HashMap::new(),
            announced: 3600,
            lifetime: Duration::from_secs(3600),
            clients: HashMap::new(),
            refresh_tokens: HashSet::new(),
            github_request_token: None,
            id_tokens: HashSet::new(),
            audiences: Vec::new(),
            federation_client: None,
            azure: None,
            grants: Vec::new(),
            counter: 0,
        }
    }
}

impl Idp {
    /// Whether `token` was issued here and still works.
    pub fn valid(&self, token: &str) -> bool {
        self.issued.get(token).is_some_and(|t| Instant::now() < *t)
    }

    /// Makes `token` valid for the configured lifetime (e.g. what a fake `az` prints).
    pub fn accept(&mut self, token: &str) {
        self.issued
            .insert(token.to_string(), Instant::now() + self.lifetime);
    }

    fn issue(&mut self, prefix: &str, grant: &str) -> String {
        self.counter += 1;
        let token = format!("{prefix}-{}-{}", self.counter, std::process::id());
        self.accept(&token);
        self.grants.push(grant.to_string());
        token
    }

    fn token_answer(&mut self, prefix: &str, grant: &str) -> Response {
        let access = self.issue(prefix, grant);
        ok(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.announced,
        }))
    }
}

/// Answers the identity routes; `None` for any other request.
pub fn route(idp: &mut Idp, req: &Request, path: &str) -> Option<Response> {
    let host = req.header("host").unwrap_or("127.0.0.1").to_string();
    match (req.method.as_str(), path) {
        ("GET", "/oidc/.well-known/oauth-authorization-server") => Some(ok(json!({
            "issuer": format!("http://{host}/oidc"),
            "authorization_endpoint": format!("http://{host}/oidc/v1/authorize"),
            "token_endpoint": format!("http://{host}/oidc/v1/token"),
        }))),
        ("POST", "/oidc/v1/token") => Some(databricks_token(idp, req)),
        ("GET", GITHUB_ID_TOKEN_PATH) => Some(github_id_token(idp, req)),
        ("POST", p) if p.ends_with("/oauth2/token") => {
            let tenant = p.trim_start_matches('/').split('/').next().unwrap_or("");
            Some(entra_token(idp, req, tenant))
        }
        _ => None,
    }
}

fn oauth_error(status: u16, code: &str, description: &str) -> Response {
    json_response(
        status,
        json!({ "error": code, "error_description": description }),
    )
}

fn form(req: &Request) -> HashMap<String, String> {
    parse_query(&String::from_utf8_lossy(&req.body))
}

/// `Authorization: Basic` as (id, secret).
fn basic(req: &Request) -> Option<(String, String)> {
    let b64 = req.header("authorization")?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn databricks_token(idp: &mut Idp, req: &Request) -> Response {
    let f = form(req);
    let get = |k: &str| f.get(k).map(String::as_str);
    match get("grant_type") {
        Some("client_credentials") => {
            let creds = basic(req).or_else(|| {
                Some((
                    get("client_id")?.to_string(),
                    get("client_secret")?.to_string(),
                ))
            });
            let Some((id, secret)) = creds else {
                return oauth_error(400, "invalid_request", "client credentials missing");
            };
            if idp.clients.get(&id) != Some(&secret) || get("scope") != Some("all-apis") {
                return oauth_error(401, "invalid_client", "Client authentication failed");
            }
            idp.token_answer("m2m", "client_credentials")
        }
        Some("urn:ietf:params:oauth:grant-type:token-exchange") => {
            let jwt_type =
                get("subject_token_type") == Some("urn:ietf:params:oauth:token-type:jwt");
            let known = get("subject_token").is_some_and(|t| idp.id_tokens.contains(t));
            let client_ok = match &idp.federation_client {
                Some(want) => get("client_id") == Some(want.as_str()),
                None => true,
            };
            if !(jwt_type && known && client_ok) {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "no federation policy matches the token",
                );
            }
            idp.token_answer("fed", "token-exchange")
        }
        Some("refresh_token") => {
            let Some(rt) = get("refresh_token").map(str::to_string) else {
                return oauth_error(400, "invalid_request", "refresh_token missing");
            };
            if get("client_id") != Some("databricks-cli") || !idp.refresh_tokens.remove(&rt) {
                return oauth_error(400, "invalid_grant", "refresh token is invalid or expired");
            }
            let access = idp.issue("u2m", "refresh_token");
            idp.counter += 1;
            let next = format!("rt-{}", idp.counter);
            idp.refresh_tokens.insert(next.clone());
            ok(json!({
                "access_token": access,
                "refresh_token": next,
                "token_type": "Bearer",
                "expires_in": idp.announced,
            }))
        }
        _ => oauth_error(400, "unsupported_grant_type", "grant type not supported"),
    }
}

fn github_id_token(idp: &mut Idp, req: &Request) -> Response {
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    if idp.github_request_token.is_none() || bearer != idp.github_request_token.as_deref() {
        return error(401, "", "bad request token");
    }
    let audience = req.query.get("audience").cloned().unwrap_or_default();
    idp.audiences.push(audience);
    idp.counter += 1;
    let token = format!("ghid-{}", idp.counter);
    idp.id_tokens.insert(token.clone());
    ok(json!({ "count": 1, "value": token }))
}

fn entra_token(idp: &mut Idp, req: &Request, tenant: &str) -> Response {
    let f = form(req);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let Some((t, id, secret)) = idp.azure.clone() else {
        return oauth_error(400, "invalid_request", "no tenant");
    };
    if tenant != t {
        return oauth_error(400, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if get("grant_type") != "client_credentials" || get("resource") != AZURE_DATABRICKS_APP {
        return oauth_error(400, "invalid_request", "AADSTS50001: resource not found");
    }
    if get("client_id") != id || get("client_secret") != secret {
        return oauth_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    idp.token_answer("aad", "azure_client_credentials")
}
