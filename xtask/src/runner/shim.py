# The local runner's stand-in for the Databricks runtime (written into each
# run folder by `cargo xtask run`). It runs one task in this process:
#   python shim.py <spec.json>
# spec: {"kind": "notebook" | "python_file", "path": ..., "widgets": {...},
#        "argv": [...], "task_key": ..., "run_dir": ..., "result": <path>}
# It provides `dbutils` (widgets, jobs.taskValues, notebook.exit, fs on the
# local DBFS folder), and `spark`/`sc` stand-ins that explain they are absent.

import builtins
import json
import os
import runpy
import subprocess
import sys
import traceback

SPEC = json.load(open(sys.argv[1], encoding="utf-8"))
RUN_DIR = SPEC["run_dir"]
TASK_KEY = SPEC["task_key"]
DBFS_ROOT = os.environ.get("XTASK_DBFS_ROOT", os.path.join(RUN_DIR, "dbfs"))


class NotebookExit(BaseException):
    """Raised by dbutils.notebook.exit: ends the notebook successfully."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class _Widgets:
    def __init__(self, values):
        self._values = {k: str(v) for k, v in values.items()}
        self._defaults = {}

    def _define(self, name, defaultValue="", *args, **kwargs):
        self._defaults[name] = "" if defaultValue is None else str(defaultValue)

    text = dropdown = combobox = multiselect = _define

    def get(self, name):
        if name in self._values:
            return self._values[name]
        if name in self._defaults:
            return self._defaults[name]
        raise ValueError(
            "InputWidgetNotDefined: no widget named %r: pass it in the task's "
            "base_parameters or the job's parameters, or define it with "
            "dbutils.widgets.text(%r, <default>)" % (name, name)
        )

    def getArgument(self, name, defaultValue=None):
        try:
            return self.get(name)
        except ValueError:
            return defaultValue

    def getAll(self):
        return {**self._defaults, **self._values}

    def remove(self, name):
        self._defaults.pop(name, None)

    def removeAll(self):
        self._defaults.clear()


class _TaskValues:
    def _file(self, task_key):
        return os.path.join(RUN_DIR, "task_values", task_key + ".json")

    def _read(self, task_key):
        try:
            with open(self._file(task_key), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def set(self, key, value):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise TypeError("taskValues.set(%r): the value must be JSON-serializable: %s" % (key, e))
        values = self._read(TASK_KEY) or {}
        values[key] = value
        os.makedirs(os.path.dirname(self._file(TASK_KEY)), exist_ok=True)
        tmp = self._file(TASK_KEY) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(values, f)
        os.replace(tmp, self._file(TASK_KEY))

    def get(self, taskKey, key, default=None, debugValue=None):
        # debugValue only applies outside a job run; this is a job run.
        values = self._read(taskKey)
        if values is not None and key in values:
            return values[key]
        if default is not None:
            return default
        raise ValueError(
            "taskValues.get: task %r set no value %r (and no default was given)" % (taskKey, key)
        )


class _Jobs:
    taskValues = _TaskValues()


class _Notebook:
    def exit(self, value=None):
        raise NotebookExit(value)

    def run(self, path, timeout_seconds=0, arguments=None):
        raise NotImplementedError("dbutils.notebook.run is not supported by the local runner; use %run or a job task")


def _local(path):
    """dbfs:/x, /dbfs/x and /x all mean <XTASK_DBFS_ROOT>/x; file:/x is a local path."""
    if path.startswith("file:"):
        return path[len("file:"):]
    for prefix in ("dbfs:", "/dbfs"):
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    return os.path.join(DBFS_ROOT, path.lstrip("/"))


class _FileInfo(tuple):
    @property
    def path(self):
        return self[0]

    @property
    def name(self):
        return self[1]

    @property
    def size(self):
        return self[2]


class _Fs:
    def ls(self, path):
        local = _local(path)
        out = []
        for name in sorted(os.listdir(local)):
            full = os.path.join(local, name)
            is_dir = os.path.isdir(full)
            out.append(_FileInfo((path.rstrip("/") + "/" + name + ("/" if is_dir else ""),
                                  name + ("/" if is_dir else ""), 0 if is_dir else os.path.getsize(full))))
        return out

    def mkdirs(self, path):
        os.makedirs(_local(path), exist_ok=True)
        return True

    def put(self, path, contents, overwrite=False):
        local = _local(path)
        if os.path.exists(local) and not overwrite:
            raise FileExistsError(path)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "w", encoding="utf-8") as f:
            f.write(contents)
        return True

    def head(self, path, maxBytes=65536):
        with open(_local(path), encoding="utf-8", errors="replace") as f:
            return f.read(maxBytes)

    def cp(self, src, dst, recurse=False):
        import shutil
        s, d = _local(src), _local(dst)
        os.makedirs(os.path.dirname(d.rstrip("/")) or ".", exist_ok=True)
        if os.path.isdir(s):
            if not recurse:
                raise IsADirectoryError(src + " is a folder: pass recurse=True")
            shutil.copytree(s, d, dirs_exist_ok=True)
        else:
            shutil.copy2(s, d)
        return True

    def rm(self, path, recurse=False):
        import shutil
        local = _local(path)
        if os.path.isdir(local):
            if not recurse:
                raise IsADirectoryError(path + " is a folder: pass recurse=True")
            shutil.rmtree(local)
        elif os.path.exists(local):
            os.remove(local)
        else:
            return False
        return True


class _Secrets:
    """Secret scopes live in a workspace; a local run has none and says so."""

    def _absent(self, *args, **kwargs):
        raise NotImplementedError(
            "dbutils.secrets is not available in the local runner: read the value from an "
            "environment variable when XTASK_RUN_DIR is set")

    get = getBytes = list = listScopes = _absent


class _Library:
    def restartPython(self):
        pass


class DBUtils:
    def __init__(self, widgets):
        self.widgets = _Widgets(widgets)
        self.jobs = _Jobs()
        self.notebook = _Notebook()
        self.fs = _Fs()
        self.library = _Library()
        self.secrets = _Secrets()


class _Absent:
    """`spark` / `sc`: there is no Spark locally; say so on first use."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        raise NotImplementedError(
            "%s.%s: there is no Spark session in the local runner; keep Spark code out of "
            "locally run tasks or guard it" % (self._name, attr)
        )

    def __bool__(self):
        return False


def display(*objs, **kwargs):
    for obj in objs:
        print(obj)


def displayHTML(html):
    print(html)


def _result(exit_value):
    with open(SPEC["result"], "w", encoding="utf-8") as f:
        json.dump({"exit_value": exit_value}, f)


def _cells(path):
    """(first line number, cell source) of a notebook, `# COMMAND` separated."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".ipynb"):
        nb = json.loads(text)
        out = []
        for cell in nb.get("cells", []):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            if cell.get("cell_type") == "code":
                out.append((1, src))
        return out
    lines = text.split("\n")
    if lines and lines[0].strip() == "# Databricks notebook source":
        lines[0] = ""
    cells, start, cur = [], 1, []
    for i, line in enumerate(lines, start=1):
        if line.strip() == "# COMMAND ----------":
            cells.append((start, "\n".join(cur)))
            start, cur = i, [""]
        else:
            cur.append(line)
    cells.append((start, "\n".join(cur)))
    return cells


def _magic(src):
    """A `# MAGIC %cmd` cell as (cmd, body); (None, src) for plain Python."""
    lines = [l for l in src.split("\n") if l.strip()]
    if not lines or not all(l.startswith("# MAGIC") for l in lines):
        return None, src
    body = [l[len("# MAGIC "):] if l.startswith("# MAGIC ") else l[len("# MAGIC"):] for l in src.split("\n")]
    text = "\n".join(body).strip("\n")
    first, _, rest = text.partition("\n")
    cmd, _, arg = first.strip().partition(" ")
    return cmd, (arg + "\n" + rest).strip()


def _deployment_root(folder):
    return os.path.realpath(os.environ.get("XTASK_FILES_ROOT") or folder)


def _run_target(folder, target):
    """Where `%run target` points: relative to the notebook's folder, or, if
    absolute, to the deployment's root (a workspace path of the deployed
    files, or a path under that root)."""
    if not os.path.isabs(target):
        return os.path.normpath(os.path.join(folder, target))
    prefix = os.environ.get("XTASK_WORKSPACE_FILE_PATH", "").rstrip("/")
    if prefix and (target == prefix or target.startswith(prefix + "/")):
        target = target[len(prefix):]
    return os.path.normpath(os.path.join(_deployment_root(folder), target.lstrip("/")))


def _check_inside(folder, path, target, n):
    """Links followed, a notebook that ends outside the deployment is
    refused: `%run` runs only deployed code."""
    root = _deployment_root(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise PermissionError("cell %d: %%run %s: %s is outside the deployment (%s)" % (n, target, real, root))


def _run_notebook(path, ns):
    folder = os.path.dirname(path)
    for n, (line, src) in enumerate(_cells(path), start=1):
        if not src.strip():
            continue
        cmd, body = _magic(src)
        if cmd is None:
            code = compile("\n" * (line - 1) + src, path, "exec")
            exec(code, ns)
        elif cmd in ("%md", "%md-sandbox"):
            continue
        elif cmd == "%python":
            exec(compile(body, path + " (cell %d)" % n, "exec"), ns)
        elif cmd in ("%pip", "%conda"):
            print("[xtask] cell %d: %s skipped: the local runner's environment comes from requirements.txt (%s)"
                  % (n, cmd, body.split("\n")[0]), flush=True)
        elif cmd == "%sh":
            print("[xtask] cell %d: %%sh" % n, flush=True)
            subprocess.run(body, shell=True, check=True, cwd=folder)
        elif cmd == "%run":
            target = body.split()[0] if body else ""
            full = _run_target(folder, target)
            _check_inside(folder, full, target, n)
            for cand in (full, full + ".py", full + ".ipynb"):
                if os.path.isfile(cand):
                    _check_inside(folder, cand, target, n)
                    print("[xtask] cell %d: %%run %s" % (n, target), flush=True)
                    _run_notebook(cand, ns)
                    break
            else:
                raise FileNotFoundError("cell %d: %%run %s: no notebook at %s" % (n, target, full))
        else:
            raise NotImplementedError(
                "cell %d: %s cells cannot run in the local runner (only Python, %%md, %%pip, %%sh and %%run)" % (n, cmd))


def _run_wheel(package, entry_point, argv, wheels):
    """Databricks' wheel task: the package's entry point named `entry_point`
    (any group), else the function `<package>.<entry_point>`. Pure-Python
    wheels of the deployment are imported straight from the .whl files."""
    import importlib
    from importlib import metadata

    sys.path[:0] = wheels
    # A src/ layout in the deployed files also provides the package.
    src = os.path.join(os.environ.get("XTASK_FILES_ROOT", ""), "src")
    if os.path.isdir(os.path.join(src, package.replace("-", "_"))):
        sys.path.insert(len(wheels), src)
    sys.argv = [package] + argv
    func = None
    try:
        dist = metadata.distribution(package)
        func = next((ep.load() for ep in dist.entry_points if ep.name == entry_point), None)
    except metadata.PackageNotFoundError:
        pass
    if func is None:
        try:
            func = getattr(importlib.import_module(package.replace("-", "_")), entry_point)
        except (ImportError, AttributeError):
            raise RuntimeError(
                "python_wheel_task: no entry point %r in package %r: build the wheel (cargo xtask deploy puts it "
                "in the env's artifacts) or install the package into the runner's environment"
                % (entry_point, package)) from None
    result = func()
    if isinstance(result, int) and result != 0:
        raise SystemExit(result)


def main():
    dbutils = DBUtils(SPEC.get("widgets", {}))
    spark, sc = _Absent("spark"), _Absent("sc")
    # Scripts and modules imported by notebooks find them as on Databricks.
    for name, value in (("dbutils", dbutils), ("spark", spark), ("sc", sc),
                        ("display", display), ("displayHTML", displayHTML)):
        setattr(builtins, name, value)
    path = SPEC["path"]
    sys.path[0] = os.path.dirname(path)
    exit_value = None
    try:
        if SPEC["kind"] == "notebook":
            ns = {"__name__": "__main__", "__file__": path, "dbutils": dbutils, "spark": spark, "sc": sc,
                  "display": display, "displayHTML": displayHTML}
            _run_notebook(path, ns)
        elif SPEC["kind"] == "wheel":
            _run_wheel(SPEC["package"], SPEC["entry_point"], list(SPEC.get("argv", [])), SPEC.get("wheels", []))
        else:
            sys.argv = [path] + list(SPEC.get("argv", []))
            runpy.run_path(path, run_name="__main__")
    except NotebookExit as e:
        exit_value = None if e.value is None else str(e.value)
        print("[xtask] dbutils.notebook.exit(%r)" % exit_value, flush=True)
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    _result(exit_value)


if __name__ == "__main__":
    main()
