//! The CI workflows authenticate without a long-lived Databricks token:
//! GitHub OIDC federation (`id-token: write`) or a service principal's
//! secret, never `DATABRICKS_TOKEN` (README "Authentication in CI").

use e2e::workspace_root;

#[test]
fn workflows_use_federation_or_service_principals_not_tokens() {
    let dir = workspace_root().join(".github/workflows");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir)
        .expect("reading .github/workflows")
        .flatten()
    {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).expect("reading workflow");
        let doc: serde_json::Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let name = path.display();
        assert_eq!(
            doc["permissions"]["id-token"], "write",
            "{name}: no id-token: write"
        );
        let env = doc["env"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: no env"));
        assert!(
            !env.contains_key("DATABRICKS_TOKEN"),
            "{name} sets DATABRICKS_TOKEN"
        );
        for key in [
            "DATABRICKS_HOST",
            "DATABRICKS_CLIENT_ID",
            "DATABRICKS_CLIENT_SECRET",
        ] {
            assert!(env.contains_key(key), "{name}: {key} missing");
        }
        // Secrets hold only service-principal secrets, never a token.
        for (k, v) in env {
            let v = v.as_str().unwrap_or("");
            if v.contains("secrets.") {
                assert!(
                    k.ends_with("_SECRET"),
                    "{name}: {k} comes from a secret: {v}"
                );
            }
        }
        seen += 1;
    }
    assert!(
        seen >= 3,
        "expected the three workflows in {}",
        dir.display()
    );
}
