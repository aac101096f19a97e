//! One REST call to a resource API by method and path, for the resource
//! kinds whose calls differ only in their paths and bodies (schemas,
//! volumes, pipelines, clusters: see `deploy::remote_kinds`). Not found is
//! `None`, since deploys branch on it.

use anyhow::Result;
use serde_json::Value;

use super::api::is_missing;
use super::client::{Body, Call, Client};

impl Client {
    /// `method path` with `body` as JSON (none for GET/DELETE); the answer
    /// as JSON (`Null` when empty), `None` when the object is not there.
    pub fn rest(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Option<Value>> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        // Only a POST creates something twice if retried.
        let idempotent = method != reqwest::Method::POST;
        let call = Call {
            method,
            path: path.to_string(),
            body: body.map_or(Body::Empty, |b| Body::Json(b.clone())),
            idempotent,
        };
        match self.send(&call) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Some(Value::Null)),
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
