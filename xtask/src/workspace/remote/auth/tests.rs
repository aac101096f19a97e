//! The precedence rules as a table: explicit target attributes, the
//! `--profile` flag, the environment and the config file in, the profile,
//! method and deciding attributes (or the error) out.

use std::collections::HashMap;
use std::path::Path;

use super::attrs::{Attrs, parse_config};
use super::resolve::{Ambient, Method, attributes, method};
use super::*;

const CFG: &str = "\
; comment
[DEFAULT]
host = https://default.cloud.databricks.com/
token = dapi-default

[dev]
host = https://DEV.cloud.databricks.com/some/path
token = dapi-dev
workspace_id = 111

[dev-too]
host = dev.cloud.databricks.com
token = dapi-dev-too
workspace_id = 222

[prod]
host = https://prod.cloud.databricks.com
client_id = sp-prod
client_secret = dose-prod

[azure]
host = https://adb-1.2.azuredatabricks.net
azure_client_id = az-id
azure_client_secret = az-secret
azure_tenant_id = tenant

[both]
host = https://both.cloud.databricks.com
token = dapi-both
client_secret = dose-both
client_id = sp-both
";

const SETTINGS: &str = "\
[__settings__]
default_profile = prod

[prod]
host = https://prod.cloud.databricks.com
token = dapi-prod-settings
";

/// The profile, the method and attribute=value pairs; or an error substring.
type Want = Result<
    (
        Option<&'static str>,
        Method,
        &'static [(&'static str, &'static str)],
    ),
    &'static str,
>;

struct Row {
    name: &'static str,
    cfg: &'static str,
    explicit: &'static [(&'static str, &'static str)],
    profile: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
    ambient: Ambient,
    /// `Ok((profile, method, attribute=value...))` or `Err(substring)`.
    want: Want,
}

const NONE: Ambient = Ambient {
    github_actions: false,
    cli_cache: false,
    az: false,
};
const GH: Ambient = Ambient {
    github_actions: true,
    cli_cache: false,
    az: false,
};
const CLI: Ambient = Ambient {
    github_actions: false,
    cli_cache: true,
    az: false,
};
const AZ: Ambient = Ambient {
    github_actions: false,
    cli_cache: false,
    az: true,
};

fn rows() -> Vec<Row> {
    use Method::*;
    vec![
        Row {
            name: "explicit profile wins over the auth environment",
            cfg: CFG,
            explicit: &[],
            profile: Some("dev"),
            env: &[
                ("DATABRICKS_HOST", "https://env.x"),
                ("DATABRICKS_TOKEN", "dapi-env"),
            ],
            ambient: NONE,
            want: Ok((Some("dev"), Pat, &[("token", "dapi-dev")])),
        },
        Row {
            name: "explicit host that differs from the explicit profile's",
            cfg: CFG,
            explicit: &[("host", "https://prod.cloud.databricks.com")],
            profile: Some("dev"),
            env: &[],
            ambient: NONE,
            want: Err("does not match host"),
        },
        Row {
            name: "unknown profile",
            cfg: CFG,
            explicit: &[],
            profile: Some("nope"),
            env: &[],
            ambient: NONE,
            want: Err("profile `nope` not found"),
        },
        Row {
            name: "host picks the single matching profile",
            cfg: CFG,
            explicit: &[("host", "prod.cloud.databricks.com")],
            profile: None,
            env: &[],
            ambient: NONE,
            want: Ok((Some("prod"), OauthM2m, &[("client_id", "sp-prod")])),
        },
        Row {
            name: "several matching profiles",
            cfg: CFG,
            explicit: &[("host", "https://dev.cloud.databricks.com")],
            profile: None,
            env: &[],
            ambient: NONE,
            want: Err("multiple profiles matched: dev, dev-too"),
        },
        Row {
            name: "several matching profiles, tie broken by workspace_id",
            cfg: CFG,
            explicit: &[("host", "https://dev.cloud.databricks.com")],
            profile: None,
            env: &[("DATABRICKS_WORKSPACE_ID", "222")],
            ambient: NONE,
            want: Ok((Some("dev-too"), Pat, &[("token", "dapi-dev-too")])),
        },
        Row {
            name: "host matching is skipped when the environment sets auth",
            cfg: CFG,
            explicit: &[("host", "https://dev.cloud.databricks.com")],
            profile: None,
            env: &[
                ("DATABRICKS_CLIENT_ID", "sp"),
                ("DATABRICKS_CLIENT_SECRET", "s3"),
            ],
            ambient: NONE,
            want: Ok((
                None,
                OauthM2m,
                &[
                    ("client_id", "sp"),
                    ("host", "https://dev.cloud.databricks.com"),
                ],
            )),
        },
        Row {
            name: "host matching is skipped when the target sets auth_type",
            cfg: CFG,
            explicit: &[
                ("host", "https://dev.cloud.databricks.com"),
                ("auth_type", "github-oidc"),
            ],
            profile: None,
            env: &[],
            ambient: GH,
            want: Ok((None, GithubOidc, &[])),
        },
        Row {
            name: "explicit target attributes win over the environment",
            cfg: CFG,
            explicit: &[
                ("host", "https://x.cloud.databricks.com"),
                ("client_id", "from-yml"),
            ],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "https://env.x"),
                ("DATABRICKS_CLIENT_ID", "from-env"),
                ("DATABRICKS_CLIENT_SECRET", "s"),
            ],
            ambient: NONE,
            want: Ok((
                None,
                OauthM2m,
                &[
                    ("client_id", "from-yml"),
                    ("host", "https://x.cloud.databricks.com"),
                ],
            )),
        },
        Row {
            name: "DATABRICKS_CONFIG_PROFILE must match the target host",
            cfg: CFG,
            explicit: &[("host", "https://dev.cloud.databricks.com")],
            profile: None,
            env: &[("DATABRICKS_CONFIG_PROFILE", "prod")],
            ambient: NONE,
            want: Err("does not match host"),
        },
        Row {
            name: "environment then DATABRICKS_CONFIG_PROFILE",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[("DATABRICKS_CONFIG_PROFILE", "dev")],
            ambient: NONE,
            want: Ok((Some("dev"), Pat, &[("token", "dapi-dev")])),
        },
        Row {
            name: "nothing set: [DEFAULT]",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[],
            ambient: NONE,
            want: Ok((Some("DEFAULT"), Pat, &[("token", "dapi-default")])),
        },
        Row {
            name: "nothing set: [__settings__] default_profile",
            cfg: SETTINGS,
            explicit: &[],
            profile: None,
            env: &[],
            ambient: NONE,
            want: Ok((Some("prod"), Pat, &[("token", "dapi-prod-settings")])),
        },
        Row {
            name: "environment host and token: no profile mixed in",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "http://127.0.0.1:1"),
                ("DATABRICKS_TOKEN", "t"),
            ],
            ambient: NONE,
            want: Ok((None, Pat, &[("token", "t"), ("host", "http://127.0.0.1:1")])),
        },
        Row {
            name: "auth_type forces a method over a token",
            cfg: CFG,
            explicit: &[("auth_type", "azure-cli")],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "https://h.x"),
                ("DATABRICKS_TOKEN", "t"),
            ],
            ambient: NONE,
            want: Ok((None, AzureCli, &[])),
        },
        Row {
            name: "auth_type needs its attributes",
            cfg: CFG,
            explicit: &[("auth_type", "oauth-m2m")],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "https://h.x"),
                ("DATABRICKS_CLIENT_ID", "sp"),
            ],
            ambient: NONE,
            want: Err(
                "auth_type oauth-m2m: client_secret is not set (set DATABRICKS_CLIENT_SECRET",
            ),
        },
        Row {
            name: "unknown auth_type",
            cfg: CFG,
            explicit: &[("auth_type", "basic")],
            profile: None,
            env: &[("DATABRICKS_HOST", "https://h.x")],
            ambient: NONE,
            want: Err("auth_type `basic` is not supported"),
        },
        Row {
            name: "two complete credentials are ambiguous",
            cfg: CFG,
            explicit: &[],
            profile: Some("both"),
            env: &[],
            ambient: NONE,
            want: Err("more than one authorization method configured: pat and oauth"),
        },
        Row {
            name: "token first in the SDK order",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "https://h.x"),
                ("DATABRICKS_TOKEN", "t"),
            ],
            ambient: GH,
            want: Ok((None, Pat, &[])),
        },
        Row {
            name: "the CLI's token cache before GitHub OIDC",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[("DATABRICKS_HOST", "https://h.x")],
            ambient: Ambient {
                github_actions: true,
                cli_cache: true,
                az: false,
            },
            want: Ok((None, DatabricksCli, &[])),
        },
        Row {
            name: "GitHub OIDC with a federation client id",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "https://h.x"),
                ("DATABRICKS_CLIENT_ID", "sp"),
            ],
            ambient: GH,
            want: Ok((None, GithubOidc, &[("client_id", "sp")])),
        },
        Row {
            name: "ARM_* on an Azure host",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "https://adb-9.9.azuredatabricks.net"),
                ("ARM_CLIENT_ID", "a"),
                ("ARM_CLIENT_SECRET", "b"),
                ("ARM_TENANT_ID", "c"),
            ],
            ambient: AZ,
            want: Ok((None, AzureClientSecret, &[("azure_tenant_id", "c")])),
        },
        Row {
            name: "azure_* from a profile",
            cfg: CFG,
            explicit: &[],
            profile: Some("azure"),
            env: &[],
            ambient: NONE,
            want: Ok((
                Some("azure"),
                AzureClientSecret,
                &[("azure_client_id", "az-id")],
            )),
        },
        Row {
            name: "ARM_* are not detected on a non-Azure host",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[
                ("DATABRICKS_HOST", "https://h.x"),
                ("ARM_CLIENT_ID", "a"),
                ("ARM_CLIENT_SECRET", "b"),
                ("ARM_TENANT_ID", "c"),
            ],
            ambient: AZ,
            want: Err("no credentials for https://h.x"),
        },
        Row {
            name: "az on PATH for an Azure host",
            cfg: CFG,
            explicit: &[],
            profile: None,
            env: &[("DATABRICKS_HOST", "https://adb-9.9.azuredatabricks.net")],
            ambient: AZ,
            want: Ok((None, AzureCli, &[])),
        },
        Row {
            name: "the CLI's token cache alone",
            cfg: CFG,
            explicit: &[("host", "https://elsewhere.x")],
            profile: None,
            env: &[],
            ambient: CLI,
            want: Ok((None, DatabricksCli, &[])),
        },
    ]
}

#[test]
fn precedence_table() {
    let mut failures = Vec::new();
    for row in rows() {
        let cfg = parse_config(row.cfg, Path::new("cfg")).unwrap();
        let mut explicit = Attrs::default();
        for (k, v) in row.explicit {
            explicit.set(k, v);
        }
        let env: HashMap<&str, &str> = row.env.iter().copied().collect();
        let lookup = |k: &str| env.get(k).map(|v| v.to_string());
        let got = attributes(&explicit, row.profile, &lookup, &cfg, "cfg")
            .and_then(|r| Ok((method(&r.attrs, row.ambient)?, r)));
        let ok = match (&got, &row.want) {
            (Ok((m, r)), Ok((profile, want_m, pairs))) => {
                r.profile.as_deref() == *profile
                    && m == want_m
                    && pairs.iter().all(|(k, v)| r.attrs.get(k) == Some(v))
            }
            (Err(e), Err(sub)) => format!("{e:#}").contains(sub),
            _ => false,
        };
        if !ok {
            let shown = got.map(|(m, r)| (m, r.profile, r.attrs));
            failures.push(format!("{}: got {shown:?}", row.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secrets_never_print() {
    let cfg = parse_config(CFG, Path::new("cfg")).unwrap();
    let shown = format!("{cfg:?}");
    for s in ["dapi-dev", "dose-prod", "az-secret", "dapi-default"] {
        assert!(!shown.contains(s), "{shown}");
    }
    assert!(shown.contains("***"));
    let auth = Auth::pat("https://h.x".into(), Secret::new("dapi-xyz")).unwrap();
    let shown = format!("{auth:?} {}", Secret::new("dapi-xyz"));
    assert!(!shown.contains("dapi-xyz"), "{shown}");
}

#[test]
fn malformed_config_names_the_line_not_the_content() {
    let err = parse_config(
        "[x]\nhost = https://x\ndapi-leaked-secret\n",
        Path::new("cfg"),
    )
    .unwrap_err();
    let msg = format!("{err:#} {err:?}");
    assert!(msg.contains("cfg:3:1: expected `key = value`"), "{msg}");
    assert!(!msg.contains("dapi-leaked-secret"), "{msg}");
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let env: HashMap<&str, &str> = [("DATABRICKS_CONFIG_FILE", "/nonexistent/cfg")].into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let err = choose(&TargetAuth::default(), &lookup, &|| false).unwrap_err();
    assert!(format!("{err:#}").contains("no workspace host"), "{err:#}");
}

#[test]
fn a_named_profile_with_no_config_file_falls_back_to_the_environment() {
    // As the SDKs (`config_file.go`: no file, nothing to load): a bundle's
    // `workspace.profile` does not stop a machine configured by env vars.
    let env: HashMap<&str, &str> = [
        ("DATABRICKS_CONFIG_FILE", "/nonexistent/cfg"),
        ("DATABRICKS_HOST", "https://h.x"),
        ("DATABRICKS_TOKEN", "dapi-abc"),
        ("DATABRICKS_CONFIG_PROFILE", "other"),
    ]
    .into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let target = TargetAuth {
        profile: Some("authors-profile".into()),
        ..Default::default()
    };
    let (host, method, resolved) = choose(&target, &lookup, &|| false).unwrap();
    assert_eq!(host, "https://h.x");
    assert_eq!(method.name(), "pat");
    assert_eq!(resolved.profile, None);
    // With a config file, a profile it lacks is still an error.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::write(&cfg, "[dev]\nhost = https://h.x\ntoken = t\n").unwrap();
    let cfg_s = cfg.display().to_string();
    let env: HashMap<&str, &str> = [("DATABRICKS_CONFIG_FILE", cfg_s.as_str())].into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let err = choose(&target, &lookup, &|| false).unwrap_err();
    assert!(
        format!("{err:#}").contains("profile `authors-profile` not found"),
        "{err:#}"
    );
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
    let err = normalize_host("https://user:pw-s3cret@h.x").unwrap_err();
    assert!(!format!("{err:#}").contains("pw-s3cret"), "{err:#}");
}

#[test]
fn urls_in_messages_lose_userinfo_and_query() {
    assert_eq!(
        fetch::redact_url("https://u:p@h.x/a/b?sig=1"),
        "https://***@h.x/a/b"
    );
    assert_eq!(fetch::redact_url("http://h.x"), "http://h.x");
}

#[test]
fn form_encoding() {
    assert_eq!(fetch::form(&[("a b", "x&y=z/é")]), "a+b=x%26y%3Dz%2F%C3%A9");
}

#[test]
fn routing_headers_for_unified_hosts_and_azure_resources() {
    let headers = |method: Method, pairs: &[(&str, &str)]| {
        let mut attrs = Attrs::default();
        for (k, v) in pairs {
            attrs.set(k, v);
        }
        let extras = source::Extras {
            github: None,
            cli: None,
        };
        Auth::new("https://h.x".into(), method, attrs, extras)
            .unwrap()
            .headers
    };
    let unified = [
        ("experimental_is_unified_host", "true"),
        ("workspace_id", "42"),
    ];
    assert_eq!(
        headers(Method::Pat, &unified),
        vec![("X-Databricks-Org-Id".to_string(), "42".to_string())]
    );
    assert!(headers(Method::Pat, &[("workspace_id", "42")]).is_empty());
    let rid = [("azure_workspace_resource_id", "/subscriptions/s/rg/w")];
    assert_eq!(headers(Method::AzureCli, &rid).len(), 1);
    assert!(headers(Method::OauthM2m, &rid).is_empty());
}
