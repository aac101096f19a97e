//! The seam for kinds whose REST calls do not fit the table of
//! `remote_rest` (another API shape, no update call, ACLs of their own):
//! each such kind is one file defining a [`Custom`], listed in [`CUSTOM`].
//! `remote_resources` deploys through it, `remote_acl` sets its
//! permissions through it, and `dstate` records it in the CLI's shape.

use anyhow::Result;
use serde_json::{Map, Value};

use super::remote_secret_scopes;
use super::resources::Action;
use crate::workspace::remote::client::Client;

type Apply = fn(&Client, Action, Option<String>, &Value, Option<&Value>) -> Result<Option<String>>;

/// How one kind is deployed, permissioned and recorded.
pub(super) struct Custom {
    pub kind: &'static str,
    /// Carries out an action: `old` the recorded id, `settings` the API
    /// settings (references resolved), `before` what was recorded. Returns
    /// the id afterwards (`None` once deleted).
    pub apply: Apply,
    /// Sets `permissions:` (the whole bundle settings) on the resource `id`
    /// for the deploying user, instead of the permissions API.
    pub permissions: fn(&Client, &str, &str, &Value) -> Result<()>,
    /// The CLI direct engine's state of the settings (`resources.json`).
    pub to_state: fn(&Map<String, Value>) -> Map<String, Value>,
    /// The settings back from such a state (a deploy of the CLI adopted).
    pub from_state: fn(&Map<String, Value>) -> Map<String, Value>,
    /// The `.permissions` entry's state for the deploying user, if any.
    pub access_state: fn(&str, &Map<String, Value>, &str) -> Option<Value>,
}

pub(super) const CUSTOM: &[&Custom] = &[&remote_secret_scopes::KIND];

pub(super) fn get(kind: &str) -> Option<&'static Custom> {
    CUSTOM.iter().copied().find(|c| c.kind == kind)
}
