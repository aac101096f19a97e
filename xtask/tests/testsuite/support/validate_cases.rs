//! The table of broken inputs for `validate`: each one must fail (exit 1)
//! with its message and its `file:line:col`.

const BASE: &str = "bundle:\n  name: b\n";
const NB: &[u8] = b"# Databricks notebook source\nprint(1)\n";

/// One broken input: files, extra arguments, the message and where.
pub struct Bad {
    pub name: &'static str,
    pub files: Vec<(&'static str, Vec<u8>)>,
    pub args: Vec<&'static str>,
    pub message: &'static str,
    /// `file:line:col`, or "" when the problem has no place in a file.
    pub at: &'static str,
}

fn bad(name: &'static str, yml: &str, message: &'static str, at: &'static str) -> Bad {
    Bad {
        name,
        files: vec![("databricks.yml", yml.as_bytes().to_vec())],
        args: vec![],
        message,
        at,
    }
}

impl Bad {
    fn with(mut self, path: &'static str, content: &[u8]) -> Bad {
        self.files.push((path, content.to_vec()));
        self
    }
    fn args(mut self, args: &[&'static str]) -> Bad {
        self.args = args.to_vec();
        self
    }
}

fn job(task: &str) -> String {
    format!(
        "{BASE}resources:\n  jobs:\n    j:\n      name: j\n      tasks:\n        - task_key: t\n{task}"
    )
}

pub fn bad_cases() -> Vec<Bad> {
    let big = format!("{BASE}# {}\n", "x".repeat(11 * 1024 * 1024));
    let mut bomb = String::from("bundle:\n  name: b\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let targets2 = "targets:\n  dev:\n    default: true\n  prod:\n    default: true\n";
    vec![
        bad("unclosed flow sequence", "bundle:\n  name: b\n  x: [1, 2\n", "unclosed bracket '['", "databricks.yml:3:6"),
        bad("bad indentation", "bundle:\n  name: b\n   x: 1\n", "mapping values are not allowed in this context", "databricks.yml:3:5"),
        bad("tab indentation", "bundle:\n\tname: b\n", "tab character", "databricks.yml:2:1"),
        bad("top level not a map", "- a\n- b\n", "expected a map at the top level", "databricks.yml:1:1"),
        bad("unknown target", &format!("{BASE}targets:\n  dev:\n  prod:\n"), "nope: no such target. Available targets: dev, prod", "databricks.yml:3:1").args(&["-t", "nope"]),
        bad("unknown target without targets", BASE, "dev: no such target. Available targets: default", "").args(&["-t", "dev"]),
        bad("multiple default targets", &format!("{BASE}{targets2}"), "multiple targets are marked as default (dev, prod)", "databricks.yml:4:3"),
        bad("no default target", &format!("{BASE}targets:\n  dev:\n  prod:\n"), "please specify target", ""),
        bad("both environments and targets", &format!("{BASE}targets:\n  dev:\nenvironments:\n  dev:\n"), "both 'environments' and 'targets'", "databricks.yml:5:1"),
        bad("missing variable value", &format!("{BASE}variables:\n  catalog:\n    description: c\n"), "no value assigned to required variable catalog", ""),
        // The CLI names one of them, picked by Go's map order; we name each.
        bad("two missing variables, both named", &format!("{BASE}variables:\n  a:\n  b:\n"), "no value assigned to required variable b", ""),
        bad("variable cycle", &format!("{BASE}variables:\n  a:\n    default: ${{var.b}}\n  b:\n    default: x-${{var.a}}\n"), "cycle detected in field resolution", "databricks.yml:"),
        bad("typo in a variable reference", &format!("{BASE}variables:\n  catalog:\n    default: c\nresources:\n  jobs:\n    j:\n      name: ${{var.catalg}}\n"), "reference does not exist: ${var.catalg}. did you mean ${var.catalog}?", "databricks.yml:9:13"),
        bad("cycle through a second reference", &format!("{BASE}variables:\n  a:\n    default: ${{bundle.name}}-${{var.b}}\n  b:\n    default: ${{var.c}}\n  c:\n    default: x${{var.a}}\n"), "cycle detected in field resolution: ${var.b} -> ${var.c} -> ${var.a} -> ${var.b}", "databricks.yml:"),
        bad("target list merged over a reference", &format!("{BASE}variables:\n  t:\n    type: complex\n    default:\n      - task_key: a\nresources:\n  jobs:\n    j:\n      tasks: ${{var.t}}\ntargets:\n  dev:\n    default: true\n    resources:\n      jobs:\n        j:\n          tasks:\n            - task_key: b\n"), "failed to perform target override for target=dev: failed to merge target=dev field=resources: cannot merge string with sequence", ""),
        bad("reference indexing a value that is still a reference", &format!("{BASE}variables:\n  one:\n    default:\n      name: x\n  c:\n    default: ${{var.one}}\n  n:\n    default: ${{var.c.name}}\n"), "expected a map to index \"variables.c.value.name\", found string", "databricks.yml:10:14"),
        bad("typo in a bundle reference", &format!("{BASE}resources:\n  jobs:\n    j:\n      name: x-${{bundle.nmae}}\n"), "did you mean ${bundle.name}?", "databricks.yml:6:13"),
        bad("variable not declared, assigned in target", &format!("{BASE}variables:\n  a:\n    default: 1\ntargets:\n  dev:\n    variables:\n      zz: 2\n"), "variable zz is not defined but is assigned a value", "databricks.yml:9:7"),
        bad("include matching nothing", "bundle:\n  name: b\ninclude:\n  - resources/missing.yml\n", "resources/missing.yml defined in 'include' section does not match any files", "databricks.yml:4:5"),
        bad("include outside the root", "bundle:\n  name: b\ninclude:\n  - ../other.yml\n", "../other.yml defined in 'include' section does not match any files", "databricks.yml:4:5"),
        bad("include not yaml", "bundle:\n  name: b\ninclude:\n  - \"*.txt\"\n", "Files in the 'include' configuration section must be YAML or JSON files.", "databricks.yml:4:5").with("notes.txt", b"hi"),
        bad("include with a broken glob", "bundle:\n  name: b\ninclude:\n  - \"resources/[a.yml\"\n", "invalid glob pattern resources/[a.yml", "databricks.yml:4:5").with("resources/a.yml", b"{}"),
        bad("same resource in two files", &format!("{BASE}include:\n  - r.yml\nresources:\n  jobs:\n    j:\n      name: a\n"), "multiple resources have been defined with the same key: j", "r.yml:3:5").with("r.yml", b"resources:\n  jobs:\n    j:\n      name: b\n"),
        bad("missing notebook", &job("          notebook_task:\n            notebook_path: ./nb.py\n"), "notebook nb.py not found", "databricks.yml:10:28"),
        bad("notebook path escaping the root", &job("          notebook_task:\n            notebook_path: ../../nb.py\n"), "/nb.py is not contained in sync root path", "databricks.yml:10:28"),
        bad("path relative to its resource's folder (the CLI's fallback)", "bundle:\n  name: b\ninclude:\n  - resources/j.yml\ntargets:\n  dev:\n    default: true\n    resources:\n      jobs:\n        j:\n          tasks:\n            - task_key: t\n              notebook_task:\n                notebook_path: ../nb.py\n", "path ../nb.py is defined relative to the", "databricks.yml:14:32").with("resources/j.yml", b"resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          notebook_task:\n            notebook_path: x\n").with("nb.py", NB),
        bad("file that is not a notebook", &job("          notebook_task:\n            notebook_path: plain.py\n"), "is not a notebook", "databricks.yml:10:28").with("plain.py", b"print(1)\n"),
        bad("missing python file", &job("          spark_python_task:\n            python_file: src/main.py\n"), "file src/main.py not found", "databricks.yml:10:26"),
        bad("python file that is a notebook", &job("          spark_python_task:\n            python_file: nb.py\n"), "expected a file for", "databricks.yml:10:26").with("nb.py", NB),
        bad("notebook path relative to its file", "bundle:\n  name: b\ninclude:\n  - resources/j.yml\n", "notebook resources/nb.py not found", "resources/j.yml:6:28").with("resources/j.yml", b"resources:\n  jobs:\n    j:\n      tasks:\n        - notebook_task:\n            notebook_path: ./nb.py\n").with("nb.py", NB),
        bad("pipeline notebook missing", &format!("{BASE}resources:\n  pipelines:\n    p:\n      libraries:\n        - notebook:\n            path: ./dlt.py\n"), "notebook dlt.py not found", "databricks.yml:8:19"),
        Bad { name: "non-UTF-8 file", files: vec![("databricks.yml", b"bundle:\n  name: caf\xe9\n".to_vec())], args: vec![], message: "file is not valid UTF-8: invalid byte 0xe9", at: "databricks.yml:2:12" },
        bad("non-UTF-8 included file", "bundle:\n  name: b\ninclude:\n  - r.yml\n", "file is not valid UTF-8", "r.yml:1:3").with("r.yml", b"# \xff\n"),
        bad("empty file", "", "databricks.yml is empty", "databricks.yml:1:1"),
        bad("comment-only file", "# nothing here\n", "databricks.yml is empty", "databricks.yml:"),
        bad("very large file", &big, "file is too large", "databricks.yml:1:1"),
        bad("alias bomb", &bomb, "refusing to expand YAML aliases further (an alias bomb?)", "databricks.yml:"),
        bad("unknown anchor", "bundle:\n  name: b\nx: *nope\n", "alias references unknown anchor", "databricks.yml:3:4"),
        bad("two YAML documents", "bundle:\n  name: b\n---\nbundle:\n  name: c\n", "must hold a single YAML document", "databricks.yml:4:1"),
        bad("two root files", BASE, "multiple bundle root configuration files", "").with("bundle.yml", BASE.as_bytes()),
        Bad { name: "no root file", files: vec![("README.md", b"hi".to_vec())], args: vec![], message: "databricks.yml not found", at: "" },
        bad("variable assigned twice", &format!("{BASE}variables:\n  a:\n    default: 1\n"), "variable has already been assigned value", "").args(&["--var", "a=1", "--var", "a=2"]),
        bad("undefined --var", &format!("{BASE}variables:\n  a:\n    default: 1\n"), "variable nope has not been defined", "").args(&["--var", "nope=1"]),
        bad("--var without a value", &format!("{BASE}variables:\n  a:\n    default: 1\n"), "unexpected flag value for variable assignment: a", "").args(&["--var", "a"]),
        bad("complex variable via --var", &format!("{BASE}variables:\n  a:\n    type: complex\n    default:\n      k: v\n"), "setting variables of complex type via --var flag is not supported: a", "").args(&["--var", "a=1"]),
        bad("bad variable-overrides.json", &format!("{BASE}variables:\n  a:\n    description: x\n"), "variable-overrides.json:1:7: invalid character '}' looking for beginning of value", ".databricks/bundle/default/variable-overrides.json:1:7").with(".databricks/bundle/default/variable-overrides.json", b"{\"a\": }"),
        // Go's words and Go's position (the decoder stands at the literal's start); ours points at the byte at fault.
        bad("variable-overrides.json in Go's words", &format!("{BASE}variables:\n  a:\n    description: x\n"), "variable-overrides.json:2:7: invalid character ' ' in literal true (expecting 'e')", ".databricks/bundle/default/variable-overrides.json:2:10").with(".databricks/bundle/default/variable-overrides.json", b"{\"a\": 1,\n \"b\": tru }"),
        bad("variable-overrides.json that is a folder", &format!("{BASE}variables:\n  a:\n    description: x\n"), "failed to read variables file: read ", "").with(".databricks/bundle/default/variable-overrides.json/x", b"{}"),
        bad("missing bundle name", "bundle:\n  uuid: x\n", "missing required field: name", "databricks.yml:1:1"),
        bad("unsupported mode", &format!("{BASE}targets:\n  dev:\n    mode: staging\n"), "unsupported value 'staging' specified for 'mode'", "databricks.yml:5:11"),
        bad("production without root_path", &format!("{BASE}targets:\n  prod:\n    mode: production\n"), "must set 'workspace.root_path'", "databricks.yml:5:11"),
        bad("production with a development pipeline", &format!("{BASE}workspace:\n  root_path: /Shared/b\nresources:\n  pipelines:\n    p:\n      development: true\ntargets:\n  prod:\n    mode: production\n"), "cannot include a pipeline with 'development: true'", "databricks.yml:8:20"),
        bad("development mode unpaused", &format!("{BASE}presets:\n  trigger_pause_status: UNPAUSED\ntargets:\n  dev:\n    mode: development\n"), "cannot set trigger pause status to UNPAUSED", "databricks.yml:4:25"),
        bad("development root_path without the user", &format!("{BASE}targets:\n  dev:\n    mode: development\n    workspace:\n      root_path: /Shared/b\n"), "root_path must start with '~/' or contain the current username", "databricks.yml:7:18"),
        bad("strict mode refuses warnings", &format!("{BASE}new_cluster:\n  x: 1\n"), "1 warning was found. Warnings are not allowed in strict mode", "").args(&["--strict"]),
    ]
}
