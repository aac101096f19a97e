//! The remote backend: a Databricks workspace over REST (DESIGN §8,
//! reference §3). `auth` finds host and token, `client` moves bytes with
//! retries and bounded parallelism, `api` speaks the endpoints, `backend`
//! implements the `Workspace` trait on top of them.

pub mod api;
mod api_rest;
pub mod auth;
pub mod backend;
pub mod client;
pub mod lookup;
mod ratelimit;
mod txn;

#[cfg(test)]
#[path = "../../../../tests/src/fake_workspace/mod.rs"]
pub(crate) mod fake_workspace;

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
mod tests;
