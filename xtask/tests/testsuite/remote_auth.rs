//! Unified authentication end to end: the real `xtask deploy --remote`
//! against the fake workspace and its fake identity providers on loopback
//! (OIDC token endpoint, GitHub Actions ID tokens, Entra ID) and a fake `az`
//! on PATH. Each run's stdout, stderr, local state and remote objects are
//! searched for every credential the test handed out.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::deploy::{Repo, text};
use e2e::fake_workspace::FakeWorkspace;
use e2e::fake_workspace::idp::{AZURE_DATABRICKS_APP, GITHUB_ID_TOKEN_PATH};

struct Case {
    repo: Repo,
    fake: FakeWorkspace,
    /// `HOME`: `.databrickscfg` and the CLI's token cache live here, apart
    /// from the repository (the cache holds tokens by design).
    home: tempfile::TempDir,
    printed: std::cell::RefCell<String>,
}

impl Case {
    fn new() -> Case {
        Case {
            repo: Repo::new(),
            fake: FakeWorkspace::start(),
            home: tempfile::tempdir().expect("tempdir"),
            printed: Default::default(),
        }
    }

    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.repo.xtask(args);
        cmd.arg("--remote")
            .env("HOME", self.home.path())
            .env("XTASK_POLL_MS", "20");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running xtask");
        self.printed.borrow_mut().push_str(&text(&out));
        out
    }

    fn deploy_ok(&self, vars: &[(&str, &str)]) {
        let out = self.run(&["deploy", "--env", "dev", "--json"], vars);
        assert!(out.status.success(), "deploy failed:\n{}", text(&out));
        let train = "/Workspace/Users/tester@example.com/.bundle/demo/dev/files/training/train";
        assert!(self.fake.file(train).is_some(), "nothing deployed");
    }

    fn deploy_fails(&self, vars: &[(&str, &str)]) -> String {
        let out = self.run(&["deploy", "--env", "dev"], vars);
        assert!(!out.status.success(), "deploy succeeded:\n{}", text(&out));
        assert!(
            self.fake.paths().iter().all(|p| !p.contains("/.bundle/")),
            "a refused deploy wrote {:?}",
            self.fake.paths()
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn config(&self, text: &str) {
        std::fs::write(self.home.path().join(".databrickscfg"), text).unwrap();
    }

    /// None of `secrets` in anything printed, in the repository (bundle and
    /// local state) or in the workspace's objects.
    fn assert_nothing_leaked(&self, secrets: &[&str]) {
        let printed = self.printed.borrow();
        let local = crate::support::deploy::files_under(self.repo.path());
        for s in secrets {
            assert!(!printed.contains(s), "`{s}` was printed:\n{printed}");
            for (p, bytes) in &local {
                assert!(
                    !String::from_utf8_lossy(bytes).contains(s),
                    "`{s}` is stored in {p}"
                );
            }
            for p in self.fake.paths() {
                let bytes = self.fake.file(&p).unwrap_or_default();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(s),
                    "`{s}` is stored remotely in {p}"
                );
            }
        }
    }
}

#[test]
fn pat_from_default_profile_or_the_one_the_environment_names() {
    let c = Case::new();
    let url = c.fake.url();
    c.config(&format!(
        "[DEFAULT]\nhost = {url}\ntoken = dapi-wrong-default\n\n[ci]\nhost = {url}\ntoken = {}\n",
        c.fake.token()
    ));
    // [DEFAULT]'s token is refused; a PAT has nothing to refresh: one 401.
    let err = c.deploy_fails(&[]);
    assert!(err.contains("Invalid access token"), "{err}");
    assert_eq!(c.fake.requests_matching("scim/v2/Me").len(), 1);
    c.deploy_ok(&[("DATABRICKS_CONFIG_PROFILE", "ci")]);
    c.assert_nothing_leaked(&[c.fake.token(), "dapi-wrong-default"]);
}

#[test]
fn profile_flag_selects_the_profile() {
    let c = Case::new();
    let url = c.fake.url();
    c.config(&format!(
        "[DEFAULT]\nhost = {url}\ntoken = dapi-wrong-default\n\n[ci]\nhost = {url}\ntoken = {}\n",
        c.fake.token()
    ));
    let out = c.run(&["deploy", "--env", "dev", "-p", "ci"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = c.run(&["deploy", "--env", "dev", "--profile", "nope"], &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("profile `nope` not found"),
        "{}",
        text(&out)
    );
    c.assert_nothing_leaked(&[c.fake.token(), "dapi-wrong-default"]);
}

#[test]
fn default_profile_setting_and_host_matching_by_workspace_id() {
    let c = Case::new();
    let url = c.fake.url();
    c.repo.write(
        "databricks.yml",
        &crate::support::deploy::DATABRICKS_YML
            .replace("include:", &format!("workspace:\n  host: {url}\ninclude:")),
    );
    c.config(&format!(
        "[__settings__]\ndefault_profile = nope\n\n\
         [a]\nhost = {url}\ntoken = dapi-wrong-a\nworkspace_id = 1\n\n\
         [b]\nhost = {url}/\ntoken = {}\nworkspace_id = 2\n",
        c.fake.token()
    ));
    let err = c.deploy_fails(&[]);
    assert!(err.contains("multiple profiles matched: a, b"), "{err}");
    c.deploy_ok(&[("DATABRICKS_WORKSPACE_ID", "2")]);
    c.assert_nothing_leaked(&[c.fake.token(), "dapi-wrong-a"]);
}

#[test]
fn oauth_m2m_from_the_environment() {
    let c = Case::new();
    c.fake
        .idp()
        .clients
        .insert("sp-deployer".into(), "m2m-s3cret-value".into());
    let vars = [
        ("DATABRICKS_HOST", c.fake.url()),
        ("DATABRICKS_CLIENT_ID", "sp-deployer"),
        ("DATABRICKS_CLIENT_SECRET", "m2m-s3cret-value"),
    ];
    c.deploy_ok(&vars);
    assert_eq!(c.fake.idp().grants, vec!["client_credentials"]);
    assert_eq!(
        c.fake
            .requests_matching("GET /oidc/.well-known/oauth-authorization-server")
            .len(),
        1
    );
    c.assert_nothing_leaked(&["m2m-s3cret-value", "m2m-"]);
}

#[test]
fn a_wrong_secret_fails_fast_naming_the_method_not_the_secret() {
    let c = Case::new();
    c.fake
        .idp()
        .clients
        .insert("sp-deployer".into(), "the-right-one".into());
    let start = Instant::now();
    let err = c.deploy_fails(&[
        ("DATABRICKS_HOST", c.fake.url()),
        ("DATABRICKS_CLIENT_ID", "sp-deployer"),
        ("DATABRICKS_CLIENT_SECRET", "wr0ng-secret-value"),
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(err.contains("with oauth-m2m"), "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert_eq!(c.fake.requests_matching("POST /oidc/v1/token").len(), 1);
    c.assert_nothing_leaked(&["wr0ng-secret-value", "the-right-one"]);
}

#[test]
fn github_oidc_token_federation() {
    let c = Case::new();
    {
        let mut idp = c.fake.idp();
        idp.github_request_token = Some("gh-request-bearer-xyz".into());
        idp.federation_client = Some("sp-federated".into());
    }
    let request_url = format!("{}{GITHUB_ID_TOKEN_PATH}?api-version=2.0", c.fake.url());
    let vars = [
        ("DATABRICKS_HOST", c.fake.url()),
        ("DATABRICKS_CLIENT_ID", "sp-federated"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-bearer-xyz"),
    ];
    c.deploy_ok(&vars);
    let idp = c.fake.idp();
    assert_eq!(idp.grants, vec!["token-exchange"]);
    // The default audience is the workspace's token endpoint, as in the SDKs.
    assert_eq!(
        idp.audiences,
        vec![format!("{}/oidc/v1/token", c.fake.url())]
    );
    drop(idp);
    // Without the policy's client id, the exchange is refused and said so.
    let mut no_client = vars.to_vec();
    no_client.retain(|(k, _)| *k != "DATABRICKS_CLIENT_ID");
    let c2 = Case::new();
    {
        let mut idp = c2.fake.idp();
        idp.github_request_token = Some("gh-request-bearer-xyz".into());
        idp.federation_client = Some("sp-federated".into());
    }
    let url2 = format!("{}{GITHUB_ID_TOKEN_PATH}?api-version=2.0", c2.fake.url());
    let err = c2.deploy_fails(&[
        ("DATABRICKS_HOST", c2.fake.url()),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url2.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-bearer-xyz"),
    ]);
    assert!(
        err.contains("with github-oidc") && err.contains("invalid_grant"),
        "{err}"
    );
    c.assert_nothing_leaked(&["gh-request-bearer-xyz", "ghid-", "fed-"]);
    c2.assert_nothing_leaked(&["gh-request-bearer-xyz", "ghid-"]);
}

#[test]
fn databricks_cli_token_cache_is_refreshed_and_kept() {
    let c = Case::new();
    c.fake.idp().refresh_tokens.insert("rt-initial-abc".into());
    let cache_dir = c.home.path().join(".databricks");
    std::fs::create_dir_all(&cache_dir).unwrap();
    let cache = cache_dir.join("token-cache.json");
    let entry = serde_json::json!({"version": 1, "tokens": {c.fake.url(): {
        "access_token": "expired-access-abc",
        "token_type": "Bearer",
        "refresh_token": "rt-initial-abc",
        "expiry": "2020-01-01T00:00:00Z",
    }}});
    std::fs::write(&cache, serde_json::to_vec(&entry).unwrap()).unwrap();
    c.deploy_ok(&[("DATABRICKS_HOST", c.fake.url())]);
    assert_eq!(c.fake.idp().grants, vec!["refresh_token"]);
    // The rotated refresh token is kept, owner-only, for the next run.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    let saved = &saved["tokens"][c.fake.url()];
    let rt = saved["refresh_token"].as_str().unwrap();
    assert!(rt != "rt-initial-abc" && c.fake.idp().refresh_tokens.contains(rt));
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The second run uses the cached access token: no new grant.
    c.deploy_ok(&[("DATABRICKS_HOST", c.fake.url())]);
    assert_eq!(c.fake.idp().grants.len(), 1);
    let access = saved["access_token"].as_str().unwrap().to_string();
    c.assert_nothing_leaked(&["rt-initial-abc", rt, &access, "expired-access-abc"]);

    // No login at all: never a prompt, a message saying what to run.
    let c2 = Case::new();
    let err = c2.deploy_fails(&[
        ("DATABRICKS_HOST", c2.fake.url()),
        ("DATABRICKS_AUTH_TYPE", "databricks-cli"),
    ]);
    assert!(err.contains("databricks auth login"), "{err}");
}

#[test]
fn azure_client_secret_from_target_and_arm_variables() {
    let c = Case::new();
    c.fake.idp().azure = Some(("tenant-1".into(), "az-app".into(), "az-s3cret-value".into()));
    // auth_type from databricks.yml: the host is not an Azure one, so it must be forced.
    c.repo.write(
        "databricks.yml",
        &crate::support::deploy::DATABRICKS_YML.replace(
            "include:",
            &format!(
                "workspace:\n  host: {}\n  auth_type: azure-client-secret\ninclude:",
                c.fake.url()
            ),
        ),
    );
    let mut vars = vec![
        ("ARM_TENANT_ID", "tenant-1"),
        ("ARM_CLIENT_ID", "az-app"),
        ("ARM_CLIENT_SECRET", "az-s3cret-value"),
        ("AZURE_AUTHORITY_HOST", c.fake.url()),
    ];
    c.deploy_ok(&vars);
    assert_eq!(c.fake.idp().grants, vec!["azure_client_credentials"]);
    assert_eq!(
        c.fake
            .requests_matching("POST /tenant-1/oauth2/token")
            .len(),
        1
    );
    vars[2] = ("ARM_CLIENT_SECRET", "az-wr0ng-value");
    let c2 = Case::new();
    c2.repo.write(
        "databricks.yml",
        &crate::support::deploy::DATABRICKS_YML.replace(
            "include:",
            &format!(
                "workspace:\n  host: {}\n  auth_type: azure-client-secret\ninclude:",
                c2.fake.url()
            ),
        ),
    );
    c2.fake.idp().azure = c.fake.idp().azure.clone();
    vars[3] = ("AZURE_AUTHORITY_HOST", c2.fake.url());
    let err = c2.deploy_fails(&vars);
    assert!(
        err.contains("with azure-client-secret") && err.contains("AADSTS7000215"),
        "{err}"
    );
    c.assert_nothing_leaked(&["az-s3cret-value", "aad-"]);
    c2.assert_nothing_leaked(&["az-wr0ng-value", "az-s3cret-value"]);
}

/// A fake `az` that records its arguments and prints a token the fake accepts.
fn fake_az(dir: &Path, token: &str) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> '{}'\nprintf '%s' '{{\"accessToken\": \"{token}\", \"expires_on\": {expires}, \"tokenType\": \"Bearer\"}}'\n",
        dir.join("az-args.txt").display()
    );
    let az = bin.join("az");
    std::fs::write(&az, script).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn azure_cli_token_without_secrets_in_arguments() {
    let c = Case::new();
    c.fake.idp().accept("az-cli-access-token-123");
    let bin = fake_az(c.home.path(), "az-cli-access-token-123");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.deploy_ok(&[
        ("DATABRICKS_HOST", c.fake.url()),
        ("DATABRICKS_AUTH_TYPE", "azure-cli"),
        ("ARM_TENANT_ID", "tenant-1"),
        ("PATH", &path),
    ]);
    let args = std::fs::read_to_string(c.home.path().join("az-args.txt")).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "account get-access-token --resource {AZURE_DATABRICKS_APP} --tenant tenant-1 --output json"
        )
    );
    c.assert_nothing_leaked(&["az-cli-access-token-123"]);
}

/// Tokens that live one second, announced as such: refreshed before they
/// expire, so no request is refused, and the deploy (slowed to several
/// seconds) succeeds.
#[test]
fn short_lived_tokens_are_refreshed_during_a_deploy() {
    let c = Case::new();
    {
        let mut idp = c.fake.idp();
        idp.clients.insert("sp".into(), "m2m-s3cret-value".into());
        idp.announced = 1;
        idp.lifetime = Duration::from_secs(1);
    }
    c.fake.delay("/api/", Duration::from_millis(150), 1000);
    let start = Instant::now();
    c.deploy_ok(&[
        ("DATABRICKS_HOST", c.fake.url()),
        ("DATABRICKS_CLIENT_ID", "sp"),
        ("DATABRICKS_CLIENT_SECRET", "m2m-s3cret-value"),
    ]);
    assert!(
        start.elapsed() > Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(c.fake.idp().grants.len() >= 3, "{:?}", c.fake.idp().grants);
    let refused = c
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .count();
    assert_eq!(refused, 0);
    c.assert_nothing_leaked(&["m2m-s3cret-value", "m2m-"]);
}

/// Tokens that die long before their announced hour: the 401 triggers one
/// refresh and one retry, and the deploy succeeds.
#[test]
fn a_401_refreshes_once_and_retries() {
    let c = Case::new();
    {
        let mut idp = c.fake.idp();
        idp.clients.insert("sp".into(), "m2m-s3cret-value".into());
        idp.announced = 3600;
        idp.lifetime = Duration::from_millis(700);
    }
    c.fake.delay("/api/", Duration::from_millis(150), 1000);
    c.deploy_ok(&[
        ("DATABRICKS_HOST", c.fake.url()),
        ("DATABRICKS_CLIENT_ID", "sp"),
        ("DATABRICKS_CLIENT_SECRET", "m2m-s3cret-value"),
    ]);
    let refused = c
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .count();
    assert!(refused >= 1, "no token died during the deploy");
    assert!(c.fake.idp().grants.len() >= 2);
    c.assert_nothing_leaked(&["m2m-s3cret-value", "m2m-"]);
}

#[test]
fn unified_host_requests_carry_the_workspace_id() {
    let c = Case::new();
    c.deploy_ok(&[
        ("DATABRICKS_HOST", c.fake.url()),
        ("DATABRICKS_TOKEN", c.fake.token()),
        ("DATABRICKS_EXPERIMENTAL_IS_UNIFIED_HOST", "true"),
        ("DATABRICKS_WORKSPACE_ID", "900800700"),
    ]);
    let ids = c.fake.org_ids();
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i == "900800700"),
        "{ids:?}"
    );
    // Not a unified host: no routing header.
    let c2 = Case::new();
    c2.deploy_ok(&[
        ("DATABRICKS_HOST", c2.fake.url()),
        ("DATABRICKS_TOKEN", c2.fake.token()),
        ("DATABRICKS_WORKSPACE_ID", "900800700"),
    ]);
    assert!(c2.fake.org_ids().is_empty());
}

/// A cached login whose access token looks fresh but was revoked: the 401
/// makes us use the refresh token, and the deploy goes on.
#[test]
fn databricks_cli_revoked_token_is_refreshed_on_401() {
    let c = Case::new();
    c.fake.idp().refresh_tokens.insert("rt-revoked-case".into());
    let cache_dir = c.home.path().join(".databricks");
    std::fs::create_dir_all(&cache_dir).unwrap();
    let entry = serde_json::json!({"version": 1, "tokens": {c.fake.url(): {
        "access_token": "revoked-access-xyz",
        "token_type": "Bearer",
        "refresh_token": "rt-revoked-case",
        "expiry": "2999-01-01T00:00:00Z",
    }}});
    std::fs::write(
        cache_dir.join("token-cache.json"),
        serde_json::to_vec(&entry).unwrap(),
    )
    .unwrap();
    c.deploy_ok(&[("DATABRICKS_HOST", c.fake.url())]);
    assert_eq!(c.fake.idp().grants, vec!["refresh_token"]);
    let refused = c.fake.requests().iter().filter(|r| r.status == 401).count();
    assert_eq!(refused, 1);
    c.assert_nothing_leaked(&["rt-revoked-case", "revoked-access-xyz", "u2m-"]);
}
