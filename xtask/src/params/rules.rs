//! The value rules of each key (DESIGN §3), as plain predicates that return
//! why a value is wrong. `project_params.schema.json` encodes the same rules as
//! regular expressions; the shared case table keeps the two in step.

use crate::diag::edit_distance;

/// What a key accepts. Cross-field rules live in `super::check_doc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    ProjectName,
    RootDir,
    OneOf(&'static [&'static str]),
    Host,
    Branch,
    NonBlank,
    SchemaName,
    TableName,
    /// `$schema`: any string (editors resolve it; we do not).
    AnyString,
}

pub const CLOUDS: &[&str] = &["azure", "aws", "gcp"];
pub const CICD_PLATFORMS: &[&str] = &[
    "github_actions",
    "github_actions_for_github_enterprise_servers",
    "azure_devops",
    "gitlab",
];
pub const YES_NO: &[&str] = &["yes", "no"];

/// Every key the file may hold, in the template's order.
pub const KEYS: &[(&str, Rule)] = &[
    ("$schema", Rule::AnyString),
    ("input_project_name", Rule::ProjectName),
    ("input_root_dir", Rule::RootDir),
    ("input_cloud", Rule::OneOf(CLOUDS)),
    ("input_cicd_platform", Rule::OneOf(CICD_PLATFORMS)),
    ("input_databricks_staging_workspace_host", Rule::Host),
    ("input_databricks_prod_workspace_host", Rule::Host),
    ("input_default_branch", Rule::Branch),
    ("input_release_branch", Rule::Branch),
    ("input_read_user_group", Rule::NonBlank),
    ("input_include_models_in_unity_catalog", Rule::OneOf(YES_NO)),
    ("input_schema_name", Rule::SchemaName),
    ("input_unity_catalog_read_user_group", Rule::AnyString), // non-blank only with UC: a cross-field rule
    ("input_include_feature_store", Rule::OneOf(YES_NO)),
    ("input_include_mlflow_recipes", Rule::OneOf(YES_NO)),
    ("input_inference_table_name", Rule::TableName),
];

/// `Err(why)` when `value` breaks `rule`; the message starts with the value.
pub fn check(key: &str, rule: Rule, value: &str) -> Result<(), String> {
    let q = quote(value);
    match rule {
        Rule::AnyString => Ok(()),
        Rule::ProjectName => project_name(value)
            .map_err(|why| format!("{key} {q} is not a valid project name: {why}")),
        Rule::RootDir => {
            root_dir(value).map_err(|why| format!("{key} {q} is not a valid folder: {why}"))
        }
        Rule::OneOf(allowed) => {
            if allowed.contains(&value) {
                Ok(())
            } else {
                let list: Vec<String> = allowed.iter().map(|a| quote(a)).collect();
                Err(format!("{key} is {q}; expected one of {}", list.join(", ")))
            }
        }
        Rule::Host => host(value).map_err(|why| format!("{key} {q} {why}")),
        Rule::Branch => {
            branch(value).map_err(|why| format!("{key} {q} is not a valid git branch name: {why}"))
        }
        Rule::NonBlank => non_blank(value).map_err(|why| format!("{key} {why}")),
        Rule::SchemaName => {
            schema_name(value).map_err(|why| format!("{key} {q} is not a valid schema name: {why}"))
        }
        Rule::TableName => {
            table_name(value).map_err(|why| format!("{key} {q} is not a valid table name: {why}"))
        }
    }
}

/// A value in double quotes with JSON escapes, so blanks and control
/// characters are visible in messages.
pub fn quote(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

/// `^[^ .\\/]{3,}$`
pub fn project_name(s: &str) -> Result<(), String> {
    if s.chars().any(|c| matches!(c, ' ' | '.' | '\\' | '/')) {
        return Err(r#"it cannot contain " ", ".", "\" or "/""#.into());
    }
    if s.chars().count() < 3 {
        return Err("it must be at least 3 characters long".into());
    }
    Ok(())
}

/// A relative path that stays inside the repository. Whether it exists and is
/// the bundle folder is checked against the file system by the caller.
pub fn root_dir(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(
            "it is empty; give the bundle folder relative to the repository, e.g. \"bundle\""
                .into(),
        );
    }
    let bytes = s.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if s.starts_with(['/', '\\']) || drive {
        return Err("it must be relative to the repository, not absolute".into());
    }
    if s.split(['/', '\\']).any(|part| part == "..") {
        return Err("it cannot leave the repository with \"..\"".into());
    }
    Ok(())
}

/// `^(https://\S+)?$`
pub fn host(s: &str) -> Result<(), String> {
    match s.strip_prefix("https://") {
        _ if s.is_empty() => Ok(()),
        Some(rest) if !rest.is_empty() && !rest.chars().any(char::is_whitespace) => Ok(()),
        Some(_) => Err("must be a URL \"https://<host>\" without spaces, or empty".into()),
        None => Err("must be empty or a URL starting with \"https://\"".into()),
    }
}

/// `git check-ref-format --branch` rules.
pub fn branch(s: &str) -> Result<(), String> {
    let why = if s.is_empty() {
        "it is empty"
    } else if s.starts_with('-') {
        "it cannot start with \"-\""
    } else if s == "@" {
        "it cannot be \"@\""
    } else if s == "HEAD" {
        "it cannot be \"HEAD\""
    } else if let Some(c) = s.chars().find(char::is_ascii_control) {
        return Err(format!(
            "it cannot contain control characters (U+{:04X})",
            c as u32
        ));
    } else if let Some(c) = s.chars().find(|c| " ~^:?*[\\".contains(*c)) {
        return Err(format!("it cannot contain {}", quote(&c.to_string())));
    } else if s.contains("..") {
        "it cannot contain \"..\""
    } else if s.contains("@{") {
        "it cannot contain \"@{\""
    } else if s.starts_with('/') || s.ends_with('/') || s.contains("//") {
        "it cannot start or end with \"/\" or contain \"//\""
    } else if s.ends_with('.') {
        "it cannot end with \".\""
    } else if s.split('/').any(|part| part.starts_with('.')) {
        "no part of it can start with \".\""
    } else if s.split('/').any(|part| part.ends_with(".lock")) {
        "no part of it can end with \".lock\""
    } else {
        return Ok(());
    };
    Err(why.into())
}

/// At least one non-blank character.
pub fn non_blank(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}

/// `^[^ .\-\/\\]*$`
pub fn schema_name(s: &str) -> Result<(), String> {
    if s.chars().any(|c| matches!(c, ' ' | '.' | '-' | '/' | '\\')) {
        return Err(r#"it cannot contain " ", ".", "-", "/" or "\""#.into());
    }
    Ok(())
}

/// `catalog.schema.table`, each part `[^ .\-\/]+`.
pub fn table_name(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err("expected three non-empty parts \"catalog.schema.table\"".into());
    }
    if s.chars().any(|c| matches!(c, ' ' | '-' | '/')) {
        return Err(r#"its parts cannot contain " ", "-" or "/""#.into());
    }
    Ok(())
}

/// The known key closest to a misspelt one, if it is close enough to be the
/// likely intent (a few edits, or the `input_` prefix forgotten).
pub fn suggest(unknown: &str) -> Option<&'static str> {
    let lower = unknown.to_lowercase();
    let prefixed = format!("input_{lower}");
    KEYS.iter()
        .map(|(k, _)| *k)
        .map(|k| {
            (
                k,
                if k == prefixed {
                    0
                } else {
                    edit_distance(&lower, k)
                },
            )
        })
        .filter(|(k, d)| *d <= 3.min(k.len() / 3))
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        for ok in [
            "abc",
            "my_mlops_project",
            "my-mlops-project",
            "日本語",
            "a-b",
        ] {
            assert_eq!(project_name(ok), Ok(()), "{ok}");
        }
        for bad in ["ab", "", "a b c", "a.bc", "ab/c", "ab\\c"] {
            assert!(project_name(bad).is_err(), "{bad}");
        }
        assert!(project_name("ab").unwrap_err().contains("at least 3"));
    }

    #[test]
    fn root_dirs() {
        for ok in ["bundle", "bundle/", "a/b", ".", "./bundle"] {
            assert_eq!(root_dir(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "\\abs",
            "C:/x",
            "..",
            "../x",
            "a/../../b",
            "a\\..\\b",
        ] {
            assert!(root_dir(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        for ok in ["", "https://adb-1.2.azuredatabricks.net", "https://x"] {
            assert_eq!(host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://x",
            "https://",
            "https:// x",
            "adb.net",
            " https://x",
            "HTTPS://x",
        ] {
            assert!(host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches_follow_git_check_ref_format() {
        for ok in [
            "main",
            "release",
            "release/v1.2",
            "feature/a-b_c",
            "v1.0",
            "a@b",
            "x.lockx",
            "@x",
        ] {
            assert_eq!(branch(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("", "empty"),
            ("-x", "start with \"-\""),
            ("@", "\"@\""),
            ("HEAD", "\"HEAD\""),
            ("a b", "\" \""),
            ("a~1", "\"~\""),
            ("a^", "\"^\""),
            ("a:b", "\":\""),
            ("a?", "\"?\""),
            ("a*", "\"*\""),
            ("a[b", "\"[\""),
            ("a\\b", "\"\\\\\""),
            ("a\tb", "U+0009"),
            ("a\u{7f}", "U+007F"),
            ("a..b", "\"..\""),
            ("a@{1}", "\"@{\""),
            ("/a", "\"/\""),
            ("a/", "\"/\""),
            ("a//b", "\"//\""),
            ("a.", "end with \".\""),
            (".a", "start with \".\""),
            ("a/.b", "start with \".\""),
            ("a.lock", "\".lock\""),
            ("a.lock/b", "\".lock\""),
        ];
        for (name, why) in bad {
            let err = branch(name).expect_err(name);
            assert!(err.contains(why), "{name:?}: {err}");
        }
    }

    #[test]
    fn schema_and_table_names() {
        for ok in ["", "abc", "my_schema", "日本"] {
            assert_eq!(schema_name(ok), Ok(()), "{ok}");
        }
        for bad in ["a-b", "a b", "a.b", "a/b", "a\\b"] {
            assert!(schema_name(bad).is_err(), "{bad}");
        }
        for ok in ["dev.s.t", "a.b.c", "c\\x.s.t"] {
            assert_eq!(table_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "a.b", "a.b.c.d", ".b.c", "a..c", "a.b.", "a-x.b.c", "a.b c.d", "a.b/c.d", "",
        ] {
            assert!(table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_must_not_be_blank() {
        assert_eq!(non_blank("users"), Ok(()));
        assert!(non_blank("").is_err());
        assert!(non_blank(" \t").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("input_clod"), Some("input_cloud"));
        assert_eq!(suggest("cloud"), Some("input_cloud"));
        assert_eq!(suggest("INPUT_CLOUD"), Some("input_cloud"));
        assert_eq!(suggest("input_relase_branch"), Some("input_release_branch"));
        assert_eq!(suggest("schema"), Some("$schema"));
        assert_eq!(suggest("something_else"), None);
        assert_eq!(suggest("input_setup_cicd_and_project"), None);
    }
}
