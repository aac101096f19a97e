"""A tiny stand-in for Databricks `dbutils`, used when a notebook runs as plain `python notebook.py`.

On Databricks and under the local job runner a real `dbutils` is injected and this is never used.
Widgets return their declared defaults, overridden by `name=value` command-line arguments; task
values live in memory (a plain run is a single task) and `get` returns `debugValue`, as Databricks
does for a notebook run outside a job.
"""

from __future__ import annotations

import json
import sys


class _Widgets:
    def __init__(self, overrides: dict[str, str]):
        self._overrides = dict(overrides)
        self._values: dict[str, str] = {}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._values[name] = self._overrides.get(name, defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices=None, label: str | None = None) -> None:
        self.text(name, defaultValue, label)

    def get(self, name: str) -> str:
        if name in self._values:
            return self._values[name]
        if name in self._overrides:
            return self._overrides[name]
        raise KeyError(f"no widget named {name!r}; declare it with dbutils.widgets.text first")


class _TaskValues:
    def __init__(self):
        self.values: dict[str, object] = {}

    def set(self, key: str, value) -> None:
        json.dumps(value)  # task values must be JSON-serialisable, as on Databricks
        self.values[key] = value

    def get(self, taskKey: str, key: str, default=None, debugValue=None):
        return debugValue if debugValue is not None else default


class _Jobs:
    def __init__(self):
        self.taskValues = _TaskValues()


class _Notebook:
    def exit(self, value: str = "") -> None:
        print(f"notebook exit: {value}")
        raise SystemExit(0)


class LocalDbutils:
    def __init__(self, overrides: dict[str, str] | None = None):
        self.widgets = _Widgets(overrides or {})
        self.jobs = _Jobs()
        self.notebook = _Notebook()

    @classmethod
    def from_argv(cls, argv: list[str] | None = None) -> "LocalDbutils":
        overrides = {}
        for arg in sys.argv[1:] if argv is None else argv:
            name, sep, value = arg.lstrip("-").partition("=")
            if not sep:
                raise SystemExit(f"parameter {arg!r} is not of the form name=value")
            overrides[name] = value
        return cls(overrides)
