# Databricks notebook source
# MAGIC %md
# MAGIC # Model validation
# MAGIC
# MAGIC Evaluates the index of the training run on the labelled question set: recall@k and MRR against
# MAGIC the thresholds given as parameters. `run_mode`: `enabled` fails the task (so the deployment task
# MAGIC does not run) when a threshold is missed; `dry_run` only reports; `disabled` skips validation.
# MAGIC Sets the task value `validation_passed` ("true"/"false").

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

dbutils.widgets.text("tracking_root", "/dbfs/my_mlops_project_luv_v6/dev/mlflow", "Experiment tracking root")
dbutils.widgets.text("experiment_name", "/Shared/dev-my_mlops_project_luv_v6-experiment", "Experiment name")
dbutils.widgets.text("questions_path", "data/eval/questions.jsonl", "Labelled questions")
dbutils.widgets.text("k", "5", "k for recall@k")
dbutils.widgets.text("min_recall_at_k", "0.8", "Minimum recall@k")
dbutils.widgets.text("min_mrr", "0.6", "Minimum MRR")
dbutils.widgets.text("run_mode", "enabled", "enabled | dry_run | disabled")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from rag_code_files.paths import resolve
from rag_code_files.widgets import get_float, get_int
from training.tracking import ExperimentTracker
from validation.validate import validate_run

run_mode = dbutils.widgets.get("run_mode")
if run_mode not in ("enabled", "dry_run", "disabled"):
    raise ValueError(f"run_mode must be enabled, dry_run or disabled, got {run_mode!r}")

tracker = ExperimentTracker(resolve(dbutils.widgets.get("tracking_root")), dbutils.widgets.get("experiment_name"))
# Outside a job there is no upstream task: validate the latest finished run.
run_id = dbutils.jobs.taskValues.get(taskKey="Train", key="run_id", default="", debugValue="")
run = tracker.get_run(run_id) if run_id else tracker.latest_run()
if run is None:
    raise RuntimeError(f"no finished run in experiment {tracker.experiment_name}; run the Train task first")

# COMMAND ----------

if run_mode == "disabled":
    passed = True
    print("validation disabled")
else:
    result = validate_run(
        run,
        resolve(dbutils.widgets.get("questions_path")),
        k=get_int(dbutils, "k"),
        min_recall_at_k=get_float(dbutils, "min_recall_at_k"),
        min_mrr=get_float(dbutils, "min_mrr"),
    )
    print(json.dumps({"run_id": run.run_id, "passed": result.passed, **result.metrics,
                      "failures": result.failures}, indent=2))
    passed = result.passed or run_mode == "dry_run"

dbutils.jobs.taskValues.set(key="run_id", value=run.run_id)
dbutils.jobs.taskValues.set(key="validation_passed", value="true" if passed else "false")

# COMMAND ----------

if not passed:
    raise RuntimeError("model validation failed: " + "; ".join(result.failures))
