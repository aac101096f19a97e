"""A small MLflow-like experiment tracker on the local filesystem.

Layout under the tracking root::

    experiments/<experiment>/meta.json
    experiments/<experiment>/runs/<run_id>/{meta.json, params.json, metrics.json, artifacts/}

Every JSON file is replaced atomically, so a reader never sees half a run record.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from rag_code_files.paths import atomic_write_text


def experiment_dir_name(experiment_name: str) -> str:
    """A folder name for an experiment path such as ``/Shared/dev-project-experiment``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", experiment_name.strip().strip("/"))
    if not name.strip("._"):
        raise ValueError(f"invalid experiment name {experiment_name!r}")
    return name


def _read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def _write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class Run:
    def __init__(self, folder: Path):
        self.folder = folder
        self.run_id = folder.name

    @property
    def artifact_dir(self) -> Path:
        return self.folder / "artifacts"

    @property
    def meta(self) -> dict:
        return _read_json(self.folder / "meta.json", {})

    @property
    def params(self) -> dict:
        return _read_json(self.folder / "params.json", {})

    @property
    def metrics(self) -> dict:
        return _read_json(self.folder / "metrics.json", {})

    def log_params(self, params: dict) -> None:
        merged = self.params
        merged.update({k: str(v) for k, v in params.items()})
        _write_json(self.folder / "params.json", merged)

    def log_metrics(self, metrics: dict) -> None:
        merged = self.metrics
        merged.update({k: float(v) for k, v in metrics.items()})
        _write_json(self.folder / "metrics.json", merged)

    def set_tags(self, tags: dict) -> None:
        meta = self.meta
        meta.setdefault("tags", {}).update({k: str(v) for k, v in tags.items()})
        _write_json(self.folder / "meta.json", meta)

    def log_artifact_path(self, name: str, path: Path) -> None:
        meta = self.meta
        meta.setdefault("artifacts", {})[name] = str(path)
        _write_json(self.folder / "meta.json", meta)

    def finish(self, status: str = "FINISHED") -> None:
        meta = self.meta
        meta.update(status=status, end_time=time.time())
        _write_json(self.folder / "meta.json", meta)


class ExperimentTracker:
    def __init__(self, tracking_root: str | Path, experiment_name: str):
        self.experiment_name = experiment_name
        self.folder = Path(tracking_root) / "experiments" / experiment_dir_name(experiment_name)
        self.runs_dir = self.folder / "runs"
        if not (self.folder / "meta.json").exists():
            _write_json(self.folder / "meta.json", {"name": experiment_name, "created_at": time.time()})

    def start_run(self, params: dict | None = None, tags: dict | None = None) -> Run:
        # Time-ordered ids: sorting run ids sorts runs by start time.
        run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        run = Run(self.runs_dir / run_id)
        run.artifact_dir.mkdir(parents=True)
        _write_json(
            run.folder / "meta.json",
            {"run_id": run_id, "experiment": self.experiment_name, "status": "RUNNING",
             "start_time": time.time(), "tags": {k: str(v) for k, v in (tags or {}).items()}},
        )
        if params:
            run.log_params(params)
        return run

    def get_run(self, run_id: str) -> Run:
        if not re.fullmatch(r"[A-Za-z0-9T-]+", run_id or ""):
            raise ValueError(f"invalid run id {run_id!r}")
        run = Run(self.runs_dir / run_id)
        if not (run.folder / "meta.json").exists():
            raise KeyError(f"run {run_id} not found in experiment {self.experiment_name}")
        return run

    def list_runs(self) -> list[Run]:
        if not self.runs_dir.is_dir():
            return []
        return [Run(p) for p in sorted(self.runs_dir.iterdir()) if (p / "meta.json").exists()]

    def latest_run(self, status: str | None = "FINISHED") -> Run | None:
        runs = [r for r in self.list_runs() if status is None or r.meta.get("status") == status]
        return runs[-1] if runs else None
