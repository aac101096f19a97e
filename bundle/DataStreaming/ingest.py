"""Ingest documents dropped into a landing folder into a SQLite table, exactly once.

A document is one JSON file ``{"id", "title", "text", ...}``. The checkpoint is a table in the same
SQLite database as the documents, keyed by (file name, content hash), and is written in the same
transaction as the document: after a crash at any point a file is either fully ingested and
checkpointed, or neither, so a restart ingests every file exactly once. A file whose content changes
is a new event (the document is updated). Malformed files are moved to a quarantine folder with the
reason next to them and recorded, so they neither crash the job nor come back on every run.

Writers should drop files atomically (write ``.name.tmp``, then rename); hidden and ``.tmp`` files
are ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SEED_MARKER = ".seeded"

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id      TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    category    TEXT NOT NULL,
    text        TEXT NOT NULL,
    source_file TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint (
    source_file  TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ingested', 'quarantined')),
    detail       TEXT NOT NULL DEFAULT '',
    processed_at REAL NOT NULL,
    PRIMARY KEY (source_file, sha256)
);
"""


class MalformedDocument(ValueError):
    pass


@dataclass
class IngestReport:
    ingested: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    skipped: int = 0

    def to_dict(self) -> dict:
        return {"ingested": self.ingested, "quarantined": self.quarantined, "skipped": self.skipped}


def connect(table_path: str | Path) -> sqlite3.Connection:
    path = Path(table_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    return conn


def parse_document(raw: bytes, source: str) -> dict:
    """Validate one landing file; raise MalformedDocument saying what is wrong."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise MalformedDocument(f"{source}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise MalformedDocument(f"{source}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise MalformedDocument(f"{source}: expected a JSON object, got {type(data).__name__}")
    doc_id = data.get("id")
    if not isinstance(doc_id, str) or not DOC_ID.match(doc_id):
        raise MalformedDocument(f"{source}: key 'id' must be a string matching {DOC_ID.pattern}")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise MalformedDocument(f"{source}: key 'text' must be a non-empty string")
    for key in ("title", "category"):
        if key in data and not isinstance(data[key], str):
            raise MalformedDocument(f"{source}: key '{key}' must be a string")
    return {
        "id": doc_id,
        "title": data.get("title", "").strip(),
        "category": data.get("category", "").strip(),
        "text": text.strip(),
    }


def landing_files(landing_dir: Path) -> list[Path]:
    if not landing_dir.is_dir():
        return []
    return sorted(
        p
        for p in landing_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".tmp")
    )


def seed_landing(seed_dir: str | Path, landing_dir: str | Path) -> int:
    """On the first run only, copy the shipped documents into the landing folder.

    A marker remembers the seeding, so files that were later quarantined or removed from the landing
    folder are not put back.
    """
    seed_dir, landing_dir = Path(seed_dir), Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    marker = landing_dir / SEED_MARKER
    if marker.exists():
        return 0
    n = 0
    for src in sorted(seed_dir.glob("*.json")):
        dst = landing_dir / src.name
        if not dst.exists():
            tmp = landing_dir / f".{src.name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            n += 1
    marker.write_text(f"seeded {n} files from {seed_dir}\n")
    return n


def ingest(
    landing_dir: str | Path,
    table_path: str | Path,
    quarantine_dir: str | Path,
    max_files: int | None = None,
    _crash_after: int | None = None,
) -> IngestReport:
    """Ingest every landing file not yet in the checkpoint. `max_files` bounds one micro-batch.

    `_crash_after` is a test hook: raise after that many files were committed, as a killed job would.
    """
    landing_dir, quarantine_dir = Path(landing_dir), Path(quarantine_dir)
    report = IngestReport()
    conn = connect(table_path)
    try:
        done = set(conn.execute("SELECT source_file, sha256 FROM checkpoint"))
        processed = 0
        for path in landing_files(landing_dir):
            if max_files is not None and processed >= max_files:
                break
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            if (path.name, digest) in done:
                report.skipped += 1
                continue
            now = time.time()
            try:
                doc = parse_document(raw, path.name)
            except MalformedDocument as e:
                _quarantine(conn, path, raw, digest, str(e), quarantine_dir, now)
                report.quarantined.append(path.name)
            else:
                with conn:  # one transaction: document and checkpoint together
                    conn.execute(
                        "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(doc_id) DO UPDATE SET title=excluded.title, "
                        "category=excluded.category, text=excluded.text, "
                        "source_file=excluded.source_file, sha256=excluded.sha256, "
                        "ingested_at=excluded.ingested_at",
                        (doc["id"], doc["title"], doc["category"], doc["text"], path.name, digest, now),
                    )
                    conn.execute(
                        "INSERT INTO checkpoint VALUES (?, ?, 'ingested', '', ?)", (path.name, digest, now)
                    )
                report.ingested.append(doc["id"])
            done.add((path.name, digest))
            processed += 1
            if _crash_after is not None and processed >= _crash_after:
                raise RuntimeError(f"simulated crash after {processed} files")
    finally:
        conn.close()
    return report


def _quarantine(conn, path: Path, raw: bytes, digest: str, reason: str, qdir: Path, now: float) -> None:
    qdir.mkdir(parents=True, exist_ok=True)
    dst = qdir / f"{digest[:12]}-{path.name}"
    tmp = qdir / f".{dst.name}.tmp"
    tmp.write_bytes(raw)
    os.replace(tmp, dst)
    (qdir / f"{dst.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    with conn:
        conn.execute(
            "INSERT INTO checkpoint VALUES (?, ?, 'quarantined', ?, ?)", (path.name, digest, reason, now)
        )
    # Removed only after the checkpoint is durable; a crash before this leaves a file the checkpoint
    # already skips.
    path.unlink(missing_ok=True)


def read_documents(table_path: str | Path) -> list[dict]:
    """All ingested documents, ordered by id."""
    path = Path(table_path)
    if not path.exists():
        raise FileNotFoundError(f"no documents table at {path}; run the ingestion job first")
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT doc_id, title, category, text FROM documents ORDER BY doc_id").fetchall()
    finally:
        conn.close()
    return [{"id": r[0], "title": r[1], "category": r[2], "text": r[3]} for r in rows]


def checkpoint_counts(table_path: str | Path) -> dict[str, int]:
    conn = connect(table_path)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM checkpoint GROUP BY status"))
    finally:
        conn.close()
