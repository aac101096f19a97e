"""Map the data locations that jobs pass (Databricks style) to real folders.

Jobs pass paths such as ``/dbfs/<bundle>/<target>/tables/documents.db`` so that the same YAML works on
Databricks (where /dbfs is the DBFS FUSE mount) and under the local job runner, which sets
``XTASK_DBFS_ROOT`` to a writable per-environment folder. Outside both (``python notebook.py`` on a
laptop) the DBFS paths land in ``<bundle>/.dbfs/``. Relative paths are relative to the bundle root, so
shipped data (``data/documents``) is found wherever the bundle was deployed.
"""

from __future__ import annotations

import os
from pathlib import Path

BUNDLE_ROOT = Path(__file__).resolve().parent.parent
DBFS_ENV = "XTASK_DBFS_ROOT"
_PREFIXES = ("/dbfs/", "dbfs:/")


def dbfs_root() -> Path | None:
    """The folder standing in for DBFS, or None when the real /dbfs mount should be used."""
    env = os.environ.get(DBFS_ENV)
    if env:
        return Path(env)
    if Path("/dbfs").is_dir() and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return None
    return BUNDLE_ROOT / ".dbfs"


def resolve(path: str | os.PathLike) -> Path:
    """Resolve a job parameter path to a local filesystem path."""
    text = os.fspath(path)
    if not text:
        raise ValueError("empty path")
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            root = dbfs_root()
            rest = text[len(prefix):].lstrip("/")
            return Path("/dbfs") / rest if root is None else root / rest
    p = Path(text)
    return p if p.is_absolute() else BUNDLE_ROOT / p


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the new, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
