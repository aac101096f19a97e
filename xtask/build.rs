//! Turns `src/config/schema.txt` (the bundle's typed model, derived from the
//! Databricks CLI by `schema_gen.py`) into static Rust tables, so that no
//! run of `validate` spends its time parsing 65 KB of text: that parse was a
//! quarter of a small bundle's whole `validate`.

use std::fmt::Write;

fn main() {
    let src = "src/config/schema.txt";
    println!("cargo:rerun-if-changed={src}");
    let text = std::fs::read_to_string(src).expect("reading src/config/schema.txt");
    let out =
        std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("schema_table.rs");
    std::fs::write(out, tables(&text)).expect("writing schema_table.rs");
}

/// The format is `schema_gen.py`'s: one line per type (`s`, `i`, `f`, `b`,
/// `e`, `l <elem>`, `m <elem>`, `o key:type ...`, else any), and `R`/`E`
/// lines (a pattern, then required fields or enum values).
fn tables(text: &str) -> String {
    let (mut types, mut required, mut enums) = (String::new(), String::new(), String::new());
    let id = |w: Option<&str>| -> usize { w.and_then(|w| w.parse().ok()).unwrap_or(usize::MAX) };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or("");
        let ty = match tag {
            "s" => "Ty::Str".to_string(),
            "i" => "Ty::Int".to_string(),
            "f" => "Ty::Float".to_string(),
            "b" => "Ty::Bool".to_string(),
            "e" => "Ty::Enum".to_string(),
            "l" => format!("Ty::List({})", id(words.next())),
            "m" => format!("Ty::Map({})", id(words.next())),
            "o" => {
                let fields: Vec<String> = words
                    .filter_map(|w| w.split_once(':'))
                    .map(|(k, t)| format!("({k:?}, {})", id(Some(t))))
                    .collect();
                format!("Ty::Object(&[{}])", fields.join(", "))
            }
            "R" | "E" => {
                let pattern = words.next().unwrap_or("");
                let rest: Vec<String> = words.map(|w| format!("{w:?}")).collect();
                let list = if tag == "R" {
                    &mut required
                } else {
                    &mut enums
                };
                let _ = writeln!(list, "    ({pattern:?}, &[{}]),", rest.join(", "));
                continue;
            }
            _ => "Ty::Any".to_string(),
        };
        let _ = writeln!(types, "    {ty},");
    }
    format!(
        "static TYPES: &[Ty] = &[\n{types}];\n\
         static REQUIRED: &[(&str, &[&str])] = &[\n{required}];\n\
         static ENUMS: &[(&str, &[&str])] = &[\n{enums}];\n"
    )
}
