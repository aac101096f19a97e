//! `lookup:` variables answered by the workspace, by the list calls the
//! Databricks CLI makes (`bundle/config/variable/resolve_*.go` and the SDK's
//! `GetByName` helpers): list every object of the kind, keep those with the
//! name, and take the one id. The error texts are the CLI's.

use anyhow::Result;
use serde_json::Value;

use super::api::escape;
use super::client::{Call, Client, api_error};

/// How one kind is listed: the path (with query), the array in the answer,
/// the name and id fields, and the CLI's words for none and for several.
struct Listing {
    path: String,
    items: &'static str,
    name: &'static str,
    id: &'static str,
    none: String,
    many: fn(usize, &str) -> String,
}

/// The id of the `kind` object named `name` (`kind` as written under
/// `lookup:`, e.g. `cluster_policy`), or the CLI's error text.
pub fn resolve(client: &Client, kind: &str, name: &str) -> Result<String, String> {
    let Some(l) = listing(kind, name) else {
        return Err(format!("unknown lookup kind {kind}"));
    };
    let items = list_all(client, &l.path, l.items).map_err(|e| message(&e))?;
    let ids: Vec<String> = items
        .iter()
        .filter(|i| field(i, l.name).as_str() == Some(name))
        .map(|i| match &i[l.id] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    match ids.as_slice() {
        [] => Err(l.none),
        [id] => Ok(id.clone()),
        many => Err((l.many)(many.len(), name)),
    }
}

/// `a.b` of an item.
fn field<'a>(item: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(item, |v, k| &v[k])
}

fn listing(kind: &str, name: &str) -> Option<Listing> {
    // The SDK's `GetByName` words: the Go type, then the name in quotes.
    fn sdk(ty: &str, name: &str) -> String {
        format!("{ty} named '{name}' does not exist")
    }
    fn sdk_many(n: usize, name: &str) -> String {
        format!("there are {n} instances of objects named '{name}'")
    }
    let l = |path: &str, items, name_f, id, none| Listing {
        path: path.to_string(),
        items,
        name: name_f,
        id,
        none,
        many: sdk_many,
    };
    Some(match kind {
        "cluster" => Listing {
            many: |n, name| format!("there are {n} instances of clusters named '{name}'"),
            ..l(
                "/api/2.1/clusters/list?filter_by.cluster_sources=API&filter_by.cluster_sources=UI",
                "clusters",
                "cluster_name",
                "cluster_id",
                format!("cluster named '{name}' does not exist"),
            )
        },
        "cluster_policy" => l(
            "/api/2.0/policies/clusters/list",
            "policies",
            "name",
            "policy_id",
            sdk("Policy", name),
        ),
        "instance_pool" => l(
            "/api/2.0/instance-pools/list",
            "instance_pools",
            "instance_pool_name",
            "instance_pool_id",
            sdk("InstancePoolAndStats", name),
        ),
        "warehouse" => l(
            "/api/2.0/sql/warehouses",
            "warehouses",
            "name",
            "id",
            sdk("EndpointInfo", name),
        ),
        "job" => l(
            "/api/2.2/jobs/list",
            "jobs",
            "settings.name",
            "job_id",
            sdk("BaseJob", name),
        ),
        "pipeline" => l(
            "/api/2.0/pipelines",
            "statuses",
            "name",
            "pipeline_id",
            sdk("PipelineStateInfo", name),
        ),
        "metastore" => Listing {
            many: |n, name| format!("there are {n} instances of metastores named {name:?}"),
            ..l(
                "/api/2.1/unity-catalog/metastores",
                "metastores",
                "name",
                "metastore_id",
                format!("metastore named {name:?} does not exist"),
            )
        },
        "alert" => l(
            "/api/2.0/sql/alerts",
            "results",
            "display_name",
            "id",
            sdk("ListAlertsResponseAlert", name),
        ),
        "query" => l(
            "/api/2.0/sql/queries",
            "results",
            "display_name",
            "id",
            sdk("ListQueryObjectsResponseQuery", name),
        ),
        "dashboard" => Listing {
            many: |n, name| format!("there are {n} instances of dashboards named '{name}'"),
            ..l(
                "/api/2.0/preview/sql/dashboards",
                "results",
                "name",
                "id",
                format!("dashboard name '{name}' does not exist"),
            )
        },
        "notification_destination" => Listing {
            many: |n, name| {
                format!("there are {n} instances of notification destinations named {name:?}")
            },
            ..l(
                "/api/2.0/notification-destinations?page_size=200",
                "results",
                "display_name",
                "id",
                format!("notification destination named {name:?} does not exist"),
            )
        },
        "service_principal" => Listing {
            many: |_, name| format!("multiple service principals found with display name {name:?}"),
            ..l(
                &format!(
                    "/api/2.0/preview/scim/v2/ServicePrincipals?filter={}",
                    escape(&format!("displayName eq '{name}'"))
                ),
                "Resources",
                "displayName",
                "applicationId",
                format!("service principal named {name:?} does not exist"),
            )
        },
        _ => return None,
    })
}

/// Every item of a listing, following `next_page_token` as the SDK's
/// iterators do (a bounded number of pages: a server that never ends its
/// listing is not followed forever).
fn list_all(client: &Client, path: &str, items: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let page_path = match &token {
            None => path.to_string(),
            Some(t) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                format!("{path}{sep}page_token={}", escape(t))
            }
        };
        let page = client.send_json(&Call::get(page_path))?;
        if let Some(a) = page[items].as_array() {
            out.extend(a.iter().cloned());
        }
        token = page["next_page_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The API's message, as the SDK's error prints it (a SCIM answer without
/// an error code carries its status, as the CLI shows it).
fn message(err: &anyhow::Error) -> String {
    match api_error(err) {
        Some(e) if e.error_code.is_none() => format!("{} ({} <nil>)", e.message, e.status),
        Some(e) => e.message.clone(),
        None => format!("{err:#}"),
    }
}
