//! The one JSON document a `--json` run prints on stdout. Every command
//! prints it through [`print_json`], so `main` knows whether a failing run
//! still owes its caller a document (it then prints the error as JSON).

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use serde::Serialize;

static PRINTED: AtomicBool = AtomicBool::new(false);

/// Print `value` as the run's JSON document.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    PRINTED.store(true, Ordering::SeqCst);
    println!("{text}");
    Ok(())
}

/// Whether this run has printed its JSON document.
pub fn json_printed() -> bool {
    PRINTED.load(Ordering::SeqCst)
}
