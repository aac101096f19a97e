//! The seam for kinds whose REST calls do not fit the table of
//! `remote_rest` (another API shape, no update call, ACLs of their own):
//! each such kind is one file defining a [`Custom`], listed in [`CUSTOM`].
//! `remote_resources` deploys through it, `remote_acl` sets its
//! permissions through it, and `dstate` records it in the CLI's shape.

use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value};

use super::resources::Action;
use super::{
    remote_apps, remote_dashboards, remote_models, remote_postgres, remote_secret_scopes,
    remote_vector_search,
};
use crate::workspace::remote::client::Client;

pub(super) type Apply =
    fn(&Client, Action, Option<String>, &Value, Option<&Value>) -> Result<Option<String>>;

type Prepare = fn(&Path, Option<&str>, &mut Map<String, Value>);
type SetPermissions = fn(&Client, &str, &str, &Value) -> Result<()>;
type Observe = fn(&Client, &str) -> Result<Map<String, Value>>;
type AccessState = fn(&str, &Map<String, Value>, &str) -> Option<Value>;

/// How one kind is deployed, permissioned and recorded.
pub(super) struct Custom {
    pub kind: &'static str,
    /// Completes the settings from the bundle's files (the bundle root, the
    /// YAML file declaring the resource, its settings), as the CLI's
    /// resource mutators do before it plans.
    pub prepare: Option<Prepare>,
    /// Carries out an action: `old` the recorded id, `settings` the API
    /// settings (references resolved), `before` what was recorded. Returns
    /// the id afterwards (`None` once deleted).
    pub apply: Apply,
    /// Sets `permissions:` (the whole bundle settings) on the resource `id`
    /// for the deploying user, instead of the permissions API (`None`: that API).
    pub permissions: Option<SetPermissions>,
    /// Fields the workspace gives (not the bundle) that the state keeps,
    /// read back after each create or update by `observe`; a plan carries
    /// them over and never counts them as a change.
    pub observed: &'static [&'static str],
    pub observe: Option<Observe>,
    /// The CLI direct engine's state of the settings (`resources.json`).
    pub to_state: fn(&Map<String, Value>) -> Map<String, Value>,
    /// The settings back from such a state (a deploy of the CLI adopted).
    pub from_state: fn(&Map<String, Value>) -> Map<String, Value>,
    /// The `.permissions` entry's state for the deploying user, if any,
    /// when not the permissions API's (`None`).
    pub access_state: Option<AccessState>,
    /// The `observed` field its permissions are kept under, when not its
    /// id (`None`: the id).
    pub permission_id: Option<&'static str>,
}

pub(super) const CUSTOM: &[&Custom] = &[
    &remote_secret_scopes::KIND,
    &remote_dashboards::KIND,
    &remote_apps::KIND,
    &remote_vector_search::KIND,
    &remote_postgres::PROJECTS,
    &remote_postgres::BRANCHES,
    &remote_postgres::ENDPOINTS,
    &remote_models::KIND,
];

pub(super) fn get(kind: &str) -> Option<&'static Custom> {
    CUSTOM.iter().copied().find(|c| c.kind == kind)
}

/// `old`, if the workspace still has it at `GET path`: a resource deleted
/// there since is made again.
pub(super) fn still_there(
    client: &Client,
    old: Option<String>,
    path: &str,
) -> Result<Option<String>> {
    match old {
        Some(id) => Ok(client.rest("GET", path, None)?.map(|_| id)),
        None => Ok(None),
    }
}

/// The field a resource of `kind` keeps its permissions under, if not its id.
pub(super) fn permission_id(kind: &str) -> Option<&'static str> {
    get(kind).and_then(|c| c.permission_id)
}

/// The fields of `kind` the workspace gives (see [`Custom::observed`]).
pub(super) fn observed(kind: &str) -> &'static [&'static str] {
    get(kind).map_or(&[], |c| c.observed)
}
