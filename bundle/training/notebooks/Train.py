# Databricks notebook source
# MAGIC %md
# MAGIC # Train
# MAGIC
# MAGIC Builds the retrieval index (chunking with overlap, TF-IDF embedding) from the ingested documents
# MAGIC and records an MLflow run in the experiment: parameters, metrics and the model (a pyfunc wrapping
# MAGIC the index), registered as a new version of the registered model. On Databricks: the workspace
# MAGIC experiment and Unity Catalog; elsewhere a SQLite store under `tracking_root`.
# MAGIC Passes `run_id`, `model_uri`, `model_name` and `model_version` to the next tasks as task values.

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
dbutils.widgets.text("tracking_root", "/dbfs/my_mlops_project_luv_v6/dev/mlflow", "Local MLflow store (unused on Databricks)")
dbutils.widgets.text("experiment_name", "/Shared/dev-my_mlops_project_luv_v6-experiment", "Experiment name")
dbutils.widgets.text("model_name", "dev.my_mlops_project_luv_v6.rag_index", "Registered model name")
dbutils.widgets.text("chunk_size", "60", "Chunk size (words)")
dbutils.widgets.text("chunk_overlap", "15", "Chunk overlap (words)")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from rag_code_files.mlflow_store import configure
from rag_code_files.paths import resolve
from rag_code_files.widgets import get_int
from training.train import train

result = train(
    resolve(dbutils.widgets.get("table_path")),
    configure(resolve(dbutils.widgets.get("tracking_root"))),
    dbutils.widgets.get("experiment_name"),
    dbutils.widgets.get("model_name"),
    chunk_size=get_int(dbutils, "chunk_size"),
    chunk_overlap=get_int(dbutils, "chunk_overlap"),
    tags={"env": dbutils.widgets.get("env"), "git_source_info": dbutils.widgets.get("git_source_info")},
)
print(json.dumps({"run_id": result.run_id, "model_uri": result.model_uri, "model_version": result.model_version,
                  **result.metrics}, indent=2))

# COMMAND ----------

dbutils.jobs.taskValues.set(key="run_id", value=result.run_id)
dbutils.jobs.taskValues.set(key="model_uri", value=result.model_uri)
dbutils.jobs.taskValues.set(key="model_name", value=result.model_name)
dbutils.jobs.taskValues.set(key="model_version", value=result.model_version)
