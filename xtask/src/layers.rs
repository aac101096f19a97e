//! The module graph is one-way: a test that reads the layer list at the top
//! of `main.rs` and fails when a module names one listed after it.

use std::path::Path;

/// The module order of `main.rs`'s "Layers, bottom first" list.
fn layer_order(main_rs: &str) -> Vec<String> {
    let mut order = Vec::new();
    let mut inside = false;
    for line in main_rs.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            break;
        };
        if doc.contains("Layers, bottom first") {
            inside = true;
        } else if inside && let Some(item) = doc.trim().strip_prefix("- ") {
            let names = item.split(':').next().unwrap_or("");
            order.extend(names.split(',').map(|n| n.trim().to_string()));
        }
    }
    order
}

/// Every top-level module named by a `crate::` path in `text`, including the
/// members of a `crate::{a, b::c}` group.
fn crate_refs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                out.push(ident(part.trim()));
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src") {
        let path = entry.expect("listing src").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The violations in a tree: (file, module it names, why).
fn violations(src: &Path, order: &[String]) -> Vec<String> {
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a component");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "main" || module == "layers" {
            continue;
        }
        let Some(own) = rank(&module) else {
            bad.push(format!(
                "{}: module `{module}` is not in the layer list",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        // Comments may name any module; only code makes a dependency.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for used in crate_refs(&code) {
            match rank(&used) {
                Some(r) if r > own => bad.push(format!(
                    "{}: `{module}` uses `crate::{used}`, a layer above it",
                    rel.display()
                )),
                None => bad.push(format!(
                    "{}: `crate::{used}` is not in the layer list",
                    rel.display()
                )),
                _ => {}
            }
        }
    }
    bad
}

#[test]
fn modules_only_use_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let main_rs = std::fs::read_to_string(src.join("main.rs")).expect("reading main.rs");
    let order = layer_order(&main_rs);
    assert!(
        order.len() > 10,
        "the layer list of main.rs was not found: {order:?}"
    );
    let bad = violations(&src, &order);
    assert!(
        bad.is_empty(),
        "the module graph goes upwards:\n{}",
        bad.join("\n")
    );
}

#[test]
fn an_upward_use_is_found() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let src = dir.path();
    std::fs::create_dir(src.join("low")).expect("mkdir");
    std::fs::write(src.join("low/mod.rs"), "use crate::{util, high::Thing};\n").expect("write");
    std::fs::write(src.join("high.rs"), "use crate::low;\n").expect("write");
    std::fs::write(src.join("util.rs"), "").expect("write");
    let order: Vec<String> = ["util", "low", "high"].map(String::from).to_vec();
    let bad = violations(src, &order);
    assert_eq!(
        bad,
        ["low/mod.rs: `low` uses `crate::high`, a layer above it"],
        "exactly the upward use is reported"
    );
}
