//! The path walk over the CLI's types. The expected messages are those the
//! CLI's `structaccess.ValidatePath` gives for the same paths (v0.298.0).

use super::*;

fn r(kind: &str, field: &str) -> Ref {
    Ref {
        kind: kind.into(),
        key: "k".into(),
        field: field.into(),
    }
}

#[test]
fn the_table_has_every_kind_with_its_types() {
    let t = types();
    assert_eq!(
        t.kinds["volumes"],
        ("catalog.CreateVolumeRequestContent", "catalog.VolumeInfo")
    );
    assert_eq!(t.kinds["jobs"].1, "dresources.JobRemote");
    // A field named like a line's keyword is a field.
    assert!(t.structs.keys().all(|name| !name.starts_with('=')));
    // Every type a kind or a field names is in the table.
    let named = t.kinds.values().flat_map(|(s, r)| [*s, *r]);
    let fields = t.structs.values().flat_map(|s| s.fields.values().copied());
    for ty in named.chain(fields) {
        // `[]T`, `map[K]T`: the element type follows the last `]`.
        let base = ty.rsplit(']').next().unwrap_or(ty);
        assert!(
            base.starts_with('=') || t.structs.contains_key(base),
            "{ty}"
        );
    }
}

#[test]
fn a_field_neither_type_knows_gets_the_cli_message() {
    assert_eq!(
        mismatch(&r("volumes", "non_existent")).unwrap(),
        "schema mismatch: non_existent: field \"non_existent\" not found in \
         catalog.CreateVolumeRequestContent; non_existent: field \"non_existent\" not found in \
         catalog.VolumeInfo"
    );
    // Known to the workspace alone, to the bundle alone, or to both.
    assert_eq!(mismatch(&r("pipelines", "creator_user_name")), None);
    assert_eq!(mismatch(&r("apps", "url")), None);
    assert_eq!(mismatch(&r("volumes", "catalog_name")), None);
    // An id is not checked; nor is a kind the CLI does not deploy.
    assert_eq!(mismatch(&r("volumes", "id")), None);
    assert_eq!(mismatch(&r("no_such_kind", "x")), None);
}

#[test]
fn nested_paths_follow_the_types() {
    let ok = [
        "tasks[0].task_key",
        "tasks[3].for_each_task.task.task_key",
        "tags.anything",
        "email_notifications.on_failure[0]",
    ];
    for path in ok {
        assert_eq!(mismatch(&r("jobs", path)), None, "{path}");
    }
    let bad = [
        (
            "tasks[0].nope",
            "tasks[0].nope: field \"nope\" not found in jobs.Task",
        ),
        ("tags.a.b", "tags.a.b: cannot access key \"b\" on string"),
        ("name[0]", "name[0]: cannot index string"),
        ("tasks.x", "tasks.x: cannot access key \"x\" on slice"),
    ];
    for (path, why) in bad {
        let got = mismatch(&r("jobs", path)).unwrap_or_default();
        assert_eq!(got, format!("schema mismatch: {why}; {why}"), "{path}");
    }
    let got = mismatch(&r("jobs", "permissions")).unwrap();
    assert!(got.ends_with("not found in dresources.JobRemote"), "{got}");
}

#[test]
fn permissions_and_grants_are_walked_as_their_own_kinds() {
    assert_eq!(mismatch(&r("pipelines", "permissions[0].level")), None);
    assert_eq!(mismatch(&r("schemas", "grants[0].principal")), None);
    let why = "[0].nope: field \"nope\" not found in dresources.StatePermission";
    assert_eq!(
        mismatch(&r("jobs", "permissions[0].nope")).unwrap(),
        format!("schema mismatch: {why}; {why}")
    );
    let why = "x: field \"x\" not found in dresources.GrantsState";
    assert_eq!(
        mismatch(&r("schemas", "grants.x")).unwrap(),
        format!("schema mismatch: {why}; {why}")
    );
}

#[test]
fn paths_split_into_keys_and_indices() {
    use Node::{Index, Key};
    assert_eq!(
        nodes("a.b[0][1].c"),
        [Key("a"), Key("b"), Index("0"), Index("1"), Key("c")]
    );
    let n = nodes("a.b[0].c");
    assert_eq!(shown(&n, 3), "a.b[0].c");
    assert_eq!(shown(&nodes("[0].x"), 1), "[0].x");
}

#[test]
fn settings_under_permissions_are_planned_apart() {
    let at = "resources.jobs.j";
    assert_eq!(planned_as(at, "resources.jobs.j.name"), at);
    assert_eq!(
        planned_as(at, "resources.jobs.j.permissions[0].level"),
        "resources.jobs.j.permissions"
    );
    assert_eq!(planned_as(at, "resources.jobs.j.permissions_x"), at);
}

#[test]
fn the_references_this_repository_and_the_corpus_use_are_known() {
    let used = [
        ("apps", "url"),
        ("catalogs", "name"),
        ("database_instances", "name"),
        ("jobs", "permissions[1].level"),
        ("pipelines", "catalog"),
        ("pipelines", "creator_user_name"),
        ("pipelines", "ingestion_definition.connection_name"),
        ("pipelines", "name"),
        ("pipelines", "state"),
        ("pipelines", "permissions[0].level"),
        ("schemas", "name"),
        ("volumes", "schema_name"),
        ("volumes", "storage_location"),
        ("volumes", "catalog_name"),
        ("volumes", "name"),
    ];
    for (kind, field) in used {
        assert_eq!(mismatch(&r(kind, field)), None, "{kind}.{field}");
    }
}
