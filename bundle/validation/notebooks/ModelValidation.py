# Databricks notebook source
# MAGIC %md
# MAGIC # Model validation
# MAGIC
# MAGIC Loads the candidate model version (the one the Train task registered) from the registry and
# MAGIC evaluates it on the labelled question set: recall@k and MRR against the thresholds given as
# MAGIC parameters. Only a version that passes gets the alias (`champion`), which batch inference serves.
# MAGIC `run_mode`: `enabled` fails the task when a threshold is missed; `dry_run` reports and moves the
# MAGIC alias anyway; `disabled` skips validation and moves the alias.
# MAGIC Sets the task values `model_version` and `validation_passed` ("true"/"false").

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

dbutils.widgets.text("tracking_root", "/dbfs/my_mlops_project_luv_v6/dev/mlflow", "Local MLflow store (unused on Databricks)")
dbutils.widgets.text("model_name", "dev.my_mlops_project_luv_v6.rag_index", "Registered model name")
dbutils.widgets.text("alias", "champion", "Alias given to a version that passes")
dbutils.widgets.text("questions_path", "data/eval/questions.jsonl", "Labelled questions")
dbutils.widgets.text("k", "5", "k for recall@k")
dbutils.widgets.text("min_recall_at_k", "0.8", "Minimum recall@k")
dbutils.widgets.text("min_mrr", "0.6", "Minimum MRR")
dbutils.widgets.text("run_mode", "enabled", "enabled | dry_run | disabled")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from rag_code_files.mlflow_store import configure  # first: it turns MLflow telemetry off before mlflow loads

import mlflow
from rag_code_files.paths import resolve
from rag_code_files.widgets import get_float, get_int
from validation.validate import latest_version, validate_version

run_mode = dbutils.widgets.get("run_mode")
if run_mode not in ("enabled", "dry_run", "disabled"):
    raise ValueError(f"run_mode must be enabled, dry_run or disabled, got {run_mode!r}")

configure(resolve(dbutils.widgets.get("tracking_root")))
model_name = dbutils.widgets.get("model_name")
alias = dbutils.widgets.get("alias")
# Outside a job there is no upstream task: validate the newest version.
version = str(dbutils.jobs.taskValues.get(taskKey="Train", key="model_version", default="", debugValue=""))
version = version or latest_version(model_name)

# COMMAND ----------

if run_mode == "disabled":
    passed = True
    mlflow.MlflowClient().set_registered_model_alias(model_name, alias, version)
    print(f"validation disabled; {model_name} version {version} is {alias}")
else:
    result = validate_version(
        model_name,
        version,
        resolve(dbutils.widgets.get("questions_path")),
        k=get_int(dbutils, "k"),
        min_recall_at_k=get_float(dbutils, "min_recall_at_k"),
        min_mrr=get_float(dbutils, "min_mrr"),
        alias=alias,
        promote_anyway=run_mode == "dry_run",
    )
    print(json.dumps({"model_name": model_name, "model_version": version, "passed": result.passed,
                      **result.metrics, "failures": result.failures}, indent=2))
    passed = result.passed or run_mode == "dry_run"

dbutils.jobs.taskValues.set(key="model_version", value=version)
dbutils.jobs.taskValues.set(key="validation_passed", value="true" if passed else "false")

# COMMAND ----------

if not passed:
    raise RuntimeError(f"model validation failed, {alias} unchanged: " + "; ".join(result.failures))
