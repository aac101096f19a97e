//! The remote backend: a Databricks workspace over REST (DESIGN §8,
//! reference §3). `auth` finds host and token, `client` moves bytes with
//! retries and bounded parallelism, `api` speaks the endpoints.

pub mod api;
pub mod auth;
pub mod client;

#[cfg(test)]
#[path = "../../../../tests/src/fake_workspace/mod.rs"]
mod fake_workspace;

#[cfg(test)]
mod tests;
