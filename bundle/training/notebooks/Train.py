# Databricks notebook source
# MAGIC %md
# MAGIC # Train
# MAGIC
# MAGIC Builds the retrieval index (chunking with overlap, TF-IDF embedding) from the ingested documents
# MAGIC and records a run in the experiment: parameters, metrics and the index artifact.
# MAGIC Passes `run_id` and `index_path` to the next tasks as task values.

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

dbutils.widgets.text("env", "dev", "Environment")
dbutils.widgets.text("table_path", "/dbfs/my_mlops_project_luv_v6/dev/tables/documents.db", "Documents table")
dbutils.widgets.text("tracking_root", "/dbfs/my_mlops_project_luv_v6/dev/mlflow", "Experiment tracking root")
dbutils.widgets.text("experiment_name", "/Shared/dev-my_mlops_project_luv_v6-experiment", "Experiment name")
dbutils.widgets.text("chunk_size", "60", "Chunk size (words)")
dbutils.widgets.text("chunk_overlap", "15", "Chunk overlap (words)")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from rag_code_files.paths import resolve
from rag_code_files.widgets import get_int
from training.train import train

result = train(
    resolve(dbutils.widgets.get("table_path")),
    resolve(dbutils.widgets.get("tracking_root")),
    dbutils.widgets.get("experiment_name"),
    chunk_size=get_int(dbutils, "chunk_size"),
    chunk_overlap=get_int(dbutils, "chunk_overlap"),
    tags={"env": dbutils.widgets.get("env"), "git_source_info": dbutils.widgets.get("git_source_info")},
)
print(json.dumps({"run_id": result.run_id, "index_path": str(result.index_path), **result.metrics}, indent=2))

# COMMAND ----------

dbutils.jobs.taskValues.set(key="run_id", value=result.run_id)
dbutils.jobs.taskValues.set(key="index_path", value=str(result.index_path))
