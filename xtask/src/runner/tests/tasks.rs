//! What a task sees: widgets, task values, notebook cells and exit, files, wheels.

use std::fs;

use serde_json::{Value, json};

use super::*;
use crate::runner::*;

#[test]
fn task_values_pass_between_tasks() {
    let producer = nb(&[
        "dbutils.jobs.taskValues.set('rows', 42)\ndbutils.jobs.taskValues.set('meta', {'model': 'm1', 'ok': True})",
    ]);
    let consumer = nb(&["import os\n\
rows = dbutils.jobs.taskValues.get(taskKey='produce', key='rows', default=0, debugValue=7)\n\
meta = dbutils.jobs.taskValues.get('produce', 'meta')\n\
missing = dbutils.jobs.taskValues.get('produce', 'nope', default='fallback')\n\
open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'got'), 'w').write('%r %r %r %s' % (rows, meta['model'], missing, dbutils.widgets.get('via_ref')))"]);
    let env = Env::new(&[("produce.py", &producer), ("consume.py", &consumer)]);
    let mut consume = task("consume", "consume", &["produce"]);
    consume["notebook_task"]["base_parameters"] =
        json!({"via_ref": "{{tasks.produce.values.rows}}"});
    let report = env.run(json!({"tasks": [task("produce", "produce", &[]), consume]}));
    assert!(report.ok(), "{}", summary(&report));
    assert_eq!(env.dbfs("got"), "42 'm1' 'fallback' 42");
    // Persisted in the run folder.
    let stored: Value =
        serde_json::from_slice(&fs::read(report.run_dir.join("task_values/produce.json")).unwrap())
            .unwrap();
    assert_eq!(stored["rows"], 42);
}

#[test]
fn widgets_from_base_parameters_job_parameters_and_defaults() {
    let notebook = nb(&[
        "dbutils.widgets.text('env', 'dev', 'Environment')\n\
dbutils.widgets.dropdown('mode', 'fast', ['fast', 'slow'])\n\
dbutils.widgets.text('unset', 'the-default')",
        "import os\n\
vals = [dbutils.widgets.get(n) for n in ('env', 'mode', 'unset', 'catalog', 'shared', 'ref')]\n\
open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'widgets'), 'w').write(' '.join(vals))",
    ]);
    let env = Env::new(&[("nb.py", &notebook)]);
    let mut t = task("w", "nb", &[]);
    t["notebook_task"]["base_parameters"] = json!({"env": "test", "mode": "slow", "shared": "from-task", "ref": "{{job.parameters.catalog}}-{{task.name}}"});
    let job = json!({
        "parameters": [{"name": "catalog", "default": "main"}, {"name": "shared", "default": "from-job"}],
        "tasks": [t],
    });
    let report = env.run(job.clone());
    assert!(report.ok(), "{}", summary(&report));
    assert_eq!(
        env.dbfs("widgets"),
        "test slow the-default main from-job main-w"
    );

    // Values given for the run override the job parameters' defaults.
    let mut ctx = env.ctx();
    ctx.run_dir = env.root.join("state/runs/r2");
    ctx.job_parameters.insert("catalog".into(), "other".into());
    assert!(run_job(&job, &ctx).unwrap().ok());
    assert_eq!(
        env.dbfs("widgets"),
        "test slow the-default other from-job other-w"
    );

    // An undefined widget is an error naming it.
    let env = Env::new(&[("nb.py", &nb(&["dbutils.widgets.get('nowhere')"]))]);
    let report = env.run(json!({"tasks": [task("w", "nb", &[])]}));
    let log = fs::read_to_string(report.task("w").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(
        log.contains("InputWidgetNotDefined") && log.contains("'nowhere'"),
        "{log}"
    );
}

#[test]
fn notebook_exit_value_ends_the_notebook() {
    let notebook = nb(&[
        "print('before')",
        "dbutils.notebook.exit('trained: 0.93')",
        "raise RuntimeError('not reached')",
    ]);
    let env = Env::new(&[("nb.py", &notebook)]);
    let report = env.run(json!({"tasks": [task("t", "nb", &[])]}));
    let t = report.task("t").unwrap();
    assert_eq!(t.state, TaskState::Success, "{}", summary(&report));
    assert_eq!(t.exit_value.as_deref(), Some("trained: 0.93"));
    assert!(summary(&report).contains("exit value: trained: 0.93"));
}

#[test]
fn tracebacks_name_the_notebook_line() {
    let notebook = nb(&["x = 1\n", "y = 2\nraise ValueError('in cell two')"]);
    let line = 1 + notebook
        .lines()
        .position(|l| l.starts_with("raise"))
        .unwrap();
    let env = Env::new(&[("nb.py", &notebook)]);
    let report = env.run(json!({"tasks": [task("t", "nb", &[])]}));
    let log = fs::read_to_string(report.task("t").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(line > 5, "the raise is in the second cell");
    assert!(log.contains(&format!("nb.py\", line {line}")), "{log}");
}

#[test]
fn magic_cells_md_sh_run_pip_and_unsupported() {
    let helper = nb(&["HELPER = 'from helper'"]);
    let main = nb(&[
        "# MAGIC %md\n# MAGIC # Title\n# MAGIC raise would fail if run",
        "# MAGIC %pip install nothing-here",
        "# MAGIC %run ./lib/helper",
        "# MAGIC %sh\n# MAGIC echo shell-ran > \"$XTASK_DBFS_ROOT/sh\"",
        "import os\nopen(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'helper'), 'w').write(HELPER + ' ' + os.getcwd())",
    ]);
    let env = Env::new(&[
        ("nbs/main.py", &main),
        ("nbs/lib/helper.py", &helper),
        ("nbs/sql.py", &nb(&["# MAGIC %sql\n# MAGIC SELECT 1"])),
    ]);
    let report =
        env.run(json!({"tasks": [task("main", "nbs/main", &[]), task("sql", "nbs/sql", &[])]}));
    assert_eq!(
        state(&report, "main"),
        TaskState::Success,
        "{}",
        summary(&report)
    );
    assert_eq!(env.dbfs("sh").trim(), "shell-ran");
    let files = fs::canonicalize(env.root.join("files/nbs")).unwrap();
    assert_eq!(
        env.dbfs("helper"),
        format!("from helper {}", files.display()),
        "cwd is the notebook's folder"
    );
    let log = fs::read_to_string(report.task("main").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(log.contains("%pip skipped"), "{log}");
    assert_eq!(state(&report, "sql"), TaskState::Failed);
    let log = fs::read_to_string(report.task("sql").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(log.contains("%sql cells cannot run"), "{log}");
}

#[test]
fn python_file_tasks_get_parameters_and_the_bundle_on_the_path() {
    let script = "import os, sys\nfrom pkg.util import twice\n\
open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'argv'), 'w').write(' '.join(sys.argv[1:]) + ' ' + twice('x') + ' ' + __name__)";
    let env = Env::new(&[
        ("scripts/run.py", script),
        ("pkg/__init__.py", ""),
        ("pkg/util.py", "def twice(s):\n    return s * 2\n"),
    ]);
    let job = json!({"parameters": [{"name": "p", "default": "v"}], "tasks": [
        {"task_key": "py", "spark_python_task": {
            "python_file": format!("{FILE_PATH}/scripts/run.py"),
            "parameters": ["--rows", "3", "{{job.parameters.p}}"]}},
    ]});
    let report = env.run(job);
    assert!(report.ok(), "{}", summary(&report));
    assert_eq!(env.dbfs("argv"), "--rows 3 v xx __main__");
    // Nothing written into the deployed copy (no __pycache__).
    assert!(!env.root.join("files/pkg/__pycache__").exists());
}

#[test]
fn paths_resolve_like_the_cli_translates_them() {
    let env = Env::new(&[
        ("a/nb.py", &nb(&["print(1)"])),
        (
            "a/plain.ipynb",
            r#"{"nbformat": 4, "cells": [{"cell_type": "code", "source": ["print('from ipynb')"]}]}"#,
        ),
    ]);
    let job = json!({"tasks": [
        // Without the /Workspace prefix, relative, and an .ipynb notebook.
        {"task_key": "short", "notebook_task": {"notebook_path": "/Users/u@example.com/.bundle/b/test/files/a/nb"}},
        {"task_key": "relative", "notebook_task": {"notebook_path": "a/nb.py"}},
        task("ipynb", "a/plain", &[]),
        task("missing", "a/none", &[]),
        {"task_key": "outside", "notebook_task": {"notebook_path": "/Workspace/Shared/nb"}},
        {"task_key": "escape", "notebook_task": {"notebook_path": format!("{FILE_PATH}/../secret")}},
    ]});
    let report = env.run(job);
    for key in ["short", "relative", "ipynb"] {
        assert_eq!(
            state(&report, key),
            TaskState::Success,
            "{key}\n{}",
            summary(&report)
        );
    }
    let ipynb_log =
        fs::read_to_string(report.task("ipynb").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(ipynb_log.contains("from ipynb"));
    for (key, words) in [
        ("missing", "not found"),
        ("outside", "outside the bundle's files"),
        ("escape", "leaves"),
    ] {
        let t = report.task(key).unwrap();
        assert_eq!(t.state, TaskState::Failed);
        assert!(
            t.reason.as_deref().unwrap().contains(words),
            "{key}: {:?}",
            t.reason
        );
    }
}

/// A pure-Python wheel with one console-script entry point.
fn write_wheel(path: &std::path::Path) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let files = [
        (
            "hello_pkg/__init__.py",
            "import os, sys\n\ndef main():\n    open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'wheel'), 'w').write(' '.join(sys.argv))\n\ndef other():\n    print('other ran')\n",
        ),
        (
            "hello_pkg-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: hello-pkg\nVersion: 1.0\n",
        ),
        (
            "hello_pkg-1.0.dist-info/entry_points.txt",
            "[console_scripts]\nhello = hello_pkg:main\n",
        ),
        ("hello_pkg-1.0.dist-info/RECORD", ""),
    ];
    for (name, content) in files {
        zip.start_file(name, opts).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn wheel_tasks_run_entry_points_from_built_wheels() {
    let env = Env::new(&[("ok.py", &nb(&["print(1)"]))]);
    let wheel = env
        .root
        .join("artifacts/.internal/hello_pkg-1.0-py3-none-any.whl");
    fs::create_dir_all(wheel.parent().unwrap()).unwrap();
    write_wheel(&wheel);
    let job = json!({"parameters": [{"name": "cat", "default": "main"}], "tasks": [
        {"task_key": "named", "python_wheel_task": {"package_name": "hello-pkg", "entry_point": "hello",
            "named_parameters": {"catalog": "{{job.parameters.cat}}", "rows": 3}}},
        {"task_key": "function", "depends_on": [{"task_key": "named"}],
         "python_wheel_task": {"package_name": "hello_pkg", "entry_point": "other"}},
        {"task_key": "absent", "python_wheel_task": {"package_name": "not_there", "entry_point": "main"}},
    ]});
    let mut ctx = env.ctx();
    ctx.wheels = vec![wheel];
    let report = run_job(&job, &ctx).unwrap();
    assert_eq!(
        state(&report, "named"),
        TaskState::Success,
        "{}",
        summary(&report)
    );
    assert_eq!(env.dbfs("wheel"), "hello-pkg --catalog=main --rows=3");
    assert_eq!(
        state(&report, "function"),
        TaskState::Success,
        "{}",
        summary(&report)
    );
    let absent = report.task("absent").unwrap();
    assert_eq!(absent.state, TaskState::Failed);
    assert!(
        absent
            .reason
            .as_deref()
            .unwrap()
            .contains("no entry point 'main' in package 'not_there'"),
        "{:?}",
        absent.reason
    );
}

#[test]
fn dbutils_fs_maps_dbfs_to_the_local_folder_and_spark_explains_its_absence() {
    let fs_cells = nb(&["dbutils.fs.mkdirs('dbfs:/data/in')\n\
dbutils.fs.put('dbfs:/data/in/a.txt', 'hello', overwrite=True)\n\
dbutils.fs.cp('/dbfs/data/in/a.txt', 'dbfs:/data/out/b.txt')\n\
names = [f.name for f in dbutils.fs.ls('dbfs:/data')]\n\
print('ls', names, dbutils.fs.head('dbfs:/data/out/b.txt'))\n\
assert dbutils.fs.rm('dbfs:/data/in', recurse=True)\n\
display('shown')"]);
    let spark_cells = nb(&["df = spark.table('main.default.docs')"]);
    let env = Env::new(&[("fs.py", &fs_cells), ("spark.py", &spark_cells)]);
    let report = env.run(json!({"tasks": [task("fs", "fs", &[]), task("spark", "spark", &[])]}));
    assert_eq!(
        state(&report, "fs"),
        TaskState::Success,
        "{}",
        summary(&report)
    );
    let log = fs::read_to_string(report.task("fs").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(
        log.contains("ls ['in/', 'out/'] hello") && log.contains("shown"),
        "{log}"
    );
    assert_eq!(env.dbfs("data/out/b.txt"), "hello");
    assert!(!env.root.join("dbfs/data/in").exists());
    let spark = report.task("spark").unwrap();
    assert_eq!(spark.state, TaskState::Failed);
    assert!(
        spark
            .reason
            .as_deref()
            .unwrap()
            .contains("no Spark session in the local runner"),
        "{:?}",
        spark.reason
    );
}

/// `%run` stays inside the deployment (issue 18): an absolute path is the
/// deployment's (a workspace path of the files, or from their root), and a
/// `..` or a link out of it is refused.
#[test]
fn run_magic_stays_inside_the_deployment() {
    let helper = nb(&["HELPER = 'inside'"]);
    let uses = |target: &str| {
        nb(&[
            &format!("# MAGIC %run {target}"),
            "import os\nopen(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'ran'), 'w').write(HELPER)",
        ])
    };
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("evil.py"), nb(&["HELPER = 'outside'"])).unwrap();
    let env = Env::new(&[
        ("lib/helper.py", &helper),
        ("a/abs.py", &uses("/lib/helper")),
        ("a/ws.py", &uses(&format!("{FILE_PATH}/lib/helper"))),
        ("a/up.py", &uses("../../../../../../../../tmp/nothing/evil")),
        (
            "a/out.py",
            &uses(&outside.path().join("evil").display().to_string()),
        ),
        ("a/link.py", &uses("./escape/evil")),
    ]);
    std::os::unix::fs::symlink(outside.path(), env.root.join("files/a/escape")).unwrap();
    for (nb_name, ok) in [
        ("abs", true),
        ("ws", true),
        ("up", false),
        ("out", false),
        ("link", false),
    ] {
        let _ = fs::remove_file(env.root.join("dbfs/ran"));
        let report = env.run(json!({"tasks": [task("t", &format!("a/{nb_name}"), &[])]}));
        let log = fs::read_to_string(report.task("t").unwrap().log.as_ref().unwrap()).unwrap();
        if ok {
            assert_eq!(state(&report, "t"), TaskState::Success, "{nb_name}: {log}");
            assert_eq!(env.dbfs("ran"), "inside");
        } else {
            assert_ne!(state(&report, "t"), TaskState::Success, "{nb_name}: {log}");
            // An absolute path is the deployment's: /tmp/x is <root>/tmp/x, absent.
            let why = if nb_name == "out" {
                "no notebook at"
            } else {
                "outside the deployment"
            };
            assert!(log.contains(why), "{nb_name}: {log}");
            assert!(!env.root.join("dbfs/ran").exists());
        }
    }
}

/// Tasks inherit the basics, never a credential.
#[test]
fn tasks_inherit_no_credentials() {
    let vars = [
        ("PATH", "/usr/bin"),
        ("HOME", "/home/u"),
        ("LC_ALL", "C.UTF-8"),
        ("DATABRICKS_TOKEN", "dapi-secret"),
        ("DATABRICKS_CLIENT_SECRET", "s"),
        ("ARM_CLIENT_SECRET", "s"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("GITHUB_TOKEN", "s"),
    ]
    .map(|(k, v)| (k.into(), v.into()));
    let kept: Vec<String> = crate::runner::task::inherited(vars.into_iter())
        .into_iter()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept, ["PATH", "HOME", "LC_ALL"]);
}
