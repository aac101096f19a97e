# Databricks notebook source
# MAGIC %md
# MAGIC # Batch inference
# MAGIC
# MAGIC Answers every question of a questions file with the model version behind the alias
# MAGIC (`models:/<model_name>@champion`, loaded through MLflow), and appends
# MAGIC answers, cited sources, scores and latencies to the inference log (JSON lines).

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
dbutils.widgets.text("tracking_root", "/dbfs/my_mlops_project_luv_v6/dev/mlflow", "Local MLflow store (unused on Databricks)")
dbutils.widgets.text("model_name", "dev.my_mlops_project_luv_v6.rag_index", "Registered model name")
dbutils.widgets.text("alias", "champion", "Model alias to serve")
dbutils.widgets.text("questions_path", "data/inference/questions.txt", "Questions file")
dbutils.widgets.text("inference_log", "/dbfs/my_mlops_project_luv_v6/dev/inference/inference_log.jsonl", "Inference log")
dbutils.widgets.text("top_k", "3", "Documents retrieved per question")
dbutils.widgets.text("min_score", "0.15", "Minimum similarity to answer")
dbutils.widgets.text("min_coverage", "0.4", "Minimum share of question terms found in the best document")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from deployment.batch_inference import run_batch
from rag_code_files.mlflow_store import configure
from rag_code_files.paths import resolve
from rag_code_files.widgets import get_float, get_int

configure(resolve(dbutils.widgets.get("tracking_root")))
summary = run_batch(
    dbutils.widgets.get("model_name"),
    resolve(dbutils.widgets.get("questions_path")),
    resolve(dbutils.widgets.get("inference_log")),
    alias=dbutils.widgets.get("alias"),
    k=get_int(dbutils, "top_k"),
    min_score=get_float(dbutils, "min_score"),
    min_coverage=get_float(dbutils, "min_coverage"),
)
print(json.dumps(summary, indent=2))
dbutils.jobs.taskValues.set(key="batch_id", value=summary["batch_id"])
