//! The bundle's Python code as a wheel (PEP 427), built in Rust.
//!
//! The top-level packages are the bundle's folders that hold an `__init__.py`;
//! everything selected under them goes in (byte code excepted). The archive
//! is deterministic — sorted entries, fixed timestamps and permissions — so the
//! same sources give the same bytes and the same digest.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The version given to the bundle's wheel. Fixed: the digest, not a version
/// number, identifies what is deployed, and a fixed version keeps the wheel's
/// name (which jobs reference) stable across deploys.
pub const WHEEL_VERSION: &str = "0.1.0";

/// A file going into the wheel: its path relative to the bundle root and its bytes' location.
pub struct WheelInput<'a> {
    pub path: &'a str,
    pub abs: &'a Path,
}

/// The distribution name of a bundle, normalised as PEP 427 wants for file names.
pub fn dist_name(bundle_name: &str) -> String {
    let mut out = String::new();
    for c in bundle_name.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() {
        "bundle".to_string()
    } else {
        out
    }
}

pub fn file_name(bundle_name: &str) -> String {
    format!(
        "{}-{WHEEL_VERSION}-py3-none-any.whl",
        dist_name(bundle_name)
    )
}

/// The top-level packages among the selected files: first-level folders with an `__init__.py`.
pub fn packages<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = paths
        .into_iter()
        .filter_map(|p| p.strip_suffix("/__init__.py"))
        .filter(|dir| !dir.contains('/') && is_identifier(dir))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Is this selected file part of the wheel, given its packages?
pub fn belongs(path: &str, packages: &[String]) -> bool {
    let top = path.split('/').next().unwrap_or_default();
    path.contains('/')
        && packages.iter().any(|p| p == top)
        && !path.ends_with(".pyc")
        && !path.split('/').any(|part| part == "__pycache__")
}

/// Build the wheel in memory. `inputs` must be sorted by path.
pub fn build(bundle_name: &str, packages: &[String], inputs: &[WheelInput<'_>]) -> Result<Vec<u8>> {
    let dist = dist_name(bundle_name);
    let dist_info = format!("{dist}-{WHEEL_VERSION}.dist-info");
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut record = String::new();
    let mut add = |zip: &mut ZipWriter<_>, name: &str, bytes: &[u8]| -> Result<()> {
        zip.start_file(name, options)
            .with_context(|| format!("adding {name} to the wheel"))?;
        zip.write_all(bytes)?;
        let sha = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!(
            "{},sha256={sha},{}\n",
            csv_field(name),
            bytes.len()
        ));
        Ok(())
    };
    for input in inputs {
        let bytes =
            std::fs::read(input.abs).with_context(|| format!("reading {}", input.abs.display()))?;
        add(&mut zip, input.path, &bytes)?;
    }
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {dist}\nVersion: {WHEEL_VERSION}\n\
         Summary: Python code of the {bundle_name} Databricks bundle\n"
    );
    add(
        &mut zip,
        &format!("{dist_info}/METADATA"),
        metadata.as_bytes(),
    )?;
    let wheel = format!(
        "Wheel-Version: 1.0\nGenerator: xtask {}\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        env!("CARGO_PKG_VERSION")
    );
    add(&mut zip, &format!("{dist_info}/WHEEL"), wheel.as_bytes())?;
    let top_level: String = packages.iter().map(|p| format!("{p}\n")).collect();
    add(
        &mut zip,
        &format!("{dist_info}/top_level.txt"),
        top_level.as_bytes(),
    )?;
    // RECORD lists itself without a hash (PEP 376).
    let record_name = format!("{dist_info}/RECORD");
    record.push_str(&format!("{record_name},,\n"));
    zip.start_file(record_name.as_str(), options)
        .context("adding RECORD to the wheel")?;
    zip.write_all(record.as_bytes())?;
    Ok(zip.finish().context("finishing the wheel")?.into_inner())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(dist_name("my-mlops project"), "my_mlops_project");
        assert_eq!(file_name("rag"), "rag-0.1.0-py3-none-any.whl");
        let pk = packages([
            "a/__init__.py",
            "a/b/__init__.py",
            "__init__.py",
            "c-d/__init__.py",
            "e/x.py",
        ]);
        assert_eq!(pk, vec!["a".to_string()]);
        assert!(belongs("a/x.py", &pk));
        assert!(!belongs("a/__pycache__/x.pyc", &pk));
        assert!(!belongs("e/x.py", &pk));
    }

    #[test]
    fn deterministic_and_recorded() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("pkg/__init__.py"), "X = 1\n").unwrap();
        let abs = dir.join("pkg/__init__.py");
        let inputs = [WheelInput {
            path: "pkg/__init__.py",
            abs: &abs,
        }];
        let a = build("b", &["pkg".into()], &inputs).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        let b = build("b", &["pkg".into()], &inputs).unwrap();
        assert_eq!(a, b);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
        let mut record = String::new();
        std::io::Read::read_to_string(
            &mut archive.by_name("b-0.1.0.dist-info/RECORD").unwrap(),
            &mut record,
        )
        .unwrap();
        assert!(record.contains("pkg/__init__.py,sha256="), "{record}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-wheel-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
