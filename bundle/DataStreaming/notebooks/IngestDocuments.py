# Databricks notebook source
# MAGIC %md
# MAGIC # Ingest documents
# MAGIC
# MAGIC Moves new documents from the landing folder into the documents table, exactly once (the checkpoint
# MAGIC lives in the table's database). Malformed files go to the quarantine folder with the reason.
# MAGIC On the first run the landing folder is seeded from the documents shipped in `data/documents`.
# MAGIC
# MAGIC Parameters: `landing_dir`, `table_path`, `quarantine_dir`, `seed_dir` (empty: no seeding),
# MAGIC `max_files` (empty: all).

# COMMAND ----------

# Make the bundle root importable when run as `python <notebook>.py`; Databricks and the local job
# runner already put it on the path. Notebooks live in <bundle>/<package>/notebooks/.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
_root = os.path.abspath(os.path.join(_here, "..", ".."))
if _root not in sys.path:
    sys.path.insert(0, _root)

# COMMAND ----------

try:
    dbutils  # injected on Databricks and by the local job runner
except NameError:
    from rag_code_files.local_dbutils import LocalDbutils

    dbutils = LocalDbutils.from_argv()

dbutils.widgets.text("landing_dir", "/dbfs/my_mlops_project_luv_v6/dev/landing", "Landing folder")
dbutils.widgets.text("table_path", "/dbfs/my_mlops_project_luv_v6/dev/tables/documents.db", "Documents table")
dbutils.widgets.text("quarantine_dir", "/dbfs/my_mlops_project_luv_v6/dev/quarantine", "Quarantine folder")
dbutils.widgets.text("seed_dir", "data/documents", "Seed documents (relative to the bundle root)")
dbutils.widgets.text("max_files", "", "Files per run (empty: all)")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from DataStreaming.ingest import checkpoint_counts, ingest, seed_landing
from rag_code_files.paths import resolve
from rag_code_files.widgets import get_int

landing_dir = resolve(dbutils.widgets.get("landing_dir"))
table_path = resolve(dbutils.widgets.get("table_path"))
quarantine_dir = resolve(dbutils.widgets.get("quarantine_dir"))
seed_dir = dbutils.widgets.get("seed_dir")

if seed_dir:
    seeded = seed_landing(resolve(seed_dir), landing_dir)
    print(f"seeded {seeded} documents into {landing_dir}")

# COMMAND ----------

max_files = get_int(dbutils, "max_files", minimum=1) if dbutils.widgets.get("max_files") else None
report = ingest(landing_dir, table_path, quarantine_dir, max_files=max_files)
print(json.dumps({**report.to_dict(), "checkpoint": checkpoint_counts(table_path)}, indent=2))
dbutils.jobs.taskValues.set(key="ingested", value=len(report.ingested))
dbutils.jobs.taskValues.set(key="quarantined", value=len(report.quarantined))
