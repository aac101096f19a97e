//! The backends an environment lives in: a local folder (default) and a
//! Databricks workspace over REST, behind one trait.

#[allow(dead_code)]
pub mod remote;
