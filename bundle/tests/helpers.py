"""Helpers shared by the tests."""

import json
from pathlib import Path


def write_doc(folder: Path, name: str, doc) -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path
