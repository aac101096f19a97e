//! A typed, located view of the resolved bundle for the modules that consume
//! it (runner, flow, deploy, validate): they ask for jobs and resources by
//! name and get each item with where it was written, instead of walking
//! `Bundle::config` by hand.

use serde_json::Value;

use super::Bundle;
use crate::diag::Location;

/// One resource of the resolved configuration.
#[derive(Debug, Clone)]
pub struct Resource<'a> {
    /// The kind's key under `resources` (`jobs`, `experiments`, ...).
    pub kind: &'a str,
    /// The resource's key (`resources.<kind>.<key>`).
    pub key: &'a str,
    /// Its resolved settings, in the shape of `databricks bundle validate -o json`.
    pub settings: &'a Value,
    /// Where the resource was written (its key), when known.
    pub location: Option<Location>,
}

impl Bundle {
    /// Every resource of one kind, in source order.
    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = Resource<'a>> + 'a {
        self.config["resources"][kind]
            .as_object()
            .into_iter()
            .flat_map(move |m| m.iter().map(move |(k, v)| self.resource(kind, k, v)))
    }

    /// Every resource of every kind, kinds in source order.
    pub fn all_resources(&self) -> impl Iterator<Item = Resource<'_>> + '_ {
        self.config["resources"]
            .as_object()
            .into_iter()
            .flat_map(|kinds| kinds.keys())
            .flat_map(|kind| self.resources_of(kind))
    }

    /// `resources.jobs`, in source order.
    pub fn jobs(&self) -> impl Iterator<Item = Resource<'_>> + '_ {
        self.resources_of("jobs")
    }

    /// The job `key`, if the target has it.
    pub fn job(&self, key: &str) -> Option<Resource<'_>> {
        self.jobs().find(|j| j.key == key)
    }

    /// The job `key`, or an error that lists the jobs the target has.
    pub fn require_job(&self, key: &str) -> anyhow::Result<Resource<'_>> {
        self.job(key).ok_or_else(|| {
            let known: Vec<&str> = self.jobs().map(|j| j.key).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            anyhow::anyhow!(
                "no job {key:?} in the bundle (target {}); its jobs: {known}",
                self.target
            )
        })
    }

    fn resource<'a>(&'a self, kind: &'a str, key: &'a str, settings: &'a Value) -> Resource<'a> {
        Resource {
            kind,
            key,
            settings,
            location: self.location(&format!("resources.{kind}.{key}")),
        }
    }
}
