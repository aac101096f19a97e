"""A local model registry with numbered versions and aliases (like MLflow's `champion`).

Layout under the registry root::

    <model name>/versions/<n>/{version.json, artifact/}
    <model name>/aliases.json          {"champion": n}

A version folder is assembled under a temporary name and renamed into place, and aliases.json is
replaced atomically, so a reader never sees a partial version or a dangling alias.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; single-writer use only
    fcntl = None

from rag_code_files.paths import atomic_write_text

MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class LocalModelRegistry:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _model_dir(self, name: str) -> Path:
        if not MODEL_NAME.match(name):
            raise ValueError(f"invalid model name {name!r}")
        return self.root / name

    def versions(self, name: str) -> list[int]:
        vdir = self._model_dir(name) / "versions"
        if not vdir.is_dir():
            return []
        return sorted(int(p.name) for p in vdir.iterdir() if p.name.isdigit())

    def register(self, name: str, artifact_dir: str | Path, run_id: str = "", metrics: dict | None = None,
                 tags: dict | None = None) -> int:
        artifact_dir = Path(artifact_dir)
        if not artifact_dir.is_dir():
            raise FileNotFoundError(f"artifact folder {artifact_dir} does not exist")
        vdir = self._model_dir(name) / "versions"
        vdir.mkdir(parents=True, exist_ok=True)
        while True:
            version = (self.versions(name) or [0])[-1] + 1
            staging = vdir / f".{version}.{os.getpid()}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(artifact_dir, staging / "artifact")
            record = {"name": name, "version": version, "run_id": run_id, "created_at": time.time(),
                      "metrics": metrics or {}, "tags": tags or {}}
            (staging / "version.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            try:
                # rename fails if another registration took this number first: retry with the next.
                os.rename(staging, vdir / str(version))
                return version
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if not (vdir / str(version)).exists():
                    raise

    def get_version(self, name: str, version: int) -> dict:
        path = self._model_dir(name) / "versions" / str(version) / "version.json"
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyError(f"model {name} has no version {version}") from None
        record["artifact_path"] = str(path.parent / "artifact")
        return record

    def aliases(self, name: str) -> dict[str, int]:
        path = self._model_dir(name) / "aliases.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def set_alias(self, name: str, alias: str, version: int) -> None:
        if not ALIAS.match(alias):
            raise ValueError(f"invalid alias {alias!r}")
        self.get_version(name, version)  # must exist
        # Read-modify-write of aliases.json under a lock: concurrent deployments moving different
        # aliases must not lose each other's update.
        with self._lock(name):
            aliases = self.aliases(name)
            aliases[alias] = version
            text = json.dumps(aliases, indent=2, sort_keys=True) + "\n"
            atomic_write_text(self._model_dir(name) / "aliases.json", text)

    @contextlib.contextmanager
    def _lock(self, name: str):
        folder = self._model_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as f:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(f, fcntl.LOCK_UN)

    def get_by_alias(self, name: str, alias: str) -> dict:
        version = self.aliases(name).get(alias)
        if version is None:
            raise KeyError(f"model {name} has no alias {alias!r}; has a training job deployed it?")
        return self.get_version(name, version)
