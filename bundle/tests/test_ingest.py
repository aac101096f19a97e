import json
import sqlite3

import pytest

from DataStreaming.ingest import (
    MalformedDocument,
    checkpoint_counts,
    ingest,
    parse_document,
    read_documents,
    seed_landing,
)
from tests.helpers import write_doc


def doc(i, text=None):
    return {"id": f"d{i}", "title": f"Doc {i}", "text": text or f"body of document {i}"}


@pytest.fixture
def dirs(tmp_path, landing):
    return landing, tmp_path / "tables" / "docs.db", tmp_path / "quarantine"


def test_ingests_each_file_once_across_runs(dirs):
    landing, table, quarantine = dirs
    for i in range(3):
        write_doc(landing, f"d{i}.json", doc(i))
    first = ingest(landing, table, quarantine)
    assert sorted(first.ingested) == ["d0", "d1", "d2"]
    second = ingest(landing, table, quarantine)
    assert second.ingested == [] and second.skipped == 3
    write_doc(landing, "d3.json", doc(3))
    third = ingest(landing, table, quarantine)
    assert third.ingested == ["d3"] and third.skipped == 3
    assert [d["id"] for d in read_documents(table)] == ["d0", "d1", "d2", "d3"]
    assert checkpoint_counts(table) == {"ingested": 4}


def test_restart_after_crash_ingests_the_rest_exactly_once(dirs):
    landing, table, quarantine = dirs
    for i in range(6):
        write_doc(landing, f"d{i}.json", doc(i))
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(landing, table, quarantine, _crash_after=2)
    assert len(read_documents(table)) == 2
    resumed = ingest(landing, table, quarantine)
    assert sorted(resumed.ingested) == ["d2", "d3", "d4", "d5"]
    conn = sqlite3.connect(table)
    events = conn.execute("SELECT count(*), count(DISTINCT source_file) FROM checkpoint").fetchone()
    conn.close()
    assert events == (6, 6)


def test_max_files_bounds_a_micro_batch(dirs):
    landing, table, quarantine = dirs
    for i in range(5):
        write_doc(landing, f"d{i}.json", doc(i))
    assert len(ingest(landing, table, quarantine, max_files=2).ingested) == 2
    assert len(ingest(landing, table, quarantine, max_files=2).ingested) == 2
    assert len(ingest(landing, table, quarantine, max_files=2).ingested) == 1


def test_malformed_files_are_quarantined_not_fatal(dirs):
    landing, table, quarantine = dirs
    write_doc(landing, "good.json", doc(1))
    write_doc(landing, "broken.json", '{"id": "x", "text": ')
    write_doc(landing, "notext.json", {"id": "y", "text": "   "})
    (landing / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    report = ingest(landing, table, quarantine)
    assert report.ingested == ["d1"]
    assert sorted(report.quarantined) == ["binary.json", "broken.json", "notext.json"]
    # Moved out of the landing folder, kept with the reason, not retried.
    assert sorted(p.name for p in landing.iterdir()) == ["good.json"]
    reasons = sorted(quarantine.glob("*.reason.txt"))
    assert len(reasons) == 3
    assert any("invalid JSON" in r.read_text() for r in reasons)
    assert ingest(landing, table, quarantine).quarantined == []
    assert checkpoint_counts(table) == {"ingested": 1, "quarantined": 3}


def test_changed_content_is_a_new_event_that_updates_the_document(dirs):
    landing, table, quarantine = dirs
    write_doc(landing, "d1.json", doc(1, "first version"))
    ingest(landing, table, quarantine)
    write_doc(landing, "d1.json", doc(1, "second version"))
    assert ingest(landing, table, quarantine).ingested == ["d1"]
    assert read_documents(table) == [{"id": "d1", "title": "Doc 1", "category": "", "text": "second version"}]


def test_temp_and_hidden_files_are_ignored(dirs):
    landing, table, quarantine = dirs
    write_doc(landing, ".d1.json.tmp", doc(1))
    write_doc(landing, "d2.json.tmp", doc(2))
    write_doc(landing, ".hidden.json", doc(3))
    report = ingest(landing, table, quarantine)
    assert report.ingested == [] and report.quarantined == []


def test_missing_landing_folder_ingests_nothing(tmp_path):
    assert ingest(tmp_path / "nope", tmp_path / "t.db", tmp_path / "q").ingested == []


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"[1, 2]", "expected a JSON object"),
        (b'{"text": "x"}', "'id'"),
        (b'{"id": "../etc", "text": "x"}', "'id'"),
        (b'{"id": "a", "text": 3}', "'text'"),
        (b'{"id": "a", "text": "x", "title": 5}', "'title'"),
        (b'{"id": "a",\n "text": }', "f.json:2:10: invalid JSON"),
    ],
)
def test_parse_document_errors_say_what_is_wrong(raw, message):
    with pytest.raises(MalformedDocument, match=message.replace("(", r"\(")):
        parse_document(raw, "f.json")


def test_read_documents_without_table_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the ingestion job first"):
        read_documents(tmp_path / "none.db")


def test_seed_copies_only_on_the_first_run(tmp_path, landing):
    seed = tmp_path / "seed"
    seed.mkdir()
    for i in range(3):
        write_doc(seed, f"d{i}.json", doc(i))
    assert seed_landing(seed, landing) == 3
    (landing / "d0.json").unlink()
    assert seed_landing(seed, landing) == 0
    assert sorted(p.name for p in landing.glob("*.json")) == ["d1.json", "d2.json"]
    assert json.loads((landing / "d1.json").read_text())["id"] == "d1"


KILL_SCRIPT = r"""
import os, sys
import DataStreaming.ingest as ing

real_connect = ing.connect
inserts = 0

class Proxy:
    def __init__(self, conn):
        self._conn = conn
    def execute(self, sql, *args):
        global inserts
        if sql.startswith("INSERT INTO checkpoint") and "'ingested'" in sql:
            inserts += 1
            if inserts == int(sys.argv[4]):
                # Killed between the document row and its checkpoint row, inside the transaction.
                os._exit(9)
        return self._conn.execute(sql, *args)
    def __enter__(self):
        return self._conn.__enter__()
    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)
    def __getattr__(self, name):
        return getattr(self._conn, name)

ing.connect = lambda path: Proxy(real_connect(path))
ing.ingest(sys.argv[1], sys.argv[2], sys.argv[3])
"""


def test_kill_inside_the_transaction_loses_and_duplicates_nothing(dirs):
    import subprocess
    import sys

    from rag_code_files.paths import BUNDLE_ROOT

    landing, table, quarantine = dirs
    for i in range(5):
        write_doc(landing, f"d{i}.json", doc(i))
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(landing), str(table), str(quarantine), "3"],
        cwd=BUNDLE_ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 9, proc.stderr
    # Two committed; the third document was rolled back with its missing checkpoint.
    assert [d["id"] for d in read_documents(table)] == ["d0", "d1"]
    assert sorted(ingest(landing, table, quarantine).ingested) == ["d2", "d3", "d4"]
    conn = sqlite3.connect(table)
    assert conn.execute("SELECT count(*) FROM checkpoint").fetchone() == (5,)
    assert conn.execute("SELECT count(*) FROM documents").fetchone() == (5,)
    conn.close()
